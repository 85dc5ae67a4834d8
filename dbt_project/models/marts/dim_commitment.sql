{#-
    Every commitment: the contracts of contracts/*.yaml (with their whole-term cost where the
    schedule is ours) and the commitments the bills name without a contract (AWS savings plan
    ARNs, FOCUS CommitmentDiscountIds, GCP committed use discounts per region and family).
-#}
with

contracts as (

    select * from {{ ref('stg_contracts__contracts') }}

),

scheduled_totals as (

    select contract_id, sum(committed_cost_usd) as term_cost_usd
    from {{ ref('int_contract_hours') }}
    group by 1

),

on_bills as (

    select
        savings_plan_arn as commitment_id,
        'savings_plan' as kind,
        'aws' as provider,
        min(usage_start_at) as first_seen_at,
        max(usage_end_at) as last_seen_at
    from {{ ref('int_billing_lines_amortized') }}
    where savings_plan_arn is not null
    group by 1

    union all

    select
        commitment_discount_id as commitment_id,
        lower(replace(max(coalesce(commitment_discount_type, 'commitment')), ' ', '_')) as kind,
        max(provider_name) as provider,
        min(charge_period_start_at) as first_seen_at,
        max(charge_period_end_at) as last_seen_at
    from {{ ref('stg_focus__charges') }}
    where commitment_discount_id is not null
    group by 1

    union all

    select
        commitment_id,
        'committed_use_discount' as kind,
        'gcp' as provider,
        min(usage_start_at) as first_seen_at,
        max(usage_end_at) as last_seen_at
    from {{ ref('int_gcp_billing_rows_amortized') }}
    where commitment_id is not null
    group by 1

),

from_contracts as (

    select
        contracts.contract_id as commitment_id,
        contracts.kind,
        contracts.provider,
        contracts.description,
        contracts.commitment_id as billed_as,
        contracts.instance_type,
        contracts.instance_count,
        contracts.gpu_model,
        contracts.gpu_count,
        contracts.start_at,
        contracts.end_at,
        contracts.term_hours,
        cast(scheduled_totals.term_cost_usd as decimal(38, 10)) as term_cost_usd,
        contracts.upfront_usd,
        contracts.hourly_commitment_usd,
        contracts.gpu_share,
        contracts.early_termination_notice_days,
        contracts.early_termination_fee_usd,
        'contracts' as listed_in,
        contracts.source_file

    from contracts
    left join scheduled_totals
        on contracts.contract_id = scheduled_totals.contract_id

),

bill_only as (

    select
        on_bills.commitment_id,
        on_bills.kind,
        on_bills.provider,
        cast(null as {{ dbt.type_string() }}) as description,
        on_bills.commitment_id as billed_as,
        cast(null as {{ dbt.type_string() }}) as instance_type,
        cast(null as integer) as instance_count,
        cast(null as {{ dbt.type_string() }}) as gpu_model,
        cast(null as integer) as gpu_count,
        on_bills.first_seen_at as start_at,
        on_bills.last_seen_at as end_at,
        cast(null as bigint) as term_hours,
        cast(null as decimal(38, 10)) as term_cost_usd,
        cast(null as decimal(38, 10)) as upfront_usd,
        cast(null as decimal(38, 10)) as hourly_commitment_usd,
        cast(null as decimal(38, 10)) as gpu_share,
        cast(null as integer) as early_termination_notice_days,
        cast(null as decimal(38, 10)) as early_termination_fee_usd,
        'bill' as listed_in,
        cast(null as {{ dbt.type_string() }}) as source_file

    from on_bills
    where on_bills.commitment_id not in (
        select commitment_id from contracts where commitment_id is not null
    )

)

select * from from_contracts
union all
select * from bill_only
