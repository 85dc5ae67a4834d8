{#-
    Successful requests whose usage object lacks prompt_tokens or completion_tokens (or that
    returned none): their tokens are unknown, so they are neither useful nor wasted (never read
    as 0). WARN with their count per hour, host, workload and model.
-#}
{{ config(severity='warn') }}

select
    hour_start_at,
    host,
    workload,
    model,
    sum(token_counts_missing_requests) as requests_without_token_counts

from {{ ref('int_tokens_hourly') }}
group by 1, 2, 3, 4
having sum(token_counts_missing_requests) > 0
