{#-
    The contracts' used cost as GPU lines of their hosts, one line per host-hour, in the columns
    of int_gpu_billing_lines: int_gpu_costs_hourly spreads them over the host's GPUs and the
    allocation treats them like bill lines. Energy of owned GPUs is included.
-#}
with

costs as (

    select * from {{ ref('int_contract_costs_hourly') }}
    where resource_id is not null
        and (used_cost_usd <> 0 or energy_cost_usd <> 0 or kind = 'owned')

),

final as (

    select
        'contract' as billing_source,
        provider,
        {{ dbt.concat([
            "cast(extract(year from hour_start_at) as " ~ dbt.type_string() ~ ")",
            "'-'",
            "lpad(cast(extract(month from hour_start_at) as " ~ dbt.type_string() ~ "), 2, '0')"
        ]) }} as billing_period,
        resource_id,
        instance_type,
        gpu_model,
        cast(ceil(host_gpus) as integer) as gpu_count,
        hour_start_at as usage_start_at,
        {{ dbt.dateadd('hour', 1, 'hour_start_at') }} as usage_end_at,
        1 as usage_hours,
        cast(used_cost_usd + energy_cost_usd as decimal(38, 10)) as effective_cost,
        'USD' as currency_code,
        'USD' as billed_currency,
        cast(used_cost_usd + energy_cost_usd as decimal(38, 10)) as billed_currency_cost,
        cast(1 as decimal(38, 10)) as usd_per_unit,
        contract_id

    from costs

)

select * from final
