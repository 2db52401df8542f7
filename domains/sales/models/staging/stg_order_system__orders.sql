with

source as (

    select * from {{ source('order_system', 'orders') }}

),

renamed as (

    select
        -- ids
        cast(order_id as {{ duckmesh_platform.mesh_type('text') }}) as order_id,
        customer_id,

        -- attributes
        status as order_status,
        channel as sales_channel,

        -- numerics
        cast(shipping_cost as {{ duckmesh_platform.mesh_type('money') }}) as shipping_amount,

        -- timestamps
        ordered_at

    from source

),

ranked as (

    -- a later drop re-sends an order when its status moves on (placed -> shipped
    -- -> delivered -> returned, placed -> cancelled): the furthest status wins
    select
        *,
        row_number() over (
            partition by order_id
            order by
                case order_status
                    when 'placed' then 1
                    when 'shipped' then 2
                    when 'delivered' then 3
                    else 4
                end desc
        ) as status_rank

    from renamed

),

deduplicated as (

    select
        order_id,
        customer_id,
        order_status,
        sales_channel,
        shipping_amount,
        ordered_at

    from ranked
    where status_rank = 1

)

select * from deduplicated
