{#- v1 had one amount: what the customer paid, shipping included. Replaced by v2,
    which splits gross, discount, net and shipping. -#}
{#- Incremental (merge on order_id): only new, late-arriving and updated orders are
    written; `--full-refresh` rebuilds the table. -#}
{{ config(duckmesh_platform.merge_incremental('order_id')) }}

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
        {{ duckmesh_platform.utc_date('ordered_at') }} as order_date,
        item_count,
        is_cancelled,
        cast(
            net_amount + shipping_amount
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as order_amount

    from orders

),

changed as (

    -- incremental runs merge only the rows that are new or differ from the table
    {{ duckmesh_platform.new_or_changed_rows('published') }}

)

select * from changed
