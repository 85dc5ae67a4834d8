{#-
    The request lines whose verdict depends on other lines (allocation rule 5), per landed day
    (`day`: the date folder the line was landed from):
    - `later_copy`: a request id logged again (a re-shipped log file); its first copy counts,
      the later ones are left out.
    - `superseded_by_retry`: an attempt a later attempt of the same request follows (only the
      last attempt of a retry chain can be useful). Its copies are later_copy lines.
    - `day_built`: one row per day built, with the version of the day's files it was built
      from (source_file and source_line are null).
    Every other line's verdict follows from the line itself: int_requests_classified (a view)
    joins these few rows to the requests, so the 1 M lines of a fleet's day are never written
    a second time.

    Incremental by landed day (macros/request_days.sql): a run rebuilds each changed day and
    the day on either side, reading one more day either side as context.
-#}
{{ request_incremental_config() }}

with

versions as (

    {{ request_day_versions() }}

),

-- A request id logged more than once: its first copy counts. Copies are rare: ids are grouped
-- by a 64-bit hash (far cheaper than grouping the strings), the few hashes seen twice are
-- confirmed on the id itself, and only those ids are numbered.
copied_hashes as (

    select {{ key_hash(['request_id']) }} as id_hash
    from {{ ref('stg_inference__requests') }}
    where {{ request_day_filter('partition_date', 2) }}
    group by 1
    having count(*) > 1

),

later_copies as (

    select partition_date as day, source_file, source_line, request_id
    from (
        select
            requests.partition_date,
            requests.source_file,
            requests.source_line,
            requests.request_id,
            row_number() over (
                partition by requests.request_id
                order by requests.source_file, requests.source_line
            ) as copy_number
        from {{ ref('stg_inference__requests') }} as requests
        inner join copied_hashes
            on {{ key_hash(['requests.request_id']) }} = copied_hashes.id_hash
        where {{ request_day_filter('requests.partition_date', 2) }}
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

    select
        requests.request_id,
        requests.request_id as root_request_id,
        requests.attempt,
        requests.source_file,
        requests.source_line

    from {{ ref('stg_inference__requests') }} as requests
    inner join retried
        on requests.request_id = retried.request_id
    where {{ request_day_filter('requests.partition_date', 2) }}
        and requests.retry_of is null

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

superseded_lines as (

    select
        requests.partition_date as day,
        requests.source_file,
        requests.source_line,
        requests.request_id

    from {{ ref('stg_inference__requests') }} as requests
    inner join superseded
        on requests.request_id = superseded.request_id
    left join later_copies
        on requests.source_file = later_copies.source_file
        and requests.source_line = later_copies.source_line
    where {{ request_day_filter('requests.partition_date', 1) }}
        and later_copies.source_file is null

),

-- Every day built gets a row, those with no exception too (and days with requests landed
-- before raw.landing_log kept versions).
days_built as (

    select day from versions
    where {{ request_day_filter('day', 1) }}

    union

    select distinct partition_date as day
    from {{ ref('stg_inference__requests') }}
    where {{ request_day_filter('partition_date', 1) }}

),

exceptions as (

    select day, 'later_copy' as kind, source_file, source_line, request_id
    from later_copies

    union all

    select day, 'superseded_by_retry' as kind, source_file, source_line, request_id
    from superseded_lines

    union all

    select
        day,
        'day_built' as kind,
        cast(null as {{ dbt.type_string() }}) as source_file,
        cast(null as {{ dbt.type_int() }}) as source_line,
        cast(null as {{ dbt.type_string() }}) as request_id
    from days_built

),

final as (

    select
        exceptions.*,
        versions.input_version as _input_version

    from exceptions
    left join versions
        on exceptions.day = versions.day
    where {{ request_day_filter('exceptions.day', 1) }}

)

select * from final
