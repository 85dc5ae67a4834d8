{#-
    GPU-hours of telemetry: the windows of int_gpu_windows summed by hour, GPU and MIG instance,
    in sums that add up again exactly (decimal products), with the number of distinct windows
    among them (a window landed twice counts once there), so every hourly and per-GPU figure
    downstream is read from here rather than from the minute windows. One batch a day
    (macros/batch.sql): the windows read are the batch's day's.
-#}

with

gpu_windows as (

    select * from {{ ref('int_gpu_windows') }}

),

-- Windows landed more than once (a spool file copied under two names would count its seconds
-- twice; assert_gpu_windows_unique fails on them). Keys are grouped by their hash, which is far
-- cheaper than grouping every window by GPU and start time; the few keys seen twice are then
-- counted on the key itself. Days of spool files kept as landed whose landing found no repeat
-- are left out (macros/spool.sql).
repeated_hashes as (

    select {{ key_hash(['gpu_uuid', 'mig_instance_id', 'window_start_at', 'day']) }} as key_hash
    from {{ ref('int_gpu_windows') }}
    where {{ unless_kept_nvml_day_without('repeated_windows', 'telemetry_source', 'day') }}
    group by 1
    having count(*) > 1

),

-- Read again rather than kept from above: a CTE read twice is materialized whole.
repeated_windows as (

    select
        {{ dbt.date_trunc('hour', 'window_start_at') }} as hour_start_at,
        gpu_uuid,
        mig_instance_id,
        day,
        count(*) - 1 as extra_copies

    from {{ ref('int_gpu_windows') }}
    where {{ unless_kept_nvml_day_without('repeated_windows', 'telemetry_source', 'day') }}
        and {{ key_hash(['gpu_uuid', 'mig_instance_id', 'window_start_at', 'day']) }}
            in (select key_hash from repeated_hashes)
    group by gpu_uuid, mig_instance_id, window_start_at, day
    having count(*) > 1

),

repeats_by_hour as (

    select
        hour_start_at,
        gpu_uuid,
        mig_instance_id,
        day,
        sum(extra_copies) as extra_copies

    from repeated_windows
    group by 1, 2, 3, 4

),

windows as (

    select
        gpu_windows.*,
        {{ dbt.date_trunc('hour', 'window_start_at') }} as hour_start_at,
        {{ dbt.datediff('window_start_at', 'window_end_at', 'second') }} as window_seconds

    from gpu_windows

),

hours as (

    select
        hour_start_at,
        gpu_uuid,
        mig_instance_id,
        day,
        max(host) as host,
        max(cloud_resource_id) as cloud_resource_id,
        max(gpu_index) as gpu_index,
        max(gpu_model) as gpu_model,
        -- nvml (the collector's spool) or dcgm (dcgm-exporter, for hosts without the spool)
        max(telemetry_source) as telemetry_source,
        -- Two ends of the counters used: they differ when an hour mixes counters.
        min(util_source) as util_source_min,
        max(util_source) as util_source_max,
        max(
            case when util_source in ('nvml_utilization_gpu', 'dcgm_gpu_util') then 1 else 0 end
        ) as util_upper_bound_windows,
        -- Activity x seconds as exact decimals, so sums do not depend on summation order.
        sum(cast(util_mean * window_seconds as decimal(38, 10))) as util_seconds,
        sum(case when util_mean is not null then window_seconds end) as util_window_seconds,
        sum(cast(power_mw_mean * window_seconds as decimal(38, 6))) as power_mw_seconds,
        sum(energy_mj) as energy_mj,
        max(memory_used_bytes_max) as memory_used_bytes_max,
        max(memory_total_bytes) as memory_total_bytes,
        sum(window_seconds) as window_seconds,
        count(*) as window_count,
        sum(sample_count) as sample_count,
        min(window_start_at) as first_window_start_at,
        max(window_end_at) as last_window_end_at

    from windows
    group by 1, 2, 3, 4

),

final as (

    select
        hours.hour_start_at,
        hours.gpu_uuid,
        hours.mig_instance_id,
        hours.day,
        hours.host,
        hours.cloud_resource_id,
        hours.gpu_index,
        hours.gpu_model,
        hours.telemetry_source,
        hours.util_source_min,
        hours.util_source_max,
        hours.util_upper_bound_windows,
        hours.util_seconds,
        hours.util_window_seconds,
        hours.power_mw_seconds,
        hours.energy_mj,
        hours.memory_used_bytes_max,
        hours.memory_total_bytes,
        hours.window_seconds,
        hours.window_count,
        cast(
            hours.window_count - coalesce(repeats_by_hour.extra_copies, 0) as bigint
        ) as distinct_window_count,
        hours.sample_count,
        hours.first_window_start_at,
        hours.last_window_end_at

    from hours
    left join repeats_by_hour
        on hours.hour_start_at = repeats_by_hour.hour_start_at
        and hours.gpu_uuid = repeats_by_hour.gpu_uuid
        and hours.mig_instance_id is not distinct from repeats_by_hour.mig_instance_id
        and hours.day = repeats_by_hour.day

)

select * from final
