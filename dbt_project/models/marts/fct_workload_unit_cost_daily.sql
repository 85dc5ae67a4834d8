{#-
    Day x workload x model (allocation rule 6): cost = attributed + held idle; cost per million
    useful tokens. A workload's cost per model is the hourly split of
    int_workload_model_costs_hourly (the hourly fact's), summed by day; the GPU time of hours in
    which it served no request is spread over the models it served that day by metered useful
    tokens (by requests when it had none).
    Unmetered tokens (int_tokens_metered_hourly: no GPU telemetry of the workload on that
    host-hour, or GPUs on no bill or contract) are counted in useful_tokens and
    unmetered_useful_tokens and priced nowhere: cost per million is over the metered ones, and
    null with unpriced_reason when there are none. A workload-day none of whose GPU time has a
    known cost has a null cost_usd (unknown, never $0). '(unallocated)' carries the GPU cost nobody
    held, with model '(none)', so the table sums to the bill's GPU cost.
    Producer vs consumer: api_equivalent_cost_usd prices the same useful tokens at the served
    model's API equivalent (prices/: uncached prompt tokens at the input price, cached prompt
    tokens at the cached-input price, completion tokens, reasoning included, at the output
    price); producer_vs_consumer_ratio = cost_usd / api_equivalent_cost_usd (> 1: the API would
    have been cheaper), both over the metered tokens. gpu_utilization = busy / (busy + held idle) GPU-hours of the workload;
    break_even_utilization = gpu_utilization x producer_vs_consumer_ratio: at a fixed cost of
    the GPUs it holds and fixed tokens per busy GPU-hour, its tokens (and their API price) grow
    in proportion to busy time, so that is the utilization at which its GPUs would match the
    API price (> 1: not reachable even fully busy).
    Energy: energy_kwh is the GPU energy measured while the workload was busy on or held its
    GPUs (allocated like the cost); energy_cost_usd prices it where the GPU's power price is
    known (an owned GPU's contract: price x PUE, already a part of cost_usd), null with
    energy_cost_unknown_reason otherwise: power_in_cloud_bill (a cloud GPU's power is in the
    price of its bill), no_energy_reading (no energy counter read).
-#}

with

costs as (

    select * from {{ ref('int_workload_model_costs_hourly').render() }}
    where {{ batch_hours_filter('hour_start_at') }}
        and gpu_uuid is not null  -- GPU rows; tokens come from int_tokens_metered_hourly

),

tokens as (

    select * from {{ ref('int_tokens_metered_hourly').render() }}
    where {{ batch_hours_filter('hour_start_at') }}

),

workload_days as (

    select
        cast(hour_start_at as date) as usage_date,
        workload,
        -- Some of its GPU time is on a GPU with a bill line or contract behind it.
        max(case when provider is not null then 1 else 0 end) = 1 as has_known_cost

    from costs
    group by 1, 2

),

-- GPU time per model: the hours the workload served a model (split over its models there by
-- int_workload_model_costs_hourly), and apart, with a null model, the hours it served none.
hourly_model_costs as (

    select
        cast(hour_start_at as date) as usage_date,
        workload,
        model,
        sum(attributed_cost_usd) as attributed_cost_usd,
        sum(idle_cost_usd) as idle_cost_usd,
        cast(sum(busy_seconds) / 3600 as decimal(38, 10)) as busy_gpu_hours,
        cast(sum(held_idle_seconds) / 3600 as decimal(38, 10)) as held_idle_gpu_hours,
        sum(energy_kwh) as energy_kwh,
        sum(energy_cost_usd) as energy_cost_usd,
        -- Energy of a GPU without a power price (a cloud GPU: in its bill's price).
        max(case when energy_kwh is not null and energy_cost_usd is null then 1 else 0 end)
            as has_unpriced_energy

    from costs
    group by 1, 2, 3

),

model_tokens as (

    select
        cast(hour_start_at as date) as usage_date,
        workload,
        model,
        sum(useful_prompt_tokens) as useful_prompt_tokens,
        sum(useful_completion_tokens) as useful_completion_tokens,
        sum(useful_cached_prompt_tokens) as useful_cached_prompt_tokens,
        sum(useful_reasoning_tokens) as useful_reasoning_tokens,
        sum(case when is_metered then useful_prompt_tokens else 0 end)
            as metered_prompt_tokens,
        sum(case when is_metered then useful_completion_tokens else 0 end)
            as metered_completion_tokens,
        sum(case when is_metered then useful_cached_prompt_tokens else 0 end)
            as metered_cached_prompt_tokens,
        -- Why its tokens went unmetered ('no_gpu_telemetry' where hours had either reason).
        max(case when not is_metered and useful_prompt_tokens + useful_completion_tokens > 0
            then unmetered_reason end) as unmetered_reason,
        sum(wasted_tokens) as wasted_tokens,
        sum(useful_requests) as useful_requests,
        sum(truncated_requests) as truncated_requests,
        sum(wasted_requests) as wasted_requests,
        sum(token_counts_missing_requests) as token_counts_missing_requests,
        case when bool_or(goodput_tokens is null) then null else sum(goodput_tokens) end
            as goodput_tokens,
        case
            when bool_or(is_metered and goodput_tokens is null) then null
            else sum(case when is_metered then goodput_tokens else 0 end)
        end as metered_goodput_tokens,
        max(goodput_unknown_reason) as goodput_unknown_reason,
        sum(requests) as requests

    from tokens
    group by 1, 2, 3

),

model_shares as (

    select
        model_tokens.*,
        case
            when sum(metered_prompt_tokens + metered_completion_tokens)
                over (partition by usage_date, workload) > 0
                then 1.0 * (metered_prompt_tokens + metered_completion_tokens)
                    / sum(metered_prompt_tokens + metered_completion_tokens)
                        over (partition by usage_date, workload)
            else 1.0 * requests / sum(requests) over (partition by usage_date, workload)
        end as cost_share

    from model_tokens

),

-- The hours without a model (GPU time held while serving no request) spread over the day's
-- models by model_shares' cost_share; '(none)' for a workload that served none that day.
model_costs as (

    select
        usage_date,
        workload,
        model,
        sum(attributed_cost_usd) as attributed_cost_usd,
        sum(idle_cost_usd) as idle_cost_usd,
        sum(busy_gpu_hours) as busy_gpu_hours,
        sum(held_idle_gpu_hours) as held_idle_gpu_hours,
        sum(energy_kwh) as energy_kwh,
        sum(energy_cost_usd) as energy_cost_usd,
        max(has_unpriced_energy) as has_unpriced_energy

    from (
        select * from hourly_model_costs
        where model is not null

        union all

        select
            hourly_model_costs.usage_date,
            hourly_model_costs.workload,
            coalesce(model_shares.model, '(none)') as model,
            -- Each part rounded once (decimals), so their sum does not depend on order.
            cast(
                hourly_model_costs.attributed_cost_usd * coalesce(model_shares.cost_share, 1.0)
                as decimal(38, 10)
            ) as attributed_cost_usd,
            cast(
                hourly_model_costs.idle_cost_usd * coalesce(model_shares.cost_share, 1.0)
                as decimal(38, 10)
            ) as idle_cost_usd,
            cast(
                hourly_model_costs.busy_gpu_hours * coalesce(model_shares.cost_share, 1.0)
                as decimal(38, 10)
            ) as busy_gpu_hours,
            cast(
                hourly_model_costs.held_idle_gpu_hours * coalesce(model_shares.cost_share, 1.0)
                as decimal(38, 10)
            ) as held_idle_gpu_hours,
            cast(
                hourly_model_costs.energy_kwh * coalesce(model_shares.cost_share, 1.0)
                as decimal(38, 9)
            ) as energy_kwh,
            cast(
                hourly_model_costs.energy_cost_usd * coalesce(model_shares.cost_share, 1.0)
                as decimal(38, 10)
            ) as energy_cost_usd,
            hourly_model_costs.has_unpriced_energy
        from hourly_model_costs
        left join model_shares
            on hourly_model_costs.usage_date = model_shares.usage_date
            and hourly_model_costs.workload = model_shares.workload
        where hourly_model_costs.model is null
    ) as parts
    group by 1, 2, 3

),

joined as (

    select
        coalesce(model_costs.usage_date, model_shares.usage_date) as usage_date,
        coalesce(model_costs.workload, model_shares.workload) as workload,
        coalesce(model_costs.model, model_shares.model) as model,
        coalesce(workload_days.has_known_cost, false) as has_known_cost,
        cast(coalesce(model_costs.attributed_cost_usd, 0) as decimal(38, 10))
            as attributed_cost_usd,
        cast(coalesce(model_costs.idle_cost_usd, 0) as decimal(38, 10)) as idle_cost_usd,
        coalesce(model_costs.busy_gpu_hours, 0) as busy_gpu_hours,
        coalesce(model_costs.held_idle_gpu_hours, 0) as held_idle_gpu_hours,
        model_costs.energy_kwh,
        model_costs.energy_cost_usd,
        coalesce(model_costs.has_unpriced_energy, 0) = 1 as has_unpriced_energy,
        coalesce(model_shares.useful_prompt_tokens, 0) as useful_prompt_tokens,
        coalesce(model_shares.useful_completion_tokens, 0) as useful_completion_tokens,
        coalesce(model_shares.useful_cached_prompt_tokens, 0) as useful_cached_prompt_tokens,
        coalesce(model_shares.useful_reasoning_tokens, 0) as useful_reasoning_tokens,
        coalesce(model_shares.metered_prompt_tokens, 0) as metered_prompt_tokens,
        coalesce(model_shares.metered_completion_tokens, 0) as metered_completion_tokens,
        coalesce(model_shares.metered_cached_prompt_tokens, 0) as metered_cached_prompt_tokens,
        model_shares.unmetered_reason,
        coalesce(model_shares.wasted_tokens, 0) as wasted_tokens,
        coalesce(model_shares.useful_requests, 0) as useful_requests,
        coalesce(model_shares.truncated_requests, 0) as truncated_requests,
        coalesce(model_shares.wasted_requests, 0) as wasted_requests,
        coalesce(model_shares.token_counts_missing_requests, 0) as token_counts_missing_requests,
        -- A day a workload served no request has no goodput, as it has no useful tokens.
        case when model_shares.model is null then 0 else model_shares.goodput_tokens end
            as goodput_tokens,
        case when model_shares.model is null then 0 else model_shares.metered_goodput_tokens end
            as metered_goodput_tokens,
        model_shares.goodput_unknown_reason

    from model_costs
    full outer join model_shares
        on model_costs.usage_date = model_shares.usage_date
        and model_costs.workload = model_shares.workload
        and model_costs.model = model_shares.model
    left join workload_days
        on coalesce(model_costs.usage_date, model_shares.usage_date) = workload_days.usage_date
        and coalesce(model_costs.workload, model_shares.workload) = workload_days.workload

),

priced as (

    select
        joined.*,
        equivalents.api_model,
        cast(
            (joined.useful_prompt_tokens - joined.useful_cached_prompt_tokens)
                * prices.input_cost_per_token
            + joined.useful_cached_prompt_tokens * prices.cached_input_cost_per_token
            + joined.useful_completion_tokens * prices.output_cost_per_token
            as decimal(38, 10)
        ) as api_equivalent_cost_usd,
        -- The metered tokens at the same prices: what the measured cost compares with.
        cast(
            (joined.metered_prompt_tokens - joined.metered_cached_prompt_tokens)
                * prices.input_cost_per_token
            + joined.metered_cached_prompt_tokens * prices.cached_input_cost_per_token
            + joined.metered_completion_tokens * prices.output_cost_per_token
            as decimal(38, 10)
        ) as metered_api_equivalent_cost_usd

    from joined
    left join {{ ref('stg_prices__api_equivalents') }} as equivalents
        on joined.model = equivalents.served_model
    left join {{ ref('stg_prices__api_prices') }} as prices
        on equivalents.api_model = prices.api_model

),

final as (

    select
        usage_date,
        workload,
        {{ cost_bucket('workload') }} as cost_bucket,
        model,
        cast(case when has_known_cost then attributed_cost_usd + idle_cost_usd end
            as decimal(38, 10)) as cost_usd,
        cast(case when has_known_cost then attributed_cost_usd end as decimal(38, 10))
            as attributed_cost_usd,
        cast(case when has_known_cost then idle_cost_usd end as decimal(38, 10)) as idle_cost_usd,
        cast(busy_gpu_hours as double) as busy_gpu_hours,
        cast(held_idle_gpu_hours as double) as held_idle_gpu_hours,
        cast(useful_prompt_tokens as bigint) as useful_prompt_tokens,
        cast(useful_completion_tokens as bigint) as useful_completion_tokens,
        cast(useful_prompt_tokens + useful_completion_tokens as bigint) as useful_tokens,
        cast(useful_cached_prompt_tokens as bigint) as useful_cached_prompt_tokens,
        cast(useful_reasoning_tokens as bigint) as useful_reasoning_tokens,
        cast(metered_prompt_tokens + metered_completion_tokens as bigint) as metered_useful_tokens,
        cast(
            useful_prompt_tokens + useful_completion_tokens
            - metered_prompt_tokens - metered_completion_tokens as bigint
        ) as unmetered_useful_tokens,
        unmetered_reason,
        cast(wasted_tokens as bigint) as wasted_tokens,
        cast(useful_requests as bigint) as useful_requests,
        cast(truncated_requests as bigint) as truncated_requests,
        cast(wasted_requests as bigint) as wasted_requests,
        cast(token_counts_missing_requests as bigint) as token_counts_missing_requests,
        cast(
            case
                when has_known_cost and metered_prompt_tokens + metered_completion_tokens > 0
                    then (attributed_cost_usd + idle_cost_usd) * 1000000
                        / (metered_prompt_tokens + metered_completion_tokens)
            end as decimal(38, 10)
        ) as cost_per_million_useful_tokens,
        cast(goodput_tokens as bigint) as goodput_tokens,
        -- The day's cost over the metered tokens that also met their objectives; null where
        -- goodput is unknown (goodput_unknown_reason) or none was served in time.
        cast(
            case
                when has_known_cost and metered_goodput_tokens > 0
                    then (attributed_cost_usd + idle_cost_usd) * 1000000 / metered_goodput_tokens
            end as decimal(38, 10)
        ) as cost_per_million_goodput_tokens,
        goodput_unknown_reason,
        -- Energy (allocated as the GPU cost is: busy and held-idle time), and its cost where a
        -- power price is known (owned GPUs; a part of cost_usd), per million metered tokens.
        cast(energy_kwh as double) as energy_kwh,
        cast(
            case
                when metered_prompt_tokens + metered_completion_tokens > 0
                    then energy_kwh * 1000000 / (metered_prompt_tokens + metered_completion_tokens)
            end as double
        ) as energy_kwh_per_million_useful_tokens,
        cast(case when not has_unpriced_energy then energy_cost_usd end as decimal(38, 10))
            as energy_cost_usd,
        cast(
            case
                when not has_unpriced_energy and energy_cost_usd is not null
                    and metered_prompt_tokens + metered_completion_tokens > 0
                    then energy_cost_usd * 1000000
                        / (metered_prompt_tokens + metered_completion_tokens)
            end as decimal(38, 10)
        ) as energy_cost_per_million_useful_tokens,
        case
            when energy_kwh is null then 'no_energy_reading'
            when has_unpriced_energy then 'power_in_cloud_bill'
            when energy_cost_usd is null then 'no_power_price'
        end as energy_cost_unknown_reason,
        case
            when has_known_cost and metered_prompt_tokens + metered_completion_tokens > 0
                then cast(null as {{ dbt.type_string() }})
            when useful_prompt_tokens + useful_completion_tokens = 0 then 'no_useful_tokens'
            else coalesce(unmetered_reason, 'no_gpu_cost')
        end as unpriced_reason,
        api_model,
        api_equivalent_cost_usd,
        cast(
            case
                when has_known_cost and metered_api_equivalent_cost_usd > 0
                    then (attributed_cost_usd + idle_cost_usd) / metered_api_equivalent_cost_usd
            end as double
        ) as producer_vs_consumer_ratio,
        cast(
            case
                when busy_gpu_hours + held_idle_gpu_hours > 0
                    then busy_gpu_hours / (busy_gpu_hours + held_idle_gpu_hours)
            end as double
        ) as gpu_utilization,
        cast(
            case
                when has_known_cost and metered_api_equivalent_cost_usd > 0
                    and busy_gpu_hours + held_idle_gpu_hours > 0
                    then busy_gpu_hours / (busy_gpu_hours + held_idle_gpu_hours)
                        * (attributed_cost_usd + idle_cost_usd) / metered_api_equivalent_cost_usd
            end as double
        ) as break_even_utilization

    from priced

)

select * from final
