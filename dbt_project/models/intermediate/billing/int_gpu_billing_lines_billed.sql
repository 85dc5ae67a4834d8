{#-
    Every bill line that is GPU cost, from every source that can say so, with the GPUs it covers.

    AWS: instance-hour lines of GPU instance types; the whole instance cost, spread over the
    type's GPUs (the bill has no GPU split). GCP: GPU SKUs only, which Google bills apart from
    the VM's cores and RAM (DESIGN.md rule 1); the GPUs covered are the GPU-hours of the line
    divided by its hours, and the cost is the net cost (cost + credits, CUD credits included)
    plus the used part of the GPU CUD fee that covered the line (int_gcp_billing_rows_amortized).
    FOCUS exports have no instance-type column; an AWS usage row of an instance whose charge
    description names a GPU instance type ("... Linux g5.4xlarge Instance Hour") is GPU compute,
    at its EffectiveCost. Other providers' usage rows are recognised by the seed focus_gpu_skus
    (Azure VM sizes, GCP GPU SKUs, OCI shapes, GPU-hour SKUs of neoclouds): the longest
    matching SKU text wins; instance rows carry the instance's GPUs, GPU-hour rows their
    quantity divided by their hours.

    Cost is in the currency billed, with GCP's own rate to US dollars where the export states
    one (currency_conversion_rate); int_gpu_billing_lines converts it to US dollars.

    Built a billing period at a time (macros/batch.sql): a restated bill of any source rebuilds
    its period.
-#}
with

aws_lines as (

    select * from {{ ref('int_billing_lines_amortized') }}
    where is_gpu_compute

),

focus_rows as (

    select * from {{ ref('stg_focus__charges') }}
    where charge_category = 'Usage'
        and {{ batch_periods_filter('billing_period') }}
        and lower(provider_name) in ('aws', 'amazon web services')
        and (lower(resource_type) = 'instance' or resource_id like 'i-%')

),

gpu_instance_types as (

    select * from {{ ref('aws_gpu_instance_types') }}

),

other_focus_rows as (

    select
        *,
        case
            when lower(provider_name) in ('microsoft', 'azure', 'microsoft azure') then 'azure'
            when lower(provider_name) in ('google cloud', 'google', 'gcp', 'google cloud platform')
                then 'gcp'
            when lower(provider_name) in ('oracle', 'oci', 'oracle cloud infrastructure')
                then 'oci'
            else 'neocloud'
        end as provider_key,
        ' ' || {{ regexp_replace_all(
            "lower(concat_ws(' ', sku_id, charge_description, resource_type, sku_price_id,"
            ~ " sku_meter, sku_price_details, pricing_unit, consumed_unit, x_extensions))",
            "'[_-]'",
            "' '",
        ) }} || ' ' as haystack,
        lower(coalesce(consumed_unit, '') || ' ' || coalesce(pricing_unit, '')) like '%gpu%'
            as unit_names_gpus
    from {{ ref('stg_focus__charges') }}
    where charge_category = 'Usage'
        and {{ batch_periods_filter('billing_period') }}
        and lower(provider_name) not in ('aws', 'amazon web services')
        and resource_id is not null

),

focus_gpu_skus as (

    select * from {{ ref('focus_gpu_skus') }}

),

other_focus_matches as (

    select
        other_focus_rows.*,
        focus_gpu_skus.gpu_model,
        focus_gpu_skus.gpu_count as sku_gpu_count,
        focus_gpu_skus.quantity_basis,
        row_number() over (
            partition by other_focus_rows.source_file, other_focus_rows.source_row
            order by length(focus_gpu_skus.match_text) desc, focus_gpu_skus.match_text
        ) as match_rank
    from other_focus_rows
    inner join focus_gpu_skus
        on other_focus_rows.provider_key = focus_gpu_skus.provider_key
        and other_focus_rows.haystack like '%' || focus_gpu_skus.match_text || '%'
    where other_focus_rows.provider_key <> 'neocloud' or other_focus_rows.unit_names_gpus

),

gcp_rows as (

    select * from {{ ref('int_gcp_billing_rows_amortized') }}
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
        currency_code,
        cast(null as decimal(38, 10)) as own_usd_per_unit,
        case when line_item_type = 'SavingsPlanCoveredUsage' then savings_plan_arn end
            as commitment_id,
        line_item_id as source_line_id

    from aws_lines

),

gcp as (

    select
        'gcp_billing' as billing_source,
        'gcp' as provider,
        invoice_month as billing_period,
        resource_name as resource_id,
        cast(null as {{ dbt.type_string() }}) as instance_type,
        sku_description as gpu_model,
        -- At least one GPU: a GPU used part of the hour still costs its whole line.
        cast(greatest(1, round(
            coalesce(usage_amount_in_pricing_units, 0)
            / greatest(1, {{ dbt.datediff('usage_start_at', 'usage_end_at', 'hour') }})
        )) as integer) as gpu_count,
        usage_start_at,
        usage_end_at,
        greatest(1, {{ dbt.datediff('usage_start_at', 'usage_end_at', 'hour') }}) as usage_hours,
        -- Net cost plus the used part of the GPU CUD fee that covered it.
        effective_cost,
        currency_code,
        case
            when currency_conversion_rate > 0
                then cast(1 / currency_conversion_rate as decimal(38, 10))
        end as own_usd_per_unit,
        commitment_id,
        source_file || ':' || cast(source_row as {{ dbt.type_string() }}) as source_line_id

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
        focus_rows.billing_currency as currency_code,
        cast(null as decimal(38, 10)) as own_usd_per_unit,
        focus_rows.commitment_discount_id as commitment_id,
        focus_rows.source_file || ':' || cast(focus_rows.source_row as {{ dbt.type_string() }})
            as source_line_id

    from focus_rows
    inner join gpu_instance_types
        on focus_rows.charge_description like '% ' || gpu_instance_types.instance_type || ' %'

),

other_focus as (

    select
        'focus' as billing_source,
        provider_key as provider,
        billing_period,
        resource_id,
        cast(null as {{ dbt.type_string() }}) as instance_type,
        gpu_model,
        case
            when quantity_basis = 'instance' then sku_gpu_count
            -- GPU-hours over the row's hours; at least one GPU, as for GCP export rows.
            else cast(greatest(1, round(
                coalesce(consumed_quantity, pricing_quantity, 0)
                / greatest(1, {{ dbt.datediff('charge_period_start_at', 'charge_period_end_at', 'hour') }})
            )) as integer)
        end as gpu_count,
        charge_period_start_at as usage_start_at,
        charge_period_end_at as usage_end_at,
        greatest(
            1, {{ dbt.datediff('charge_period_start_at', 'charge_period_end_at', 'hour') }}
        ) as usage_hours,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        billing_currency as currency_code,
        cast(null as decimal(38, 10)) as own_usd_per_unit,
        commitment_discount_id as commitment_id,
        source_file || ':' || cast(source_row as {{ dbt.type_string() }}) as source_line_id

    from other_focus_matches
    where match_rank = 1

),

all_lines as (

    select * from aws
    union all
    select * from gcp
    union all
    select * from focus
    union all
    select * from other_focus

),

final as (

    select
        *,
        {{ period_start('billing_period') }} as billing_period_start_at
    from all_lines

)

select * from final
