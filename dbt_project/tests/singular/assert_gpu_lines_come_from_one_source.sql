{#-
    The same resource's GPU hours from two billing sources (say an AWS CUR and an AWS FOCUS
    export of the same account) would count its cost twice. Land one of them.
-#}
select
    resource_id,
    billing_period,
    count(distinct billing_source) as sources
from {{ ref('int_gpu_billing_lines') }}
group by 1, 2
having count(distinct billing_source) > 1
