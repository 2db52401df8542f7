{#- Input port: the columns of the sales.orders product this domain reads.
    Models unit-test against this local model, because dbt 1.11 builds unit-test
    fixtures for another package's model as 'protected' and refuses them under
    restrict-access, even when the product is public. -#}
{{ config(materialized='view') }}

with

orders as (

    select * from {{ ref('sales', 'orders') }}

),

order_facts as (

    select
        order_id,
        customer_id,
        ordered_at,
        net_amount,
        is_cancelled

    from orders

)

select * from order_facts
