{#-
    GCP export rows, each counted once, with its credits summed (net cost = cost + credits).

    The export is append-only with late rows, and the same day may be exported again or
    repeated by a later export beside its late rows: a row found in several files counts once.
    Identical rows inside one file are distinct BigQuery rows and all count, so each distinct
    row is kept as many times as the one file holding it most often holds it (the first such
    file by name).
-#}
{%- set row_columns = [
    'invoice_month', 'billing_account_id', 'service_id', 'service_description',
    'upper(sku_id)', 'sku_description', 'usage_start_time', 'usage_end_time', 'project_id',
    'project_name', 'location_region', 'location_zone', 'resource_name',
    'resource_global_name', 'export_time', 'cost', 'currency', 'currency_conversion_rate',
    'usage_amount', 'usage_unit', 'usage_amount_in_pricing_units', 'usage_pricing_unit',
    'credits_json', 'cost_type', 'consumption_model_id', 'consumption_model_description',
] -%}
with

exported as (

    select
        *,
        count(*) over (partition by {{ row_columns | join(', ') }}, source_file)
            as copies_in_file

    from {{ source('raw', 'gcp_billing_export') }}

),

-- The copies of each distinct row in the file that holds it most often.
counted_once as (

    select *
    from (
        select
            *,
            dense_rank() over (
                partition by {{ row_columns | join(', ') }}
                order by copies_in_file desc, source_file
            ) as file_rank
        from exported
    ) as ranked
    where file_rank = 1

),

credits as (

    select
        source_file,
        source_row,
        cast(sum(amount) as decimal(38, 10)) as credits_total,
        cast(sum(case when is_committed_use_discount then amount else 0 end) as decimal(38, 10))
            as credits_committed_usage_discount,
        max(case when credit_type = 'FEE_UTILIZATION_OFFSET' then 1 else 0 end) = 1
            as has_fee_utilization_offset

    from {{ ref('stg_gcp_billing__credits') }}
    group by 1, 2

),

source as (

    select
        counted_once.*,
        cast(coalesce(credits.credits_total, 0) as decimal(38, 10)) as credits_total,
        cast(coalesce(credits.credits_committed_usage_discount, 0) as decimal(38, 10))
            as credits_committed_usage_discount,
        coalesce(credits.has_fee_utilization_offset, false) as has_fee_utilization_offset,
        -- The SKU description as padded words, for whole-word matches.
        ' ' || {{ regexp_replace_all('lower(counted_once.sku_description)', "'[^a-z0-9]+'", "' '") }} || ' '
            as sku_words
    from counted_once
    left join credits
        on counted_once.source_file = credits.source_file
        and counted_once.source_row = credits.source_row

),

renamed as (

    select
        invoice_month,
        source_file,
        source_row,
        billing_account_id,
        service_id,
        service_description as service_name,
        -- One sample writes a SKU id in lower case; Catalog ids are upper case.
        upper(sku_id) as sku_id,
        sku_description,
        usage_start_time as usage_start_at,
        usage_end_time as usage_end_at,
        project_id,
        project_name,
        location_region as region_id,
        location_zone as zone_id,
        resource_name,
        resource_global_name,
        cost,
        credits_total,
        credits_committed_usage_discount,
        -- Google: net cost = cost + sum of credits (credits are negative).
        cost + credits_total as net_cost,
        currency as currency_code,
        -- Google's rate from US dollars to the billing currency (1.0 for USD accounts).
        currency_conversion_rate,
        usage_amount,
        usage_unit,
        usage_amount_in_pricing_units,
        usage_pricing_unit,
        cost_type,
        consumption_model_id,
        consumption_model_description,
        credits_json,
        -- GPU SKUs are billed apart from the VM's cores and RAM ("Nvidia ... GPU running in").
        lower(sku_description) like '%gpu%' as is_gpu_sku,
        lower(sku_description) like 'commitment%' as is_commitment_fee,
        -- The 2025-26 spend-based model: a dollar-based fee SKU offset by FEE_UTILIZATION_OFFSET
        -- credits for the part used (usage is priced at the discounted rate instead).
        lower(sku_description) like 'commitment%'
            and (
                lower(sku_description) like '%dollar based%'
                or lower(sku_description) like '%spend based%'
                or has_fee_utilization_offset
            ) as is_spend_based_fee,
        -- What a resource-based commitment covers, named alike on fee SKUs ("Commitment v1:
        -- Nvidia Tesla A100 GPU in Americas for 1 Year") and usage SKUs ("Nvidia Tesla A100 GPU
        -- running in Americas"): the GPU model, or RAM / CPU (memory-optimized apart), or
        -- local SSD. The machine series is not part of it (N1 fees name none).
        case
            when lower(sku_description) like '%gpu%'
                then 'gpu-' || coalesce(nullif(replace(regexp_extract(
                    lower(sku_description), 'nvidia (tesla )?([a-z][0-9]+[a-z]?( 80gb)?)', 2
                ), ' ', '-'), ''), 'any')
            when sku_words like '% local ssd %' then 'local-ssd'
            when sku_words like '% ram %' or sku_words like '% memory %'
                or lower(usage_pricing_unit) = 'gibibyte hour'
                then case
                    when sku_words like '% megamem %' or sku_words like '% ultramem %'
                        or sku_words like '% memory optimized %'
                        then 'memory-optimized-ram'
                    else 'ram'
                end
            when sku_words like '% core %' or sku_words like '% cpu %'
                or sku_words like '% vcpu %'
                then case
                    when sku_words like '% megamem %' or sku_words like '% ultramem %'
                        or sku_words like '% memory optimized %'
                        then 'memory-optimized-cpu'
                    else 'cpu'
                end
        end as cud_family

    from source

)

select * from renamed
