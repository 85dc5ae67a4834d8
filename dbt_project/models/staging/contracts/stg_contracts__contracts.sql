with

source as (

    select * from {{ source('raw', 'contracts') }}

),

renamed as (

    select
        contract_id,
        kind,
        provider,
        description,
        commitment_id,
        instance_type,
        instance_count,
        gpu_model,
        gpu_count,
        start_at,
        end_at,
        {{ dbt.datediff('start_at', 'end_at', 'hour') }} as term_hours,
        coalesce(upfront_usd, 0) as upfront_usd,
        hourly_commitment_usd,
        hourly_fee_usd_per_gpu,
        monthly_fee_usd,
        coalesce(escalator_per_year, 0) as escalator_per_year,
        purchase_price_usd,
        coalesce(salvage_value_usd, 0) as salvage_value_usd,
        power_price_usd_per_kwh,
        pue,
        coalesce(opex_usd_per_month, 0) as opex_usd_per_month,
        early_termination_notice_days,
        early_termination_fee_usd,
        gpu_share,
        source_file

    from source

)

select * from renamed
