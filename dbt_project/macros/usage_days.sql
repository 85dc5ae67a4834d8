{#-
    Incremental by partition, where a partition is one of two keys:

    - the usage day (`usage_day`: the UTC date of an hour), for the models downstream of the
      hourly GPU costs: int_gpu_costs_allocated and the hourly and daily marts. A daily run
      rebuilds the days whose inputs changed: a new day of telemetry that day, a restated bill
      the days whose hourly costs it changed, a new price book every day of the facts that price
      tokens;
    - the billing period (`billing_period`: 'YYYY-MM'), for the bill-line models, whose rows each
      belong to one period of one source (int_billing_lines_amortized, the FOCUS mappings,
      billing_focus, int_gpu_billing_lines). A run rebuilds the periods a source restated.

    Each model names its inputs, and a run takes, per partition, a fingerprint of what the model
    reads for it (a count and a sum of 64-bit hashes of the parts below):
      - 'content': a table rebuilt whole on each run (the hourly costs the bills and contracts
        give), a raw table (`raw.<table>`: a bill's lines), or a model built a day at a time
        (int_gpu_hours, int_tokens_hourly: macros/batch.sql): a hash of its rows of that
        partition. By usage day, a row's is the date of
        its hour_start_at; by billing period, its value of the third element of the input
        (default billing_period);
      - 'lines' (usage days): lines spread over hours from `usage_start_at` for `usage_hours`
        (int_gpu_billing_lines, int_contract_gpu_lines, as int_gpu_costs_hourly spreads them):
        a hash of the lines one of whose hours falls on the day;
      - 'slot_identities' (usage days): int_gpu_identities, the GPU each billed slot is; the
        third element names the 'lines' inputs: a hash of the identities of the resources
        those lines bill on the day (a GPU seen for the first time elsewhere changes no day);
      - 'usage_days' / 'billing_periods': another model incremental by the same key: its
        fingerprint of the partition;
      - 'whole': a small table read whole (prices, a seed): a hash of all its rows, part of every
        partition;
      - 'setting': a dbt var the model reads, as `name=value`: part of every partition.
    The version of the model's code is part of every partition too (code_version.sql: its own
    SQL, the models upstream of it, such as the staging view it reads a raw table through, and
    the project's macros they call): a change to any of it rebuilds every partition. A model's
    fingerprints are kept in intermediate.usage_days__<model> (usage_day,
    fingerprint) or intermediate.billing_periods__<model> (billing_period, fingerprint),
    rewritten by its post-hook in the model's own transaction. A run rebuilds the partitions
    whose fingerprint changed, appeared or went: the pre-hook deletes them, the model appends
    them again. A full refresh rebuilds every partition and gives the same rows.
-#}

{#- The fingerprints of a key's partitions are kept under this prefix. -#}
{% macro partition_record_prefix(key) %}
    {%- if key == 'usage_day' -%}
    {{ return('usage_days__') }}
    {%- elif key == 'billing_period' -%}
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
    {%- set column = 'cast(hour_start_at as date)' if key == 'usage_day'
        else (input[2] if input | length > 2 else 'billing_period') -%}
    select
        {{ column }} as {{ key }},
        '{{ name }}:' || {{ rows_hash() }} as part
    from {{ relation }}
    group by {{ column }}
    {%- elif kind == 'lines' and key == 'usage_day' -%}
    select usage_day, '{{ name }}:' || {{ rows_hash() }} as part
    from ({{ line_days(ref(name)) }}) as spread
    group by usage_day
    {%- elif kind == 'slot_identities' and key == 'usage_day' -%}
    select usage_day, '{{ name }}:' || {{ rows_hash() }} as part
    from (
        select billed.usage_day, identities.*
        from (
            {%- for lines in input[2] %}
            {% if not loop.first %}union{% endif %}
            select usage_day, resource_id from ({{ line_days(ref(lines)) }}) as spread
            {%- endfor %}
        ) as billed
        inner join {{ ref(name) }} as identities
            on identities.cloud_resource_id = billed.resource_id
    ) as slots
    group by usage_day
    {%- elif (kind, key) in [('usage_days', 'usage_day'), ('billing_periods', 'billing_period')] -%}
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
    literals (usage days as ranges of an hour or date column), none on a full build. -#}
{% macro partition_filter(column, partitions, key) %}
    {%- if partitions is none -%}
    true
    {%- elif not partitions -%}
    false
    {%- elif key == 'usage_day' -%}
    ({% for day in partitions -%}
        {%- set next_day = (modules.datetime.date.fromisoformat(day) + modules.datetime.timedelta(days=1)).isoformat() -%}
        ({{ column }} >= cast('{{ day }}' as timestamp) and {{ column }} < cast('{{ next_day }}' as timestamp))
        {%- if not loop.last %} or {% endif -%}
    {%- endfor %})
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

{#- By usage day: `column` is the model's hour (or date) column. -#}
{% macro usage_days_config(inputs, column='hour_start_at') %}
    {{ partitions_config(inputs, column, 'usage_day') }}
{% endmacro %}

{% macro usage_days_to_build(inputs) %}
    {{ return(partitions_to_build(inputs, 'usage_day')) }}
{% endmacro %}

{% macro usage_day_filter(column, days) %}
    {{- partition_filter(column, days, 'usage_day') -}}
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

{#- The first and last hour a line spreads over (int_gpu_costs_hourly): from the hour of its
    usage_start_at, usage_hours of them, at most 768 (int_hour_offsets). -#}
{% macro line_first_hour() %}{{ dbt.date_trunc('hour', 'usage_start_at') }}{% endmacro %}

{% macro line_last_hour() %}
    {#- The interval parenthesized: dbt-spark's dateadd multiplies it unparenthesized. -#}
    {{- dbt.dateadd('hour', '(least(usage_hours, 768) - 1)', line_first_hour()) -}}
{% endmacro %}

{#- Each line of `relation` once per usage day one of its hours falls on (`usage_day`). -#}
{% macro line_days(relation) %}
    select line_days.*, cast(line_days.usage_day_at as date) as usage_day
    from (
        select
            lines.*,
            {{ days_between(
                'cast(' ~ line_first_hour() ~ ' as date)', 'cast(' ~ line_last_hour() ~ ' as date)'
            ) }} as usage_day_at
        from {{ relation }} as lines
    ) as line_days
{% endmacro %}

{#- The lines one of whose hours falls on one of `days` (all on a full build). -#}
{% macro usage_day_lines_filter(days) %}
    {%- if days is none -%}
    true
    {%- elif not days -%}
    false
    {%- else -%}
    ({% for day in days -%}
        {%- set next_day = (modules.datetime.date.fromisoformat(day) + modules.datetime.timedelta(days=1)).isoformat() -%}
        ({{ line_first_hour() }} < cast('{{ next_day }}' as timestamp)
            and {{ line_last_hour() }} >= cast('{{ day }}' as timestamp))
        {%- if not loop.last %} or {% endif -%}
    {%- endfor %})
    {%- endif -%}
{% endmacro %}
