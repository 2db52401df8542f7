with

tickets as (

    select * from {{ ref('stg_ticketing__tickets') }}

),

tickets_with_durations as (

    select
        *,
        {{ dbt.datediff('opened_at', 'closed_at', 'second') }}
            as resolution_seconds

    from tickets

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
        {{ duckmesh_platform.divide_rounded('resolution_seconds', 3600, 2) }} as resolution_hours,
        csat_score

    from tickets_with_durations

)

select * from published
