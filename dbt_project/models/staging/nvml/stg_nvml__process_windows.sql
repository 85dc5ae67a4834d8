with

source as (

    select * from {{ source('raw', 'nvml_process_windows') }}

),

flattened as (

    -- One row per process a window lists (the spool nests them in the window's row).
    select
        gpu_uuid,
        window_start,
        window_end,
        {{ resolved_host('source.host') }} as host,
        {{ list_length('processes') }} as window_process_count,
        partition_date,
        {{ explode_list('processes') }} as process

    from source
    {{ host_aliases_join('source.host') }}

),

renamed as (

    select
        gpu_uuid,
        {{ utc_instant('window_start') }} as window_start_at,
        {{ utc_instant('window_end') }} as window_end_at,
        host,
        process.pid as pid,
        process.container_id as container_id,
        process.k8s_namespace as k8s_namespace,
        process.k8s_pod as k8s_pod,
        process.workload as workload,
        -- Exact decimals: sums must not depend on the order a parallel engine adds them in.
        cast(process.busy_share as decimal(20, 10)) as busy_share,
        cast(process.memory_used_bytes as bigint) as memory_used_bytes,
        -- Processes the window listed.
        cast(window_process_count as integer) as window_process_count,
        partition_date

    from flattened

)

select * from renamed
