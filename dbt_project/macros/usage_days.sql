{#-
    Incremental by usage day (the UTC date of an hour) for the models downstream of the hourly
    GPU costs: int_gpu_costs_allocated and the hourly and daily marts. A daily run rebuilds the
    days whose inputs changed: a new day of telemetry that day, a restated bill the days whose
    hourly costs it changed, a new price book every day of the facts that price tokens.

    Each model names its inputs, and a run takes, per usage day, a fingerprint of what the
    model reads for that day (a count and a sum of 64-bit hashes of the parts below):
      - 'versions': a model incremental by landed day (int_gpu_hours,
        int_gpu_seconds_attributed): the (landed day, _input_version) pairs of its rows whose
        hour falls on the day, i.e. the landings those rows were built from;
      - 'content': a table rebuilt whole on each run (the hourly costs the bills and contracts
        give) or whose rows change without their landed day's version (int_tokens_hourly: a
        retry after midnight changes the day before): a hash of its rows of that day;
      - 'usage_days': another model incremental by usage day: its fingerprint of the day;
      - 'whole': a small table read whole (prices): a hash of all its rows, part of every day;
      - 'setting': a dbt var the model reads, as `name=value`: part of every day.
    The model's own code (its checksum) is part of every day too: a changed model rebuilds all.
    A model's fingerprints are kept in intermediate.usage_days__<model> (usage_day,
    fingerprint), rewritten by its post-hook in the model's own transaction. A run rebuilds the
    days whose fingerprint changed, appeared or went: the pre-hook deletes them, the model
    appends them again. A full refresh rebuilds every day and gives the same rows.
-#}

{% macro usage_days_relation(model_name) %}
    {{ return(api.Relation.create(
        database=this.database, schema='intermediate', identifier='usage_days__' ~ model_name
    )) }}
{% endmacro %}

{#- The parts of one input, as (usage_day, part). -#}
{% macro usage_day_parts(name, kind) %}
    {%- set relation = ref(name) -%}
    {%- if kind == 'versions' -%}
    select distinct
        cast(hour_start_at as date) as usage_day,
        '{{ name }}:' || cast(day as {{ dbt.type_string() }}) || ':' || _input_version as part
    from {{ relation }}
    {%- elif kind == 'content' -%}
    select
        cast(hour_start_at as date) as usage_day,
        '{{ name }}:' || {{ rows_hash(relation) }} as part
    from {{ relation }}
    group by 1
    {%- elif kind == 'usage_days' -%}
    select usage_day, '{{ name }}:' || fingerprint as part
    from {{ usage_days_relation(name) }}
    {%- else -%}
    {{ exceptions.raise_compiler_error("unknown usage-day input kind " ~ kind ~ " for " ~ name) }}
    {%- endif -%}
{% endmacro %}

{#- A count and a sum of the hashes of a relation's rows (every column): the same rows in any
    order give the same text. -#}
{% macro rows_hash(relation) %}
    {%- set columns = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do columns.append(adapter.quote(column.name)) -%}
        {%- endfor -%}
    {%- endif -%}
    cast(count(*) as {{ dbt.type_string() }}) || ':'
        || cast(sum(cast({{ key_hash(columns or ['1']) }} as decimal(38, 0))) as {{ dbt.type_string() }})
{% endmacro %}

{#- Every usage day the inputs hold, with its fingerprint. -#}
{% macro usage_day_fingerprints(inputs) %}
    with

    day_parts as (
        {%- for name, kind in inputs if kind not in ('whole', 'setting') %}
        {% if not loop.first %}union all{% endif %}
        {{ usage_day_parts(name, kind) }}
        {%- endfor %}
    ),

    whole_parts as (
        select cast(null as {{ dbt.type_string() }}) as part from (select 1 as one) as nothing
        where 1 = 0
        -- The model's own code: a changed model rebuilds every day.
        union all
        select 'code:{{ model.checksum.checksum }}' as part
        {%- for name, kind in inputs if kind in ('whole', 'setting') %}
        union all
        {%- if kind == 'whole' %}
        select '{{ name }}:' || {{ rows_hash(ref(name)) }} as part from {{ ref(name) }}
        {%- else %}
        select '{{ name | replace("'", "''") }}' as part
        {%- endif %}
        {%- endfor %}
    ),

    parts as (
        select usage_day, part from day_parts
        union all
        select days.usage_day, whole_parts.part
        from (select distinct usage_day from day_parts) as days
        cross join whole_parts
    )

    select
        usage_day,
        cast(count(*) as {{ dbt.type_string() }}) || ':'
            || cast(sum(cast({{ key_hash(['part']) }} as decimal(38, 0))) as {{ dbt.type_string() }})
            as fingerprint
    from parts
    where usage_day is not null
    group by usage_day
{% endmacro %}

{#- The days to build as a list of date strings, asked before the model runs (its pre-hook is
    rendered before the delete too): the days whose fingerprint differs from the one recorded
    when they were last built, and recorded days the inputs no longer hold. -#}
{% macro usage_days_list(inputs) %}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set recorded = usage_days_relation(this.identifier) -%}
    {%- if adapter.get_relation(recorded.database, recorded.schema, recorded.identifier) is none -%}
        {%- set query -%}
        select usage_day from ({{ usage_day_fingerprints(inputs) }}) as now
        {%- endset -%}
    {%- else -%}
        {%- set query -%}
        select coalesce(now.usage_day, recorded.usage_day) as usage_day
        from ({{ usage_day_fingerprints(inputs) }}) as now
        full outer join {{ recorded }} as recorded
            on now.usage_day = recorded.usage_day
        where now.fingerprint is null
            or recorded.fingerprint is null
            or now.fingerprint <> recorded.fingerprint
        {%- endset -%}
    {%- endif -%}
    {%- set result = run_query(query ~ " order by 1") -%}
    {{ return(result.columns[0].values() | map('string') | list) }}
{% endmacro %}

{#- The days this run builds: none on a full build (every day), else usage_days_list. -#}
{% macro usage_days_to_build(inputs) %}
    {{ return(usage_days_list(inputs) if telemetry_is_incremental() else none) }}
{% endmacro %}

{#- A filter on an hour (or date) column: the days of usage_days_to_build as literal ranges,
    none on a full build. -#}
{% macro usage_day_filter(column, days) %}
    {%- if days is none -%}
    true
    {%- elif days -%}
    ({% for day in days -%}
        {%- set next_day = (modules.datetime.date.fromisoformat(day) + modules.datetime.timedelta(days=1)).isoformat() -%}
        ({{ column }} >= cast('{{ day }}' as timestamp) and {{ column }} < cast('{{ next_day }}' as timestamp))
        {%- if not loop.last %} or {% endif -%}
    {%- endfor %})
    {%- else -%}
    false
    {%- endif -%}
{% endmacro %}

{% macro usage_days_pre_hook(inputs, column) %}
    {%- if telemetry_is_incremental() -%}
    delete from {{ this }} where {{ usage_day_filter(column, usage_days_list(inputs)) }}
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}

{#- Replaced whole (drop, then create as select), which any engine that builds tables can do:
    Spark's own tables take no delete. -#}
{% macro usage_days_drop() %}
    drop table if exists {{ usage_days_relation(this.identifier) }}
{% endmacro %}

{% macro usage_days_record(inputs) %}
    create table {{ usage_days_relation(this.identifier) }} as
    {{ usage_day_fingerprints(inputs) }}
{% endmacro %}

{#- The config every usage-day model shares; `column` is its hour (or date) column. -#}
{% macro usage_days_config(inputs, column='hour_start_at') %}
    {%- set arguments = (inputs | tojson) ~ ", '" ~ column ~ "'" -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ usage_days_pre_hook(" ~ arguments ~ ") }}",
        post_hook=[
            "{{ usage_days_drop() }}",
            "{{ usage_days_record(" ~ (inputs | tojson) ~ ") }}",
        ],
    ) }}
{% endmacro %}
