{#- Every match of a regular expression replaced: DuckDB replaces the first one unless given the
    'g' option; Spark replaces all (its fourth argument is a start position). -#}
{% macro regexp_replace_all(text, pattern, replacement) %}
    {{ return(adapter.dispatch('regexp_replace_all')(text, pattern, replacement)) }}
{% endmacro %}

{% macro default__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}

{% macro spark__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ pattern }}, {{ replacement }})
{%- endmacro %}
