{#-
    Every GPU list price with the time range it was in force: from its effective time to the
    next effective time of the same price (provider, SKU, market option, region, tier), open
    ended for the newest. Join on `valid_from_at <= t and (valid_to_at > t or valid_to_at is
    null)` to price an hour at the rate then current. gpu_hour_price = unit price per GPU-hour.
-#}
with

prices as (

    select * from {{ ref('stg_list_prices__gpu_prices') }}

),

distinct_prices as (

    select distinct
        provider,
        sku_id,
        description,
        instance_type,
        gpu_count,
        region,
        market_option,
        usage_unit,
        tier_start_usage_amount,
        unit_price,
        currency_code,
        effective_at

    from prices

),

final as (

    select
        provider,
        sku_id,
        description,
        instance_type,
        cast(gpu_count as integer) as gpu_count,
        region,
        market_option,
        usage_unit,
        cast(tier_start_usage_amount as double) as tier_start_usage_amount,
        cast(unit_price as decimal(38, 10)) as unit_price,
        cast(unit_price / greatest(gpu_count, 1) as decimal(38, 10)) as gpu_hour_price,
        currency_code,
        effective_at as valid_from_at,
        lead(effective_at) over (
            partition by provider, sku_id, market_option, region, tier_start_usage_amount
            order by effective_at
        ) as valid_to_at

    from distinct_prices

)

select * from final
