{#-
    Every GPU window the cost allocation reads: the NVML spool's, and dcgm-exporter's for the
    GPU-hours that have no NVML window (a host without the collector, or an hour it missed).
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

    -- Whole GPUs: a MIG GPU's row carries its instances' weighted activity (docs/mig.md).
    select * from {{ ref('int_dcgm_gpu_windows') }}
    where mig_instance_id is null

),

dcgm_gpu_hours as (

    select distinct gpu_uuid, {{ dbt.date_trunc('hour', 'window_start_at') }} as hour_start_at, day
    from dcgm

),

-- The dcgm-exporter GPU-hours the collector covered too (only those are looked up in the NVML
-- windows, so a fleet without dcgm-exporter does not group its whole history here). By GPU, not
-- by host name: a machine whose exporter reports another name than the collector (a pod's name)
-- is not counted twice (the check one_name_per_host reports the two names). It reads the
-- staging model itself: a second reference to the `nvml` CTE would make DuckDB keep a copy of
-- every window read.
nvml_gpu_hours as (

    select distinct dcgm_gpu_hours.gpu_uuid, dcgm_gpu_hours.hour_start_at, dcgm_gpu_hours.day
    from dcgm_gpu_hours
    inner join {{ ref('stg_nvml__gpu_windows') }} as nvml
        on nvml.gpu_uuid = dcgm_gpu_hours.gpu_uuid
        and {{ dbt.date_trunc('hour', 'nvml.window_start_at') }} = dcgm_gpu_hours.hour_start_at
        -- An NVML window's date folder is its date, as a dcgm window's `day` is. Joined on the
        -- column (not on the hour's date), a reader's filter on `day` (a batch's) reaches the
        -- NVML scan through the joins, and only the batch's files are opened.
        and nvml.partition_date = dcgm_gpu_hours.day

),

dcgm_only as (

    select dcgm.*
    from dcgm
    left join nvml_gpu_hours
        on dcgm.gpu_uuid = nvml_gpu_hours.gpu_uuid
        and {{ dbt.date_trunc('hour', 'dcgm.window_start_at') }} = nvml_gpu_hours.hour_start_at
        and dcgm.day = nvml_gpu_hours.day
    where nvml_gpu_hours.gpu_uuid is null

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
