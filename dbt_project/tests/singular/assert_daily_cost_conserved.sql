{#-
    Conservation (DESIGN.md rule 4), per UTC day: everything the bill charged for GPU compute is
    allocated to a workload (attributed + idle) or to '(unallocated)', to the cent. The bill side
    is summed straight from the amortized line items, not from the allocation models.
-#}

{{ config(meta={'dagster': {'ref': {'name': 'fct_cost_per_useful_token'}}}) }}
with

lines as (

    select * from {{ ref('int_gpu_billing_lines') }}

),

hour_offsets as (

    select * from {{ ref('int_hour_offsets') }}

),

billed as (

    select
        cast(
            {{ dbt.dateadd('hour', 'hour_offsets.hour_offset', dbt.date_trunc('hour', 'lines.usage_start_at')) }}
            as date
        ) as usage_date,
        sum(lines.effective_cost / lines.usage_hours) as billed_gpu_cost

    from lines
    inner join hour_offsets
        on hour_offsets.hour_offset < lines.usage_hours
    group by 1

),

allocated as (

    select
        cast(hour_start_at as date) as usage_date,
        sum(cost_usd) as allocated_cost

    from {{ ref('fct_cost_per_useful_token') }}
    group by 1

),

daily_facts as (

    select
        usage_date,
        sum(cost_usd) as daily_cost

    from {{ ref('fct_workload_unit_cost_daily') }}
    group by 1

),

final as (

    select
        coalesce(billed.usage_date, allocated.usage_date) as usage_date,
        billed.billed_gpu_cost,
        allocated.allocated_cost,
        daily_facts.daily_cost

    from billed
    full outer join allocated
        on billed.usage_date = allocated.usage_date
    left join daily_facts
        on coalesce(billed.usage_date, allocated.usage_date) = daily_facts.usage_date

)

select * from final
where abs(coalesce(billed_gpu_cost, 0) - coalesce(allocated_cost, 0)) >= 0.005
    or abs(coalesce(billed_gpu_cost, 0) - coalesce(daily_cost, 0)) >= 0.005
