{#- The facts' cost_bucket: a workload's rows apart from the overhead buckets (DESIGN.md rules 2
    and 3), so idle cost is never summed over '(unallocated)' and '(unused commitment)'. -#}
{% macro cost_bucket(workload) %}
    case
        when {{ workload }} = '(unallocated)' then 'unallocated'
        when {{ workload }} = '(unused commitment)' then 'unused_commitment'
        else 'workload'
    end
{% endmacro %}
