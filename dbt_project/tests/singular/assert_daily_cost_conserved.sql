{#-
    Conservation (DESIGN.md rule 4), per UTC day: everything the bill charged for GPU compute,
    plus the contracts' scheduled cost, owned GPUs' energy and the GPU share of the bills' unused
    commitments, is allocated to a workload
    (attributed + idle), to '(unallocated)' or to '(unused commitment)', to the cent. The bill
    side is summed straight from the amortized line items, the contract schedule and the
    telemetry's energy, not from the allocation models.
    The days the run builds are checked (every day outside a run of the pipeline): each day is
    checked by the run that builds it (bills years apart are built a stretch at a time, a run
    each: pipelines/defs/sources/discovery.py build_ranges).
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

window_hours as (

    select
        min(hour_start_at) as first_hour_at,
        max(hour_start_at) as last_hour_at
    from {{ ref('int_contract_costs_hourly') }}

),

contracted as (

    select
        cast(schedule.hour_start_at as date) as usage_date,
        sum(schedule.committed_cost_usd) as contract_cost

    from {{ ref('int_contract_hours') }} as schedule
    cross join window_hours
    where schedule.hour_start_at between window_hours.first_hour_at and window_hours.last_hour_at
    group by 1

),

owned_energy as (

    select
        cast(hours.hour_start_at as date) as usage_date,
        sum(
            hours.energy_kwh * contracts.power_price_usd_per_kwh * contracts.pue
        ) as energy_cost

    from {{ ref('fct_gpu_utilization_hourly') }} as hours
    inner join {{ ref('stg_contracts__resources') }} as resources
        on hours.cloud_resource_id = resources.resource_id
    inner join {{ ref('stg_contracts__contracts') }} as contracts
        on resources.contract_id = contracts.contract_id
        and contracts.kind = 'owned'
        and hours.hour_start_at >= contracts.start_at
        and hours.hour_start_at < contracts.end_at
    group by 1

),

cloud_unused as (

    select
        cast(hour_start_at as date) as usage_date,
        sum(gpu_unused_cost_usd) as unused_cost

    from {{ ref('int_cloud_commitment_unused_hourly') }}
    group by 1

),

billed_total as (

    select
        coalesce(
            billed.usage_date, contracted.usage_date, owned_energy.usage_date,
            cloud_unused.usage_date
        ) as usage_date,
        coalesce(billed.billed_gpu_cost, 0) + coalesce(contracted.contract_cost, 0)
            + coalesce(owned_energy.energy_cost, 0) + coalesce(cloud_unused.unused_cost, 0)
            as billed_gpu_cost

    from billed
    full outer join contracted
        on billed.usage_date = contracted.usage_date
    full outer join owned_energy
        on coalesce(billed.usage_date, contracted.usage_date) = owned_energy.usage_date
    full outer join cloud_unused
        on coalesce(billed.usage_date, contracted.usage_date, owned_energy.usage_date)
            = cloud_unused.usage_date

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
        coalesce(billed_total.usage_date, allocated.usage_date) as usage_date,
        billed_total.billed_gpu_cost,
        allocated.allocated_cost,
        daily_facts.daily_cost

    from billed_total
    full outer join allocated
        on billed_total.usage_date = allocated.usage_date
    left join daily_facts
        on coalesce(billed_total.usage_date, allocated.usage_date) = daily_facts.usage_date

)

select * from final
where {{ in_run_days('usage_date') }}
    and (abs(coalesce(billed_gpu_cost, 0) - coalesce(allocated_cost, 0)) >= 0.005
        or abs(coalesce(billed_gpu_cost, 0) - coalesce(daily_cost, 0)) >= 0.005)
