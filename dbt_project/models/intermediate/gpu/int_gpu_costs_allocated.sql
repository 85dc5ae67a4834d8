{#-
    GPU-hour cost allocated to workloads (allocation rules 1-2): attributed = cost x busy
    seconds / 3600, idle = cost x held-idle seconds / 3600, and the rest of the hour's cost
    (seconds nobody held, seconds without telemetry, GPUs no collector reported) is one
    '(unallocated)' row per GPU-hour, so every GPU-hour's cost is conserved exactly. Contracted
    GPUs with no running host are one '(unused commitment)' row per contract-hour (gpu_uuid
    'commitment:<contract id>', DESIGN.md rule 3).
    One batch a day (dbt's microbatch, macros/batch.sql): every input is read by the hour.
-#}

with

gpu_costs as (

    select * from {{ ref('int_gpu_costs_hourly').render() }}
    where {{ batch_hours_filter('hour_start_at') }}

),

gpu_seconds as (

    select * from {{ ref('int_gpu_seconds_attributed').render() }}
    where {{ batch_hours_filter('hour_start_at') }}

),

workload_hours as (

    -- int_gpu_seconds_attributed keeps a row per landed day too: an hour whose windows sit
    -- in two date folders (a spool writer other than ours) has two rows there, one here.
    select
        hour_start_at,
        gpu_uuid,
        workload,
        max(host) as host,
        sum(busy_seconds) as busy_seconds,
        sum(held_idle_seconds) as held_idle_seconds

    from gpu_seconds
    group by 1, 2, 3

),

attributed as (

    select
        workload_hours.hour_start_at,
        workload_hours.gpu_uuid,
        workload_hours.workload,
        coalesce(gpu_costs.host, workload_hours.host) as host,
        gpu_costs.provider,
        gpu_costs.resource_id,
        workload_hours.busy_seconds,
        workload_hours.held_idle_seconds,
        cast(
            coalesce(gpu_costs.cost_usd, 0) * workload_hours.busy_seconds / 3600.0
            as decimal(38, 10)
        ) as attributed_cost_usd,
        cast(
            coalesce(gpu_costs.cost_usd, 0) * workload_hours.held_idle_seconds / 3600.0
            as decimal(38, 10)
        ) as idle_cost_usd

    from workload_hours
    left join gpu_costs
        on workload_hours.gpu_uuid = gpu_costs.gpu_uuid
        and workload_hours.hour_start_at = gpu_costs.hour_start_at

),

attributed_per_gpu_hour as (

    select
        hour_start_at,
        gpu_uuid,
        sum(attributed_cost_usd + idle_cost_usd) as allocated_cost_usd

    from attributed
    group by 1, 2

),

unallocated as (

    select
        gpu_costs.hour_start_at,
        gpu_costs.gpu_uuid,
        '(unallocated)' as workload,
        gpu_costs.host,
        gpu_costs.provider,
        gpu_costs.resource_id,
        cast(0 as decimal(38, 10)) as busy_seconds,
        cast(0 as decimal(38, 10)) as held_idle_seconds,
        cast(0 as decimal(38, 10)) as attributed_cost_usd,
        gpu_costs.cost_usd - coalesce(attributed_per_gpu_hour.allocated_cost_usd, 0)
            as idle_cost_usd

    from gpu_costs
    left join attributed_per_gpu_hour
        on gpu_costs.gpu_uuid = attributed_per_gpu_hour.gpu_uuid
        and gpu_costs.hour_start_at = attributed_per_gpu_hour.hour_start_at

),

unused_hours as (

    -- Contracted GPUs with no running host (Capacity Blocks, neocloud contracts).
    select hour_start_at, contract_id, provider, unused_cost_usd
    from {{ ref('int_contract_costs_hourly').render() }}
    where resource_id is null
        and {{ batch_hours_filter('hour_start_at') }}

    union all

    -- The GPU share of savings plans' and FOCUS commitments' unused cost.
    select hour_start_at, contract_id, provider, gpu_unused_cost_usd
    from {{ ref('int_cloud_commitment_unused_hourly').render() }}
    where {{ batch_hours_filter('hour_start_at') }}

),

unused_commitment as (

    select
        hour_start_at,
        'commitment:' || contract_id as gpu_uuid,
        '(unused commitment)' as workload,
        cast(null as {{ dbt.type_string() }}) as host,
        provider,
        contract_id as resource_id,
        cast(0 as decimal(38, 10)) as busy_seconds,
        cast(0 as decimal(38, 10)) as held_idle_seconds,
        cast(0 as decimal(38, 10)) as attributed_cost_usd,
        unused_cost_usd as idle_cost_usd

    from unused_hours
    where unused_cost_usd <> 0

),

final as (

    select * from attributed
    union all
    select * from unallocated
    union all
    select * from unused_commitment

)

select * from final
