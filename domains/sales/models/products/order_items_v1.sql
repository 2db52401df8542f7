with

order_items as (

    select * from {{ ref('int_order_items_enriched') }}

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
