with

source as (

    select * from {{ source('order_system', 'order_lines') }}

),

renamed as (

    select
        -- ids
        cast(order_line_id as {{ duckmesh_platform.mesh_type('text') }}) as order_item_id,
        cast(order_id as {{ duckmesh_platform.mesh_type('text') }}) as order_id,
        cast(product_id as {{ duckmesh_platform.mesh_type('text') }}) as product_id,

        -- numerics
        line_number,
        quantity,
        cast(unit_price as {{ duckmesh_platform.mesh_type('money') }}) as unit_price_amount,
        cast(discount as {{ duckmesh_platform.mesh_type('money') }}) as discount_amount

    from source

)

select * from renamed
