{#-
    Incremental by day for the hourly telemetry models (int_gpu_hours,
    int_gpu_seconds_attributed), which sum the minute windows the views int_gpu_windows and
    int_process_windows read from raw.

    The loaders record in raw.landing_log, per source and day, a version of the files landed
    (their names, sizes and modification times), in the same transaction as the rows. A day's
    telemetry version joins the versions of its NVML spool and dcgm-exporter scrapes and the
    version of the model's code (code_version.sql: a changed model, view upstream or macro
    rebuilds every day). Each incremental model keeps the version it was built from in
    `_input_version`, and a run rebuilds only the days whose version changed or that it does
    not hold yet: the pre-hook deletes those days, the model appends them again. A full
    refresh (`gpuledger run --full-refresh`, `dbt build --full-refresh`) rebuilds every day and
    gives the same rows.

    raw.landing_log is bookkeeping the raw assets write, not a dbt source of its own.
-#}

{#- is_incremental(), and false in a unit test (which has no `this`). -#}
{% macro telemetry_is_incremental() %}
    {{ return(this is not none and is_incremental()) }}
{% endmacro %}

{#- Each day's version: its landed files' and the code of `node` (the model being built). -#}
{% macro telemetry_day_versions(node=none) %}
    select
        partition_date as day,
        max(case when source = 'dcgm_samples' then input_version else '' end)
            || ';' || max(case when source = 'nvml' then input_version else '' end)
            || ';code:{{ code_version(node) }}' as input_version
    from raw.landing_log
    where source in ('nvml', 'dcgm_samples')
    group by 1
{% endmacro %}

{#- The days of `versions` (a query of day, input_version) that the relation `built` does not
    hold at that version (its rows carry `_input_version`). -#}
{% macro days_not_built(versions, built) %}
    select landed.day
    from ({{ versions }}) as landed
    where not exists (
        select 1
        from (select distinct day, _input_version from {{ built }}) as built
        where built.day = landed.day and built._input_version = landed.input_version
    )
{% endmacro %}

{#- The days this run builds: every day on a full build, else the changed ones. -#}
{% macro telemetry_days_to_build() %}
    {%- if telemetry_is_incremental() -%}
    {{ days_not_built(telemetry_day_versions(), this) }}
    {%- else -%}
    select day from ({{ telemetry_day_versions() }}) as landed
    {%- endif -%}
{% endmacro %}

{#- The days to build as a list, asked when the model is compiled (before its pre-hook). -#}
{% macro telemetry_days_list() %}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set result = run_query(telemetry_days_to_build()) -%}
    {{ return(result.columns[0].values() | map('string') | list) }}
{% endmacro %}

{#- A filter on a day column: none on a full build (days landed before raw.landing_log
    existed are built too), else the changed days as literal dates, so the scan of raw skips
    the other days' row groups. -#}
{% macro day_list_filter(day_column, days) %}
    {%- if days -%}
    {{ day_column }} in ({% for day in days %}cast('{{ day }}' as date){% if not loop.last %}, {% endif %}{% endfor %})
    {%- else -%}
    false
    {%- endif -%}
{% endmacro %}

{% macro telemetry_day_filter(day_column) %}
    {%- if telemetry_is_incremental() -%}
    {{ day_list_filter(day_column, telemetry_days_list()) }}
    {%- else -%}
    true
    {%- endif -%}
{% endmacro %}

{% macro telemetry_incremental_pre_hook() %}
    {%- if telemetry_is_incremental() -%}
    delete from {{ this }} where {{ telemetry_day_filter('day') }}
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}

{#- The config every per-day telemetry model shares. -#}
{% macro telemetry_incremental_config() %}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ telemetry_incremental_pre_hook() }}",
    ) }}
{% endmacro %}

{#- `_input_version` of each day, for the rows a model builds. -#}
{% macro telemetry_day_version_relation() %}
    ({{ telemetry_day_versions() }})
{% endmacro %}

{#- The days of NVML spool (pipelines/lib/raw_files.py) whose landing counted none of `what`
    (a column of raw.partitions: 'repeated_windows', 'shared_windows'), as date strings, asked
    when the model is compiled. None in a unit test, or where raw.partitions does not exist (raw
    registered by hand on another engine): every check then runs. -#}
{% macro kept_nvml_days_without(what) %}
    {%- if not execute or this is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set partitions = adapter.get_relation(database=this.database, schema='raw', identifier='partitions') -%}
    {%- if partitions is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set result = run_query(
        "select partition_key from raw.partitions where table_name = 'nvml_spool' and " ~ what ~ " = 0"
        ~ " order by 1"
    ) -%}
    {{ return(result.columns[0].values() | map('string') | list) }}
{% endmacro %}

{#- A filter that leaves out the NVML windows of days whose landing counted none of `what`, so
    a check those days do not need does not read their files (the days are literal dates: the
    scan skips their files). Windows of other sources are kept. An incremental build lists only
    the days it builds (it reads no other day): a list of the whole history cost the planner
    about 0.4 s a model at 365 days. -#}
{% macro unless_kept_nvml_day_without(what, source_column, day_column) %}
    {%- set days = kept_nvml_days_without(what) -%}
    {%- if telemetry_is_incremental() -%}
        {%- set building = telemetry_days_list() -%}
        {%- set days = days | select('in', building) | list -%}
    {%- endif -%}
    {%- if days -%}
    not ({{ source_column }} = 'nvml' and {{ day_list_filter(day_column, days) }})
    {%- else -%}
    true
    {%- endif -%}
{% endmacro %}
