with

gpu_hours as (

    select * from {{ ref('int_gpu_hours').render() }}
    where {{ batch_hours_filter('hour_start_at') }}

),

measured as (

    select
        hour_start_at,
        gpu_uuid,
        max(host) as host,
        max(cloud_resource_id) as cloud_resource_id,
        max(gpu_model) as gpu_model,
        cast(sum(util_seconds) / nullif(sum(util_window_seconds), 0) as double) as util_mean,
        case
            when min(util_source_min) <> max(util_source_max) then 'mixed'
            else max(util_source_max)
        end as util_source,
        max(util_upper_bound_windows) = 1 as util_is_upper_bound,
        -- nvml (the collector's spool) or dcgm (dcgm-exporter, for hosts without the spool)
        max(telemetry_source) as telemetry_source,
        cast(max(memory_used_bytes_max) as bigint) as memory_used_bytes_max,
        cast(max(memory_total_bytes) as bigint) as memory_total_bytes,
        cast(
            sum(power_mw_seconds) / nullif(sum(window_seconds), 0) / 1000.0 as double
        ) as power_w_mean,
        -- 1 kWh = 3.6e6 J = 3.6e9 mJ
        cast(sum(energy_mj) / 3600000000.0 as double) as energy_kwh,
        cast(least(1.0, sum(window_seconds) / 3600.0) as double) as coverage,
        cast(sum(sample_count) as bigint) as sample_count

    from gpu_hours
    group by 1, 2

),

-- A MIG GPU of the NVML spool: its activity is its instances', each weighted by its share of
-- the GPU (docs/mig.md; dcgm-exporter's MIG GPUs come weighted from int_dcgm_gpu_windows).
mig_instances as (

    {{ mig_instance_hours('gpu_hours') }}

),

mig_activity as (

    select
        hour_start_at,
        parent_uuid as gpu_uuid,
        case
            when count(*) = count(util_seconds * mig_share)
                then sum(util_seconds / nullif(util_window_seconds, 0) * mig_share)
        end as util_mean,
        min(util_source_min) as util_source

    from mig_instances
    group by 1, 2

),

final as (

    select
        measured.hour_start_at,
        measured.gpu_uuid,
        measured.host,
        measured.cloud_resource_id,
        measured.gpu_model,
        case
            when mig_activity.gpu_uuid is not null then mig_activity.util_mean
            else measured.util_mean
        end as util_mean,
        coalesce(mig_activity.util_source, measured.util_source) as util_source,
        measured.util_is_upper_bound,
        measured.telemetry_source,
        measured.memory_used_bytes_max,
        measured.memory_total_bytes,
        measured.power_w_mean,
        measured.energy_kwh,
        measured.coverage,
        measured.sample_count

    from measured
    left join mig_activity
        on measured.hour_start_at = mig_activity.hour_start_at
        and measured.gpu_uuid = mig_activity.gpu_uuid

)

select * from final
