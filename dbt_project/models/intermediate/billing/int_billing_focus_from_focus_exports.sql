{#- FOCUS exports as they are: already FOCUS, only the extension columns are added. Built a
    billing period at a time (macros/batch.sql). -#}

with

charges as (

    select * from {{ ref('stg_focus__charges') }}
    where {{ batch_periods_filter('billing_period') }}

),

final as (

    select
        'focus' as x_source_system,
        billing_period as x_billing_period,
        {{ period_start('billing_period') }} as x_billing_period_start,
        cast(null as {{ dbt.type_string() }}) as x_line_item_type,
        cast(null as {{ dbt.type_string() }}) as x_gpu_resource_link,
        source_file || ':' || cast(source_row as {{ dbt.type_string() }}) as x_source_line_id,
        billing_account_id as {{ adapter.quote("BillingAccountId") }},
        billing_account_name as {{ adapter.quote("BillingAccountName") }},
        billing_currency as {{ adapter.quote("BillingCurrency") }},
        billing_period_start_at as {{ adapter.quote("BillingPeriodStart") }},
        billing_period_end_at as {{ adapter.quote("BillingPeriodEnd") }},
        charge_period_start_at as {{ adapter.quote("ChargePeriodStart") }},
        charge_period_end_at as {{ adapter.quote("ChargePeriodEnd") }},
        charge_category as {{ adapter.quote("ChargeCategory") }},
        charge_class as {{ adapter.quote("ChargeClass") }},
        charge_description as {{ adapter.quote("ChargeDescription") }},
        charge_frequency as {{ adapter.quote("ChargeFrequency") }},
        billed_cost as {{ adapter.quote("BilledCost") }},
        effective_cost as {{ adapter.quote("EffectiveCost") }},
        list_cost as {{ adapter.quote("ListCost") }},
        contracted_cost as {{ adapter.quote("ContractedCost") }},
        cast(pricing_quantity as decimal(38, 10)) as {{ adapter.quote("PricingQuantity") }},
        pricing_unit as {{ adapter.quote("PricingUnit") }},
        commitment_discount_status as {{ adapter.quote("CommitmentDiscountStatus") }},
        invoice_id as {{ adapter.quote("InvoiceId") }},
        provider_name as {{ adapter.quote("ProviderName") }},
        publisher_name as {{ adapter.quote("PublisherName") }},
        invoice_issuer_name as {{ adapter.quote("InvoiceIssuerName") }},
        region_id as {{ adapter.quote("RegionId") }},
        availability_zone as {{ adapter.quote("AvailabilityZone") }},
        resource_id as {{ adapter.quote("ResourceId") }},
        service_category as {{ adapter.quote("ServiceCategory") }},
        -- FOCUS 1.0 has no ServiceSubcategory (1.1+ requires it): the category's "Other (...)".
        coalesce(
            service_subcategory, 'Other (' || coalesce(service_category, 'Other') || ')'
        ) as {{ adapter.quote("ServiceSubcategory") }},
        service_name as {{ adapter.quote("ServiceName") }},
        sku_id as {{ adapter.quote("SkuId") }},
        sub_account_id as {{ adapter.quote("SubAccountId") }}

    from charges

)

select * from final
