{#-
    Busy and held-idle seconds per GPU-hour and workload (allocation rule 2), worked out window
    by window and summed by hour.

    A window's seconds split into each workload's busy time (its process busy share; shares that
    add up to more than 1 are scaled down to 1) and idle time. Idle time goes to the workloads
    holding GPU memory in that window, in proportion to the memory they hold; with no holder it
    stays unattributed and becomes (unallocated) cost downstream. Processes without a workload
    label count as the workload '(unlabeled)'. Incremental by day (macros/telemetry_days.sql).
-#}
{{ telemetry_incremental_config() }}

with

gpu_windows as (

    select * from {{ ref('int_gpu_windows') }}
    where {{ telemetry_day_filter('day') }}

),

process_windows as (

    select * from {{ ref('int_process_windows') }}
    where {{ telemetry_day_filter('day') }}

),

versions as (

    select * from {{ telemetry_day_version_relation() }}

),

windows as (

    select
        gpu_uuid,
        window_start_at,
        host,
        day,
        {{ dbt.date_trunc('hour', 'window_start_at') }} as hour_start_at,
        {{ dbt.datediff('window_start_at', 'window_end_at', 'second') }} as window_seconds

    from gpu_windows

),

workload_windows as (

    select
        gpu_uuid,
        window_start_at,
        coalesce(workload, '(unlabeled)') as workload,
        sum(busy_share) as busy_share,
        sum(case when memory_used_bytes > 0 then memory_used_bytes else 0 end) as memory_bytes

    from process_windows
    group by 1, 2, 3

),

window_totals as (

    select
        gpu_uuid,
        window_start_at,
        sum(busy_share) as busy_share,
        sum(memory_bytes) as memory_bytes

    from workload_windows
    group by 1, 2

),

per_window as (

    select
        windows.day,
        windows.hour_start_at,
        windows.gpu_uuid,
        windows.host,
        workload_windows.workload,
        cast(
            windows.window_seconds * workload_windows.busy_share
            / greatest(1.0, window_totals.busy_share) as decimal(38, 10)
        ) as busy_seconds,
        cast(
            case
                when window_totals.memory_bytes > 0
                    then windows.window_seconds * (1.0 - least(1.0, window_totals.busy_share))
                        * workload_windows.memory_bytes / window_totals.memory_bytes
                else 0.0
            end as decimal(38, 10)
        ) as held_idle_seconds

    from windows
    inner join workload_windows
        on windows.gpu_uuid = workload_windows.gpu_uuid
        and windows.window_start_at = workload_windows.window_start_at
    inner join window_totals
        on windows.gpu_uuid = window_totals.gpu_uuid
        and windows.window_start_at = window_totals.window_start_at

),

hours as (

    select
        hour_start_at,
        gpu_uuid,
        workload,
        max(host) as host,
        sum(busy_seconds) as busy_seconds,
        sum(held_idle_seconds) as held_idle_seconds,
        day

    from per_window
    group by hour_start_at, gpu_uuid, workload, day

),

final as (

    select
        hours.*,
        versions.input_version as _input_version

    from hours
    left join versions
        on hours.day = versions.day

)

select * from final
