with

campaigns as (

    select * from {{ ref('stg_marketing__campaigns') }}

),

spend as (

    select * from {{ ref('stg_ad_platform__campaign_spend') }}

),

reach as (

    select * from {{ ref('int_campaign_reach') }}

),

attribution as (

    select * from {{ ref('attribution', v=1) }}

),

spend_per_campaign as (

    select
        campaign_id,
        sum(spend_amount) as spend_amount,
        min(spend_date) as first_spend_date,
        max(spend_date) as last_spend_date

    from spend
    group by campaign_id

),

revenue_per_campaign as (

    select
        campaign_id,
        count(*) as attributed_order_count,
        sum(attributed_revenue_amount) as attributed_revenue_amount

    from attribution
    where is_attributed
    group by campaign_id

),

published as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.marketing_channel,
        campaigns.campaign_objective,
        spend_per_campaign.first_spend_date,
        spend_per_campaign.last_spend_date,
        cast(
            coalesce(spend_per_campaign.spend_amount, 0)
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as spend_amount,
        coalesce(reach.touch_count, 0) as touch_count,
        coalesce(reach.reached_customer_count, 0) as reached_customer_count,
        coalesce(reach.reached_opted_in_customer_count, 0)
            as reached_opted_in_customer_count,
        coalesce(revenue_per_campaign.attributed_order_count, 0)
            as attributed_order_count,
        cast(
            coalesce(revenue_per_campaign.attributed_revenue_amount, 0)
            as {{ duckmesh_platform.mesh_type('money') }}
        ) as attributed_revenue_amount,
        {{ duckmesh_platform.divide_rounded(
            'revenue_per_campaign.attributed_revenue_amount',
            'spend_per_campaign.spend_amount',
            4
        ) }} as return_on_ad_spend

    from campaigns
    left join spend_per_campaign
        on campaigns.campaign_id = spend_per_campaign.campaign_id
    left join reach
        on campaigns.campaign_id = reach.campaign_id
    left join revenue_per_campaign
        on campaigns.campaign_id = revenue_per_campaign.campaign_id

)

select * from published
