{#-
    A MIG instance's share of its GPU (docs/mig.md): the compute slices of its GPU instance
    profile over the GPU's. The profile is dcgm-exporter's GPU_I_PROFILE label or the MIG device
    name NVML gives ("NVIDIA A100-SXM4-40GB MIG 1g.5gb"), both "<slices>g.<memory>gb"; an A30
    has 4 slices, every other MIG GPU (A100, H100, H200, B200, GB200) 7. Null when the profile is
    unknown: the instance's activity then cannot be weighed, and the GPU's utilization is null.
-#}
{% macro mig_share(profile, gpu_model) -%}
    (
        cast(nullif(regexp_extract({{ profile }}, '([0-9]+)g[.][0-9]+gb', 1), '') as double)
        / case when {{ gpu_model }} like '%A30%' then 4.0 else 7.0 end
    )
{%- endmacro %}

{#-
    The NVML spool's MIG instance-hours (rows of `gpu_hours`, a relation or CTE shaped like
    int_gpu_hours) with their GPU, the GPU-hour of the same host, GPU index, hour and day, and
    the instance's share of it.
-#}
{% macro mig_instance_hours(gpu_hours) -%}
    select
        instances.hour_start_at,
        instances.day,
        instances.gpu_uuid as instance_uuid,
        parents.gpu_uuid as parent_uuid,
        {{ mig_share('instances.gpu_model', 'parents.gpu_model') }} as mig_share,
        instances.util_seconds,
        instances.util_window_seconds,
        instances.util_source_min

    from {{ gpu_hours }} as instances
    inner join {{ gpu_hours }} as parents
        on instances.host = parents.host
        and instances.gpu_index = parents.gpu_index
        and instances.hour_start_at = parents.hour_start_at
        and instances.day = parents.day
        and parents.mig_instance_id is null
    where instances.mig_instance_id is not null
{%- endmacro %}
