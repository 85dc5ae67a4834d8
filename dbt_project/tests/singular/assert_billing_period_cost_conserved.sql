{#-
    Per billing period: the GPU-hour cost model carries exactly the GPU compute lines' cost
    (bill lines, and the contracts' used cost as lines of their hosts).
    The periods the run builds are checked whole, those with a line whose first day is one of
    the run's days (every period outside a run of the pipeline): a build of days never splits
    a period's lines (pipelines/defs/sources/discovery.py build_ranges).
-#}

{{ config(meta={'dagster': {'ref': {'name': 'int_gpu_costs_hourly'}}}) }}
with

all_lines as (

    select billing_period, usage_start_at, effective_cost from {{ ref('int_gpu_billing_lines') }}
    union all
    select billing_period, usage_start_at, effective_cost from {{ ref('int_contract_gpu_lines') }}

),

gpu_hours as (

    select * from {{ ref('int_gpu_costs_hourly') }}

),

periods_built as (

    select distinct billing_period
    from all_lines
    where {{ in_run_days('cast(usage_start_at as date)') }}

),

lines as (

    select
        billing_period,
        sum(effective_cost) as line_cost

    from all_lines
    where billing_period in (select billing_period from periods_built)
    group by 1

),

period_hours as (

    select
        billing_period,
        sum(cost_usd) as gpu_hour_cost

    from gpu_hours
    group by 1

)

select
    lines.billing_period,
    lines.line_cost,
    period_hours.gpu_hour_cost
from lines
left join period_hours
    on lines.billing_period = period_hours.billing_period
where abs(lines.line_cost - coalesce(period_hours.gpu_hour_cost, 0)) >= 0.005
