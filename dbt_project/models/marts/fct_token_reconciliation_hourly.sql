{#-
    Request logs against the servers' own token counters, per host, model and hour (a line
    logged twice is one request: its later copy is not counted). A difference beyond
    var('token_reconciliation_tolerance') (default 2 %) of the larger side is flagged (status
    'mismatch'), never hidden; hours the counters do not cover whole are
    'incomplete'; a side with nothing is 'missing_in_logs' / 'missing_in_metrics'. Only
    host-hours with scraped counters are compared (hosts without a scraper are not listed).
-#}

with

logged as (

    -- From the hourly sums (a daily run rebuilds only the days it changed), not from every
    -- logged request of the history.
    select
        hour_start_at,
        host,
        model,
        sum(logged_prompt_tokens) as prompt_tokens,
        sum(logged_completion_tokens) as completion_tokens
    from {{ ref('int_tokens_hourly').render() }}
    where {{ batch_hours_filter('hour_start_at') }}
    group by 1, 2, 3

),

counted as (

    select * from {{ ref('int_inference_metric_tokens_hourly').render() }}
    where {{ batch_hours_filter('hour_start_at') }}

),

scraped_host_hours as (

    select distinct hour_start_at, host from counted

),

joined as (

    select
        coalesce(counted.hour_start_at, logged.hour_start_at) as hour_start_at,
        coalesce(counted.host, logged.host) as host,
        coalesce(counted.model, logged.model) as model,
        counted.server,
        cast(coalesce(logged.prompt_tokens, 0) as bigint) as logged_prompt_tokens,
        cast(coalesce(logged.completion_tokens, 0) as bigint) as logged_completion_tokens,
        cast(coalesce(counted.prompt_tokens, 0) as bigint) as counted_prompt_tokens,
        cast(coalesce(counted.generation_tokens, 0) as bigint) as counted_generation_tokens,
        counted.is_complete,
        counted.host is not null as has_metrics,
        logged.host is not null as has_logs

    from counted
    full outer join logged
        on counted.hour_start_at = logged.hour_start_at
        and counted.host = logged.host
        and counted.model = logged.model

),

final as (

    select
        joined.*,
        cast(
            (counted_prompt_tokens + counted_generation_tokens)
            - (logged_prompt_tokens + logged_completion_tokens) as bigint
        ) as token_difference,
        cast(
            abs(
                (counted_prompt_tokens + counted_generation_tokens)
                - (logged_prompt_tokens + logged_completion_tokens)
            ) / nullif(greatest(
                counted_prompt_tokens + counted_generation_tokens,
                logged_prompt_tokens + logged_completion_tokens
            ), 0) as double
        ) as relative_difference,
        case
            when not has_metrics then 'missing_in_metrics'
            when not has_logs then 'missing_in_logs'
            when not is_complete then 'incomplete'
            when abs(
                (counted_prompt_tokens + counted_generation_tokens)
                - (logged_prompt_tokens + logged_completion_tokens)
            ) > {{ var('token_reconciliation_tolerance', 0.02) }} * greatest(
                counted_prompt_tokens + counted_generation_tokens,
                logged_prompt_tokens + logged_completion_tokens
            ) then 'mismatch'
            else 'ok'
        end as status

    from joined
    inner join scraped_host_hours
        on joined.hour_start_at = scraped_host_hours.hour_start_at
        and joined.host = scraped_host_hours.host

)

select * from final
