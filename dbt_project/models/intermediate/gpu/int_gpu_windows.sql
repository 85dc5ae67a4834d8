{#-
    Every GPU window the cost allocation reads: the NVML spool's, and dcgm-exporter's for the
    host-hours that have no NVML window (a host without the collector, or an hour it missed).
    telemetry_source says which; util_source which counter within it.

    A view: the minute windows are read where they were landed (raw) and summed by the
    hourly models (int_gpu_hours, int_gpu_seconds_attributed), a batch a day; no copy of them
    is kept. `day` is the day the window was landed under (the spool's and the scrapes' date
    folders: the window's UTC date), the view's event_time: a batch reads only its day's part
    of raw.
-#}
{%- set columns = [
    'gpu_uuid', 'window_start_at', 'window_end_at', 'host', 'cloud_resource_id', 'gpu_index',
    'gpu_model', 'mig_instance_id', 'schema_version', 'sample_count', 'util_mean', 'util_source',
    'sm_active_mean', 'gr_engine_active_mean', 'gpu_util_mean', 'memory_used_bytes_max',
    'memory_total_bytes', 'power_mw_mean', 'energy_mj', 'sm_clock_mhz_mean',
    'mem_clock_mhz_mean', 'temperature_c_max', 'clocks_event_reasons', 'unsupported',
    'source_file',
] -%}

{{ config(materialized='view') }}

with

nvml as (

    select * from {{ ref('stg_nvml__gpu_windows') }}

),

dcgm as (

    select * from {{ ref('int_dcgm_gpu_windows') }}

),

dcgm_host_hours as (

    select distinct host, {{ dbt.date_trunc('hour', 'window_start_at') }} as hour_start_at, day
    from dcgm

),

-- The dcgm-exporter host-hours the collector covered too (only those are looked up in the
-- NVML windows, so a fleet without dcgm-exporter does not group its whole history here). It
-- reads the staging model itself: a second reference to the `nvml` CTE would make DuckDB keep a
-- copy of every window read.
nvml_host_hours as (

    select distinct dcgm_host_hours.host, dcgm_host_hours.hour_start_at, dcgm_host_hours.day
    from dcgm_host_hours
    inner join {{ ref('stg_nvml__gpu_windows') }} as nvml
        on nvml.host = dcgm_host_hours.host
        and {{ dbt.date_trunc('hour', 'nvml.window_start_at') }} = dcgm_host_hours.hour_start_at
        -- An NVML window's date folder is its date, as a dcgm window's `day` is. Joined on the
        -- column (not on the hour's date), a reader's filter on `day` (a batch's) reaches the
        -- NVML scan through the joins, and only the batch's files are opened.
        and nvml.partition_date = dcgm_host_hours.day

),

dcgm_only as (

    select dcgm.*
    from dcgm
    left join nvml_host_hours
        on dcgm.host = nvml_host_hours.host
        and {{ dbt.date_trunc('hour', 'dcgm.window_start_at') }} = nvml_host_hours.hour_start_at
        and dcgm.day = nvml_host_hours.day
    where nvml_host_hours.host is null

),

windows as (

    select
        {{ columns | join(', ') }},
        'nvml' as telemetry_source,
        partition_date as day
    from nvml

    union all

    select
        {{ columns | join(', ') }},
        'dcgm' as telemetry_source,
        day
    from dcgm_only

),

final as (

    select * from windows

)

select * from final
