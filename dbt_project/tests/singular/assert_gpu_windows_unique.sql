{#-
    One window per GPU and start time: a window landed twice (a spool file copied under two
    names) would count its seconds twice. Checked on the GPU-hours as they are built (each day
    when it is rebuilt), so a daily run does not scan the whole history of windows again.
-#}
select
    hour_start_at,
    gpu_uuid,
    mig_instance_id,
    window_count,
    distinct_window_count
from {{ ref('int_gpu_hours') }}
where window_count <> distinct_window_count
