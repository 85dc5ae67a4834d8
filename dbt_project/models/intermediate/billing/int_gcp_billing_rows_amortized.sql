{#-
    GCP export rows with committed use discount fees amortized (docs/contracts.md,
    "GCP committed use discounts"). One row per export row.

    Resource-based CUDs: Google bills a fee row per commitment (SKU "Commitment v1: ...") and a
    COMMITTED_USAGE_DISCOUNT credit on each usage row it covers, hour by hour. Per invoice
    month, hour, region and CUD family (GPU model, RAM, CPU, local SSD):
      covered quantity  = Σ usage in pricing units x |CUD credit| / cost, over covered rows
                          (the credit over the row's unit price),
      committed quantity = Σ the fee rows' usage in pricing units,
      used share        = min(1, covered / committed); 1 when the fee names no quantity but
                          usage was covered, 0 when nothing was covered.
    The used part of the fees goes onto the covered rows in proportion to their covered
    quantity (effective_cost = net cost + that part); the fee rows' effective cost is 0 and the
    rest of the fee is unused_commitment_cost. Spend-based CUDs (2025-26): usage is already
    priced at the discounted rate and the used part of the fee is offset by credits, so the
    fee row's whole net cost is unused. Σ effective_cost + Σ unused_commitment_cost = Σ net
    cost in every group: nothing is added or lost.

    Built an invoice month at a time (macros/batch.sql): fees are amortized within their month.
-#}

with

rows as (

    select
        *,
        {{ dbt.date_trunc('hour', 'usage_start_at') }} as usage_hour_at
    from {{ ref('stg_gcp_billing__export_rows') }}
    where {{ batch_periods_filter('invoice_month') }}

),

covered as (

    select
        source_file,
        source_row,
        invoice_month,
        usage_hour_at,
        region_id,
        cud_family,
        case
            when cost > 0
                then usage_amount_in_pricing_units * (- credits_committed_usage_discount) / cost
            else 0
        end as covered_quantity

    from rows
    where not is_commitment_fee
        and credits_committed_usage_discount < 0

),

covered_totals as (

    select
        invoice_month,
        usage_hour_at,
        region_id,
        cud_family,
        sum(covered_quantity) as covered_quantity

    from covered
    group by 1, 2, 3, 4

),

fee_totals as (

    select
        invoice_month,
        usage_hour_at,
        region_id,
        cud_family,
        sum(coalesce(usage_amount_in_pricing_units, 0)) as committed_quantity,
        sum(net_cost) as fee_cost

    from rows
    where is_commitment_fee
        and not is_spend_based_fee
    group by 1, 2, 3, 4

),

shares as (

    select
        fee_totals.invoice_month,
        fee_totals.usage_hour_at,
        fee_totals.region_id,
        fee_totals.cud_family,
        fee_totals.committed_quantity,
        coalesce(covered_totals.covered_quantity, 0) as covered_quantity,
        case
            when coalesce(covered_totals.covered_quantity, 0) <= 0 then 0
            when fee_totals.committed_quantity <= 0 then 1
            else least(1, covered_totals.covered_quantity / fee_totals.committed_quantity)
        end as used_share,
        fee_totals.fee_cost

    from fee_totals
    left join covered_totals
        on fee_totals.invoice_month = covered_totals.invoice_month
        and fee_totals.usage_hour_at = covered_totals.usage_hour_at
        and fee_totals.region_id is not distinct from covered_totals.region_id
        and fee_totals.cud_family is not distinct from covered_totals.cud_family

),

amortized as (

    select
        covered.source_file,
        covered.source_row,
        covered.covered_quantity,
        shares.fee_cost * shares.used_share * covered.covered_quantity
            / covered_totals.covered_quantity as amortized_fee_cost

    from covered
    inner join covered_totals
        on covered.invoice_month = covered_totals.invoice_month
        and covered.usage_hour_at = covered_totals.usage_hour_at
        and covered.region_id is not distinct from covered_totals.region_id
        and covered.cud_family is not distinct from covered_totals.cud_family
    inner join shares
        on covered.invoice_month = shares.invoice_month
        and covered.usage_hour_at = shares.usage_hour_at
        and covered.region_id is not distinct from shares.region_id
        and covered.cud_family is not distinct from shares.cud_family
    where covered_totals.covered_quantity > 0

),

final as (

    select
        rows.*,
        {{ period_start('rows.invoice_month') }} as invoice_month_start_at,
        -- Fees of one CUD family and region, as the bill's commitment id (FOCUS
        -- CommitmentDiscountId); contracts.yaml may name it to set gpu_share or a name.
        case
            when rows.is_spend_based_fee then 'gcp-cud:spend-based:' || rows.sku_id
            when rows.is_commitment_fee or rows.credits_committed_usage_discount < 0
                then 'gcp-cud:' || coalesce(rows.region_id, 'global') || ':'
                    || coalesce(rows.cud_family, 'other')
        end as commitment_id,
        cast(case
            when rows.is_commitment_fee then 0
            else rows.net_cost + coalesce(amortized.amortized_fee_cost, 0)
        end as decimal(38, 10)) as effective_cost,
        cast(coalesce(amortized.amortized_fee_cost, 0) as decimal(38, 10)) as amortized_fee_cost,
        cast(case
            when rows.is_spend_based_fee then rows.net_cost
            when rows.is_commitment_fee then rows.net_cost * (1 - coalesce(shares.used_share, 0))
            else 0
        end as decimal(38, 10)) as unused_commitment_cost,
        cast(case
            when rows.is_spend_based_fee and rows.cost > 0 then 1 - rows.net_cost / rows.cost
            when rows.is_commitment_fee then coalesce(shares.used_share, 0)
        end as double) as commitment_used_share

    from rows
    left join amortized
        on rows.source_file = amortized.source_file
        and rows.source_row = amortized.source_row
    left join shares
        on rows.is_commitment_fee
        and not rows.is_spend_based_fee
        and rows.invoice_month = shares.invoice_month
        and rows.usage_hour_at = shares.usage_hour_at
        and rows.region_id is not distinct from shares.region_id
        and rows.cud_family is not distinct from shares.cud_family

)

select * from final
