{#- Monthly KPIs for the leadership team, from the domains' public products. -#}
with

orders as (

    select * from {{ ref('sales', 'orders') }}

),

customers as (

    select * from {{ ref('customers', 'customers') }}

),

tickets as (

    select * from {{ ref('customer_service', 'tickets') }}

),

attribution as (

    select * from {{ ref('marketing', 'attribution') }}

),

monthly_orders as (

    select
        {{ dbt.date_trunc('month', 'order_date') }} as month_date,
        count(case when not is_cancelled then 1 end) as order_count,
        sum(case when not is_cancelled then net_amount end) as net_revenue_amount,
        count(distinct case when not is_cancelled then customer_id end)
            as active_customer_count

    from orders
    group by 1

),

monthly_signups as (

    select
        {{ dbt.date_trunc('month', 'signup_date') }} as month_date,
        count(*) as new_customer_count

    from customers
    group by 1

),

monthly_tickets as (

    select
        {{ dbt.date_trunc('month', duckmesh_platform.utc_date('opened_at')) }} as month_date,
        count(*) as ticket_count,
        sum(csat_score) as csat_score_total,
        count(csat_score) as surveyed_ticket_count

    from tickets
    group by 1

),

monthly_attribution as (

    select
        {{ dbt.date_trunc('month', duckmesh_platform.utc_date('ordered_at')) }} as month_date,
        sum(attributed_revenue_amount) as attributed_revenue_amount

    from attribution
    group by 1

),

kpis as (

    select
        cast(monthly_orders.month_date as date) as month_date,
        monthly_orders.order_count,
        cast(
            monthly_orders.net_revenue_amount
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as net_revenue_amount,
        monthly_orders.active_customer_count,
        coalesce(monthly_signups.new_customer_count, 0) as new_customer_count,
        coalesce(monthly_tickets.ticket_count, 0) as ticket_count,
        cast(
            {{ duckmesh_platform.divide_rounded(
                'monthly_tickets.csat_score_total', 'monthly_tickets.surveyed_ticket_count', 2
            ) }} as {{ duckmesh_platform.mesh_type('decimal(4,2)') }}
        ) as avg_csat_score,
        cast(
            coalesce(monthly_attribution.attributed_revenue_amount, 0)
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as attributed_revenue_amount

    from monthly_orders
    left join monthly_signups
        on monthly_orders.month_date = monthly_signups.month_date
    left join monthly_tickets
        on monthly_orders.month_date = monthly_tickets.month_date
    left join monthly_attribution
        on monthly_orders.month_date = monthly_attribution.month_date

)

select * from kpis
