{#-
    Hour x GPU x workload: what the GPU-hour cost each workload (attributed busy time plus the
    idle time it held), and the useful tokens it produced there. A host's tokens for a workload
    are spread over the GPUs that workload used on that host in that hour, by busy seconds
    (evenly when none was busy). '(unallocated)' rows carry the cost nobody held.
-#}
{#- Incremental by usage day (macros/usage_days.sql): every input is read by the hour. -#}
{%- set inputs = [('int_gpu_costs_allocated', 'usage_days'), ('int_tokens_hourly', 'content')] -%}
{{ usage_days_config(inputs) }}
{%- set build_days = usage_days_to_build(inputs) %}

with

allocated as (

    select * from {{ ref('int_gpu_costs_allocated') }}
    where {{ usage_day_filter('hour_start_at', build_days) }}

),

tokens_hourly as (

    select * from {{ ref('int_tokens_hourly') }}
    where {{ usage_day_filter('hour_start_at', build_days) }}

),

host_tokens as (

    select
        hour_start_at,
        host,
        workload,
        max(model) as model,
        sum(useful_prompt_tokens) as useful_prompt_tokens,
        sum(useful_completion_tokens) as useful_completion_tokens,
        sum(wasted_tokens) as wasted_tokens

    from tokens_hourly
    group by 1, 2, 3

),

token_shares as (

    select
        hour_start_at,
        gpu_uuid,
        workload,
        case
            when sum(busy_seconds) over (partition by hour_start_at, host, workload) > 0
                then busy_seconds
                    / sum(busy_seconds) over (partition by hour_start_at, host, workload)
            else 1.0 / count(*) over (partition by hour_start_at, host, workload)
        end as token_share

    from allocated
    where workload <> '(unallocated)'

),

joined as (

    select
        allocated.hour_start_at,
        allocated.gpu_uuid,
        allocated.workload,
        allocated.host,
        allocated.provider,
        allocated.resource_id,
        host_tokens.model,
        allocated.busy_seconds / 3600.0 as busy_gpu_hours,
        allocated.held_idle_seconds / 3600.0 as held_idle_gpu_hours,
        allocated.attributed_cost_usd,
        allocated.idle_cost_usd,
        cast(
            coalesce(host_tokens.useful_prompt_tokens * token_shares.token_share, 0)
            as decimal(38, 6)
        ) as useful_prompt_tokens,
        cast(
            coalesce(host_tokens.useful_completion_tokens * token_shares.token_share, 0)
            as decimal(38, 6)
        ) as useful_completion_tokens,
        cast(
            coalesce(host_tokens.wasted_tokens * token_shares.token_share, 0) as decimal(38, 6)
        ) as wasted_tokens

    from allocated
    left join token_shares
        on allocated.hour_start_at = token_shares.hour_start_at
        and allocated.gpu_uuid = token_shares.gpu_uuid
        and allocated.workload = token_shares.workload
    left join host_tokens
        on allocated.hour_start_at = host_tokens.hour_start_at
        and allocated.host = host_tokens.host
        and allocated.workload = host_tokens.workload

),

final as (

    select
        hour_start_at,
        gpu_uuid,
        workload,
        host,
        provider,
        resource_id,
        model,
        cast(busy_gpu_hours as double) as busy_gpu_hours,
        cast(held_idle_gpu_hours as double) as held_idle_gpu_hours,
        cast(attributed_cost_usd as decimal(38, 10)) as attributed_cost_usd,
        cast(idle_cost_usd as decimal(38, 10)) as idle_cost_usd,
        cast(attributed_cost_usd + idle_cost_usd as decimal(38, 10)) as cost_usd,
        useful_prompt_tokens,
        useful_completion_tokens,
        wasted_tokens,
        cast(
            case
                when useful_prompt_tokens + useful_completion_tokens > 0
                    then (attributed_cost_usd + idle_cost_usd) * 1000000
                        / (useful_prompt_tokens + useful_completion_tokens)
            end as decimal(38, 10)
        ) as cost_per_million_useful_tokens

    from joined

)

select * from final
