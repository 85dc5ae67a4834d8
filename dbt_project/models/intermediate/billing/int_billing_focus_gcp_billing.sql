{#-
    GCP export rows as FOCUS rows. BilledCost and EffectiveCost are the net cost (cost + credits),
    as Google's invoice shows it; commitment fee SKUs are Purchase rows; CUD credits mark the row's
    commitment discount as Used.
-#}
with

rows as (

    select * from {{ ref('stg_gcp_billing__export_rows') }}

),

final as (

    select
        'gcp_billing' as x_source_system,
        invoice_month as x_billing_period,
        cost_type as x_line_item_type,
        case when is_gpu_sku then resource_name end as x_gpu_resource_link,
        billing_account_id as "BillingAccountId",
        currency_code as "BillingCurrency",
        cast(cast(invoice_month || '-01' as date) as timestamp) as "BillingPeriodStart",
        cast({{ dbt.dateadd('month', 1, "cast(invoice_month || '-01' as date)") }} as timestamp)
            as "BillingPeriodEnd",
        usage_start_at as "ChargePeriodStart",
        usage_end_at as "ChargePeriodEnd",
        case
            when cost_type = 'tax' then 'Tax'
            when cost_type = 'adjustment' then 'Adjustment'
            when is_commitment_fee then 'Purchase'
            else 'Usage'
        end as "ChargeCategory",
        case
            when is_commitment_fee then 'Recurring'
            when cost_type = 'tax' then 'One-Time'
            else 'Usage-Based'
        end as "ChargeFrequency",
        cast(net_cost as decimal(38, 10)) as "BilledCost",
        cast(net_cost as decimal(38, 10)) as "EffectiveCost",
        case when credits_committed_usage_discount <> 0 then 'Used' end
            as "CommitmentDiscountStatus",
        'Google Cloud' as "ProviderName",
        'Google Cloud' as "PublisherName",
        'Google Cloud' as "InvoiceIssuerName",
        coalesce(resource_global_name, resource_name) as "ResourceId",
        service_name as "ServiceName",
        sku_id as "SkuId",
        project_id as "SubAccountId"

    from rows

)

select * from final
