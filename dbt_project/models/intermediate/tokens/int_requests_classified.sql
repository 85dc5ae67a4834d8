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

-- A request id logged more than once (a re-shipped log file): its first copy counts. Copies
-- are rare: ids are grouped by a 64-bit hash (far cheaper than grouping the strings), the few
-- hashes seen twice are confirmed on the id itself, and only those ids are numbered.
copied_hashes as (

    select {{ key_hash(['request_id']) }} as id_hash
    from {{ ref('stg_inference__requests') }}
    where {{ request_day_filter('partition_date', 2) }}
    group by 1
    having count(*) > 1

),

later_copies as (

    select source_file, source_line
    from (
        select
            source_file,
            source_line,
            row_number() over (
                partition by request_id order by source_file, source_line
            ) as copy_number
        from {{ ref('stg_inference__requests') }}
        where {{ request_day_filter('partition_date', 2) }}
            and {{ key_hash(['request_id']) }} in (select id_hash from copied_hashes)
    ) as numbered
    where copy_number > 1

),

-- Each set below reads the few key columns it needs straight from the requests: a CTE read
-- more than once would be kept whole, every request's keys.
retries as (

    select request_id, retry_of, attempt, source_file, source_line
    from {{ ref('stg_inference__requests') }}
    where {{ request_day_filter('partition_date', 2) }}
        and retry_of is not null

),

retried as (

    select distinct retries.retry_of as request_id
    from retries
    left join later_copies
        on retries.source_file = later_copies.source_file
        and retries.source_line = later_copies.source_line
    where later_copies.source_file is null

),

-- The attempts in a retry chain: the retries, and the attempts some retry names (the rest,
-- most requests, are their chain's only attempt and nothing supersedes them). Copies count once.
chain_rows as (

    select request_id, retry_of as root_request_id, attempt, source_file, source_line
    from retries

    union all

    select request_id, request_id as root_request_id, attempt, source_file, source_line
    from {{ ref('stg_inference__requests') }}
    where {{ request_day_filter('partition_date', 2) }}
        and retry_of is null
        and request_id in (select request_id from retried)

),

chained as (

    select chain_rows.request_id, chain_rows.root_request_id, chain_rows.attempt
    from chain_rows
    left join later_copies
        on chain_rows.source_file = later_copies.source_file
        and chain_rows.source_line = later_copies.source_line
    where later_copies.source_file is null

),

latest_attempts as (

    select
        root_request_id,
        max(attempt) as last_attempt

    from chained
    group by 1

),

superseded as (

    select chained.request_id
    from chained
    inner join latest_attempts
        on chained.root_request_id = latest_attempts.root_request_id
    where chained.attempt < latest_attempts.last_attempt

    union

    select request_id from retried

),

verdicts as (

    select
        requests.*,
        coalesce(requests.retry_of, requests.request_id) as root_request_id,
        superseded.request_id is not null as is_superseded

    from requests
    left join later_copies
        on requests.source_file = later_copies.source_file
        and requests.source_line = later_copies.source_line
    left join superseded
        on requests.request_id = superseded.request_id
    where later_copies.source_file is null

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
