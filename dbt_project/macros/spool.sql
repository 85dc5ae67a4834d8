{#- Reading the NVML spool files as the collector wrote them (raw nvml_* sources). -#}

{#- The spool's UTC instant as the warehouse's naive UTC timestamp. DuckDB: through the epoch,
    without a time zone lookup per row (a third of the time an hourly aggregate of the windows
    took). -#}
{% macro utc_instant(column) %}
    {{ return(adapter.dispatch('utc_instant', 'gpuledger')(column)) }}
{% endmacro %}

{% macro default__utc_instant(column) %}cast({{ column }} as timestamp){% endmacro %}

{% macro duckdb__utc_instant(column) %}make_timestamp(epoch_us({{ column }})){% endmacro %}

{#- The landing-relative name of the spool file a row was read from: the kept file's name,
    quoted once (pipelines/lib/raw_files.py::copy_in). -#}
{% macro spool_source_file() %}
    {{ return(adapter.dispatch('spool_source_file', 'gpuledger')()) }}
{% endmacro %}

{% macro default__spool_source_file() %}
    url_decode(regexp_extract(filename, '[^/]+$'))
{%- endmacro %}

{#- Spark percent-encodes the path it reports once more. -#}
{% macro spark__spool_source_file() %}
    url_decode(url_decode(regexp_extract(input_file_name(), '[^/]+$', 0)))
{%- endmacro %}

{#- One row per element of a list column. -#}
{% macro explode_list(column) %}
    {{ return(adapter.dispatch('explode_list', 'gpuledger')(column)) }}
{% endmacro %}

{% macro default__explode_list(column) %}unnest({{ column }}){% endmacro %}

{% macro spark__explode_list(column) %}explode({{ column }}){% endmacro %}

{% macro list_length(column) %}
    {{ return(adapter.dispatch('list_length', 'gpuledger')(column)) }}
{% endmacro %}

{% macro default__list_length(column) %}len({{ column }}){% endmacro %}

{% macro spark__list_length(column) %}size({{ column }}){% endmacro %}

{#- The days of NVML spool (pipelines/lib/raw_files.py) whose landing counted none of `what`
    (a column of raw.partitions: 'repeated_windows', 'shared_windows'), as date strings, asked
    when the model is compiled; within a batch, only the batch's days. None in a unit test, or
    where raw.partitions does not exist (raw registered by hand on another engine): every check
    then runs. -#}
{% macro kept_nvml_days_without(what) %}
    {%- if not execute or this is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set partitions = adapter.get_relation(database=this.database, schema='raw', identifier='partitions') -%}
    {%- if partitions is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set days = batch_day_range() -%}
    {%- set within = "" if days is none else
        " and partition_key between '" ~ days[0] ~ "' and '" ~ days[1] ~ "'" -%}
    {%- set result = run_query(
        "select partition_key from raw.partitions where table_name = 'nvml_spool' and " ~ what ~ " = 0"
        ~ within ~ " order by 1"
    ) -%}
    {{ return(result.columns[0].values() | map('string') | list) }}
{% endmacro %}

{#- A filter that leaves out the NVML windows of days whose landing counted none of `what`, so
    a check those days do not need does not read their files (the days are literal dates: the
    scan skips their files). Windows of other sources are kept. -#}
{% macro unless_kept_nvml_day_without(what, source_column, day_column) %}
    {%- set days = kept_nvml_days_without(what) -%}
    {%- if days -%}
    not ({{ source_column }} = 'nvml' and {{ day_column }} in (
        {%- for day in days %}cast('{{ day }}' as date){% if not loop.last %}, {% endif %}{% endfor -%}
    ))
    {%- else -%}
    true
    {%- endif -%}
{% endmacro %}
