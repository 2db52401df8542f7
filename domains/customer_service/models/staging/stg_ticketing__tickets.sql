with

source as (

    select * from {{ source('ticketing', 'tickets') }}

),

renamed as (

    select
        -- ids
        ticket_id,
        customer_id,
        cast(order_id as {{ duckmesh_platform.mesh_type('text') }}) as order_id,

        -- attributes
        channel as contact_channel,
        category as ticket_category,
        priority as ticket_priority,
        cast(csat_score as integer) as csat_score,

        -- timestamps
        cast(opened_at as {{ duckmesh_platform.mesh_type('timestamp_tz') }}) as opened_at,
        cast(closed_at as {{ duckmesh_platform.mesh_type('timestamp_tz') }}) as closed_at

    from source

)

select * from renamed
