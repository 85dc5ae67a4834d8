with

requests as (

    select * from {{ ref('int_requests_classified') }}

),

final as (

    select
        hour_start_at,
        host,
        workload,
        model,
        sum(case when is_useful then prompt_tokens else 0 end) as useful_prompt_tokens,
        sum(case when is_useful then completion_tokens else 0 end) as useful_completion_tokens,
        sum(case when is_useful then cached_prompt_tokens else 0 end) as useful_cached_prompt_tokens,
        sum(case when is_useful then reasoning_tokens else 0 end) as useful_reasoning_tokens,
        sum(case when is_useful then 0 else prompt_tokens + completion_tokens end) as wasted_tokens,
        sum(case when is_useful then 1 else 0 end) as useful_requests,
        sum(case when is_useful and is_truncated then 1 else 0 end) as truncated_requests,
        sum(case when is_useful then 0 else 1 end) as wasted_requests,
        count(*) as requests,
        min(requested_at) as first_request_at,
        max(requested_at) as last_request_at

    from requests
    group by 1, 2, 3, 4

)

select * from final
