{#-
    Every logged request attempt with its verdict (allocation rule 5). Useful: HTTP 2xx, finish
    reason stop / tool_calls / length (length flagged as truncated; a gateway's success that
    logged no finish reason counts as finished), not superseded by a retry
    (only an attempt no later attempt of the same request follows counts), not synthetic.
    A request id logged twice (a re-shipped log file) counts once. A success whose usage object
    lacks prompt_tokens or completion_tokens (or has none) is not useful: its waste_reason is
    `token_counts_missing` and its missing count stays null in int_tokens_hourly's sums, never 0.

    A view: the verdicts that depend on other lines (copies, retries) are the few rows of
    int_request_exceptions; the rest follow from each line.
-#}
{{ config(materialized='view') }}

with

requests as (

    select * from {{ ref('stg_inference__requests') }}

),

exceptions as (

    select * from {{ ref('int_request_exceptions') }}

),

objectives as (

    select * from {{ ref('stg_inference__service_objectives') }}

),

line_exceptions as (

    select day, source_file, source_line, kind
    from exceptions

),

verdicts as (

    select
        requests.*,
        coalesce(line_exceptions.kind = 'superseded_by_retry', false) as is_superseded,
        coalesce(line_exceptions.kind = 'retry_chain_unresolved', false) as is_retry_unresolved

    from requests
    left join line_exceptions
        on requests.partition_date = line_exceptions.day
        and requests.source_file = line_exceptions.source_file
        and requests.source_line = line_exceptions.source_line
    where coalesce(line_exceptions.kind, '') <> 'later_copy'

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
        is_synthetic,
        is_superseded,
        case
            when is_synthetic then 'synthetic'
            when is_superseded then 'superseded_by_retry'
            when is_retry_unresolved then 'retry_chain_unresolved'
            when finish_reason = 'abort' or http_status = 499 then 'aborted'
            when http_status in (408, 504) then 'timed_out'
            -- A gateway's failure logged without its HTTP status is an error all the same.
            when http_status is null or http_status < 200 or http_status >= 300 then 'http_error'
            when finish_reason not in ('stop', 'tool_calls', 'length') then 'unfinished'
            -- The envelope always names how a request ended; a gateway logs it only with the
            -- response (LiteLLM) or when the instrumentation records it (OTel): a success
            -- without one counts as finished, its truncation unknown.
            when finish_reason is null and coalesce(source_system, 'gpuledger') = 'gpuledger'
                then 'unfinished'
            -- A success whose usage lacks a count: its tokens are unknown, never read as 0.
            when prompt_tokens is null or completion_tokens is null then 'token_counts_missing'
        end as waste_reason,
        coalesce(finish_reason = 'length', false) as is_truncated,
        prompt_tokens,
        completion_tokens,
        coalesce(cached_prompt_tokens, 0) as cached_prompt_tokens,
        coalesce(reasoning_tokens, 0) as reasoning_tokens,
        source_system,
        time_to_first_token_ms,
        duration_ms,
        partition_date as day

    from verdicts

),

-- Goodput: a request meets its workload's objectives when every objective set is met. A
-- missed objective decides (false) whatever else is unknown; otherwise a latency not logged,
-- or a workload without objectives, leaves it unknown (null), never assumed met.
-- Time per output token: the time after the first token over the tokens after the first (a
-- response of one token has none to miss).
with_objectives as (

    select
        classified.*,
        case
            when objectives.workload is null then null
            -- AND in SQL: false and unknown is false, true and unknown is unknown.
            else
                (
                    objectives.objective_time_to_first_token_ms is null
                    or classified.time_to_first_token_ms
                    <= objectives.objective_time_to_first_token_ms
                )
                and (
                    objectives.objective_time_per_output_token_ms is null
                    or classified.completion_tokens <= 1
                    or (classified.duration_ms - classified.time_to_first_token_ms)
                    / (classified.completion_tokens - 1)
                    <= objectives.objective_time_per_output_token_ms
                )
                and (
                    objectives.objective_duration_ms is null
                    or classified.duration_ms <= objectives.objective_duration_ms
                )
        end as meets_objectives,
        objectives.workload is not null as has_objectives

    from classified
    left join objectives on classified.workload = objectives.workload

),

final as (

    select
        with_objectives.*,
        waste_reason is null as is_useful,
        case
            when not has_objectives then 'no_objective'
            when meets_objectives is null then 'latency_unknown'
        end as goodput_unknown_reason

    from with_objectives

)

select * from final
