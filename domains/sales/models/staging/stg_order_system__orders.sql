with

source as (

    select * from {{ source('order_system', 'orders') }}

),

renamed as (

    select
        -- ids
        cast(order_id as varchar) as order_id,
        customer_id,

        -- attributes
        status as order_status,
        channel as sales_channel,

        -- numerics
        cast(shipping_cost as decimal(18, 2)) as shipping_amount,

        -- timestamps
        ordered_at

    from source

)

select * from renamed
