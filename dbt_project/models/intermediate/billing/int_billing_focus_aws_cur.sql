{#-
    AWS CUR line items as FOCUS 1.2 rows. BilledCost is the unblended cost as invoiced;
    EffectiveCost the amortized cost of int_billing_lines_amortized; ListCost the public
    on-demand cost where AWS states one. Line item types map to ChargeCategory the way AWS's own
    FOCUS export does: usage and its savings-plan negation are Usage, commitment fees Purchase,
    Tax Tax, credits and refunds Credit, the rest Adjustment.
-#}
with

lines as (

    select * from {{ ref('int_billing_lines_amortized') }}

),

service_categories as (

    select * from {{ ref('focus_service_categories') }}
    where provider = 'aws'

),

categorized as (

    select
        lines.*,
        coalesce(service_categories.service_category, 'Other') as service_category,
        coalesce(service_categories.service_subcategory, 'Other (Other)') as service_subcategory

    from lines
    left join service_categories
        on lines.product_code = service_categories.service_name

),

final as (

    select
        'aws_cur' as x_source_system,
        billing_period as x_billing_period,
        line_item_type as x_line_item_type,
        case when is_gpu_compute then resource_id end as x_gpu_resource_link,
        payer_account_id as "BillingAccountId",
        payer_account_name as "BillingAccountName",
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
        cast(null as varchar) as "ChargeClass",
        line_item_description as "ChargeDescription",
        case
            when line_item_type in ('SavingsPlanRecurringFee', 'RIFee') then 'Recurring'
            when line_item_type in ('SavingsPlanUpfrontFee', 'Fee', 'Tax') then 'One-Time'
            else 'Usage-Based'
        end as "ChargeFrequency",
        unblended_cost as "BilledCost",
        cast(effective_cost as decimal(38, 10)) as "EffectiveCost",
        cast(coalesce(public_on_demand_cost, unblended_cost) as decimal(38, 10)) as "ListCost",
        unblended_cost as "ContractedCost",
        -- A quantity without its unit is not FOCUS (PricingUnit-C-006-C): both or neither.
        case
            when pricing_unit is not null then cast(usage_amount as decimal(38, 10))
        end as "PricingQuantity",
        -- AWS's abbreviations to the FOCUS unit format.
        case pricing_unit
            when 'Hrs' then 'Hours'
            when 'GB-Mo' then 'GB-Months'
            when 'GB-Hrs' then 'GB-Hours'
            else pricing_unit
        end as "PricingUnit",
        case
            when line_item_type in ('SavingsPlanCoveredUsage', 'DiscountedUsage') then 'Used'
        end as "CommitmentDiscountStatus",
        invoice_id as "InvoiceId",
        -- Provider and invoice issuer are the same entity: not a marketplace charge
        -- (BilledCost-C-005-C).
        'Amazon Web Services' as "ProviderName",
        'Amazon Web Services' as "PublisherName",
        'Amazon Web Services' as "InvoiceIssuerName",
        region_code as "RegionId",
        availability_zone as "AvailabilityZone",
        resource_id as "ResourceId",
        service_category as "ServiceCategory",
        service_subcategory as "ServiceSubcategory",
        product_code as "ServiceName",
        usage_type as "SkuId",
        usage_account_id as "SubAccountId"

    from categorized

)

select * from final
