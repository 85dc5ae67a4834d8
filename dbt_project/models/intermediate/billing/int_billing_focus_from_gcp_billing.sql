{#-
    GCP export rows as FOCUS rows. BilledCost is the net cost (cost + credits), as Google's
    invoice shows it, and ListCost the cost before credits; commitment fee SKUs are Purchase
    rows. Both CUD models mark usage as covered (CommitmentDiscountStatus Used): the legacy one
    by a COMMITTED_USAGE_DISCOUNT credit on the usage row, the spend-based one of 2025-26 by a
    consumption model on the usage row, which is priced at the discounted rate. In that model
    the $1 fee SKU is offset by FEE_UTILIZATION_OFFSET credits for the part used, so the fee
    row's net cost is the unused commitment.

    EffectiveCost amortizes the fees (int_gcp_billing_rows_amortized): a fee row's is 0, as
    FOCUS requires of a commitment purchase; the used part of the fee is on the usage rows it
    covered, and the unused part is one more row per fee row, a Usage row with
    CommitmentDiscountStatus Unused, BilledCost 0 and the unused cost as EffectiveCost (as in
    the FOCUS spec's scenarios). Per billing period Σ EffectiveCost = Σ BilledCost.

    Built an invoice month at a time, as the rows it maps (macros/batch.sql).
-#}

with

rows as (

    select * from {{ ref('int_gcp_billing_rows_amortized') }}

),

-- Each export row once, and each fee row with unused commitment once more as its Unused row.
row_kinds as (

    select false as is_unused_row
    union all
    select true as is_unused_row

),

charges as (

    select
        rows.*,
        row_kinds.is_unused_row

    from rows
    cross join row_kinds
    where not row_kinds.is_unused_row
        or (rows.is_commitment_fee and rows.unused_commitment_cost <> 0)

),

service_categories as (

    select * from {{ ref('focus_service_categories') }}
    where provider = 'gcp'

),

final as (

    select
        'gcp_billing' as x_source_system,
        rows.invoice_month as x_billing_period,
        rows.invoice_month_start_at as x_billing_period_start,
        rows.cost_type as x_line_item_type,
        case when rows.is_gpu_sku then rows.resource_name end as x_gpu_resource_link,
        rows.source_file || ':' || cast(rows.source_row as {{ dbt.type_string() }})
            || case when rows.is_unused_row then ':unused' else '' end as x_source_line_id,
        rows.billing_account_id as {{ adapter.quote("BillingAccountId") }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote("BillingAccountName") }},
        rows.currency_code as {{ adapter.quote("BillingCurrency") }},
        cast(cast(rows.invoice_month || '-01' as date) as timestamp) as {{ adapter.quote("BillingPeriodStart") }},
        cast(
            {{ dbt.dateadd('month', 1, "cast(rows.invoice_month || '-01' as date)") }} as timestamp
        ) as {{ adapter.quote("BillingPeriodEnd") }},
        rows.usage_start_at as {{ adapter.quote("ChargePeriodStart") }},
        rows.usage_end_at as {{ adapter.quote("ChargePeriodEnd") }},
        case
            when rows.is_unused_row then 'Usage'
            when rows.cost_type = 'tax' then 'Tax'
            when rows.cost_type = 'adjustment' then 'Adjustment'
            when rows.is_commitment_fee then 'Purchase'
            else 'Usage'
        end as {{ adapter.quote("ChargeCategory") }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote("ChargeClass") }},
        case
            when rows.is_unused_row then 'Unused commitment: ' || rows.sku_description
            else rows.sku_description
        end as {{ adapter.quote("ChargeDescription") }},
        case
            when rows.is_unused_row then 'Usage-Based'
            when rows.is_commitment_fee then 'Recurring'
            when rows.cost_type = 'tax' then 'One-Time'
            else 'Usage-Based'
        end as {{ adapter.quote("ChargeFrequency") }},
        cast(case when rows.is_unused_row then 0 else rows.net_cost end as decimal(38, 10))
            as {{ adapter.quote("BilledCost") }},
        cast(case
            when rows.is_unused_row then rows.unused_commitment_cost
            else rows.effective_cost
        end as decimal(38, 10)) as {{ adapter.quote("EffectiveCost") }},
        cast(case when rows.is_unused_row then 0 else rows.cost end as decimal(38, 10))
            as {{ adapter.quote("ListCost") }},
        cast(case when rows.is_unused_row then 0 else rows.net_cost end as decimal(38, 10))
            as {{ adapter.quote("ContractedCost") }},
        cast(case
            when not rows.is_unused_row then rows.usage_amount_in_pricing_units
        end as decimal(38, 10)) as {{ adapter.quote("PricingQuantity") }},
        case
            when rows.is_unused_row then null
            when rows.usage_amount_in_pricing_units is not null then rows.usage_pricing_unit
        end as {{ adapter.quote("PricingUnit") }},
        case
            when rows.is_unused_row then 'Unused'
            when rows.is_commitment_fee then null
            when rows.credits_committed_usage_discount <> 0 then 'Used'
            when lower(rows.consumption_model_description) like '%cud%' then 'Used'
        end as {{ adapter.quote("CommitmentDiscountStatus") }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote("InvoiceId") }},
        'Google Cloud' as {{ adapter.quote("ProviderName") }},
        'Google Cloud' as {{ adapter.quote("PublisherName") }},
        'Google Cloud' as {{ adapter.quote("InvoiceIssuerName") }},
        rows.region_id as {{ adapter.quote("RegionId") }},
        rows.zone_id as {{ adapter.quote("AvailabilityZone") }},
        case
            when rows.is_unused_row then rows.commitment_id
            else coalesce(rows.resource_global_name, rows.resource_name)
        end as {{ adapter.quote("ResourceId") }},
        coalesce(service_categories.service_category, 'Other') as {{ adapter.quote("ServiceCategory") }},
        coalesce(service_categories.service_subcategory, 'Other (Other)') as {{ adapter.quote("ServiceSubcategory") }},
        rows.service_name as {{ adapter.quote("ServiceName") }},
        rows.sku_id as {{ adapter.quote("SkuId") }},
        rows.project_id as {{ adapter.quote("SubAccountId") }}

    from charges as rows
    left join service_categories
        on rows.service_name = service_categories.service_name

)

select * from final
