{#-
    Busy and held-idle seconds per GPU-hour and workload (allocation rule 2), worked out window
    by window and summed by hour.

    A window's seconds split into each workload's busy time (its process busy share; shares that
    add up to more than 1 are scaled down to 1) and idle time. Idle time goes to the workloads
    holding GPU memory in that window, in proportion to the memory they hold; with no holder it
    stays unattributed and becomes (unallocated) cost downstream. A pod on a MIG instance holds
    its instance's idle share instead (held_idle_share, docs/mig.md). Processes without a workload
    label count as the workload '(unlabeled)'. One batch a day (macros/batch.sql).
-#}

{%- set processes_select %}
    select
        gpu_uuid,
        window_start_at,
        day,
        host,
        {{ dbt.datediff('window_start_at', 'window_end_at', 'second') }} as window_seconds,
        coalesce(workload, '(unlabeled)') as workload,
        busy_share,
        held_idle_share,
        case when memory_used_bytes > 0 then memory_used_bytes else 0 end as memory_bytes,
        window_process_count

    from {{ ref('int_process_windows') }}
{%- endset %}

with

-- The windows of one process.
processes as (

    {{ processes_select }}
    where window_process_count = 1

),

-- A window with one process (most windows): its shares are the window's totals, so it needs no
-- grouping by window.
single_process_windows as (

    select
        day,
        window_start_at,
        gpu_uuid,
        host,
        workload,
        window_seconds,
        cast(busy_share as double) as busy_share,
        cast(held_idle_share as double) as held_idle_share,
        cast(memory_bytes as bigint) as memory_bytes,
        cast(busy_share as double) as window_busy_share,
        cast(memory_bytes as bigint) as window_memory_bytes

    from processes

),

-- Windows with several processes (or an unknown count: dcgm's): each workload's share
-- of the window's totals.
-- Read apart from the windows of one process (a CTE read twice is materialized whole), and
-- without the days of spool files kept as landed whose landing found no such window
-- (macros/spool.sql).
shared_processes as (

    {{ processes_select }}
    where {{ unless_kept_nvml_day_without('shared_windows', 'telemetry_source', 'day') }}
        and coalesce(window_process_count, 0) <> 1

),

workload_windows as (

    select
        gpu_uuid,
        window_start_at,
        day,
        workload,
        max(host) as host,
        max(window_seconds) as window_seconds,
        sum(busy_share) as busy_share,
        sum(held_idle_share) as held_idle_share,
        sum(memory_bytes) as memory_bytes

    from shared_processes
    group by gpu_uuid, window_start_at, day, workload

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

shared_windows as (

    select
        workload_windows.day,
        workload_windows.window_start_at,
        workload_windows.gpu_uuid,
        workload_windows.host,
        workload_windows.workload,
        workload_windows.window_seconds,
        cast(workload_windows.busy_share as double) as busy_share,
        cast(workload_windows.held_idle_share as double) as held_idle_share,
        cast(workload_windows.memory_bytes as bigint) as memory_bytes,
        cast(window_totals.busy_share as double) as window_busy_share,
        cast(window_totals.memory_bytes as bigint) as window_memory_bytes

    from workload_windows
    inner join window_totals
        on workload_windows.gpu_uuid = window_totals.gpu_uuid
        and workload_windows.window_start_at = window_totals.window_start_at

),

-- Each window's seconds in floating point (exact decimals cost four times as much here), rounded
-- to 10 decimals per window, so the hourly sums stay exact and independent of order.
per_window as (

    select
        day,
        {{ dbt.date_trunc('hour', 'window_start_at') }} as hour_start_at,
        gpu_uuid,
        host,
        workload,
        cast(
            window_seconds * busy_share / greatest(1.0, window_busy_share) as decimal(18, 10)
        ) as busy_seconds,
        cast(
            case
                when held_idle_share is not null then window_seconds * held_idle_share
                when window_memory_bytes > 0
                    then window_seconds * (1.0 - least(1.0, window_busy_share))
                        * memory_bytes / window_memory_bytes
                else 0.0
            end as decimal(18, 10)
        ) as held_idle_seconds

    from (
        select * from single_process_windows
        union all
        select * from shared_windows
    ) as windows

),

device_hours as (

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

-- The NVML spool's MIG instances (docs/mig.md) are devices of their own (the MIG device's
-- uuid); their seconds are the parent GPU's, times the instance's share of it (macro mig_share,
-- from the MIG device's name), as dcgm-exporter's instances are (int_process_windows). Read
-- from the GPU-hours (an instance and its GPU share host, GPU index and hour there).
mig_parents as (

    {{ mig_instance_hours(ref('int_gpu_hours')) }}

),

hours as (

    select
        device_hours.hour_start_at,
        case
            when mig_parents.mig_share is not null then mig_parents.parent_uuid
            else device_hours.gpu_uuid
        end as gpu_uuid,
        device_hours.workload,
        max(device_hours.host) as host,
        -- Operands narrowed so that Spark keeps the product's scale (it cuts a wider one).
        cast(
            sum(
                cast(device_hours.busy_seconds as decimal(24, 10))
                * coalesce(cast(mig_parents.mig_share as decimal(14, 12)), 1)
            ) as decimal(18, 10)
        ) as busy_seconds,
        cast(
            sum(
                cast(device_hours.held_idle_seconds as decimal(24, 10))
                * coalesce(cast(mig_parents.mig_share as decimal(14, 12)), 1)
            ) as decimal(18, 10)
        ) as held_idle_seconds,
        device_hours.day

    from device_hours
    left join mig_parents
        on device_hours.gpu_uuid = mig_parents.instance_uuid
        and device_hours.hour_start_at = mig_parents.hour_start_at
        and device_hours.day = mig_parents.day
    group by 1, 2, 3, device_hours.day

)

select * from hours
