{#-
    The GPU each billed slot is: (cloud_resource_id, gpu_index) as the collector reported them,
    with its gpu_uuid and host (the greatest, if a slot's GPU was swapped), over the whole
    telemetry history. int_gpu_costs_hourly matches bill lines to GPUs by it; a day of that model
    is rebuilt when the identity of a resource billed on it changes (macros/usage_days.sql,
    'slot_identities'). MIG instances are not slots.
-#}
with

gpu_hours as (

    select * from {{ ref('int_gpu_hours') }}

),

final as (

    select
        cloud_resource_id,
        gpu_index,
        max(gpu_uuid) as gpu_uuid,
        max(host) as host

    from gpu_hours
    where mig_instance_id is null
    group by 1, 2

)

select * from final
