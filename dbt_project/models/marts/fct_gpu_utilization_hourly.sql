with

gpu_windows as (

    select * from {{ ref('int_gpu_windows') }}

),

windows as (

    select
        gpu_windows.*,
        {{ dbt.date_trunc('hour', 'window_start_at') }} as hour_start_at,
        {{ dbt.datediff('window_start_at', 'window_end_at', 'second') }} as window_seconds,
        -- Per-window products as exact decimals, so hourly sums do not depend on summation order.
        cast(
            util_mean * {{ dbt.datediff('window_start_at', 'window_end_at', 'second') }}
            as decimal(38, 10)
        ) as util_seconds,
        cast(
            power_mw_mean * {{ dbt.datediff('window_start_at', 'window_end_at', 'second') }}
            as decimal(38, 6)
        ) as power_mw_seconds

    from gpu_windows

),

final as (

    select
        hour_start_at,
        gpu_uuid,
        max(host) as host,
        max(cloud_resource_id) as cloud_resource_id,
        max(gpu_model) as gpu_model,
        cast(
            sum(util_seconds)
            / nullif(sum(case when util_mean is not null then window_seconds end), 0) as double
        ) as util_mean,
        case
            when count(distinct util_source) > 1 then 'mixed'
            else max(util_source)
        end as util_source,
        max(
            case when util_source in ('nvml_utilization_gpu', 'dcgm_gpu_util') then 1 else 0 end
        ) = 1 as util_is_upper_bound,
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

    from windows
    group by 1, 2

)

select * from final
