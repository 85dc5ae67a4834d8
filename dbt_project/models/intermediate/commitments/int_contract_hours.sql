{#-
    The hourly cost schedule of every contract that is not on a cloud bill (Capacity Blocks,
    neocloud contracts, owned hardware), over its whole term; savings plans and reservations
    are amortized by the bill itself and are not scheduled here (no dollar counted twice).

    * upfront (and, for owned GPUs, purchase - salvage): spread evenly over the term's hours,
      the last hour taking the rounding remainder, so the schedule sums to the amount exactly
      (leap days included: the term is counted in real hours);
    * hourly fee per GPU x GPUs, monthly fees and owned opex spread over the hours of their
      calendar month, all raised by the escalator on every anniversary of the start.
    Measured energy of owned GPUs is not fixed cost: int_contract_gpu_lines adds it per hour.
-#}
with

contracts as (

    select * from {{ ref('stg_contracts__contracts') }}
    where kind in ('capacity_block', 'neocloud', 'owned')

),

hours as (

    select
        contracts.*,
        {{ hours_between('contracts.start_at', 'contracts.end_at') }} as hour_start_at

    from contracts

),

pieces as (

    select
        contract_id,
        kind,
        provider,
        hour_start_at,
        term_hours,
        {{ dbt.datediff('start_at', 'hour_start_at', 'hour') }} as hour_index,
        case kind
            when 'owned' then purchase_price_usd - salvage_value_usd
            else upfront_usd
        end as spread_total,
        cast(power(1 + escalator_per_year, {{ full_years_between('start_at', 'hour_start_at') }})
            as decimal(38, 10)) as escalation,
        {{ dbt.datediff(
            dbt.date_trunc('month', 'hour_start_at'),
            dbt.dateadd('month', 1, dbt.date_trunc('month', 'hour_start_at')),
            'hour'
        ) }} as hours_in_month,
        coalesce(hourly_fee_usd_per_gpu * gpu_count, 0) as hourly_fee,
        coalesce(monthly_fee_usd, 0) + opex_usd_per_month as monthly_fee

    from hours

),

final as (

    select
        contract_id,
        kind,
        provider,
        hour_start_at,
        {#- Operands narrowed so that both engines keep every digit: Spark cuts the scale of a
            decimal(38, 10) product or quotient to 6 digits, DuckDB does not. -#}
        {%- set per_hour = "cast(cast(spread_total as decimal(24, 6))"
            ~ " / cast(term_hours as decimal(12, 0)) as decimal(20, 10))" %}
        cast(
            case
                when hour_index < term_hours - 1 then {{ per_hour }}
                else spread_total
                    - {{ per_hour }} * cast(term_hours - 1 as decimal(12, 0))
            end as decimal(38, 10)
        ) as spread_cost_usd,
        cast(
            hourly_fee * escalation + cast(monthly_fee * escalation / hours_in_month as decimal(38, 10))
            as decimal(38, 10)
        ) as fee_cost_usd

    from pieces

)

select
    contract_id,
    kind,
    provider,
    hour_start_at,
    spread_cost_usd,
    fee_cost_usd,
    cast(spread_cost_usd + fee_cost_usd as decimal(38, 10)) as committed_cost_usd

from final
