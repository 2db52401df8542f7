with

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

published as (

    select
        customer_id,
        {{ duckmesh_platform.pseudonymise('email') }} as email_hash,
        country_code,
        customer_segment,
        is_marketing_opt_in,
        signup_date,
        updated_at

    from customers

)

select * from published
