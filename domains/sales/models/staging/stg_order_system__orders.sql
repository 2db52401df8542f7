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

),

deduplicated as (

    -- a later drop re-sends an order when its status moves on (placed -> shipped
    -- -> delivered -> returned, placed -> cancelled): the furthest status wins
    select * from renamed
    qualify row_number() over (
        partition by order_id
        order by
            case order_status
                when 'placed' then 1
                when 'shipped' then 2
                when 'delivered' then 3
                else 4
            end desc
    ) = 1

)

select * from deduplicated
