{#- FOCUS exports as they are: already FOCUS, only the extension columns are added. -#}
with

charges as (

    select * from {{ ref('stg_focus__charges') }}

),

final as (

    select
        'focus' as x_source_system,
        billing_period as x_billing_period,
        cast(null as varchar) as x_line_item_type,
        cast(null as varchar) as x_gpu_resource_link,
        billing_account_id as "BillingAccountId",
        billing_account_name as "BillingAccountName",
        billing_currency as "BillingCurrency",
        billing_period_start_at as "BillingPeriodStart",
        billing_period_end_at as "BillingPeriodEnd",
        charge_period_start_at as "ChargePeriodStart",
        charge_period_end_at as "ChargePeriodEnd",
        charge_category as "ChargeCategory",
        charge_class as "ChargeClass",
        charge_description as "ChargeDescription",
        charge_frequency as "ChargeFrequency",
        billed_cost as "BilledCost",
        effective_cost as "EffectiveCost",
        list_cost as "ListCost",
        contracted_cost as "ContractedCost",
        cast(pricing_quantity as decimal(38, 10)) as "PricingQuantity",
        pricing_unit as "PricingUnit",
        commitment_discount_status as "CommitmentDiscountStatus",
        invoice_id as "InvoiceId",
        provider_name as "ProviderName",
        publisher_name as "PublisherName",
        invoice_issuer_name as "InvoiceIssuerName",
        region_id as "RegionId",
        availability_zone as "AvailabilityZone",
        resource_id as "ResourceId",
        service_category as "ServiceCategory",
        -- FOCUS 1.0 has no ServiceSubcategory (1.1+ requires it): the category's "Other (...)".
        coalesce(
            service_subcategory, 'Other (' || coalesce(service_category, 'Other') || ')'
        ) as "ServiceSubcategory",
        service_name as "ServiceName",
        sku_id as "SkuId",
        sub_account_id as "SubAccountId"

    from charges

)

select * from final
