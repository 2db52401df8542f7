{#- Per-customer CSAT: the share of surveyed tickets scored 4 or 5, and the mean score. -#}
with

tickets as (

    select * from {{ ref('stg_ticketing__tickets') }}

),

per_customer as (

    select
        customer_id,
        count(*) as ticket_count,
        count(csat_score) as surveyed_ticket_count,
        count(case when csat_score >= 4 then 1 end) as satisfied_ticket_count,
        sum(csat_score) as csat_score_total,
        max(opened_at) as last_ticket_at

    from tickets
    group by customer_id

),

published as (

    select
        customer_id,
        ticket_count,
        surveyed_ticket_count,
        satisfied_ticket_count,
        cast(
            {{ duckmesh_platform.divide_rounded('csat_score_total', 'surveyed_ticket_count', 2) }}
            as {{ duckmesh_platform.mesh_type('decimal(4,2)') }}
        ) as avg_csat_score,
        cast(
            {{ duckmesh_platform.divide_rounded(
                'satisfied_ticket_count', 'surveyed_ticket_count', 4
            ) }}
            as {{ duckmesh_platform.mesh_type('decimal(6,4)') }}
        ) as csat_rate,
        last_ticket_at

    from per_customer

)

select * from published
