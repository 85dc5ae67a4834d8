-- Where the GPU money went: attributed (busy), idle held by a workload, unallocated.
select
    sum(case when workload <> '(unallocated)' then attributed_cost_usd else 0 end) as attributed,
    sum(case when workload <> '(unallocated)' then idle_cost_usd else 0 end) as idle,
    sum(case when workload = '(unallocated)' then cost_usd else 0 end) as unallocated,
    sum(cost_usd) as total,
    sum(useful_tokens) as useful_tokens,
    sum(wasted_tokens) as wasted_tokens
from marts.fct_workload_unit_cost_daily
