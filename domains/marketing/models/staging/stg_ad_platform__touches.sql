with

source as (

    select * from {{ source('ad_platform', 'touches') }}

),

renamed as (

    select
        -- ids
        cast(touch_id as {{ duckmesh_platform.mesh_type('text') }}) as touch_id,
        customer_id,
        cast(campaign_id as {{ duckmesh_platform.mesh_type('text') }}) as campaign_id,

        -- attributes
        touch_type,

        -- timestamps
        touched_at

    from source

)

select * from renamed
