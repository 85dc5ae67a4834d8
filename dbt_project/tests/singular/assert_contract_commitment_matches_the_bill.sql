{#-
    A savings plan declared in contracts/*.yaml must state the hourly commitment the bill
    charges (CUR recurring fee: total commitment per hour). A difference is a wrong contract
    entry, or the wrong plan's ARN; it is reported (warn), never used to change the bill.
-#}
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'stg_contracts__contracts'}}}) }}
with

fees as (

    select
        savings_plan_arn,
        min(savings_plan_total_commitment_to_date / usage_hours) as min_hourly,
        max(savings_plan_total_commitment_to_date / usage_hours) as max_hourly

    from {{ ref('int_billing_lines_amortized') }}
    where line_item_type = 'SavingsPlanRecurringFee'
        and savings_plan_arn is not null
    group by 1

)

select
    contracts.contract_id,
    contracts.commitment_id,
    contracts.hourly_commitment_usd,
    fees.min_hourly,
    fees.max_hourly
from {{ ref('stg_contracts__contracts') }} as contracts
inner join fees
    on contracts.commitment_id = fees.savings_plan_arn
where contracts.hourly_commitment_usd is not null
    and (
        abs(fees.min_hourly - contracts.hourly_commitment_usd) >= 0.005
        or abs(fees.max_hourly - contracts.hourly_commitment_usd) >= 0.005
    )
