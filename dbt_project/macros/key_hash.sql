{#- A 64-bit hash of the columns, to find repeated keys cheaply (a candidate is then compared on
    the columns themselves, so a collision costs a little time, never a wrong answer). -#}
{% macro key_hash(columns) %}
    {{ return(adapter.dispatch('key_hash')(columns)) }}
{% endmacro %}

{% macro default__key_hash(columns) %}hash({{ columns | join(', ') }}){% endmacro %}

{% macro spark__key_hash(columns) %}xxhash64({{ columns | join(', ') }}){% endmacro %}
