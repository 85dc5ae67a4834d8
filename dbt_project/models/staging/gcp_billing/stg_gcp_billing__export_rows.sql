with

source as (

    select * from {{ source('raw', 'gcp_billing_export') }}

),

renamed as (

    select
        invoice_month,
        source_file,
        source_row,
        billing_account_id,
        service_id,
        service_description as service_name,
        sku_id,
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
        -- GPU SKUs are billed apart from the VM's cores and RAM ("Nvidia ... GPU running in").
        lower(sku_description) like '%gpu%' as is_gpu_sku,
        lower(sku_description) like 'commitment%' as is_commitment_fee

    from source

)

select * from renamed
