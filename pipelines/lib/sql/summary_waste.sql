-- Where the GPU money went: attributed (busy), idle held by a workload, unallocated, unused
-- commitment.
select
    sum(case when workload not like '(%' then attributed_cost_usd else 0 end) as attributed,
    sum(case when workload not like '(%' then idle_cost_usd else 0 end) as idle,
    sum(case when workload = '(unallocated)' then cost_usd else 0 end) as unallocated,
    sum(case when workload = '(unused commitment)' then cost_usd else 0 end) as unused_commitment,
    sum(cost_usd) as total,
    sum(useful_tokens) as useful_tokens,
    sum(wasted_tokens) as wasted_tokens
from marts.fct_workload_unit_cost_daily
