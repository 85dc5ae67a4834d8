{#-
    Hour x GPU x workload x model: what the GPU-hour cost each workload (attributed busy time
    plus the idle time it held), and the useful tokens it produced there, as
    int_workload_model_costs_hourly splits them over GPUs and models (the daily fact reads the
    same split).
    '(unallocated)' rows carry the cost nobody held.
    Tokens are never dropped (allocation rule 6): those of a host-hour where the workload had
    no GPU telemetry are rows of their own, with a null gpu_uuid and cost, is_metered false and
    unmetered_reason 'no_gpu_telemetry'; those on GPUs with no bill or contract have a null
    cost and 'no_gpu_cost'. Per day, workload and model the useful tokens equal
    fct_workload_unit_cost_daily's.
-#}

with

costs as (

    select * from {{ ref('int_workload_model_costs_hourly').render() }}
    where {{ batch_hours_filter('hour_start_at') }}

),

final as (

    select
        hour_start_at,
        -- Unused commitment is no GPU's: its rows name their commitment instead.
        case when workload <> '(unused commitment)' then gpu_uuid end as gpu_uuid,
        workload,
        {{ cost_bucket('workload') }} as cost_bucket,
        case when workload = '(unused commitment)' then resource_id end as commitment_id,
        host,
        provider,
        resource_id,
        model,
        cast(busy_seconds / 3600.0 as double) as busy_gpu_hours,
        cast(held_idle_seconds / 3600.0 as double) as held_idle_gpu_hours,
        -- A GPU on no bill or contract: what it cost is not known (never $0).
        cast(case when provider is not null then attributed_cost_usd end as decimal(38, 10))
            as attributed_cost_usd,
        cast(case when provider is not null then idle_cost_usd end as decimal(38, 10))
            as idle_cost_usd,
        cast(case when provider is not null then attributed_cost_usd + idle_cost_usd end
            as decimal(38, 10)) as cost_usd,
        cast(useful_prompt_tokens as decimal(38, 6)) as useful_prompt_tokens,
        cast(useful_completion_tokens as decimal(38, 6)) as useful_completion_tokens,
        cast(wasted_tokens as decimal(38, 6)) as wasted_tokens,
        is_metered,
        unmetered_reason,
        cast(
            case
                when is_metered and provider is not null
                    and useful_prompt_tokens + useful_completion_tokens > 0
                    then (attributed_cost_usd + idle_cost_usd) * 1000000
                        / (useful_prompt_tokens + useful_completion_tokens)
            end as decimal(38, 10)
        ) as cost_per_million_useful_tokens

    from costs

)

select * from final
