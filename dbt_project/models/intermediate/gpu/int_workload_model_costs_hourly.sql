{#-
    A workload's GPU cost and tokens per hour, GPU and model (allocation rule 6): the one place
    both facts take a workload's cost per model from.

    A host's tokens for a workload and model are spread over the GPUs that workload used on that
    host in that hour, by busy seconds (evenly when none was busy); a workload serving several
    models there has its GPU rows split over them by useful tokens (by requests when none were
    useful): busy and held-idle seconds, attributed and idle cost, energy and its cost are the
    GPU row's times model_share. GPU rows of a host-hour in which the workload logged no request have a null
    model ('(unallocated)' and '(unused commitment)' rows too). Tokens of a host-hour without
    the workload's GPU telemetry are rows of their own, with a null gpu_uuid and cost, is_metered
    false and unmetered_reason 'no_gpu_telemetry'. Costs are as allocated: a GPU on no bill or
    contract (provider null) keeps its allocated figure here, and the facts show it as unknown.

    A view: each fact reads the hours of the days it builds.
-#}
{{ config(materialized='view') }}

with

allocated as (

    select * from {{ ref('int_gpu_costs_allocated') }}

),

tokens as (

    select * from {{ ref('int_tokens_metered_hourly') }}

),

-- The tokens that ran on GPUs the telemetry saw (with a cost or not), by model, and each
-- model's share of the workload's GPU rows on that host in that hour.
gpu_model_tokens as (

    select
        tokens.*,
        -- Shares as doubles: Spark would round a decimal quotient to 6 places.
        case
            when sum(useful_prompt_tokens + useful_completion_tokens)
                over (partition by hour_start_at, host, workload) > 0
                then cast(useful_prompt_tokens + useful_completion_tokens as double)
                    / sum(useful_prompt_tokens + useful_completion_tokens)
                        over (partition by hour_start_at, host, workload)
            when sum(requests) over (partition by hour_start_at, host, workload) > 0
                then cast(requests as double)
                    / sum(requests) over (partition by hour_start_at, host, workload)
            else cast(1 as double) / count(*) over (partition by hour_start_at, host, workload)
        end as model_share

    from tokens
    where coalesce(unmetered_reason, '') <> 'no_gpu_telemetry'

),

token_shares as (

    select
        hour_start_at,
        gpu_uuid,
        workload,
        case
            when sum(busy_seconds) over (partition by hour_start_at, host, workload) > 0
                then cast(busy_seconds as double)
                    / sum(cast(busy_seconds as double))
                        over (partition by hour_start_at, host, workload)
            else cast(1 as double) / count(*) over (partition by hour_start_at, host, workload)
        end as token_share

    from allocated
    where workload not in ('(unallocated)', '(unused commitment)')

),

on_gpus as (

    select
        allocated.hour_start_at,
        allocated.gpu_uuid,
        allocated.workload,
        allocated.host,
        allocated.provider,
        allocated.resource_id,
        gpu_model_tokens.model,
        coalesce(gpu_model_tokens.model_share, 1.0) as model_share,
        allocated.busy_seconds,
        allocated.held_idle_seconds,
        allocated.attributed_cost_usd,
        allocated.idle_cost_usd,
        allocated.energy_kwh,
        allocated.energy_cost_usd,
        coalesce(gpu_model_tokens.useful_prompt_tokens * token_shares.token_share, 0)
            as useful_prompt_tokens,
        coalesce(gpu_model_tokens.useful_completion_tokens * token_shares.token_share, 0)
            as useful_completion_tokens,
        coalesce(gpu_model_tokens.wasted_tokens * token_shares.token_share, 0) as wasted_tokens,
        -- Metered as its host-hour's tokens are (int_tokens_metered_hourly), so both facts
        -- count the same metered tokens; a row without tokens by its own GPU's cost.
        coalesce(gpu_model_tokens.is_metered, allocated.provider is not null) as is_metered,
        case
            when gpu_model_tokens.hour_start_at is not null then gpu_model_tokens.unmetered_reason
            when allocated.provider is null then 'no_gpu_cost'
        end as unmetered_reason

    from allocated
    left join token_shares
        on allocated.hour_start_at = token_shares.hour_start_at
        and allocated.gpu_uuid = token_shares.gpu_uuid
        and allocated.workload = token_shares.workload
    left join gpu_model_tokens
        on allocated.hour_start_at = gpu_model_tokens.hour_start_at
        and allocated.host = gpu_model_tokens.host
        and allocated.workload = gpu_model_tokens.workload

),

-- Tokens of host-hours without the workload's GPU telemetry: kept, on no GPU, not priced.
off_gpus as (

    select
        hour_start_at,
        cast(null as {{ dbt.type_string() }}) as gpu_uuid,
        workload,
        host,
        cast(null as {{ dbt.type_string() }}) as provider,
        cast(null as {{ dbt.type_string() }}) as resource_id,
        model,
        cast(1 as double) as model_share,
        0.0 as busy_seconds,
        0.0 as held_idle_seconds,
        cast(null as decimal(38, 10)) as attributed_cost_usd,
        cast(null as decimal(38, 10)) as idle_cost_usd,
        cast(null as decimal(38, 9)) as energy_kwh,
        cast(null as decimal(38, 10)) as energy_cost_usd,
        useful_prompt_tokens,
        useful_completion_tokens,
        wasted_tokens,
        false as is_metered,
        unmetered_reason

    from tokens
    where unmetered_reason = 'no_gpu_telemetry'

),

joined as (

    select * from on_gpus
    union all
    select * from off_gpus

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
        model_share,
        -- Decimals, each row rounded once: sums of them do not depend on their order.
        cast(busy_seconds * model_share as decimal(38, 10)) as busy_seconds,
        cast(held_idle_seconds * model_share as decimal(38, 10)) as held_idle_seconds,
        cast(attributed_cost_usd * model_share as decimal(38, 10)) as attributed_cost_usd,
        cast(idle_cost_usd * model_share as decimal(38, 10)) as idle_cost_usd,
        cast(energy_kwh * model_share as decimal(38, 9)) as energy_kwh,
        cast(energy_cost_usd * model_share as decimal(38, 10)) as energy_cost_usd,
        useful_prompt_tokens,
        useful_completion_tokens,
        wasted_tokens,
        is_metered,
        unmetered_reason

    from joined

)

select * from final
