with

source as (

    select * from {{ source('crm', 'customers') }}

),

renamed as (

    select
        -- ids
        cust_id as customer_id,

        -- personal data (PII: never leaves the domain unmasked)
        first_name,
        last_name,
        lower(trim(email)) as email,
        phone,

        -- attributes
        country as country_code,
        segment as customer_segment,
        opt_in = 'Y' as is_marketing_opt_in,

        -- dates and timestamps
        {{ duckmesh_platform.parse_date('signup_dt', '%d/%m/%Y') }} as signup_date,
        {{ duckmesh_platform.parse_utc_timestamp(
            'last_modified', '%Y-%m-%d %H:%M:%S'
        ) }} as updated_at

    from source

)

select * from renamed
