{#-
    The cost facts are in USD. A GPU line billed in another currency is converted with its
    billing period's rate and never treated as USD: this test names every source, period and
    currency without a rate, with the bill files (and first row) that hold lines of it, so the
    failure says where to look (add the rate to prices/exchange_rates.csv in the landing zone).
    Its rows are stored (dbt's store_failures), and `gpuledger run` prints their files.
-#}
{{ config(store_failures=true, meta={'dagster': {'ref': {'name': 'int_gpu_billing_lines'}}}) }}

with

missing as (

    select
        billing_source,
        billing_period,
        billed_currency,
        count(*) as gpu_lines,
        sum(billed_currency_cost) as billed_currency_cost
    from {{ ref('int_gpu_billing_lines') }}
    where usd_per_unit is null
    group by 1, 2, 3

),

bill_files as (

    select 'aws_cur' as billing_source, billing_period, currency_code, source_file,
        cast(null as integer) as source_row
    from {{ ref('stg_aws_cur__line_items') }}
    union all
    select 'gcp_billing', invoice_month, currency_code, source_file, source_row
    from {{ ref('stg_gcp_billing__export_rows') }}
    union all
    select 'focus', billing_period, billing_currency, source_file, source_row
    from {{ ref('stg_focus__charges') }}

),

files as (

    select
        missing.billing_source,
        missing.billing_period,
        missing.billed_currency,
        bill_files.source_file,
        min(bill_files.source_row) as first_source_row
    from missing
    inner join bill_files
        on missing.billing_source = bill_files.billing_source
        and missing.billing_period = bill_files.billing_period
        and missing.billed_currency = bill_files.currency_code
    group by 1, 2, 3, 4

)

select
    missing.billing_source,
    missing.billing_period,
    missing.billed_currency,
    missing.gpu_lines,
    missing.billed_currency_cost,
    files.source_file,
    files.first_source_row as source_row
from missing
left join files
    on missing.billing_source = files.billing_source
    and missing.billing_period = files.billing_period
    and missing.billed_currency = files.billed_currency
