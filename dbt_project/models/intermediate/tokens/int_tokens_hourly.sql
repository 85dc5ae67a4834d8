{#-
    Requests summed by hour, host, workload and model, useful and wasted apart, per landed day
    (`day`: the date folder the lines were landed from; an hour whose lines were landed in two
    folders has a row for each, and readers sum them). One batch a day, like
    int_request_exceptions (macros/batch.sql): the requests read are the batch's day's.
-#}

with

requests as (

    select * from {{ ref('int_requests_classified') }}

),

final as (

    select
        day,
        hour_start_at,
        host,
        workload,
        model,
        sum(case when is_useful then prompt_tokens else 0 end) as useful_prompt_tokens,
        sum(case when is_useful then completion_tokens else 0 end) as useful_completion_tokens,
        sum(case when is_useful then cached_prompt_tokens else 0 end) as useful_cached_prompt_tokens,
        sum(case when is_useful then reasoning_tokens else 0 end) as useful_reasoning_tokens,
        sum(
            case
                when is_useful or waste_reason = 'token_counts_missing' then 0
                else coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)
            end
        ) as wasted_tokens,
        -- Every request's tokens, useful or not (a later copy of a line is not a request): what
        -- the server's own counters count (fct_token_reconciliation_hourly).
        sum(coalesce(prompt_tokens, 0)) as logged_prompt_tokens,
        sum(coalesce(completion_tokens, 0)) as logged_completion_tokens,
        sum(case when is_useful then 1 else 0 end) as useful_requests,
        sum(case when is_useful and is_truncated then 1 else 0 end) as truncated_requests,
        sum(
            case when is_useful or waste_reason = 'token_counts_missing' then 0 else 1 end
        ) as wasted_requests,
        -- Successes whose usage lacks a count: neither useful nor wasted, their tokens unknown
        -- (the test assert_request_token_counts_known lists them).
        sum(case when waste_reason = 'token_counts_missing' then 1 else 0 end)
            as token_counts_missing_requests,
        -- Goodput: the useful tokens of requests that met their workload's objectives; unknown
        -- (null) when any useful request's verdict is (goodput_unknown_reason says why).
        case
            when bool_or(is_useful and meets_objectives is null) then null
            else sum(
                case when is_useful and meets_objectives then prompt_tokens + completion_tokens
                else 0 end
            )
        end as goodput_tokens,
        max(case when is_useful then goodput_unknown_reason end) as goodput_unknown_reason,
        count(*) as requests,
        min(requested_at) as first_request_at,
        max(requested_at) as last_request_at

    from requests
    group by day, hour_start_at, host, workload, model

)

select * from final
