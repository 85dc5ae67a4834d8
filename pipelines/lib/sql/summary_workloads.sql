-- Per workload over all days: cost, useful and wasted tokens, cost per million useful tokens
-- (over the metered ones: tokens with no measured GPU cost behind them are counted, never
-- priced), the API price of the same tokens, the utilization at which the GPUs would match it,
-- and the unmetered tokens with their reasons.
select
    workload,
    string_agg(distinct model, ', ') as models,
    sum(attributed_cost_usd) as attributed_cost_usd,
    sum(idle_cost_usd) as idle_cost_usd,
    sum(cost_usd) as cost_usd,
    sum(useful_tokens) as useful_tokens,
    sum(wasted_tokens) as wasted_tokens,
    case
        when sum(metered_useful_tokens) > 0 and count(cost_usd) > 0
            then sum(cost_usd) * 1000000 / sum(metered_useful_tokens)
    end as cost_per_million_useful_tokens,
    case
        when sum(useful_tokens) > 0 and count(api_equivalent_cost_usd) > 0
            then sum(api_equivalent_cost_usd) * 1000000 / sum(useful_tokens)
    end as api_cost_per_million_useful_tokens,
    case
        when sum(busy_gpu_hours + held_idle_gpu_hours) > 0
            then sum(busy_gpu_hours) / sum(busy_gpu_hours + held_idle_gpu_hours)
    end as gpu_utilization,
    -- utilization x ($ / M metered) / (API $ / M): the two prices the table shows.
    case
        when sum(api_equivalent_cost_usd) > 0 and sum(busy_gpu_hours + held_idle_gpu_hours) > 0
            and sum(metered_useful_tokens) > 0 and count(cost_usd) > 0
            then sum(busy_gpu_hours) / sum(busy_gpu_hours + held_idle_gpu_hours)
                * cast(
                    sum(cost_usd) / sum(metered_useful_tokens)
                    / (sum(api_equivalent_cost_usd) / sum(useful_tokens)) as double
                )
    end as break_even_utilization,
    sum(unmetered_useful_tokens) as unmetered_useful_tokens,
    string_agg(distinct unmetered_reason, ', ' order by unmetered_reason) as unmetered_reasons
from marts.fct_workload_unit_cost_daily
group by workload
order by workload in ('(unallocated)', '(unused commitment)'), cost_usd desc nulls last
