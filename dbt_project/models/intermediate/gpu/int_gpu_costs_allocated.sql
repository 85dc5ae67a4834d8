{#-
    GPU-hour cost allocated to workloads (allocation rules 1-2): attributed = cost x busy
    seconds / 3600, idle = cost x held-idle seconds / 3600, and the rest of the hour's cost
    (seconds nobody held, seconds without telemetry, GPUs no collector reported) is one
    '(unallocated)' row per GPU-hour, so every GPU-hour's cost is conserved exactly. Contracted
    GPUs with no running host are one '(unused commitment)' row per contract-hour (gpu_uuid
    'commitment:<contract id>', DESIGN.md rule 3).
    Energy goes the same way: a GPU-hour's measured energy (int_gpu_hours) to each workload by
    its busy and held-idle seconds over the seconds measured, the rest to '(unallocated)';
    energy_cost_usd prices it where a power price is known (an owned GPU's contract: kWh x
    power_price_usd_per_kwh x pue, a part of its cost_usd), else null: a cloud GPU's power is
    in its bill's price.
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

-- A GPU-hour's measured energy and the seconds it was measured over.
gpu_energy as (

    select
        hour_start_at,
        gpu_uuid,
        -- A double: Spark would keep a decimal quotient, then cut its products to 6 places.
        cast(sum(energy_mj) as double) / 3600000000.0 as energy_kwh,
        sum(window_seconds) as measured_seconds

    from {{ ref('int_gpu_hours').render() }}
    where {{ batch_hours_filter('hour_start_at') }}
        and mig_instance_id is null
    group by 1, 2

),

-- $ per kWh at the wall (price x PUE) of the owned GPUs' hosts (docs/contracts.md).
power_prices as (

    select
        resources.resource_id,
        max(contracts.power_price_usd_per_kwh * contracts.pue) as usd_per_kwh

    from {{ ref('stg_contracts__contracts') }} as contracts
    inner join {{ ref('stg_contracts__resources') }} as resources
        on contracts.contract_id = resources.contract_id
    where contracts.kind = 'owned'
        and contracts.power_price_usd_per_kwh is not null
    group by 1

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
        ) as idle_cost_usd,
        -- kWh as exact decimals to the mWh (9 places: far below any meter's accuracy), so
        -- sums of them do not depend on their order or engine.
        cast(
            cast(
                gpu_energy.energy_kwh
                * (workload_hours.busy_seconds + workload_hours.held_idle_seconds)
                / nullif(gpu_energy.measured_seconds, 0)
                as double
            ) as decimal(38, 9)
        ) as energy_kwh

    from workload_hours
    left join gpu_costs
        on workload_hours.gpu_uuid = gpu_costs.gpu_uuid
        and workload_hours.hour_start_at = gpu_costs.hour_start_at
    left join gpu_energy
        on workload_hours.gpu_uuid = gpu_energy.gpu_uuid
        and workload_hours.hour_start_at = gpu_energy.hour_start_at

),

attributed_per_gpu_hour as (

    select
        hour_start_at,
        gpu_uuid,
        sum(attributed_cost_usd + idle_cost_usd) as allocated_cost_usd,
        sum(energy_kwh) as allocated_energy_kwh

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
            as idle_cost_usd,
        cast(gpu_energy.energy_kwh as decimal(38, 9))
            - coalesce(attributed_per_gpu_hour.allocated_energy_kwh, 0) as energy_kwh

    from gpu_costs
    left join attributed_per_gpu_hour
        on gpu_costs.gpu_uuid = attributed_per_gpu_hour.gpu_uuid
        and gpu_costs.hour_start_at = attributed_per_gpu_hour.hour_start_at
    left join gpu_energy
        on gpu_costs.gpu_uuid = gpu_energy.gpu_uuid
        and gpu_costs.hour_start_at = gpu_energy.hour_start_at

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
        unused_cost_usd as idle_cost_usd,
        cast(null as decimal(38, 9)) as energy_kwh

    from unused_hours
    where unused_cost_usd <> 0

),

allocated as (

    select * from attributed
    union all
    select * from unallocated
    union all
    select * from unused_commitment

),

final as (

    select
        allocated.*,
        cast(allocated.energy_kwh * power_prices.usd_per_kwh as decimal(38, 10))
            as energy_cost_usd

    from allocated
    left join power_prices
        on allocated.resource_id = power_prices.resource_id

)

select * from final
