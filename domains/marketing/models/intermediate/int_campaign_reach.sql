with

touches as (

    select * from {{ ref('stg_ad_platform__touches') }}

),

customers as (

    select * from {{ ref('customers', 'customers') }}

),

reach as (

    select
        touches.campaign_id,
        count(*) as touch_count,
        count(distinct touches.customer_id) as reached_customer_count,
        count(
            distinct case
                when customers.is_marketing_opt_in then touches.customer_id
            end
        ) as reached_opted_in_customer_count

    from touches
    left join customers
        on touches.customer_id = customers.customer_id
    group by touches.campaign_id

)

select * from reach
