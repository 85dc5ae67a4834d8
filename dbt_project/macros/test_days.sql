{#-
    The generic tests on the minute-level staging views (every NVML window, every logged
    request) check only the days this build is about to add to the incremental model each
    feeds: a day's rows are tested once, when they are first built, and a daily run does not
    scan the whole history again (at 1,000 GPUs, a year of windows is half a billion rows).
    The test's `where` config is a placeholder, filled in when the test runs by dbt's
    get_where_subquery, overridden here as dbt's docs on `where` describe:

        where: __telemetry_days_to_build__   (days not yet in int_gpu_hours at their version)
        where: __request_days_to_build__     (days not yet in int_request_exceptions)

    Both filter `partition_date`. The intermediate views of minute windows and requests are
    tested the same way on their `day`, against the model each feeds:
    __gpu_window_days_to_build__ (int_gpu_hours), __process_window_days_to_build__
    (int_gpu_seconds_attributed), __request_verdict_days_to_build__ (int_tokens_hourly).
    A full refresh, or a build before the model exists, tests every day; a plain `dbt test`
    after a build tests none (nothing is left to build).
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if not where -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set placeholders = {
        '__telemetry_days_to_build__': ('int_gpu_hours', 'telemetry', 'partition_date'),
        '__request_days_to_build__': ('int_request_exceptions', 'request', 'partition_date'),
        '__gpu_window_days_to_build__': ('int_gpu_hours', 'telemetry', 'day'),
        '__process_window_days_to_build__': ('int_gpu_seconds_attributed', 'telemetry', 'day'),
        '__request_verdict_days_to_build__': ('int_tokens_hourly', 'request', 'day'),
    } -%}
    {#- A namespace: a plain `set` inside a loop does not outlive it. -#}
    {%- set filled = namespace(where=where) -%}
    {%- for placeholder, (model_name, kind, column) in placeholders.items()
        if placeholder in where -%}
        {%- set filled.where = filled.where
            | replace(placeholder, days_to_build_filter(model_name, kind, column)) -%}
    {%- endfor -%}
    {%- set filtered -%}
        (select * from {{ relation }} where {{ filled.where }}) dbt_subquery
    {%- endset -%}
    {{ return(filtered) }}
{%- endmacro %}

{#- `column` in the days the model `model_name` does not hold yet at their `kind`
    ('telemetry' or 'request') versions, as literal dates (the scan skips the other days'
    files). -#}
{% macro days_to_build_filter(model_name, kind, column='partition_date') %}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set node = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', model_name)
        | first -%}
    {%- set built = adapter.get_relation(
        database=node.database, schema=node.schema, identifier=node.alias
    ) -%}
    {%- if built is none -%}
        {{ return('true') }}
    {%- endif -%}
    {#- The versions the model is built at: its own code's, not this test's. -#}
    {%- set versions = (telemetry_day_versions(node) if kind == 'telemetry'
        else request_day_versions(node)) -%}
    {%- set days = run_query(days_not_built(versions, built)).columns[0].values() -%}
    {{ return(day_list_filter(column, days | map('string') | list)) }}
{% endmacro %}
