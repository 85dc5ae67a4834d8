{#-
    AWS CUR line items as FOCUS 1.2 rows. BilledCost is the unblended cost as invoiced;
    EffectiveCost the amortized cost of int_billing_lines_amortized; ListCost the public
    on-demand cost where AWS states one. Line item types map to ChargeCategory the way AWS's own
    FOCUS export does: usage and its savings-plan negation are Usage, commitment fees Purchase,
    Tax Tax, credits and refunds Credit, the rest Adjustment.

    Built a billing period at a time, as the lines it maps (macros/batch.sql).
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
        billing_period_start_at as x_billing_period_start,
        line_item_type as x_line_item_type,
        case when is_gpu_compute then resource_id end as x_gpu_resource_link,
        line_item_id as x_source_line_id,
        payer_account_id as {{ adapter.quote("BillingAccountId") }},
        payer_account_name as {{ adapter.quote("BillingAccountName") }},
        currency_code as {{ adapter.quote("BillingCurrency") }},
        cast(cast(billing_period || '-01' as date) as timestamp) as {{ adapter.quote("BillingPeriodStart") }},
        cast({{ dbt.dateadd('month', 1, "cast(billing_period || '-01' as date)") }} as timestamp)
            as {{ adapter.quote("BillingPeriodEnd") }},
        usage_start_at as {{ adapter.quote("ChargePeriodStart") }},
        usage_end_at as {{ adapter.quote("ChargePeriodEnd") }},
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
        end as {{ adapter.quote("ChargeCategory") }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote("ChargeClass") }},
        line_item_description as {{ adapter.quote("ChargeDescription") }},
        case
            when line_item_type in ('SavingsPlanRecurringFee', 'RIFee') then 'Recurring'
            when line_item_type in ('SavingsPlanUpfrontFee', 'Fee', 'Tax') then 'One-Time'
            else 'Usage-Based'
        end as {{ adapter.quote("ChargeFrequency") }},
        unblended_cost as {{ adapter.quote("BilledCost") }},
        cast(effective_cost as decimal(38, 10)) as {{ adapter.quote("EffectiveCost") }},
        cast(coalesce(public_on_demand_cost, unblended_cost) as decimal(38, 10)) as {{ adapter.quote("ListCost") }},
        unblended_cost as {{ adapter.quote("ContractedCost") }},
        -- A quantity without its unit is not FOCUS (PricingUnit-C-006-C): both or neither.
        case
            when pricing_unit is not null then cast(usage_amount as decimal(38, 10))
        end as {{ adapter.quote("PricingQuantity") }},
        -- AWS's abbreviations to the FOCUS unit format.
        case pricing_unit
            when 'Hrs' then 'Hours'
            when 'GB-Mo' then 'GB-Months'
            when 'GB-Hrs' then 'GB-Hours'
            else pricing_unit
        end as {{ adapter.quote("PricingUnit") }},
        case
            when line_item_type in ('SavingsPlanCoveredUsage', 'DiscountedUsage') then 'Used'
        end as {{ adapter.quote("CommitmentDiscountStatus") }},
        invoice_id as {{ adapter.quote("InvoiceId") }},
        -- Provider and invoice issuer are the same entity: not a marketplace charge
        -- (BilledCost-C-005-C).
        'Amazon Web Services' as {{ adapter.quote("ProviderName") }},
        'Amazon Web Services' as {{ adapter.quote("PublisherName") }},
        'Amazon Web Services' as {{ adapter.quote("InvoiceIssuerName") }},
        region_code as {{ adapter.quote("RegionId") }},
        availability_zone as {{ adapter.quote("AvailabilityZone") }},
        resource_id as {{ adapter.quote("ResourceId") }},
        service_category as {{ adapter.quote("ServiceCategory") }},
        service_subcategory as {{ adapter.quote("ServiceSubcategory") }},
        product_code as {{ adapter.quote("ServiceName") }},
        usage_type as {{ adapter.quote("SkuId") }},
        usage_account_id as {{ adapter.quote("SubAccountId") }}

    from categorized

)

select * from final
