with

orders as (

    select * from {{ ref('int_orders_totals') }}

),

published as (

    select
        order_id,
        customer_id,
        order_status,
        sales_channel,
        ordered_at,
        cast(timezone('UTC', ordered_at) as date) as order_date,
        item_count,
        unit_count,
        gross_amount,
        discount_amount,
        net_amount,
        shipping_amount,
        is_cancelled,
        is_returned

    from orders

)

select * from published
