with

source as (

    select * from {{ source('raw', 'inference_requests') }}

),

renamed as (

    select
        request_id,
        cast(requested_at as timestamp) as requested_at,
        {{ resolved_host('source.host') }} as host,
        endpoint,
        workload,
        model,
        cast(http_status as integer) as http_status,
        finish_reason,
        -- An attempt not logged (or logged as 0) is the first.
        cast(coalesce(nullif(attempt, 0), 1) as integer) as attempt,
        retry_of,
        is_synthetic,
        has_usage,
        cast(prompt_tokens as bigint) as prompt_tokens,
        cast(completion_tokens as bigint) as completion_tokens,
        cast(cached_prompt_tokens as bigint) as cached_prompt_tokens,
        cast(reasoning_tokens as bigint) as reasoning_tokens,
        source_system,
        time_to_first_token_ms,
        duration_ms,
        source_file,
        source_line,
        partition_date

    from source
    {{ host_aliases_join('source.host') }}

)

select * from renamed
