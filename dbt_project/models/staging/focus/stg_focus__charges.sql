with

source as (

    select * from {{ source('raw', 'focus_charges') }}

),

renamed as (

    select
        billing_period,
        source_file,
        source_row,
        "BillingPeriodStart" as billing_period_start_at,
        "BillingPeriodEnd" as billing_period_end_at,
        "ChargePeriodStart" as charge_period_start_at,
        "ChargePeriodEnd" as charge_period_end_at,
        cast("BilledCost" as decimal(38, 10)) as billed_cost,
        cast("EffectiveCost" as decimal(38, 10)) as effective_cost,
        cast("ListCost" as decimal(38, 10)) as list_cost,
        cast("ContractedCost" as decimal(38, 10)) as contracted_cost,
        "ConsumedQuantity" as consumed_quantity,
        "ConsumedUnit" as consumed_unit,
        "PricingQuantity" as pricing_quantity,
        "PricingUnit" as pricing_unit,
        "PricingCategory" as pricing_category,
        "BillingAccountId" as billing_account_id,
        "BillingAccountName" as billing_account_name,
        "BillingCurrency" as billing_currency,
        "ChargeCategory" as charge_category,
        "ChargeClass" as charge_class,
        "ChargeDescription" as charge_description,
        "ChargeFrequency" as charge_frequency,
        "CommitmentDiscountCategory" as commitment_discount_category,
        "CommitmentDiscountId" as commitment_discount_id,
        "CommitmentDiscountStatus" as commitment_discount_status,
        "CommitmentDiscountType" as commitment_discount_type,
        "InvoiceIssuerName" as invoice_issuer_name,
        "ProviderName" as provider_name,
        "PublisherName" as publisher_name,
        "RegionId" as region_id,
        "AvailabilityZone" as availability_zone,
        "ResourceId" as resource_id,
        "ResourceType" as resource_type,
        "ServiceCategory" as service_category,
        "ServiceSubcategory" as service_subcategory,
        "InvoiceId" as invoice_id,
        "ServiceName" as service_name,
        "SkuId" as sku_id,
        "SkuPriceId" as sku_price_id,
        "SkuMeter" as sku_meter,
        "SkuPriceDetails" as sku_price_details,
        "SubAccountId" as sub_account_id,
        "Tags" as tags,
        x_extensions

    from source

)

select * from renamed
