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
