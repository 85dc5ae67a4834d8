{#-
    Incremental by billing period ('YYYY-MM'), for the bill-line models, whose rows each belong
    to one period of one source (int_billing_lines_amortized, the FOCUS mappings, billing_focus,
    int_gpu_billing_lines): a run rebuilds the periods a source restated.

    Each model names its inputs, and a run takes, per period, a fingerprint of what the model
    reads for it (a count and a sum of 64-bit hashes of the parts below):
      - 'content': a raw table (`raw.<table>`: a bill's lines) or a model: a hash of its rows of
        that period (its value of the third element of the input, default billing_period);
      - 'billing_periods': another model incremental by period: its fingerprint of the period;
      - 'whole': a small table read whole (prices, a seed): a hash of all its rows, part of every
        period;
      - 'setting': a dbt var the model reads, as `name=value`: part of every period.
    The version of the model's code is part of every period too (code_version.sql). A model's
    fingerprints are kept in intermediate.billing_periods__<model> (billing_period,
    fingerprint), rewritten by its post-hook in the model's own transaction. A run rebuilds the
    periods whose fingerprint changed, appeared or went: the pre-hook deletes them, the model
    appends them again. A full refresh rebuilds every period and gives the same rows.
-#}

{#- The fingerprints of a key's partitions are kept under this prefix. -#}
{% macro partition_record_prefix(key) %}
    {%- if key == 'billing_period' -%}
    {{ return('billing_periods__') }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("unknown partition key " ~ key) }}
{% endmacro %}

{% macro partitions_relation(model_name, key) %}
    {{ return(api.Relation.create(
        database=this.database,
        schema='intermediate',
        identifier=partition_record_prefix(key) ~ model_name,
    )) }}
{% endmacro %}

{#- An input named `raw.<table>` is that source; any other name a model or seed. -#}
{% macro partition_input(name) %}
    {%- if name.startswith('raw.') -%}
    {{ return(source('raw', name[4:])) }}
    {%- endif -%}
    {{ return(ref(name)) }}
{% endmacro %}

{#- The parts of one input, as (<key>, part). `input` is [name, kind] or [name, kind, column]. -#}
{% macro partition_parts(input, key) %}
    {%- set name, kind = input[0], input[1] -%}
    {%- if kind == 'content' -%}
    {%- set relation = partition_input(name) -%}
    {%- set column = input[2] if input | length > 2 else 'billing_period' -%}
    select
        {{ column }} as {{ key }},
        '{{ name }}:' || {{ rows_hash() }} as part
    from {{ relation }}
    group by {{ column }}
    {%- elif (kind, key) == ('billing_periods', 'billing_period') -%}
    select {{ key }}, '{{ name }}:' || fingerprint as part
    from {{ partitions_relation(name, key) }}
    {%- else -%}
    {{ exceptions.raise_compiler_error("input kind " ~ kind ~ " of " ~ name ~ " does not apply by " ~ key) }}
    {%- endif -%}
{% endmacro %}

{#- A count and a sum of the hashes of the rows (every column) of the one relation the query
    reads: the same rows in any order give the same text. (Spark takes no `*` beside a GROUP BY
    by position: group by the expression.) -#}
{% macro rows_hash() %}
    cast(count(*) as {{ dbt.type_string() }}) || ':'
        || cast(sum(cast({{ all_columns_hash() }} as decimal(38, 0))) as {{ dbt.type_string() }})
{% endmacro %}

{#- Every partition the inputs hold, with its fingerprint. -#}
{% macro partition_fingerprints(inputs, key) %}
    {%- set per_partition = [] -%}
    {%- set whole = [] -%}
    {%- for input in inputs -%}
        {%- do (whole if input[1] in ('whole', 'setting') else per_partition).append(input) -%}
    {%- endfor -%}
    with

    partition_parts as (
        {%- for input in per_partition %}
        {% if not loop.first %}union all{% endif %}
        {{ partition_parts(input, key) }}
        {%- endfor %}
    ),

    whole_parts as (
        select cast(null as {{ dbt.type_string() }}) as part from (select 1 as one) as nothing
        where 1 = 0
        -- The model's code: a change to it rebuilds every partition.
        union all
        select 'code:{{ code_version() }}' as part
        {%- for input in whole %}
        {%- set name, kind = input[0], input[1] %}
        union all
        {%- if kind == 'whole' %}
        select '{{ name }}:' || {{ rows_hash() }} as part from {{ ref(name) }}
        {%- else %}
        select '{{ name | replace("'", "''") }}' as part
        {%- endif %}
        {%- endfor %}
    ),

    parts as (
        select {{ key }}, part from partition_parts
        union all
        select partitions.{{ key }}, whole_parts.part
        from (select distinct {{ key }} from partition_parts) as partitions
        cross join whole_parts
    )

    select
        {{ key }},
        cast(count(*) as {{ dbt.type_string() }}) || ':'
            || cast(sum(cast({{ key_hash(['part']) }} as decimal(38, 0))) as {{ dbt.type_string() }})
            as fingerprint
    from parts
    where {{ key }} is not null
    group by {{ key }}
{% endmacro %}

{#- The partitions to build as a list of strings, asked before the model runs (its pre-hook is
    rendered before the delete too): those whose fingerprint differs from the one recorded when
    they were last built, and recorded partitions the inputs no longer hold. None (all) when no
    fingerprints are recorded: a table built before it was incremental is built again whole. -#}
{% macro partitions_list(inputs, key) %}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set recorded = partitions_relation(this.identifier, key) -%}
    {%- if adapter.get_relation(recorded.database, recorded.schema, recorded.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
    select coalesce(now.{{ key }}, recorded.{{ key }}) as {{ key }}
    from ({{ partition_fingerprints(inputs, key) }}) as now
    full outer join {{ recorded }} as recorded
        on now.{{ key }} = recorded.{{ key }}
    where now.fingerprint is null
        or recorded.fingerprint is null
        or now.fingerprint <> recorded.fingerprint
    {%- endset -%}
    {%- set result = run_query(query ~ " order by 1") -%}
    {{ return(result.columns[0].values() | map('string') | list) }}
{% endmacro %}

{#- The partitions this run builds: none (every one) on a full build, else partitions_list. -#}
{% macro partitions_to_build(inputs, key) %}
    {{ return(partitions_list(inputs, key) if this is not none and is_incremental() else none) }}
{% endmacro %}

{#- A filter on the model's partition column: the partitions of partitions_to_build as
    literals, none on a full build. -#}
{% macro partition_filter(column, partitions, key) %}
    {%- if partitions is none -%}
    true
    {%- elif not partitions -%}
    false
    {%- else -%}
    {{ column }} in ({% for period in partitions %}'{{ period | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endif -%}
{% endmacro %}

{% macro partitions_pre_hook(inputs, column, key) %}
    {%- if this is not none and is_incremental() -%}
    delete from {{ this }} where {{ partition_filter(column, partitions_list(inputs, key), key) }}
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}

{#- Replaced whole (drop, then create as select), which any engine that builds tables can do:
    Spark's own tables take no delete. -#}
{% macro partitions_drop(key) %}
    drop table if exists {{ partitions_relation(this.identifier, key) }}
{% endmacro %}

{% macro partitions_record(inputs, key) %}
    create table {{ partitions_relation(this.identifier, key) }} as
    {{ partition_fingerprints(inputs, key) }}
{% endmacro %}

{#- The config every partitioned model shares; `column` is its partition column. -#}
{% macro partitions_config(inputs, column, key) %}
    {%- set arguments = (inputs | tojson) ~ ", '" ~ column ~ "', '" ~ key ~ "'" -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ partitions_pre_hook(" ~ arguments ~ ") }}",
        post_hook=[
            "{{ partitions_drop('" ~ key ~ "') }}",
            "{{ partitions_record(" ~ (inputs | tojson) ~ ", '" ~ key ~ "') }}",
        ],
    ) }}
{% endmacro %}

{#- By billing period: `column` is the model's 'YYYY-MM' period column. -#}
{% macro billing_periods_config(inputs, column='billing_period') %}
    {{ partitions_config(inputs, column, 'billing_period') }}
{% endmacro %}

{% macro billing_periods_to_build(inputs) %}
    {{ return(partitions_to_build(inputs, 'billing_period')) }}
{% endmacro %}

{% macro billing_period_filter(column, periods) %}
    {{- partition_filter(column, periods, 'billing_period') -}}
{% endmacro %}
