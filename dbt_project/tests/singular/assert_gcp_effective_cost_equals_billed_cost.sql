{#-
    GCP committed use discount fees are moved, never added or lost: per billing period the
    unified table's EffectiveCost (fees at 0, their used part on covered usage, the rest on
    Unused rows) sums to its BilledCost.
-#}

{{ config(meta={'dagster': {'ref': {'name': 'billing_focus'}}}) }}

select
    x_billing_period,
    sum({{ adapter.quote("BilledCost") }}) as billed_cost,
    sum({{ adapter.quote("EffectiveCost") }}) as effective_cost
from {{ ref('billing_focus') }}
where x_source_system = 'gcp_billing'
group by 1
having abs(sum({{ adapter.quote("BilledCost") }}) - sum({{ adapter.quote("EffectiveCost") }})) >= 0.005
