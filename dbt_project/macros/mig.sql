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
