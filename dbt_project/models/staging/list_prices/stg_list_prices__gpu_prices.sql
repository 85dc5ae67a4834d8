with

source as (

    select * from {{ source('raw', 'list_prices') }}

),

renamed as (

    select
        provider,
        sku_id,
        price_id,
        description,
        instance_type,
        gpu_count,
        resource_group,
        region,
        market_option,
        usage_unit,
        tier_start_usage_amount,
        unit_price,
        currency as currency_code,
        effective_at,
        source

    from source

)

select * from renamed
