with

gpu_hours as (

    select * from {{ ref('int_gpu_hours') }}

),

gpu_costs as (

    select * from {{ ref('int_gpu_costs_hourly') }}

),

reported as (

    select
        gpu_uuid,
        max(host) as host,
        max(cloud_resource_id) as cloud_resource_id,
        max(gpu_index) as gpu_index,
        max(gpu_model) as gpu_model,
        min(first_window_start_at) as first_seen_at,
        max(last_window_end_at) as last_seen_at

    from gpu_hours
    group by 1

),

billed as (

    select
        gpu_uuid,
        max(provider) as provider,
        max(resource_id) as resource_id,
        max(instance_type) as instance_type,
        max(gpu_index) as gpu_index,
        max(gpu_model) as gpu_model,
        max(host) as host

    from gpu_costs
    group by 1

),

final as (

    select
        coalesce(reported.gpu_uuid, billed.gpu_uuid) as gpu_uuid,
        coalesce(reported.host, billed.host) as host,
        coalesce(reported.cloud_resource_id, billed.resource_id) as cloud_resource_id,
        cast(coalesce(reported.gpu_index, billed.gpu_index) as integer) as gpu_index,
        coalesce(reported.gpu_model, billed.gpu_model) as gpu_model,
        billed.provider,
        billed.instance_type,
        reported.gpu_uuid is not null as is_reported_by_collector,
        billed.gpu_uuid is not null as is_billed,
        reported.first_seen_at,
        reported.last_seen_at

    from reported
    full outer join billed
        on reported.gpu_uuid = billed.gpu_uuid

)

select * from final
