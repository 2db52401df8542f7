{#- Incremental: each run recomputes the orders whose header is new or changed
    (new, late-arriving and updated orders; lines arrive with their order) and merges
    them on order_id. `--full-refresh` rebuilds every order. -#}
{{ config(duckmesh_platform.merge_incremental('order_id')) }}

with

source_orders as (

    select * from {{ ref('stg_order_system__orders') }}

),

orders as (

    select source_orders.*

    from source_orders
    {% if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as loaded
            where
                loaded.order_id = source_orders.order_id
                and loaded.customer_id is not distinct from source_orders.customer_id
                and loaded.order_status is not distinct from source_orders.order_status
                and loaded.sales_channel is not distinct from source_orders.sales_channel
                and loaded.ordered_at is not distinct from source_orders.ordered_at
                and loaded.shipping_amount is not distinct from source_orders.shipping_amount
        )
    {% endif %}

),

order_items as (

    select * from {{ ref('int_order_items_enriched') }}
    {% if is_incremental() %}
        where order_id in (select orders.order_id from orders)
    {% endif %}

),

item_totals as (

    select
        order_id,
        count(*) as item_count,
        cast(sum(quantity) as bigint) as unit_count,
        sum(gross_amount) as gross_amount,
        sum(discount_amount) as discount_amount,
        sum(net_amount) as net_amount

    from order_items
    group by order_id

),

orders_with_totals as (

    select
        orders.order_id,
        orders.customer_id,
        orders.order_status,
        orders.sales_channel,
        orders.ordered_at,
        coalesce(item_totals.item_count, 0) as item_count,
        coalesce(item_totals.unit_count, 0) as unit_count,
        cast(
            coalesce(item_totals.gross_amount, 0)
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as gross_amount,
        cast(
            coalesce(item_totals.discount_amount, 0)
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as discount_amount,
        cast(
            coalesce(item_totals.net_amount, 0)
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as net_amount,
        orders.shipping_amount,
        orders.order_status = 'cancelled' as is_cancelled,
        orders.order_status = 'returned' as is_returned

    from orders
    left join item_totals
        on orders.order_id = item_totals.order_id

)

select * from orders_with_totals
