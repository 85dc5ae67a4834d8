with

source as (

    select * from {{ source('raw', 'aws_cur_line_items') }}

),

renamed as (

    select
        identity_line_item_id as line_item_id,
        billing_period,
        execution_id,
        source_file,
        bill_payer_account_id as payer_account_id,
        bill_payer_account_name as payer_account_name,
        bill_invoice_id as invoice_id,
        line_item_line_item_description as line_item_description,
        pricing_unit,
        cast(pricing_public_on_demand_cost as decimal(38, 10)) as public_on_demand_cost,
        product_region_code as region_code,
        line_item_availability_zone as availability_zone,
        line_item_usage_account_id as usage_account_id,
        line_item_line_item_type as line_item_type,
        cast(line_item_usage_start_date as timestamp) as usage_start_at,
        cast(line_item_usage_end_date as timestamp) as usage_end_at,
        line_item_product_code as product_code,
        line_item_usage_type as usage_type,
        line_item_operation as operation,
        line_item_resource_id as resource_id,
        product_instance_type as instance_type,
        product_product_family as product_family,
        cast(line_item_usage_amount as double) as usage_amount,
        cast(line_item_unblended_cost as decimal(38, 10)) as unblended_cost,
        cast(savings_plan_savings_plan_effective_cost as decimal(38, 10))
            as savings_plan_effective_cost,
        cast(savings_plan_total_commitment_to_date as decimal(38, 10))
            as savings_plan_total_commitment_to_date,
        cast(savings_plan_used_commitment as decimal(38, 10)) as savings_plan_used_commitment,
        savings_plan_savings_plan_a_r_n as savings_plan_arn,
        cast(reservation_effective_cost as decimal(38, 10)) as reservation_effective_cost,
        line_item_currency_code as currency_code

    from source

)

select * from renamed
