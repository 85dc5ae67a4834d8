with

source as (

    select
        *,
        -- The SKU description as padded words, for whole-word matches.
        ' ' || {{ regexp_replace_all('lower(sku_description)', "'[^a-z0-9]+'", "' '") }} || ' '
            as sku_words
    from {{ source('raw', 'gcp_billing_export') }}

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
                or coalesce(credits_json, '') like '%FEE_UTILIZATION_OFFSET%'
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
