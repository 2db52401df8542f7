with

source as (

    select * from {{ ref('products') }}

),

renamed as (

    select
        cast(product_id as {{ duckmesh_platform.mesh_type('text') }}) as product_id,
        product_name,
        category as product_category

    from source

)

select * from renamed
