{#-
    Request attempts whose retry chain does not end within var('retry_chain_max_hops') hops of
    retry_of (a cycle, or a longer chain): counted, never useful, listed here with the
    file and line they were logged at so they can be found and fixed at the source.
-#}
{{ config(severity='warn') }}

select
    day,
    source_file,
    source_line,
    request_id,
    'retry_of chain has a cycle or is longer than '
        || cast({{ var('retry_chain_max_hops') }} as {{ dbt.type_string() }})
        || ' retries' as reason

from {{ ref('int_request_exceptions') }}
where kind = 'retry_chain_unresolved'
