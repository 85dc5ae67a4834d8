{#- One row per hour in [start, end): a set-returning expression for a select list. -#}
{% macro hours_between(start_at, end_at) %}
    {{ return(adapter.dispatch('hours_between', 'gpuledger')(start_at, end_at)) }}
{% endmacro %}

{% macro default__hours_between(start_at, end_at) %}
    unnest(generate_series({{ start_at }}, {{ end_at }} - interval 1 hour, interval 1 hour))
{% endmacro %}

{% macro spark__hours_between(start_at, end_at) %}
    explode(sequence({{ start_at }}, {{ end_at }} - interval 1 hour, interval 1 hour))
{% endmacro %}

{#- One row per day from first_day to last_day, both included (dates): a set-returning
    expression for a select list, as a timestamp at midnight on DuckDB and a date on Spark. -#}
{% macro days_between(first_day, last_day) %}
    {{ return(adapter.dispatch('days_between', 'gpuledger')(first_day, last_day)) }}
{% endmacro %}

{% macro default__days_between(first_day, last_day) %}
    unnest(generate_series(
        cast({{ first_day }} as timestamp), cast({{ last_day }} as timestamp), interval 1 day
    ))
{% endmacro %}

{% macro spark__days_between(first_day, last_day) %}
    explode(sequence({{ first_day }}, {{ last_day }}, interval 1 day))
{% endmacro %}

{#- Whole years from start_at to at (anniversaries passed), for escalators. -#}
{% macro full_years_between(start_at, at) %}
    (
        cast(extract(year from {{ at }}) as integer) - cast(extract(year from {{ start_at }}) as integer)
        - case
            when extract(month from {{ at }}) * 10000 + extract(day from {{ at }}) * 100
                    + extract(hour from {{ at }})
                < extract(month from {{ start_at }}) * 10000 + extract(day from {{ start_at }}) * 100
                    + extract(hour from {{ start_at }})
                then 1
            else 0
        end
    )
{% endmacro %}
