with

tickets as (

    select * from {{ ref('stg_ticketing__tickets') }}

),

published as (

    select
        ticket_id,
        customer_id,
        order_id,
        contact_channel,
        ticket_category,
        ticket_priority,
        opened_at,
        closed_at,
        closed_at is not null as is_closed,
        round(date_diff('second', opened_at, closed_at) / 3600.0, 2) as resolution_hours,
        csat_score

    from tickets

)

select * from published
