with

source as (

    -- The file's name taken here, before the host map's join: Spark reads input_file_name()
    -- only over one source.
    select *, {{ spool_source_file() }} as source_file
    from {{ source('raw', 'nvml_gpu_windows') }}

),

renamed as (

    select
        gpu_uuid,
        {{ utc_instant('window_start') }} as window_start_at,
        {{ utc_instant('window_end') }} as window_end_at,
        {{ resolved_host('source.host') }} as host,
        {{ resolved_cloud_resource_id('source.cloud_resource_id', 'source.host') }}
            as cloud_resource_id,
        cast(gpu_index as integer) as gpu_index,
        gpu_model,
        mig_instance_id,
        cast(schema_version as integer) as schema_version,
        cast(sample_count as integer) as sample_count,
        util_mean,
        util_source,
        sm_active_mean,
        gr_engine_active_mean,
        gpu_util_mean,
        memory_used_bytes_max,
        memory_total_bytes,
        power_mw_mean,
        energy_mj,
        sm_clock_mhz_mean,
        mem_clock_mhz_mean,
        temperature_c_max,
        clocks_event_reasons,
        unsupported,
        source.source_file,
        partition_date

    from source
    {{ host_aliases_join('source.host') }}

)

select * from renamed
