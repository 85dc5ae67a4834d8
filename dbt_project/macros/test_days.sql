{#-
    The generic tests on the minute-level views of the per-day models (every NVML window, every
    logged request) check the days the run builds, not the whole history again (at 1,000 GPUs
    a year of windows is half a billion rows). Their `where` config is the placeholder
    `__run_days__(<column>)`, filled in when the test runs by dbt's get_where_subquery,
    overridden here as dbt's docs on `where` describe: the column between the run's
    --event-time-start and --event-time-end (the days Dagster's partitions give it), or every
    day when the run names none (a build on Spark, a plain `dbt test`).
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if not where -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set found = modules.re.search('__run_days__\\((\\w+)\\)', where) -%}
    {%- if found -%}
        {%- set where = where | replace(found.group(0), run_days_filter(found.group(1))) -%}
    {%- endif -%}
    {%- set filtered -%}
        (select * from {{ relation }} where {{ where }}) dbt_subquery
    {%- endset -%}
    {{ return(filtered) }}
{%- endmacro %}

{#- `column` within the run's event-time window, as literal dates (a scan of raw skips the
    other days' files), or true without one. -#}
{% macro run_days_filter(column) %}
    {%- set start = invocation_args_dict.get('event_time_start') -%}
    {%- set end = invocation_args_dict.get('event_time_end') -%}
    {%- if not start or not end -%}
        {{ return('true') }}
    {%- endif -%}
    {{ return(column ~ " >= cast('" ~ (start | string)[:10] ~ "' as date) and "
        ~ column ~ " < cast('" ~ (end | string)[:10] ~ "' as date)") }}
{% endmacro %}
