{#-
    Every GPU bill line (int_gpu_billing_lines_billed) in US dollars: a line billed in another
    currency keeps that amount in billed_currency_cost and is converted with its billing
    period's rate (GCP export rows with Google's own currency_conversion_rate, others with
    prices/exchange_rates.csv). A line without a rate fails the test
    assert_gpu_lines_have_an_exchange_rate; it is never read as USD.

    A view: new exchange rates apply to every period at once, with no bill line built again.
-#}
with

lines as (

    select * from {{ ref('int_gpu_billing_lines_billed') }}

),

exchange_rates as (

    select * from {{ ref('stg_list_prices__exchange_rates') }}

),

final as (

    select
        lines.billing_source,
        lines.provider,
        lines.billing_period,
        lines.resource_id,
        lines.instance_type,
        lines.gpu_model,
        lines.gpu_count,
        lines.usage_start_at,
        lines.usage_end_at,
        lines.usage_hours,
        cast(
            lines.effective_cost * case
                when lines.currency_code = 'USD' then 1
                else coalesce(lines.own_usd_per_unit, exchange_rates.usd_per_unit)
            end as decimal(38, 10)
        ) as effective_cost,
        case
            when lines.currency_code = 'USD' then 'USD'
            when coalesce(lines.own_usd_per_unit, exchange_rates.usd_per_unit) is not null
                then 'USD'
        end as currency_code,
        lines.currency_code as billed_currency,
        lines.effective_cost as billed_currency_cost,
        case
            when lines.currency_code = 'USD' then cast(1 as decimal(38, 10))
            else coalesce(lines.own_usd_per_unit, exchange_rates.usd_per_unit)
        end as usd_per_unit,
        -- The savings plan / commitment discount that covered the line (AWS CUR, FOCUS).
        lines.commitment_id,
        -- The bill line: the CUR's line item id, or '<file>:<row>' of a FOCUS or GCP export.
        lines.source_line_id

    from lines
    left join exchange_rates
        on lines.currency_code = exchange_rates.currency_code
        and lines.billing_period = exchange_rates.billing_period

)

select * from final
