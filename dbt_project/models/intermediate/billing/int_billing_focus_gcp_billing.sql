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
        rows.cost_type as x_line_item_type,
        case when rows.is_gpu_sku then rows.resource_name end as x_gpu_resource_link,
        rows.billing_account_id as "BillingAccountId",
        cast(null as varchar) as "BillingAccountName",
        rows.currency_code as "BillingCurrency",
        cast(cast(rows.invoice_month || '-01' as date) as timestamp) as "BillingPeriodStart",
        cast(
            {{ dbt.dateadd('month', 1, "cast(rows.invoice_month || '-01' as date)") }} as timestamp
        ) as "BillingPeriodEnd",
        rows.usage_start_at as "ChargePeriodStart",
        rows.usage_end_at as "ChargePeriodEnd",
        case
            when rows.is_unused_row then 'Usage'
            when rows.cost_type = 'tax' then 'Tax'
            when rows.cost_type = 'adjustment' then 'Adjustment'
            when rows.is_commitment_fee then 'Purchase'
            else 'Usage'
        end as "ChargeCategory",
        cast(null as varchar) as "ChargeClass",
        case
            when rows.is_unused_row then 'Unused commitment: ' || rows.sku_description
            else rows.sku_description
        end as "ChargeDescription",
        case
            when rows.is_unused_row then 'Usage-Based'
            when rows.is_commitment_fee then 'Recurring'
            when rows.cost_type = 'tax' then 'One-Time'
            else 'Usage-Based'
        end as "ChargeFrequency",
        cast(case when rows.is_unused_row then 0 else rows.net_cost end as decimal(38, 10))
            as "BilledCost",
        cast(case
            when rows.is_unused_row then rows.unused_commitment_cost
            else rows.effective_cost
        end as decimal(38, 10)) as "EffectiveCost",
        cast(case when rows.is_unused_row then 0 else rows.cost end as decimal(38, 10))
            as "ListCost",
        cast(case when rows.is_unused_row then 0 else rows.net_cost end as decimal(38, 10))
            as "ContractedCost",
        cast(case
            when not rows.is_unused_row then rows.usage_amount_in_pricing_units
        end as decimal(38, 10)) as "PricingQuantity",
        case
            when rows.is_unused_row then null
            when rows.usage_amount_in_pricing_units is not null then rows.usage_pricing_unit
        end as "PricingUnit",
        case
            when rows.is_unused_row then 'Unused'
            when rows.is_commitment_fee then null
            when rows.credits_committed_usage_discount <> 0 then 'Used'
            when lower(rows.consumption_model_description) like '%cud%' then 'Used'
        end as "CommitmentDiscountStatus",
        cast(null as varchar) as "InvoiceId",
        'Google Cloud' as "ProviderName",
        'Google Cloud' as "PublisherName",
        'Google Cloud' as "InvoiceIssuerName",
        rows.region_id as "RegionId",
        rows.zone_id as "AvailabilityZone",
        case
            when rows.is_unused_row then rows.commitment_id
            else coalesce(rows.resource_global_name, rows.resource_name)
        end as "ResourceId",
        coalesce(service_categories.service_category, 'Other') as "ServiceCategory",
        coalesce(service_categories.service_subcategory, 'Other (Other)') as "ServiceSubcategory",
        rows.service_name as "ServiceName",
        rows.sku_id as "SkuId",
        rows.project_id as "SubAccountId"

    from charges as rows
    left join service_categories
        on rows.service_name = service_categories.service_name

)

select * from final
