{#- Last-touch attribution: each order goes to the campaign of the customer's most
    recent touch at or before the order, if that touch is within the lookback
    window (var attribution_lookback_days). Cancelled orders are never attributed. -#}
with

orders as (

    select * from {{ ref('int_sales__orders') }}

),

touches as (

    select * from {{ ref('stg_ad_platform__touches') }}

),

last_touch as (

    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.net_amount,
        orders.is_cancelled,
        touches.touch_id,
        touches.campaign_id,
        touches.touched_at

    from orders
    asof left join touches
        on
            orders.customer_id = touches.customer_id
            and orders.ordered_at >= touches.touched_at

),

attributed as (

    select
        *,
        coalesce(
            not is_cancelled
            and touched_at
            >= ordered_at - to_days({{ var('attribution_lookback_days', 30) }}),
            false
        ) as is_attributed

    from last_touch

),

published as (

    select
        order_id,
        customer_id,
        ordered_at,
        is_attributed,
        case when is_attributed then campaign_id end as campaign_id,
        case when is_attributed then touch_id end as touch_id,
        case when is_attributed then touched_at end as touched_at,
        cast(
            case when is_attributed then net_amount else 0 end as decimal(18, 2)
        ) as attributed_revenue_amount

    from attributed

)

select * from published
