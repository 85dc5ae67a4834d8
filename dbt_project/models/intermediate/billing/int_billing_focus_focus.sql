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
        billing_currency as "BillingCurrency",
        billing_period_start_at as "BillingPeriodStart",
        billing_period_end_at as "BillingPeriodEnd",
        charge_period_start_at as "ChargePeriodStart",
        charge_period_end_at as "ChargePeriodEnd",
        charge_category as "ChargeCategory",
        charge_frequency as "ChargeFrequency",
        billed_cost as "BilledCost",
        effective_cost as "EffectiveCost",
        commitment_discount_status as "CommitmentDiscountStatus",
        provider_name as "ProviderName",
        publisher_name as "PublisherName",
        invoice_issuer_name as "InvoiceIssuerName",
        resource_id as "ResourceId",
        service_name as "ServiceName",
        sku_id as "SkuId",
        sub_account_id as "SubAccountId"

    from charges

)

select * from final
