with

source as (

    select * from {{ source('ad_platform', 'campaign_spend') }}

),

renamed as (

    select
        -- ids
        campaign_id,

        -- numerics
        cast(spend_eur as {{ duckmesh_platform.mesh_type('money') }}) as spend_amount,

        -- dates
        cast(spend_date as date) as spend_date

    from source

)

select * from renamed
