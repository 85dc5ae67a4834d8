{#-
    dcgm-exporter scrapes as one-minute GPU windows, shaped like the NVML spool's windows.

    Activity, best first (DESIGN.md rule 7, docs/dcgm.md): DCGM_FI_PROF_SM_ACTIVE
    (dcgm_prof_sm_active; not in dcgm-exporter's default counters), else
    DCGM_FI_PROF_GR_ENGINE_ACTIVE (dcgm_prof_gr_engine_active, a default), else
    DCGM_FI_DEV_GPU_UTIL / 100 (dcgm_gpu_util, an upper bound like NVML's utilization.gpu).
    Memory MiB -> bytes, the total being used + free + reserved (DCGM_FI_DEV_FB_RESERVED, where
    the exporter reports it); power W -> mW, the energy counter (mJ) -> the delta since the
    previous window (a lower value is a reset and counts from 0). The pod the exporter maps to
    the GPU is its one process, named by the pod's workload (macro workload_from_pod): busy
    share = the activity, memory = the framebuffer used.

    MIG (docs/mig.md): rows of a GPU instance (mig_instance_id) are windows of their own, with
    the instance's share of the GPU (macro mig_share, from its profile). A GPU with instances
    takes its activity from them, each weighted by its share (slices without an instance are
    idle); its own whole-GPU profiling rows are not used then. int_gpu_windows reads the GPU
    rows; int_process_windows the instances' pods.

    One batch a day (macros/batch.sql), `day` the window's UTC date; a batch reads its day's
    scrapes and the day before's, whose last counter reading the first window's energy is
    counted from.
-#}
with

samples as (

    select
        *,
        {{ dbt.date_trunc('minute', 'scraped_at') }} as window_start_at
    from {{ ref('stg_dcgm__samples') }}
    where {{ batch_days_filter('partition_date', 1) }}
        and gpu_uuid is not null

),

windows as (

    select
        host,
        gpu_uuid,
        mig_instance_id,
        window_start_at,
        max(mig_profile) as mig_profile,
        max(cloud_resource_id) as cloud_resource_id,
        max(gpu_index) as gpu_index,
        max(gpu_model) as gpu_model,
        max(k8s_namespace) as k8s_namespace,
        max(k8s_pod) as k8s_pod,
        max(container) as container,
        count(distinct scraped_at) as sample_count,
        avg(case when metric = 'DCGM_FI_PROF_SM_ACTIVE' then value end) as sm_active_mean,
        avg(case when metric = 'DCGM_FI_PROF_GR_ENGINE_ACTIVE' then value end)
            as gr_engine_active_mean,
        avg(case when metric = 'DCGM_FI_DEV_GPU_UTIL' then value / 100.0 end) as gpu_util_mean,
        max(case when metric = 'DCGM_FI_DEV_FB_USED' then value * 1048576 end)
            as memory_used_bytes_max,
        max(case when metric = 'DCGM_FI_DEV_FB_USED' then value end)
            + max(case when metric = 'DCGM_FI_DEV_FB_FREE' then value end)
            + coalesce(max(case when metric = 'DCGM_FI_DEV_FB_RESERVED' then value end), 0)
            as memory_total_mib,
        avg(case when metric = 'DCGM_FI_DEV_POWER_USAGE' then value * 1000 end) as power_mw_mean,
        avg(case when metric = 'DCGM_FI_DEV_SM_CLOCK' then value end) as sm_clock_mhz_mean,
        avg(case when metric = 'DCGM_FI_DEV_MEM_CLOCK' then value end) as mem_clock_mhz_mean,
        max(case when metric = 'DCGM_FI_DEV_GPU_TEMP' then value end) as temperature_c_max,
        max(case when metric = 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION' then value end)
            as energy_counter_mj,
        min(source_file) as source_file

    from samples
    group by 1, 2, 3, 4

),

with_activity as (

    select
        *,
        coalesce(sm_active_mean, gr_engine_active_mean, gpu_util_mean) as activity,
        case
            when sm_active_mean is not null then 'dcgm_prof_sm_active'
            when gr_engine_active_mean is not null then 'dcgm_prof_gr_engine_active'
            when gpu_util_mean is not null then 'dcgm_gpu_util'
        end as activity_source

    from windows

),

gpus as (

    select * from with_activity where mig_instance_id is null

),

mig_instances as (

    select
        instances.*,
        {{ mig_share('instances.mig_profile', 'gpus.gpu_model') }} as mig_share,
        gpus.gpu_model as parent_gpu_model,
        gpus.gpu_index as parent_gpu_index

    from with_activity as instances
    left join gpus
        on instances.gpu_uuid = gpus.gpu_uuid
        and instances.host = gpus.host
        and instances.window_start_at = gpus.window_start_at
    where instances.mig_instance_id is not null

),

-- A MIG GPU's activity: its instances' activities weighted by their shares (null when an
-- instance's share or activity is unknown).
mig_gpus as (

    select
        host,
        gpu_uuid,
        window_start_at,
        case
            when count(*) = count(activity * mig_share) then sum(activity * mig_share)
        end as activity,
        min(activity_source) as activity_source

    from mig_instances
    group by 1, 2, 3

),

with_energy as (

    select
        gpus.*,
        mig_gpus.gpu_uuid is not null as has_mig_instances,
        mig_gpus.activity as mig_activity,
        mig_gpus.activity_source as mig_activity_source,
        lag(gpus.energy_counter_mj) over (
            partition by gpus.gpu_uuid order by gpus.window_start_at
        ) as previous_energy_counter_mj

    from gpus
    left join mig_gpus
        on gpus.gpu_uuid = mig_gpus.gpu_uuid
        and gpus.host = mig_gpus.host
        and gpus.window_start_at = mig_gpus.window_start_at

),

-- Whole GPUs (a MIG GPU with its instances' weighted activity, its energy as deltas) and the
-- MIG instances with their pods (their GPU's id, the instance's share of it), alike.
windows_of_both as (

    select
        gpu_uuid,
        window_start_at,
        host,
        cloud_resource_id,
        gpu_index,
        gpu_model,
        cast(null as {{ dbt.type_string() }}) as mig_instance_id,
        cast(null as {{ dbt.type_string() }}) as mig_profile,
        cast(null as double) as mig_share,
        sample_count,
        case when has_mig_instances then mig_activity else activity end as util_mean,
        case when has_mig_instances then mig_activity_source else activity_source end
            as util_source,
        sm_active_mean,
        gr_engine_active_mean,
        gpu_util_mean,
        memory_used_bytes_max,
        memory_total_mib,
        power_mw_mean,
        case
            when energy_counter_mj is null or previous_energy_counter_mj is null then null
            when energy_counter_mj >= previous_energy_counter_mj
                then energy_counter_mj - previous_energy_counter_mj
            else energy_counter_mj
        end as energy_mj,
        sm_clock_mhz_mean,
        mem_clock_mhz_mean,
        temperature_c_max,
        source_file,
        k8s_namespace,
        k8s_pod,
        container

    from with_energy

    union all

    select
        gpu_uuid,
        window_start_at,
        host,
        cloud_resource_id,
        coalesce(gpu_index, parent_gpu_index) as gpu_index,
        coalesce(gpu_model, parent_gpu_model) as gpu_model,
        mig_instance_id,
        mig_profile,
        mig_share,
        sample_count,
        activity as util_mean,
        activity_source as util_source,
        sm_active_mean,
        gr_engine_active_mean,
        gpu_util_mean,
        memory_used_bytes_max,
        memory_total_mib,
        cast(null as double) as power_mw_mean,
        cast(null as double) as energy_mj,
        sm_clock_mhz_mean,
        mem_clock_mhz_mean,
        temperature_c_max,
        source_file,
        k8s_namespace,
        k8s_pod,
        container

    from mig_instances

),

final as (

    select
        gpu_uuid,
        window_start_at,
        {{ dbt.dateadd('minute', 1, 'window_start_at') }} as window_end_at,
        host,
        cloud_resource_id,
        gpu_index,
        gpu_model,
        mig_instance_id,
        mig_profile,
        mig_share,
        cast(null as integer) as schema_version,
        cast(sample_count as integer) as sample_count,
        util_mean,
        util_source,
        sm_active_mean,
        gr_engine_active_mean,
        gpu_util_mean,
        cast(memory_used_bytes_max as bigint) as memory_used_bytes_max,
        cast(memory_total_mib * 1048576 as bigint) as memory_total_bytes,
        power_mw_mean,
        cast(energy_mj as bigint) as energy_mj,
        sm_clock_mhz_mean,
        mem_clock_mhz_mean,
        cast(temperature_c_max as integer) as temperature_c_max,
        cast(null as bigint) as clocks_event_reasons,
        cast(null as {{ dbt.type_string() }}) as unsupported,
        source_file,
        k8s_namespace,
        k8s_pod,
        container,
        case when k8s_pod is not null then {{ workload_from_pod('k8s_pod') }} end as workload,
        cast(window_start_at as date) as day

    from windows_of_both
    where {{ batch_days_filter('cast(window_start_at as date)') }}

)

select * from final
