{#- Overlapping collector windows would allocate more than an hour; the residual shows it. -#}
select *
from {{ ref('int_gpu_costs_allocated') }}
where workload = '(unallocated)'
    and idle_cost_usd < -0.000001
