{#- Per billing period: the GPU-hour cost model carries exactly the GPU compute lines' cost. -#}

{{ config(meta={'dagster': {'ref': {'name': 'int_gpu_costs_hourly'}}}) }}
with

lines as (

    select
        provider,
        billing_period,
        sum(effective_cost) as line_cost

    from {{ ref('int_gpu_billing_lines') }}
    group by 1, 2

),

gpu_hours as (

    select
        provider,
        billing_period,
        sum(cost_usd) as gpu_hour_cost

    from {{ ref('int_gpu_costs_hourly') }}
    group by 1, 2

)

select
    lines.provider,
    lines.billing_period,
    lines.line_cost,
    gpu_hours.gpu_hour_cost
from lines
left join gpu_hours
    on lines.provider = gpu_hours.provider
    and lines.billing_period = gpu_hours.billing_period
where abs(lines.line_cost - coalesce(gpu_hours.gpu_hour_cost, 0)) >= 0.005
