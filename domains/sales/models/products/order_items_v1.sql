{#- Incremental (append): order lines never change once dropped, so each run adds
    the lines not published yet; `--full-refresh` rebuilds the table. -#}
{{ config(
    materialized='incremental',
    incremental_strategy=duckmesh_platform.incremental_strategy('append'),
    on_schema_change='fail',
) }}

with

source_items as (

    select * from {{ ref('int_order_items_enriched') }}

),

order_items as (

    select source_items.*

    from source_items
    {% if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as published_items
            where published_items.order_item_id = source_items.order_item_id
        )
    {% endif %}

),

published as (

    select
        order_item_id,
        order_id,
        product_id,
        product_name,
        product_category,
        line_number,
        quantity,
        unit_price_amount,
        gross_amount,
        discount_amount,
        net_amount

    from order_items

)

select * from published
