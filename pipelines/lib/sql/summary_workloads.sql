-- Per workload over all days: cost, useful and wasted tokens, cost per million useful tokens.
select
    workload,
    string_agg(distinct model, ', ') as models,
    sum(attributed_cost_usd) as attributed_cost_usd,
    sum(idle_cost_usd) as idle_cost_usd,
    sum(cost_usd) as cost_usd,
    sum(useful_tokens) as useful_tokens,
    sum(wasted_tokens) as wasted_tokens,
    case when sum(useful_tokens) > 0 then sum(cost_usd) * 1000000 / sum(useful_tokens) end
        as cost_per_million_useful_tokens
from marts.fct_workload_unit_cost_daily
group by workload
order by workload = '(unallocated)', cost_usd desc
