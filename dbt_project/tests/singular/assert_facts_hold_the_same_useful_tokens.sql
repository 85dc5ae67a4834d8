{#-
    Useful tokens are counted once and never dropped (allocation rule 6): per day, workload and
    model the hourly fact (tokens spread over GPUs, unmetered ones on rows of their own) holds
    the daily fact's useful prompt and completion tokens, metered and unmetered alike.
-#}

{{ config(meta={'dagster': {'ref': {'name': 'fct_workload_unit_cost_daily'}}}) }}
with

hourly as (

    select
        cast(hour_start_at as date) as usage_date,
        workload,
        model,
        round(sum(useful_prompt_tokens), 0) as useful_prompt_tokens,
        round(sum(useful_completion_tokens), 0) as useful_completion_tokens

    from {{ ref('fct_cost_per_useful_token') }}
    where model is not null
    group by 1, 2, 3
    having sum(useful_prompt_tokens + useful_completion_tokens) > 0

),

daily as (

    select usage_date, workload, model, useful_prompt_tokens, useful_completion_tokens
    from {{ ref('fct_workload_unit_cost_daily') }}
    where useful_tokens > 0

),

final as (

    select
        coalesce(hourly.usage_date, daily.usage_date) as usage_date,
        coalesce(hourly.workload, daily.workload) as workload,
        coalesce(hourly.model, daily.model) as model,
        hourly.useful_prompt_tokens as hourly_prompt_tokens,
        daily.useful_prompt_tokens as daily_prompt_tokens,
        hourly.useful_completion_tokens as hourly_completion_tokens,
        daily.useful_completion_tokens as daily_completion_tokens

    from hourly
    full outer join daily
        on hourly.usage_date = daily.usage_date
        and hourly.workload = daily.workload
        and hourly.model = daily.model

)

select * from final
where coalesce(hourly_prompt_tokens, -1) <> coalesce(daily_prompt_tokens, -1)
    or coalesce(hourly_completion_tokens, -1) <> coalesce(daily_completion_tokens, -1)
