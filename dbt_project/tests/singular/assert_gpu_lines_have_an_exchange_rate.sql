{#-
    The cost facts are in USD. A GPU line billed in another currency is converted with its
    billing period's rate and never treated as USD: this test names every line whose currency
    and period have no rate (add it to prices/exchange_rates.csv in the landing zone).
-#}
select
    billing_source,
    provider,
    billing_period,
    resource_id,
    billed_currency,
    billed_currency_cost
from {{ ref('int_gpu_billing_lines') }}
where usd_per_unit is null
