with

allocated as (

    select * from {{ ref('int_gpu_costs_allocated') }}

),

-- Every request, useful or not, summed by hour (a copy of a logged line counts once).
request_hours as (

    select * from {{ ref('int_tokens_hourly') }}

),

on_gpus as (

    select
        workload,
        count(distinct gpu_uuid) as gpus_used,
        min(hour_start_at) as first_gpu_hour_at,
        max(hour_start_at) as last_gpu_hour_at

    from allocated
    where workload <> '(unallocated)'
    group by 1

),

served as (

    select
        workload,
        count(distinct model) as models_served,
        max(model) as model,
        min(first_request_at) as first_request_at,
        max(last_request_at) as last_request_at

    from request_hours
    group by 1

),

final as (

    select
        coalesce(on_gpus.workload, served.workload) as workload,
        served.model,
        cast(coalesce(served.models_served, 0) as bigint) as models_served,
        cast(coalesce(on_gpus.gpus_used, 0) as bigint) as gpus_used,
        on_gpus.first_gpu_hour_at,
        on_gpus.last_gpu_hour_at,
        served.first_request_at,
        served.last_request_at

    from on_gpus
    full outer join served
        on on_gpus.workload = served.workload

)

select * from final
