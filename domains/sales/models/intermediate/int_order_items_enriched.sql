{#- Order lines never change once dropped: each run appends the lines not loaded yet
    (new and late-arriving orders). `--full-refresh` rebuilds from every file. -#}
{{ config(
    materialized='incremental',
    incremental_strategy=duckmesh_platform.incremental_strategy('append'),
) }}

with

source_lines as (

    select * from {{ ref('stg_order_system__order_lines') }}

),

order_lines as (

    select source_lines.*

    from source_lines
    {% if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as loaded
            where loaded.order_item_id = source_lines.order_item_id
        )
    {% endif %}

),

products as (

    select * from {{ ref('stg_sales__products') }}

),

enriched as (

    select
        order_lines.order_item_id,
        order_lines.order_id,
        order_lines.product_id,
        products.product_name,
        products.product_category,
        order_lines.line_number,
        order_lines.quantity,
        order_lines.unit_price_amount,
        cast(
            order_lines.quantity * order_lines.unit_price_amount
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as gross_amount,
        order_lines.discount_amount,
        cast(
            order_lines.quantity * order_lines.unit_price_amount
            - order_lines.discount_amount as {{ duckmesh_platform.mesh_type('money') }}
        ) as net_amount

    from order_lines
    left join products
        on order_lines.product_id = products.product_id

)

select * from enriched
