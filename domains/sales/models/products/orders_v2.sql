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
        unit_count,
        gross_amount,
        discount_amount,
        net_amount,
        shipping_amount,
        is_cancelled,
        is_returned

    from orders

),

changed as (

    -- incremental runs merge only the rows that are new or differ from the table
    {{ duckmesh_platform.new_or_changed_rows('published') }}

)

select * from changed
