{#-
    Tokens the inference servers counted, per host, model and hour: the reset-safe deltas of
    their Prometheus counters (a lower value than the previous scrape is a restart, counted
    from 0). The first scrape of a series only sets its origin, so the hour it falls in is
    marked incomplete.

    One batch a day (macros/batch.sql): a batch reads the scrapes landed the day before, that
    day and the day after (a scrape near midnight may sit in either folder), so the first
    scrape of its day counts from the last one before midnight. A series silent for a whole
    day starts again from the next scrape, as a new one.
-#}
with

samples as (

    select * from {{ ref('stg_inference__metric_samples') }}
    where {{ batch_days_filter('partition_date', 1) }}

),

deltas as (

    select
        *,
        lag(counter_value) over (
            partition by host, server, model, metric, series_labels order by scraped_at
        ) as previous_value

    from samples

),

increments as (

    select
        *,
        case
            when previous_value is null then 0
            when counter_value >= previous_value then counter_value - previous_value
            else counter_value  -- a restart: the counter began again at 0
        end as increment

    from deltas

),

final as (

    select
        {{ dbt.date_trunc('hour', 'scraped_at') }} as hour_start_at,
        host,
        model,
        max(server) as server,
        sum(case when metric = 'prompt_tokens' then increment else 0 end) as prompt_tokens,
        sum(case when metric = 'generation_tokens' then increment else 0 end)
            as generation_tokens,
        max(case when previous_value is null then 1 else 0 end) = 0 as is_complete

    from increments
    group by 1, 2, 3

),

batch_hours as (

    select * from final
    where {{ batch_hours_filter('hour_start_at') }}

)

select * from batch_hours
