{#-
    Warns with every host-model-hour whose request logs and server token counters disagree
    beyond the tolerance (marts.fct_token_reconciliation_hourly keeps them all, flagged).
-#}

{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_token_reconciliation_hourly'}}}) }}

select *
from {{ ref('fct_token_reconciliation_hourly') }}
where status in ('mismatch', 'missing_in_logs', 'missing_in_metrics')
