{#-
    Every logged request attempt with its verdict (allocation rule 5). Useful: HTTP 2xx, finish
    reason stop / tool_calls / length (length flagged as truncated), not superseded by a retry
    (only an attempt no later attempt of the same request follows counts), not synthetic.
    A request id logged twice (a re-shipped log file) counts once. Incremental by landed day
    (macros/request_days.sql).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ request_incremental_pre_hook() }}",
) }}

with

requests as (

    select * from {{ ref('stg_inference__requests') }}
    where {{ request_day_filter('partition_date', 2) }}

),

versions as (

    {{ request_day_versions() }}

),

deduplicated as (

    select * from (
        select
            requests.*,
            row_number() over (
                partition by request_id order by source_file, source_line
            ) as copy_number
        from requests
    ) as numbered
    where copy_number = 1

),

chains as (

    select
        deduplicated.*,
        coalesce(retry_of, request_id) as root_request_id

    from deduplicated

),

latest_attempts as (

    select
        root_request_id,
        max(attempt) as last_attempt

    from chains
    group by 1

),

retried as (

    select distinct retry_of as request_id
    from chains
    where retry_of is not null

),

verdicts as (

    select
        chains.*,
        chains.attempt < latest_attempts.last_attempt
            or retried.request_id is not null as is_superseded

    from chains
    inner join latest_attempts
        on chains.root_request_id = latest_attempts.root_request_id
    left join retried
        on chains.request_id = retried.request_id

),

classified as (

    select
        request_id,
        requested_at,
        cast(requested_at as date) as request_date,
        {{ dbt.date_trunc('hour', 'requested_at') }} as hour_start_at,
        host,
        workload,
        model,
        http_status,
        finish_reason,
        attempt,
        retry_of,
        root_request_id,
        is_synthetic,
        is_superseded,
        case
            when is_synthetic then 'synthetic'
            when is_superseded then 'superseded_by_retry'
            when finish_reason = 'abort' or http_status = 499 then 'aborted'
            when http_status in (408, 504) then 'timed_out'
            when http_status < 200 or http_status >= 300 then 'http_error'
            when finish_reason in ('stop', 'tool_calls', 'length') then null
            else 'unfinished'
        end as waste_reason,
        coalesce(finish_reason = 'length', false) as is_truncated,
        coalesce(prompt_tokens, 0) as prompt_tokens,
        coalesce(completion_tokens, 0) as completion_tokens,
        coalesce(cached_prompt_tokens, 0) as cached_prompt_tokens,
        coalesce(reasoning_tokens, 0) as reasoning_tokens,
        partition_date as day

    from verdicts

),

final as (

    select
        classified.*,
        classified.waste_reason is null as is_useful,
        versions.input_version as _input_version

    from classified
    left join versions
        on classified.day = versions.day
    where {{ request_day_filter('classified.day', 1) }}

)

select * from final
