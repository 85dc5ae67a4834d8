{#-
    GPU cost per GPU slot and hour (allocation rule 1): the effective cost of a resource's GPU
    lines (int_gpu_billing_lines, every provider, and the contracts' used cost) in the hour, divided evenly over its GPUs. A line spanning several hours (daily
    granularity) is spread evenly over them. Slots are matched to the collector's gpu_uuid by
    (cloud_resource_id, gpu_index); a slot no collector reported keeps a placeholder id so its
    cost still reaches the fact table (as unallocated).
    One batch a day (dbt's microbatch, macros/batch.sql): the lines one of whose hours falls on
    the day, read whole, so its hours sum every line. A slot's GPU is the one the collector
    reported for it (int_gpu_hours) that day, else on the nearest day before, else after (a
    day built before its slot was ever reported keeps the placeholder until a full refresh).
    MIG instances are not slots.
-#}

with

lines as (

    select
        billing_period, provider, resource_id, instance_type, gpu_model, gpu_count,
        currency_code, usage_start_at, usage_hours, effective_cost, false as is_contract
    from {{ ref('int_gpu_billing_lines').render() }}
    where {{ batch_lines_filter() }}
    union all
    -- The used part of Capacity Blocks, neocloud contracts and owned GPUs (with energy).
    select
        billing_period, provider, resource_id, instance_type, gpu_model, gpu_count,
        currency_code, usage_start_at, usage_hours, effective_cost, true as is_contract
    from {{ ref('int_contract_gpu_lines').render() }}
    where {{ batch_lines_filter() }}

),

hour_offsets as (

    select * from {{ ref('int_hour_offsets') }}

),

line_hours as (

    select
        lines.billing_period,
        lines.provider,
        lines.resource_id,
        lines.instance_type,
        lines.gpu_model,
        lines.gpu_count,
        lines.currency_code,
        lines.is_contract,
        {{ dbt.dateadd('hour', 'hour_offsets.hour_offset', dbt.date_trunc('hour', 'lines.usage_start_at')) }}
            as hour_start_at,
        lines.effective_cost / lines.usage_hours as effective_cost

    from lines
    inner join hour_offsets
        on hour_offsets.hour_offset < lines.usage_hours

),

resource_hours as (

    -- One row per host and hour: its bill lines and contract lines together (a Capacity Block's
    -- instance has a $0.00 bill line and the block's cost). The provider is the bill's.
    select
        hour_start_at,
        resource_id,
        max(billing_period) as billing_period,
        coalesce(max(case when not is_contract then provider end), max(provider)) as provider,
        max(currency_code) as currency_code,
        max(instance_type) as instance_type,
        max(gpu_model) as gpu_model,
        max(gpu_count) as gpu_count,
        sum(effective_cost) as effective_cost

    from line_hours
    where {{ batch_hours_filter('hour_start_at') }}
    group by 1, 2

),

slots as (

    select
        resource_hours.hour_start_at,
        resource_hours.resource_id,
        hour_offsets.hour_offset as gpu_index,
        resource_hours.billing_period,
        resource_hours.provider,
        resource_hours.instance_type,
        resource_hours.gpu_model,
        resource_hours.currency_code,
        cast(
            resource_hours.effective_cost / resource_hours.gpu_count as decimal(38, 10)
        ) as cost_usd

    from resource_hours
    inner join hour_offsets
        on hour_offsets.hour_offset < resource_hours.gpu_count

),

reported_days as (

    -- The GPU (the greatest id, if a slot's GPU was swapped) and host the collector reported
    -- for each slot on each day, over the whole telemetry history.
    select
        cloud_resource_id,
        gpu_index,
        cast(hour_start_at as date) as reported_day,
        max(gpu_uuid) as gpu_uuid,
        max(host) as host

    from {{ ref('int_gpu_hours').render() }}
    where mig_instance_id is null
    group by 1, 2, 3

),

slot_days as (

    select distinct resource_id, gpu_index, cast(hour_start_at as date) as usage_day
    from slots

),

gpu_identities as (

    -- A slot's GPU on a day: the one reported that day, else on the last day before it, else
    -- on the first day after it (a day the collector was dark keeps its host).
    select
        slot_days.resource_id,
        slot_days.gpu_index,
        slot_days.usage_day,
        reported_days.gpu_uuid,
        reported_days.host,
        row_number() over (
            partition by slot_days.resource_id, slot_days.gpu_index, slot_days.usage_day
            order by
                case when reported_days.reported_day <= slot_days.usage_day then 0 else 1 end,
                abs({{ dbt.datediff('slot_days.usage_day', 'reported_days.reported_day', 'day') }})
        ) as nearest

    from slot_days
    inner join reported_days
        on slot_days.resource_id = reported_days.cloud_resource_id
        and slot_days.gpu_index = reported_days.gpu_index

),

final as (

    select
        slots.hour_start_at,
        coalesce(
            gpu_identities.gpu_uuid,
            slots.resource_id || ':gpu' || cast(slots.gpu_index as {{ dbt.type_string() }})
        ) as gpu_uuid,
        gpu_identities.gpu_uuid is not null as is_reported_by_collector,
        gpu_identities.host,
        slots.resource_id,
        slots.gpu_index,
        slots.billing_period,
        slots.provider,
        slots.instance_type,
        slots.gpu_model,
        slots.currency_code,
        slots.cost_usd

    from slots
    left join gpu_identities
        on slots.resource_id = gpu_identities.resource_id
        and slots.gpu_index = gpu_identities.gpu_index
        and cast(slots.hour_start_at as date) = gpu_identities.usage_day
        and gpu_identities.nearest = 1

)

select * from final
