{#-
    Requests summed by hour, host, workload and model, with whether GPU cost was measured
    behind their tokens (allocation rule 6): the workload's GPU time on that host in that hour
    is in the telemetry (int_gpu_costs_allocated has it) and all of it is on GPUs with a cost
    (a bill line or a contract: int_gpu_costs_hourly names its provider). Tokens without both
    are unmetered, with the reason: `no_gpu_telemetry` (the host sent no telemetry of the
    workload that hour) or `no_gpu_cost` (one of its GPUs there is on no bill or contract: the
    tokens spread onto it would be priced at the other GPUs' cost alone). Unmetered tokens are
    counted in both facts and priced in neither.

    A view: both facts read it for the hours they build.
-#}
{{ config(materialized='view') }}

with

tokens_hourly as (

    select * from {{ ref('int_tokens_hourly') }}

),

allocated as (

    select * from {{ ref('int_gpu_costs_allocated') }}

),

-- int_tokens_hourly keeps a row per landed day: an hour whose lines were landed from two
-- date folders has two.
host_model_tokens as (

    select
        hour_start_at,
        host,
        workload,
        model,
        sum(useful_prompt_tokens) as useful_prompt_tokens,
        sum(useful_completion_tokens) as useful_completion_tokens,
        sum(useful_cached_prompt_tokens) as useful_cached_prompt_tokens,
        sum(useful_reasoning_tokens) as useful_reasoning_tokens,
        sum(wasted_tokens) as wasted_tokens,
        sum(useful_requests) as useful_requests,
        sum(truncated_requests) as truncated_requests,
        sum(wasted_requests) as wasted_requests,
        sum(token_counts_missing_requests) as token_counts_missing_requests,
        -- Unknown when any landed day's part is (sum would pass over a null).
        case when bool_or(goodput_tokens is null) then null else sum(goodput_tokens) end
            as goodput_tokens,
        max(goodput_unknown_reason) as goodput_unknown_reason,
        sum(requests) as requests

    from tokens_hourly
    group by 1, 2, 3, 4

),

gpu_time as (

    select
        hour_start_at,
        host,
        workload,
        min(case when provider is not null then 1 else 0 end) = 1 as has_gpu_cost

    from allocated
    where workload not in ('(unallocated)', '(unused commitment)')
    group by 1, 2, 3

),

final as (

    select
        host_model_tokens.*,
        coalesce(gpu_time.has_gpu_cost, false) as is_metered,
        case
            when gpu_time.workload is null then 'no_gpu_telemetry'
            when not gpu_time.has_gpu_cost then 'no_gpu_cost'
        end as unmetered_reason

    from host_model_tokens
    left join gpu_time
        on host_model_tokens.hour_start_at = gpu_time.hour_start_at
        and host_model_tokens.host = gpu_time.host
        and host_model_tokens.workload = gpu_time.workload

)

select * from final
