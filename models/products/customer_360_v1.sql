{#- One row per customer, assembled only from the domains' public products. -#}
with

customers as (

    select * from {{ ref('customers', 'customers') }}

),

orders as (

    select * from {{ ref('sales', 'orders') }}

),

satisfaction as (

    select * from {{ ref('customer_service', 'satisfaction') }}

),

attribution as (

    select * from {{ ref('marketing', 'attribution') }}

),

order_summary as (

    select
        customer_id,
        count(case when not is_cancelled then 1 end) as order_count,
        sum(case when not is_cancelled then net_amount end) as lifetime_net_amount,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at

    from orders
    group by customer_id

),

attribution_summary as (

    select
        customer_id,
        count(case when is_attributed then 1 end) as attributed_order_count

    from attribution
    group by customer_id

),

customer_360 as (

    select
        customers.customer_id,
        customers.country_code,
        customers.customer_segment,
        customers.signup_date,
        customers.is_marketing_opt_in,
        coalesce(order_summary.order_count, 0) as order_count,
        cast(
            coalesce(order_summary.lifetime_net_amount, 0)
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as lifetime_net_amount,
        order_summary.first_ordered_at,
        order_summary.last_ordered_at,
        coalesce(satisfaction.ticket_count, 0) as ticket_count,
        satisfaction.avg_csat_score,
        coalesce(attribution_summary.attributed_order_count, 0)
            as attributed_order_count,
        coalesce(order_summary.order_count, 0) > 0 as has_ordered

    from customers
    left join order_summary
        on customers.customer_id = order_summary.customer_id
    left join satisfaction
        on customers.customer_id = satisfaction.customer_id
    left join attribution_summary
        on customers.customer_id = attribution_summary.customer_id

)

select * from customer_360
