{#-
    The request lines whose verdict depends on other lines (allocation rule 5), per landed day
    (`day`: the date folder the line was landed from):
    - `later_copy`: a request id logged again (a re-shipped log file); its first copy counts,
      the later ones are left out.
    - `superseded_by_retry`: an attempt of a retry chain other than its last (the chain is
      followed through `retry_of` to its first attempt, or to an id never logged; the last
      attempt is the highest `attempt`, then the latest time), or an attempt a retry names.
      Its copies are later_copy lines.
    - `retry_chain_unresolved`: an attempt whose chain does not end within
      var('retry_chain_max_hops') hops of retry_of (a cycle, or a longer chain); never useful,
      and listed by the test assert_retry_chains_resolve with file and line.
    Every other line's verdict follows from the line itself: int_requests_classified (a view)
    joins these few rows to the requests, so the 1 M lines of a fleet's day are never written
    a second time.

    One batch a day (macros/batch.sql), reading the day before and the day after as context:
    retries and copies up to a day apart get their verdicts. A day landed changes the verdicts
    of the days on either side, so a run's batches reach a day beyond its partitions on either
    side (pipelines/defs/transform/assets.py).
-#}

with recursive

-- A request id logged more than once: its first copy counts. Copies are rare: ids are grouped
-- by a 64-bit hash (far cheaper than grouping the strings), the few hashes seen twice are
-- confirmed on the id itself, and only those ids are numbered.
copied_hashes as (

    select {{ key_hash(['request_id']) }} as id_hash
    from {{ ref('stg_inference__requests') }}
    where {{ batch_days_filter('partition_date', 1) }}
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
        where {{ batch_days_filter('requests.partition_date', 1) }}
    ) as numbered
    where copy_number > 1

),

-- Each set below reads the few key columns it needs straight from the requests: a CTE read
-- more than once would be kept whole, every request's keys.
retries as (

    select
        requests.request_id,
        requests.retry_of,
        requests.attempt,
        requests.requested_at

    from {{ ref('stg_inference__requests') }} as requests
    left join later_copies
        on requests.source_file = later_copies.source_file
        and requests.source_line = later_copies.source_line
    where {{ batch_days_filter('requests.partition_date', 1) }}
        and requests.retry_of is not null
        and later_copies.source_file is null

),

retried as (

    select distinct retry_of as request_id
    from retries

),

-- A retry chain is followed through retry_of to its first attempt (DESIGN.md rule 5): an
-- attempt may name any earlier attempt of the chain, not only the first. One hop a step, at most
-- var('retry_chain_max_hops') steps, and never back to the attempt itself, so a cycle ends too
-- (after its length): an attempt whose last ancestor still retries another is in a cycle or a
-- longer chain.
hops as (

    select
        request_id,
        retry_of as ancestor,
        1 as hop

    from retries

    union all

    select
        hops.request_id,
        retries.retry_of as ancestor,
        hops.hop + 1 as hop

    from hops
    inner join retries
        on hops.ancestor = retries.request_id
    where hops.hop < {{ var('retry_chain_max_hops') }}
        and retries.retry_of <> hops.request_id

),

farthest as (

    select request_id, max(hop) as hop
    from hops
    group by 1

),

roots as (

    select
        hops.request_id,
        hops.ancestor as root_request_id,
        unresolved.request_id is not null as is_unresolved

    from hops
    inner join farthest
        on hops.request_id = farthest.request_id
        and hops.hop = farthest.hop
    left join retries as unresolved
        on hops.ancestor = unresolved.request_id

),

-- The attempts of resolved chains: the retries, and the first attempts they lead to where
-- those were logged (most requests are their chain's only attempt: nothing supersedes them).
chained as (

    select roots.request_id, roots.root_request_id, retries.attempt, retries.requested_at
    from roots
    inner join retries
        on roots.request_id = retries.request_id
    where not roots.is_unresolved

    union all

    select requests.request_id, requests.request_id, requests.attempt, requests.requested_at
    from {{ ref('stg_inference__requests') }} as requests
    inner join retried
        on requests.request_id = retried.request_id
    left join later_copies
        on requests.source_file = later_copies.source_file
        and requests.source_line = later_copies.source_line
    where {{ batch_days_filter('requests.partition_date', 1) }}
        and requests.retry_of is null
        and later_copies.source_file is null

),

-- Only the last attempt of a chain can be useful: the highest attempt, then the latest.
last_attempts as (

    select request_id
    from (
        select
            request_id,
            row_number() over (
                partition by root_request_id
                order by attempt desc, requested_at desc, request_id desc
            ) as attempt_rank
        from chained
    ) as ranked
    where attempt_rank = 1

),

unresolved as (

    select request_id from roots
    where is_unresolved

),

superseded as (

    select chained.request_id
    from chained
    left join last_attempts
        on chained.request_id = last_attempts.request_id
    where last_attempts.request_id is null

    union

    select retried.request_id
    from retried
    left join unresolved
        on retried.request_id = unresolved.request_id
    where unresolved.request_id is null

),

verdict_ids as (

    select request_id, 'superseded_by_retry' as kind from superseded

    union all

    select request_id, 'retry_chain_unresolved' as kind from unresolved

),

verdict_lines as (

    select
        requests.partition_date as day,
        verdict_ids.kind,
        requests.source_file,
        requests.source_line,
        requests.request_id

    from {{ ref('stg_inference__requests') }} as requests
    inner join verdict_ids
        on requests.request_id = verdict_ids.request_id
    left join later_copies
        on requests.source_file = later_copies.source_file
        and requests.source_line = later_copies.source_line
    where {{ batch_days_filter('requests.partition_date') }}
        and later_copies.source_file is null

),

exceptions as (

    select day, 'later_copy' as kind, source_file, source_line, request_id
    from later_copies

    union all

    select day, kind, source_file, source_line, request_id
    from verdict_lines

),

final as (

    select * from exceptions
    where {{ batch_days_filter('day') }}

)

select * from final
