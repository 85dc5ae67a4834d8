-- Per workload over all days: cost, useful and wasted tokens, cost per million useful tokens,
-- the API price of the same tokens, and the utilization at which the GPUs would match it.
select
    workload,
    string_agg(distinct model, ', ') as models,
    sum(attributed_cost_usd) as attributed_cost_usd,
    sum(idle_cost_usd) as idle_cost_usd,
    sum(cost_usd) as cost_usd,
    sum(useful_tokens) as useful_tokens,
    sum(wasted_tokens) as wasted_tokens,
    case when sum(useful_tokens) > 0 then sum(cost_usd) * 1000000 / sum(useful_tokens) end
        as cost_per_million_useful_tokens,
    case
        when sum(useful_tokens) > 0 and count(api_equivalent_cost_usd) > 0
            then sum(api_equivalent_cost_usd) * 1000000 / sum(useful_tokens)
    end as api_cost_per_million_useful_tokens,
    case
        when sum(busy_gpu_hours + held_idle_gpu_hours) > 0
            then sum(busy_gpu_hours) / sum(busy_gpu_hours + held_idle_gpu_hours)
    end as gpu_utilization,
    case
        when sum(api_equivalent_cost_usd) > 0 and sum(busy_gpu_hours + held_idle_gpu_hours) > 0
            then sum(busy_gpu_hours) / sum(busy_gpu_hours + held_idle_gpu_hours)
                * cast(sum(cost_usd) / sum(api_equivalent_cost_usd) as double)
    end as break_even_utilization
from marts.fct_workload_unit_cost_daily
group by workload
order by workload in ('(unallocated)', '(unused commitment)'), cost_usd desc
