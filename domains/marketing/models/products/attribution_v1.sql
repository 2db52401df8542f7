{#- Last-touch attribution: each order goes to the campaign of the customer's most
    recent touch at or before the order, if that touch is within the lookback
    window (var attribution_lookback_days). Cancelled orders are never attributed.
    Portable SQL (an equi-join bounded by the window, then the latest touch by
    row_number), so it runs as written on DuckDB and Spark. -#}
{#- Incremental (merge on order_id): each run attributes the orders not attributed
    yet (new and late-arriving) and re-attributes those whose inputs changed (customer,
    time, or an attributed order cancelled or re-priced). A touch that arrives after
    the orders it precedes needs `--full-refresh`. -#}
{{ config(duckmesh_platform.merge_incremental('order_id')) }}

with

all_orders as (

    select * from {{ ref('int_sales__orders') }}

),

orders as (

    select all_orders.*

    from all_orders
    {% if is_incremental() %}
        left join {{ this }} as attributed_before
            on all_orders.order_id = attributed_before.order_id
        where
            attributed_before.order_id is null
            or all_orders.customer_id is distinct from attributed_before.customer_id
            or all_orders.ordered_at is distinct from attributed_before.ordered_at
            or (
                attributed_before.is_attributed
                and (
                    all_orders.is_cancelled
                    or all_orders.net_amount
                    is distinct from attributed_before.attributed_revenue_amount
                )
            )
    {% endif %}

),

touches as (

    select * from {{ ref('stg_ad_platform__touches') }}

),

touches_in_window as (

    -- the customer's touches in the lookback window before each order, latest first
    select
        orders.order_id,
        touches.touch_id,
        touches.campaign_id,
        touches.touched_at,
        row_number() over (
            partition by orders.order_id
            order by touches.touched_at desc, touches.touch_id desc
        ) as recency_rank

    from orders
    inner join touches
        on
            orders.customer_id = touches.customer_id
            and orders.ordered_at >= touches.touched_at
            and {{ dbt.dateadd(
                'day', -var('attribution_lookback_days', 30), 'orders.ordered_at'
            ) }} <= touches.touched_at

),

last_touch as (

    select * from touches_in_window
    where recency_rank = 1

),

attributed as (

    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.net_amount,
        last_touch.touch_id,
        last_touch.campaign_id,
        last_touch.touched_at,
        coalesce(
            last_touch.touch_id is not null and not orders.is_cancelled, false
        ) as is_attributed

    from orders
    left join last_touch
        on orders.order_id = last_touch.order_id

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
            case when is_attributed then net_amount else 0 end
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as attributed_revenue_amount

    from attributed

)

select * from published
