{#- v1 had one amount: what the customer paid, shipping included. Replaced by v2,
    which splits gross, discount, net and shipping. -#}
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
        is_cancelled,
        cast(net_amount + shipping_amount as decimal(18, 2)) as order_amount

    from orders

)

select * from published
