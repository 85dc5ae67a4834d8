{#-
    Every contract hour inside the reporting window (the hours the bills or the collectors
    cover), split by host (resource): the used part of the contract's fixed cost goes to the
    GPUs of the hosts that run in that hour; the part for contracted GPUs with no running host
    is unused commitment (DESIGN.md rule 3). A host runs in an hour when a bill line or the
    collector shows it (a Capacity Block's instance bills $0.00 lines). Owned GPUs are never
    unused commitment: the cost of an owned GPU nobody measured is unallocated, like any other.
    Owned GPUs add their measured energy: NVML energy (kWh) x power price x PUE, per host-hour.

    A contract's GPUs are spread evenly over its hosts (Capacity Blocks: the instance type's
    GPUs per instance). More GPUs running than contracted share the contract's cost.
    One row per contract hour and host, plus one '(unused)' row per contract hour whose
    resource_id is null.
    One batch a day (dbt's microbatch, macros/batch.sql): the batch's contract hours, with the
    reporting window of every bill line and telemetry hour.
-#}
with

schedule as (

    select * from {{ ref('int_contract_hours') }}
    where {{ batch_hours_filter('hour_start_at') }}

),

contracts as (

    select * from {{ ref('stg_contracts__contracts') }}

),

resources as (

    select * from {{ ref('stg_contracts__resources') }}

),

instance_types as (

    select * from {{ ref('aws_gpu_instance_types') }}

),

bill_lines as (

    select * from {{ ref('int_gpu_billing_lines').render() }}
    where {{ batch_lines_filter() }}

),

hour_offsets as (

    select * from {{ ref('int_hour_offsets') }}

),

gpu_hours as (

    select * from {{ ref('int_gpu_hours').render() }}
    where mig_instance_id is null
        and {{ batch_hours_filter('hour_start_at') }}

),

bill_hours as (

    select distinct
        bill_lines.resource_id,
        {{ dbt.dateadd('hour', 'hour_offsets.hour_offset', dbt.date_trunc('hour', 'bill_lines.usage_start_at')) }}
            as hour_start_at

    from bill_lines
    inner join hour_offsets
        on hour_offsets.hour_offset < bill_lines.usage_hours

),

telemetry_hours as (

    select
        cloud_resource_id as resource_id,
        hour_start_at,
        sum(energy_mj) / 3600000000.0 as energy_kwh

    from gpu_hours
    group by 1, 2

),

reporting_window as (

    -- Every hour a bill line or the collector covers, not only the batch's.
    select
        min(first_hour_at) as first_hour_at,
        max(last_hour_at) as last_hour_at

    from (
        select
            min({{ line_first_hour() }}) as first_hour_at,
            max({{ line_last_hour() }}) as last_hour_at
        from {{ ref('int_gpu_billing_lines').render() }}
        where usage_hours > 0
        union all
        select min(hour_start_at), max(hour_start_at)
        from {{ ref('int_gpu_hours').render() }}
        where mig_instance_id is null
    ) as covered

),

contract_hosts as (

    select
        contracts.contract_id,
        contracts.kind,
        contracts.provider,
        coalesce(contracts.gpu_model, instance_types.gpu_model) as gpu_model,
        contracts.instance_type,
        coalesce(contracts.gpu_count, contracts.instance_count * instance_types.gpu_count)
            as contract_gpus,
        resources.resource_id,
        case
            when contracts.kind = 'capacity_block' then cast(instance_types.gpu_count as decimal(38, 10))
            else cast(contracts.gpu_count as decimal(38, 10))
                / count(*) over (partition by contracts.contract_id)
        end as host_gpus,
        contracts.power_price_usd_per_kwh,
        contracts.pue

    from contracts
    inner join resources
        on contracts.contract_id = resources.contract_id
    left join instance_types
        on contracts.instance_type = instance_types.instance_type

),

in_window as (

    select schedule.*
    from schedule
    cross join reporting_window
    where schedule.hour_start_at between reporting_window.first_hour_at
        and reporting_window.last_hour_at

),

host_hours as (

    select
        in_window.contract_id,
        in_window.kind,
        in_window.provider,
        in_window.hour_start_at,
        in_window.committed_cost_usd,
        contract_hosts.resource_id,
        contract_hosts.gpu_model,
        contract_hosts.instance_type,
        contract_hosts.contract_gpus,
        contract_hosts.host_gpus,
        in_window.kind = 'owned'
            or bill_hours.resource_id is not null
            or telemetry_hours.resource_id is not null as is_running,
        case
            when in_window.kind = 'owned'
                then cast(
                    coalesce(telemetry_hours.energy_kwh, 0) * contract_hosts.power_price_usd_per_kwh
                    * contract_hosts.pue as decimal(38, 10)
                )
            else cast(0 as decimal(38, 10))
        end as energy_cost_usd,
        cast(coalesce(telemetry_hours.energy_kwh, 0) as double) as energy_kwh

    from in_window
    inner join contract_hosts
        on in_window.contract_id = contract_hosts.contract_id
    left join bill_hours
        on contract_hosts.resource_id = bill_hours.resource_id
        and in_window.hour_start_at = bill_hours.hour_start_at
    left join telemetry_hours
        on contract_hosts.resource_id = telemetry_hours.resource_id
        and in_window.hour_start_at = telemetry_hours.hour_start_at

),

used as (

    select
        *,
        -- The host's share first, then the cost, operands narrowed: Spark cuts the scale of a
        -- decimal(38, 10) product or quotient to 6 digits, which left a sub-cent "unused" rest.
        cast(
            case
                when is_running
                    then cast(committed_cost_usd as decimal(24, 10)) * cast(
                        host_gpus / greatest(
                            contract_gpus,
                            sum(case when is_running then host_gpus else 0 end)
                                over (partition by contract_id, hour_start_at)
                        ) as decimal(20, 10)
                    )
                else 0
            end as decimal(38, 10)
        ) as used_cost_usd

    from host_hours

),

unused as (

    select
        in_window.contract_id,
        in_window.kind,
        in_window.provider,
        in_window.hour_start_at,
        cast(null as {{ dbt.type_string() }}) as resource_id,
        cast(null as {{ dbt.type_string() }}) as gpu_model,
        cast(null as {{ dbt.type_string() }}) as instance_type,
        cast(0 as decimal(38, 10)) as host_gpus,
        false as is_running,
        in_window.committed_cost_usd,
        cast(0 as decimal(38, 10)) as used_cost_usd,
        in_window.committed_cost_usd - coalesce(sum(used.used_cost_usd), 0) as unused_cost_usd,
        cast(0 as decimal(38, 10)) as energy_cost_usd,
        cast(0 as double) as energy_kwh

    from in_window
    left join used
        on in_window.contract_id = used.contract_id
        and in_window.hour_start_at = used.hour_start_at
    group by 1, 2, 3, 4, 10

),

final as (

    select
        contract_id,
        kind,
        provider,
        hour_start_at,
        resource_id,
        gpu_model,
        instance_type,
        host_gpus,
        is_running,
        committed_cost_usd,
        used_cost_usd,
        cast(0 as decimal(38, 10)) as unused_cost_usd,
        energy_cost_usd,
        energy_kwh

    from used
    union all
    select * from unused

)

select * from final
