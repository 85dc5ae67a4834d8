{#-
    Per billing period: the GPU-hour cost model carries exactly the GPU compute lines' cost
    (bill lines, and the contracts' used cost as lines of their hosts).
-#}

{{ config(meta={'dagster': {'ref': {'name': 'int_gpu_costs_hourly'}}}) }}
with

lines as (

    select
        billing_period,
        sum(effective_cost) as line_cost

    from (
        select billing_period, effective_cost from {{ ref('int_gpu_billing_lines') }}
        union all
        select billing_period, effective_cost from {{ ref('int_contract_gpu_lines') }}
    ) as all_lines
    group by 1

),

gpu_hours as (

    select
        billing_period,
        sum(cost_usd) as gpu_hour_cost

    from {{ ref('int_gpu_costs_hourly') }}
    group by 1

)

select
    lines.billing_period,
    lines.line_cost,
    gpu_hours.gpu_hour_cost
from lines
left join gpu_hours
    on lines.billing_period = gpu_hours.billing_period
where abs(lines.line_cost - coalesce(gpu_hours.gpu_hour_cost, 0)) >= 0.005
