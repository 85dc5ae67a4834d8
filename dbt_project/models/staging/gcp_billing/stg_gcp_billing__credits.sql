{#- The credits of each GCP export row, one row per credit, with whether it is a committed use
    discount: the legacy resource-based CUD's credit (type COMMITTED_USAGE_DISCOUNT, or a name
    starting "Committed Usage Discount" in exports that name no type), the dollar-based one's,
    and the spend-based model's FEE_UTILIZATION_OFFSET on the fee row. -#}
with

source as (

    select * from {{ source('raw', 'gcp_billing_credits') }}

),

renamed as (

    select
        invoice_month,
        source_file,
        source_row,
        credit_index,
        name as credit_name,
        upper(type) as credit_type,
        full_name as credit_full_name,
        id as credit_id,
        cast(amount as decimal(38, 10)) as amount,
        coalesce(
            upper(type) in (
                'COMMITTED_USAGE_DISCOUNT',
                'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE',
                'FEE_UTILIZATION_OFFSET'
            )
            or name like 'Committed Usage Discount%',
            false
        ) as is_committed_use_discount

    from source

)

select * from renamed
