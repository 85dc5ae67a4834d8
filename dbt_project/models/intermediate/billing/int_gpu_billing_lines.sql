{#-
    Every bill line that is GPU cost, from every source that can say so, with the GPUs it covers.

    AWS: instance-hour lines of GPU instance types; the whole instance cost, spread over the
    type's GPUs (the bill has no GPU split). GCP: GPU SKUs only, which Google bills apart from
    the VM's cores and RAM (DESIGN.md rule 1); the GPUs covered are the GPU-hours of the line
    divided by its hours, and the cost is the net cost (cost + credits, CUD credits included).
    FOCUS exports carry no instance type or GPU SKU marker to tell GPU compute by, so they reach
    billing_focus but not this model.
-#}
with

aws_lines as (

    select * from {{ ref('int_billing_lines_amortized') }}
    where is_gpu_compute

),

gcp_rows as (

    select * from {{ ref('stg_gcp_billing__export_rows') }}
    where is_gpu_sku
        and not is_commitment_fee
        and resource_name is not null

),

aws as (

    select
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

final as (

    select * from aws
    union all
    select * from gcp

)

select * from final
