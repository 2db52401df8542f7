with

source as (

    select * from {{ ref('campaigns') }}

),

renamed as (

    select
        cast(campaign_id as {{ duckmesh_platform.mesh_type('text') }}) as campaign_id,
        campaign_name,
        channel as marketing_channel,
        objective as campaign_objective

    from source

)

select * from renamed
