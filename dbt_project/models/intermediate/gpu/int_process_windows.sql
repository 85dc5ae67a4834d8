{#-
    Processes per GPU window: the NVML spool's process list, and for windows taken from
    dcgm-exporter (int_gpu_windows) the pod the exporter maps to the GPU, as one process whose
    busy share is the GPU's activity and whose memory is the framebuffer used. A pod on a MIG
    instance (docs/mig.md) holds its instance's share of the GPU: busy for the instance's
    activity times that share, and the rest of the share as its held idle time
    (held_idle_share; null elsewhere, where idle time goes by memory held). A view, like
    int_gpu_windows. window_process_count: the processes the spool listed for the window.
-#}
{{ config(materialized='view') }}

with

nvml as (

    select * from {{ ref('stg_nvml__process_windows') }}

),

dcgm_windows as (

    select windows.*
    from {{ ref('int_dcgm_gpu_windows') }} as windows
    inner join {{ ref('int_gpu_windows') }} as used
        on windows.gpu_uuid = used.gpu_uuid
        and windows.window_start_at = used.window_start_at
        -- the same day (a window's date): a reader's filter on `day` reaches both scans
        and windows.day = used.day
        and used.telemetry_source = 'dcgm'
    where windows.k8s_pod is not null

),

processes as (

    select
        gpu_uuid, window_start_at, window_end_at, host, pid, container_id, k8s_namespace,
        k8s_pod, workload, busy_share,
        cast(null as decimal(20, 10)) as held_idle_share,
        memory_used_bytes, window_process_count,
        partition_date as day,
        'nvml' as telemetry_source
    from nvml

    union all

    select
        gpu_uuid,
        window_start_at,
        window_end_at,
        host,
        cast(null as bigint) as pid,
        container as container_id,
        k8s_namespace,
        k8s_pod,
        workload,
        cast(coalesce(util_mean, 0) * coalesce(mig_share, 1) as decimal(20, 10)) as busy_share,
        cast((1 - coalesce(util_mean, 0)) * mig_share as decimal(20, 10)) as held_idle_share,
        memory_used_bytes_max as memory_used_bytes,
        -- Left unknown: int_gpu_seconds_attributed then groups the window's rows itself.
        cast(null as integer) as window_process_count,
        day,
        'dcgm' as telemetry_source
    from dcgm_windows

),

final as (

    select * from processes

)

select * from final
