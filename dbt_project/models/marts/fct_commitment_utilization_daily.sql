{#-
    Day x commitment: what was committed, what of it was used, what sat unused.

    * Contracts of contracts/commitments.yaml that are scheduled here (Capacity Blocks, neocloud
      contracts): committed = the schedule, used = the hours' share of contracted GPUs on
      running hosts (int_contract_costs_hourly), inside the reporting window.
    * AWS savings plans on the CUR: per day, the recurring fee's total commitment and used
      commitment (the bill's own amortization).
    * FOCUS exports: per CommitmentDiscountId, EffectiveCost of Used rows and of Unused rows.
    * GCP committed use discounts: per region and family, the fees and the part of them that
      covered usage (int_gcp_billing_rows_amortized); the spend-based model's used part is the
      fee's offset credits.
    Savings plans and reservations named in commitments.yaml take their contract id and name by
    commitment_id; others are listed under their id on the bill. Owned GPUs are not commitments.
-#}
with

contracts as (

    select * from {{ ref('stg_contracts__contracts') }}

),

scheduled as (

    select
        cast(hour_start_at as date) as usage_date,
        contract_id as commitment_key,
        max(kind) as kind,
        max(provider) as provider,
        'contract schedule' as measured_from,
        sum(case when resource_id is null then committed_cost_usd else 0 end) as committed_cost_usd,
        sum(used_cost_usd) as used_cost_usd,
        sum(unused_cost_usd) as unused_cost_usd

    from {{ ref('int_contract_costs_hourly') }}
    where kind in ('capacity_block', 'neocloud')
    group by 1, 2

),

savings_plan_fees as (

    select
        cast(usage_start_at as date) as usage_date,
        savings_plan_arn as commitment_key,
        'savings_plan' as kind,
        'aws' as provider,
        'aws_cur' as measured_from,
        sum(savings_plan_total_commitment_to_date) as committed_cost_usd,
        sum(savings_plan_used_commitment) as used_cost_usd,
        sum(savings_plan_total_commitment_to_date - savings_plan_used_commitment)
            as unused_cost_usd

    from {{ ref('stg_aws_cur__line_items') }}
    where line_item_type = 'SavingsPlanRecurringFee'
        and savings_plan_arn is not null
    group by 1, 2

),

focus_commitments as (

    select
        cast(charge_period_start_at as date) as usage_date,
        commitment_discount_id as commitment_key,
        lower(replace(max(coalesce(commitment_discount_type, 'commitment')), ' ', '_')) as kind,
        max(provider_name) as provider,
        'focus' as measured_from,
        sum(effective_cost) as committed_cost_usd,
        sum(case when commitment_discount_status = 'Used' then effective_cost else 0 end)
            as used_cost_usd,
        sum(case when commitment_discount_status = 'Unused' then effective_cost else 0 end)
            as unused_cost_usd

    from {{ ref('stg_focus__charges') }}
    where commitment_discount_id is not null
        and commitment_discount_status in ('Used', 'Unused')
        and billing_currency = 'USD'
    group by 1, 2

),

gcp_commitments as (

    -- Committed = the fee before credits, unused = what int_gcp_billing_rows_amortized left
    -- unused, used = the rest; in US dollars by Google's own rate.
    select
        cast(usage_start_at as date) as usage_date,
        commitment_id as commitment_key,
        'committed_use_discount' as kind,
        'gcp' as provider,
        'gcp_billing' as measured_from,
        sum(cost / usd_rate) as committed_cost_usd,
        sum((cost - unused_commitment_cost) / usd_rate) as used_cost_usd,
        sum(unused_commitment_cost / usd_rate) as unused_cost_usd

    from (
        select
            *,
            case when currency_code = 'USD' then 1 else currency_conversion_rate end as usd_rate
        from {{ ref('int_gcp_billing_rows_amortized') }}
    ) as fees
    where is_commitment_fee
        and usd_rate > 0
    group by 1, 2

),

all_commitments as (

    select * from scheduled
    union all
    select * from savings_plan_fees
    union all
    select * from focus_commitments
    union all
    select * from gcp_commitments

),

final as (

    select
        all_commitments.usage_date,
        coalesce(contracts.contract_id, all_commitments.commitment_key) as commitment_id,
        coalesce(contracts.kind, all_commitments.kind) as kind,
        all_commitments.provider,
        all_commitments.measured_from,
        contracts.description,
        cast(all_commitments.committed_cost_usd as decimal(38, 10)) as committed_cost_usd,
        cast(all_commitments.used_cost_usd as decimal(38, 10)) as used_cost_usd,
        cast(all_commitments.unused_cost_usd as decimal(38, 10)) as unused_cost_usd,
        cast(
            case
                when all_commitments.committed_cost_usd > 0
                    then all_commitments.used_cost_usd / all_commitments.committed_cost_usd
            end as double
        ) as utilization

    from all_commitments
    left join contracts
        on all_commitments.commitment_key = contracts.contract_id
        or all_commitments.commitment_key = contracts.commitment_id

)

select * from final
