with

source as (

    select * from {{ source('raw', 'focus_charges') }}

),

renamed as (

    select
        billing_period,
        source_file,
        source_row,
        {{ adapter.quote("BillingPeriodStart") }} as billing_period_start_at,
        {{ adapter.quote("BillingPeriodEnd") }} as billing_period_end_at,
        {{ adapter.quote("ChargePeriodStart") }} as charge_period_start_at,
        {{ adapter.quote("ChargePeriodEnd") }} as charge_period_end_at,
        cast({{ adapter.quote("BilledCost") }} as decimal(38, 10)) as billed_cost,
        cast({{ adapter.quote("EffectiveCost") }} as decimal(38, 10)) as effective_cost,
        cast({{ adapter.quote("ListCost") }} as decimal(38, 10)) as list_cost,
        cast({{ adapter.quote("ContractedCost") }} as decimal(38, 10)) as contracted_cost,
        {{ adapter.quote("ConsumedQuantity") }} as consumed_quantity,
        {{ adapter.quote("ConsumedUnit") }} as consumed_unit,
        {{ adapter.quote("PricingQuantity") }} as pricing_quantity,
        {{ adapter.quote("PricingUnit") }} as pricing_unit,
        {{ adapter.quote("PricingCategory") }} as pricing_category,
        {{ adapter.quote("BillingAccountId") }} as billing_account_id,
        {{ adapter.quote("BillingAccountName") }} as billing_account_name,
        {{ adapter.quote("BillingCurrency") }} as billing_currency,
        {{ adapter.quote("ChargeCategory") }} as charge_category,
        {{ adapter.quote("ChargeClass") }} as charge_class,
        {{ adapter.quote("ChargeDescription") }} as charge_description,
        {{ adapter.quote("ChargeFrequency") }} as charge_frequency,
        {{ adapter.quote("CommitmentDiscountCategory") }} as commitment_discount_category,
        {{ adapter.quote("CommitmentDiscountId") }} as commitment_discount_id,
        {{ adapter.quote("CommitmentDiscountStatus") }} as commitment_discount_status,
        {{ adapter.quote("CommitmentDiscountType") }} as commitment_discount_type,
        {{ adapter.quote("InvoiceIssuerName") }} as invoice_issuer_name,
        {{ adapter.quote("ProviderName") }} as provider_name,
        {{ adapter.quote("PublisherName") }} as publisher_name,
        {{ adapter.quote("RegionId") }} as region_id,
        {{ adapter.quote("AvailabilityZone") }} as availability_zone,
        {{ adapter.quote("ResourceId") }} as resource_id,
        {{ adapter.quote("ResourceType") }} as resource_type,
        {{ adapter.quote("ServiceCategory") }} as service_category,
        {{ adapter.quote("ServiceSubcategory") }} as service_subcategory,
        {{ adapter.quote("InvoiceId") }} as invoice_id,
        {{ adapter.quote("ServiceName") }} as service_name,
        {{ adapter.quote("SkuId") }} as sku_id,
        {{ adapter.quote("SkuPriceId") }} as sku_price_id,
        {{ adapter.quote("SkuMeter") }} as sku_meter,
        {{ adapter.quote("SkuPriceDetails") }} as sku_price_details,
        {{ adapter.quote("SubAccountId") }} as sub_account_id,
        {{ adapter.quote("Tags") }} as tags,
        x_extensions

    from source

)

select * from renamed
