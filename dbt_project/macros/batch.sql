{#-
    The per-day models are built by dbt's microbatch strategy, one batch a day: Dagster's daily
    partitions give each run its days (--event-time-start / --event-time-end, from the
    partitions of the run: pipelines/defs/transform/assets.py), dbt deletes each batch's day
    and inserts it again, and reads of upstream models with an `event_time` are limited to the
    batch's day. On Spark (tools/spark-lane.sh) the same models are built whole, as tables.
-#}

{#- The first and the last day of the batch being built, as dates ('YYYY-MM-DD'), or none
    outside a batch (a model built whole, a unit test). -#}
{% macro batch_day_range() %}
    {%- set batch = model.get('batch') if model is mapping else none -%}
    {%- if not batch or not batch.get('event_time_start') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set first = batch.event_time_start.date() -%}
    {%- set last = (batch.event_time_end - modules.datetime.timedelta(microseconds=1)).date() -%}
    {{ return((first | string, last | string)) }}
{% endmacro %}

{#- A filter of `day_column` on the batch's days widened by `reach` days on either side (the
    context a batch reads), as literal dates (a scan of raw skips the other days' files), or
    true outside a batch. -#}
{% macro batch_days_filter(day_column, reach=0) %}
    {%- set days = batch_day_range() -%}
    {%- if days is none -%}
    true
    {%- else -%}
    {%- set shift = modules.datetime.timedelta(days=reach) -%}
    {%- set first = modules.datetime.date.fromisoformat(days[0]) - shift -%}
    {%- set last = modules.datetime.date.fromisoformat(days[1]) + shift -%}
    {{ day_column }} between cast('{{ first }}' as date) and cast('{{ last }}' as date)
    {%- endif -%}
{% endmacro %}

{#- A filter of the hour (or date) `column` on the batch's days, as literal timestamps, or true
    outside a batch. The models built by the hour read their inputs through it, with
    ref(...).render() (dbt's own filter of an input by its event_time is off there): an input
    whose event_time is the day its windows were landed under holds an hour of the batch's day
    under the next day's folder too. -#}
{% macro batch_hours_filter(column) %}
    {%- set days = batch_day_range() -%}
    {%- if days is none -%}
    true
    {%- else -%}
    {%- set end = modules.datetime.date.fromisoformat(days[1]) + modules.datetime.timedelta(days=1) -%}
    ({{ column }} >= cast('{{ days[0] }}' as timestamp) and {{ column }} < cast('{{ end }}' as timestamp))
    {%- endif -%}
{% endmacro %}

{#- The first and last hour a line spreads over (int_gpu_costs_hourly): from the hour of its
    usage_start_at, usage_hours of them, at most 768 (int_hour_offsets). -#}
{% macro line_first_hour() %}{{ dbt.date_trunc('hour', 'usage_start_at') }}{% endmacro %}

{% macro line_last_hour() %}
    {#- The interval parenthesized: dbt-spark's dateadd multiplies it unparenthesized. -#}
    {{- dbt.dateadd('hour', '(least(usage_hours, 768) - 1)', line_first_hour()) -}}
{% endmacro %}

{#- The lines (usage_start_at, usage_hours) one of whose hours falls on the batch's days, or
    true outside a batch. -#}
{% macro batch_lines_filter() %}
    {%- set days = batch_day_range() -%}
    {%- if days is none -%}
    true
    {%- else -%}
    {%- set end = modules.datetime.date.fromisoformat(days[1]) + modules.datetime.timedelta(days=1) -%}
    ({{ line_first_hour() }} < cast('{{ end }}' as timestamp)
        and {{ line_last_hour() }} >= cast('{{ days[0] }}' as timestamp))
    {%- endif -%}
{% endmacro %}

{#- The bill-line models are built a billing period at a time, by the same strategy: Dagster's
    monthly partitions give each run its periods, dbt deletes each batch's months and inserts
    them again. Their event_time is the first instant of the row's period. -#}
{% macro period_start(period_column) %}
    cast(cast({{ period_column }} || '-01' as date) as timestamp)
{%- endmacro %}

{#- A filter of a 'YYYY-MM' `period_column` on the batch's months, as literals (a scan of raw
    skips the other periods' files), or true outside a batch. -#}
{% macro batch_periods_filter(period_column) %}
    {%- set batch = model.get('batch') if model is mapping else none -%}
    {%- if not batch or not batch.get('event_time_start') -%}
    true
    {%- else -%}
    ({{ period_column }} >= '{{ batch.event_time_start.strftime("%Y-%m") }}'
        and {{ period_column }} < '{{ batch.event_time_end.strftime("%Y-%m") }}')
    {%- endif -%}
{% endmacro %}

{#- Whether the date `day` is one of the days the run builds (GPULEDGER_RUN_DAYS_START and
    _END, set by the build of days); every day outside a run of the pipeline. -#}
{% macro in_run_days(day) %}
    ({{ day }} >= cast('{{ env_var('GPULEDGER_RUN_DAYS_START', '0001-01-01') }}' as date)
        and {{ day }} < cast('{{ env_var('GPULEDGER_RUN_DAYS_END', '9999-12-31') }}' as date))
{%- endmacro %}
