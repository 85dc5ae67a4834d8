{#-
    Incremental by landed day for int_request_exceptions and int_tokens_hourly.

    Its rows are kept per landed day (`day`: the date folder the log line was landed from) with
    the version of that day's files (raw.landing_log, source inference_requests, written in
    the landing transaction). A verdict can depend on lines of another day: a retry logged
    after midnight supersedes the attempt before it, and a line shipped again in another day's
    folder counts once. So a run rebuilds each changed day and the day on either side of it,
    reading one more day on either side as context: retries and copies up to a day apart get
    the verdicts a full refresh gives them. A full refresh (`gpuledger run --full-refresh`)
    reads every day.
-#}

{#- Each day's version: its landed files' and the code of `node` (the model being built;
    code_version.sql). -#}
{% macro request_day_versions(node=none) %}
    select partition_date as day, input_version || ';code:{{ code_version(node) }}' as input_version
    from raw.landing_log
    where source = 'inference_requests'
{% endmacro %}

{% macro request_days_changed() %}
    {{ days_not_built(request_day_versions(), this) }}
{% endmacro %}

{#- The changed days and `reach` days on either side of each. -#}
{% macro request_days_around(reach) %}
    select distinct
        cast({{ dbt.dateadd('day', 'shifts.shift', 'changed.day') }} as date) as day
    from ({{ request_days_changed() }}) as changed
    cross join (
        {%- for shift in range(-reach, reach + 1) %}
        select {{ shift }} as shift{% if not loop.last %} union all{% endif %}
        {%- endfor %}
    ) as shifts
{% endmacro %}

{#- The days as a list, asked before the model runs: the pre-hook's delete must not change
    the days the model then builds (a deleted day would count as changed). -#}
{% macro request_days_list(reach) %}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- if '_input_version' not in built -%}
        {{ exceptions.raise_compiler_error(
            this ~ " was built by an older gpuledger, before it was incremental by landed day:"
            ~ " rebuild it once with `gpuledger run --full-refresh` (or `dbt build --full-refresh`)."
        ) }}
    {%- endif -%}
    {%- set result = run_query(request_days_around(reach)) -%}
    {{ return(result.columns[0].values() | map('string') | list) }}
{% endmacro %}

{#- Rows built: reach 1; rows read as context: reach 2. No filter on a full build. -#}
{% macro request_day_filter(day_column, reach) %}
    {%- if telemetry_is_incremental() -%}
    {{ day_list_filter(day_column, request_days_list(reach)) }}
    {%- else -%}
    true
    {%- endif -%}
{% endmacro %}

{% macro request_incremental_pre_hook() %}
    {%- if telemetry_is_incremental() -%}
    delete from {{ this }} where {{ request_day_filter('day', 1) }}
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}

{% macro request_incremental_config() %}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ request_incremental_pre_hook() }}",
    ) }}
{% endmacro %}
