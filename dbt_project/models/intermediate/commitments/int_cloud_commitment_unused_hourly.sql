{#-
    Unused commitment the cloud bills itself (DESIGN.md rule 3), per hour and commitment: AWS
    savings plans (recurring fee: total commitment - used commitment), FOCUS rows with
    CommitmentDiscountStatus 'Unused' (spread over their charge period's hours) and the unused
    part of GCP committed use discount fees (int_gcp_billing_rows_amortized, converted with
    Google's own rate). Only its GPU share is GPU cost: the contract's gpu_share in
    commitments.yaml when given; for a GCP CUD 1 when it commits GPUs and 0 otherwise; else the
    GPU share of the effective cost the commitment covered in that billing period (0 when it
    covered nothing). A savings plan bought for GPU instances alone is all GPU; the non-GPU
    part is not in the cost facts. Bills in another currency are left out (converted lines only, as for
    GPU lines, would need their rate; not yet).
-#}
with

cur_lines as (

    select * from {{ ref('int_billing_lines_amortized') }}

),

focus_rows as (

    select * from {{ ref('stg_focus__charges') }}

),

gpu_lines as (

    select * from {{ ref('int_gpu_billing_lines') }}
    where commitment_id is not null

),

gcp_rows as (

    select * from {{ ref('int_gcp_billing_rows_amortized') }}

),

contracts as (

    select * from {{ ref('stg_contracts__contracts') }}
    where kind in ('savings_plan', 'reservation')

),

hour_offsets as (

    select * from {{ ref('int_hour_offsets') }}

),

unused_charges as (

    select
        'aws' as provider,
        billing_period,
        savings_plan_arn as commitment_id,
        usage_start_at as charge_start_at,
        usage_hours as charge_hours,
        savings_plan_total_commitment_to_date - savings_plan_used_commitment as unused_cost,
        cast(null as decimal(38, 10)) as bill_gpu_share

    from cur_lines
    where line_item_type = 'SavingsPlanRecurringFee'
        and savings_plan_arn is not null
        and currency_code = 'USD'

    union all

    select
        lower(provider_name) as provider,
        billing_period,
        commitment_discount_id as commitment_id,
        charge_period_start_at as charge_start_at,
        greatest(1, {{ dbt.datediff('charge_period_start_at', 'charge_period_end_at', 'hour') }})
            as charge_hours,
        effective_cost as unused_cost,
        cast(null as decimal(38, 10)) as bill_gpu_share

    from focus_rows
    where commitment_discount_status = 'Unused'
        and commitment_discount_id is not null
        and billing_currency = 'USD'

    union all

    select
        'gcp' as provider,
        invoice_month as billing_period,
        commitment_id,
        usage_start_at as charge_start_at,
        greatest(1, {{ dbt.datediff('usage_start_at', 'usage_end_at', 'hour') }}) as charge_hours,
        case
            when currency_code = 'USD' then unused_commitment_cost
            else unused_commitment_cost / currency_conversion_rate
        end as unused_cost,
        -- A GCP resource-based CUD commits one resource family: GPUs, or not at all.
        cast(case when cud_family like 'gpu-%' then 1 else 0 end as decimal(38, 10))
            as bill_gpu_share

    from gcp_rows
    where is_commitment_fee
        and unused_commitment_cost <> 0
        and (currency_code = 'USD' or currency_conversion_rate > 0)

),

covered as (

    select billing_period, savings_plan_arn as commitment_id, sum(effective_cost) as covered_cost
    from cur_lines
    where line_item_type = 'SavingsPlanCoveredUsage'
    group by 1, 2

    union all

    select billing_period, commitment_discount_id as commitment_id, sum(effective_cost)
    from focus_rows
    where commitment_discount_status = 'Used'
        and commitment_discount_id is not null
    group by 1, 2

),

covered_gpu as (

    select billing_period, commitment_id, sum(effective_cost) as gpu_cost
    from gpu_lines
    group by 1, 2

),

shares as (

    select
        covered.billing_period,
        covered.commitment_id,
        case
            when covered.covered_cost > 0
                then least(1, coalesce(covered_gpu.gpu_cost, 0) / covered.covered_cost)
            else 0
        end as measured_gpu_share

    from covered
    left join covered_gpu
        on covered.billing_period = covered_gpu.billing_period
        and covered.commitment_id = covered_gpu.commitment_id

),

hourly as (

    select
        unused_charges.provider,
        unused_charges.billing_period,
        unused_charges.commitment_id,
        {{ dbt.dateadd('hour', 'hour_offsets.hour_offset', dbt.date_trunc('hour', 'unused_charges.charge_start_at')) }}
            as hour_start_at,
        unused_charges.unused_cost / unused_charges.charge_hours as unused_cost,
        unused_charges.bill_gpu_share

    from unused_charges
    inner join hour_offsets
        on hour_offsets.hour_offset < unused_charges.charge_hours

),

with_shares as (

    select
        hourly.hour_start_at,
        hourly.provider,
        hourly.billing_period,
        hourly.commitment_id,
        coalesce(contracts.contract_id, hourly.commitment_id) as contract_id,
        cast(coalesce(
            contracts.gpu_share, hourly.bill_gpu_share, shares.measured_gpu_share, 0
        ) as decimal(38, 10)) as gpu_share,
        hourly.unused_cost

    from hourly
    left join shares
        on hourly.billing_period = shares.billing_period
        and hourly.commitment_id = shares.commitment_id
    left join contracts
        on hourly.commitment_id = contracts.commitment_id

),

final as (

    select
        hour_start_at,
        provider,
        billing_period,
        commitment_id,
        contract_id,
        gpu_share,
        cast(sum(unused_cost) as decimal(38, 10)) as unused_cost_usd,
        cast(sum(unused_cost) * gpu_share as decimal(38, 10)) as gpu_unused_cost_usd

    from with_shares
    group by 1, 2, 3, 4, 5, 6

)

select * from final
