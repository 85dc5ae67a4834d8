{#-
    AWS CUR line items as FOCUS 1.2 rows. BilledCost is the unblended cost as invoiced;
    EffectiveCost the amortized cost of int_billing_lines_amortized. Line item types map to
    ChargeCategory the way AWS's own FOCUS export does: usage and its savings-plan negation are
    Usage, commitment fees Purchase, Tax Tax, credits and refunds Credit, the rest Adjustment.
-#}
with

lines as (

    select * from {{ ref('int_billing_lines_amortized') }}

),

final as (

    select
        'aws_cur' as x_source_system,
        billing_period as x_billing_period,
        line_item_type as x_line_item_type,
        case when is_gpu_compute then resource_id end as x_gpu_resource_link,
        payer_account_id as "BillingAccountId",
        currency_code as "BillingCurrency",
        cast(cast(billing_period || '-01' as date) as timestamp) as "BillingPeriodStart",
        cast({{ dbt.dateadd('month', 1, "cast(billing_period || '-01' as date)") }} as timestamp)
            as "BillingPeriodEnd",
        usage_start_at as "ChargePeriodStart",
        usage_end_at as "ChargePeriodEnd",
        case
            when line_item_type in (
                'Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage', 'SavingsPlanNegation'
            ) then 'Usage'
            when line_item_type in (
                'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee', 'RIFee', 'Fee'
            ) then 'Purchase'
            when line_item_type = 'Tax' then 'Tax'
            when line_item_type in ('Credit', 'Refund', 'BundledDiscount', 'EdpDiscount')
                then 'Credit'
            else 'Adjustment'
        end as "ChargeCategory",
        case
            when line_item_type in ('SavingsPlanRecurringFee', 'RIFee') then 'Recurring'
            when line_item_type in ('SavingsPlanUpfrontFee', 'Fee', 'Tax') then 'One-Time'
            else 'Usage-Based'
        end as "ChargeFrequency",
        unblended_cost as "BilledCost",
        cast(effective_cost as decimal(38, 10)) as "EffectiveCost",
        case
            when line_item_type in ('SavingsPlanCoveredUsage', 'DiscountedUsage') then 'Used'
        end as "CommitmentDiscountStatus",
        'AWS' as "ProviderName",
        'Amazon Web Services, Inc.' as "PublisherName",
        'Amazon Web Services, Inc.' as "InvoiceIssuerName",
        resource_id as "ResourceId",
        product_code as "ServiceName",
        usage_type as "SkuId",
        usage_account_id as "SubAccountId"

    from lines

)

select * from final
