{#-
    Every bill line that is GPU cost, from every source that can say so, with the GPUs it covers.

    AWS: instance-hour lines of GPU instance types; the whole instance cost, spread over the
    type's GPUs (the bill has no GPU split). GCP: GPU SKUs only, which Google bills apart from
    the VM's cores and RAM (DESIGN.md rule 1); the GPUs covered are the GPU-hours of the line
    divided by its hours, and the cost is the net cost (cost + credits, CUD credits included).
    FOCUS exports have no instance-type column; an AWS usage row of an instance whose charge
    description names a GPU instance type ("... Linux g5.4xlarge Instance Hour") is GPU compute,
    at its EffectiveCost. Other providers' FOCUS rows are not recognised yet.
-#}
with

aws_lines as (

    select * from {{ ref('int_billing_lines_amortized') }}
    where is_gpu_compute

),

focus_rows as (

    select * from {{ ref('stg_focus__charges') }}
    where charge_category = 'Usage'
        and lower(provider_name) in ('aws', 'amazon web services')
        and (lower(resource_type) = 'instance' or resource_id like 'i-%')

),

gpu_instance_types as (

    select * from {{ ref('aws_gpu_instance_types') }}

),

gcp_rows as (

    select * from {{ ref('stg_gcp_billing__export_rows') }}
    where is_gpu_sku
        and not is_commitment_fee
        and resource_name is not null

),

aws as (

    select
        'aws_cur' as billing_source,
        'aws' as provider,
        billing_period,
        resource_id,
        instance_type,
        gpu_model,
        gpu_count,
        usage_start_at,
        usage_end_at,
        usage_hours,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        currency_code

    from aws_lines

),

gcp as (

    select
        'gcp_billing' as billing_source,
        'gcp' as provider,
        invoice_month as billing_period,
        resource_name as resource_id,
        cast(null as varchar) as instance_type,
        sku_description as gpu_model,
        -- At least one GPU: a GPU used part of the hour still costs its whole line.
        cast(greatest(1, round(
            coalesce(usage_amount_in_pricing_units, 0)
            / greatest(1, {{ dbt.datediff('usage_start_at', 'usage_end_at', 'hour') }})
        )) as integer) as gpu_count,
        usage_start_at,
        usage_end_at,
        greatest(1, {{ dbt.datediff('usage_start_at', 'usage_end_at', 'hour') }}) as usage_hours,
        cast(net_cost as decimal(38, 10)) as effective_cost,
        currency_code

    from gcp_rows

),

focus as (

    select
        'focus' as billing_source,
        'aws' as provider,
        focus_rows.billing_period,
        focus_rows.resource_id,
        gpu_instance_types.instance_type,
        gpu_instance_types.gpu_model,
        gpu_instance_types.gpu_count,
        focus_rows.charge_period_start_at as usage_start_at,
        focus_rows.charge_period_end_at as usage_end_at,
        greatest(
            1, {{ dbt.datediff('focus_rows.charge_period_start_at', 'focus_rows.charge_period_end_at', 'hour') }}
        ) as usage_hours,
        cast(focus_rows.effective_cost as decimal(38, 10)) as effective_cost,
        focus_rows.billing_currency as currency_code

    from focus_rows
    inner join gpu_instance_types
        on focus_rows.charge_description like '% ' || gpu_instance_types.instance_type || ' %'

),

final as (

    select * from aws
    union all
    select * from gcp
    union all
    select * from focus

)

select * from final
