with

source as (

    select * from {{ source('raw', 'nvml_process_windows') }}

),

renamed as (

    select
        gpu_uuid,
        cast(window_start as timestamp) as window_start_at,
        cast(window_end as timestamp) as window_end_at,
        host,
        pid,
        container_id,
        k8s_namespace,
        k8s_pod,
        workload,
        -- Exact decimals: sums must not depend on the order a parallel engine adds them in.
        cast(busy_share as decimal(20, 10)) as busy_share,
        cast(memory_used_bytes as bigint) as memory_used_bytes,
        -- Processes the window listed; null for rows landed before it was kept.
        cast(window_process_count as integer) as window_process_count,
        partition_date

    from source

)

select * from renamed
