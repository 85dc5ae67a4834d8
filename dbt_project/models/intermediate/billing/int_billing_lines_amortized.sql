{#-
    Every CUR line with its effective (amortized) cost and whether it is GPU compute.

    Effective cost follows AWS's amortized view: savings-plan-covered usage costs its
    savings_plan_effective_cost, RI-covered usage its reservation_effective_cost, and the
    negation lines that cancel the on-demand price of covered usage cost nothing. A recurring
    savings-plan fee's used part is already inside the covered lines' effective cost, so only its
    unused part (total commitment - used commitment) is effective cost here; it is not GPU compute
    (DESIGN.md rule 3 puts it in its own bucket).

    GPU compute: instance-hour usage (BoxUsage, DedicatedUsage, HostUsage) of an instance type in
    the aws_gpu_instance_types reference. Storage, data transfer and CPU instances on the same
    bill are not GPU cost.

    Built a billing period at a time (macros/batch.sql): a restated bill rebuilds its period.
-#}
with

line_items as (

    select * from {{ ref('stg_aws_cur__line_items') }}
    where {{ batch_periods_filter('billing_period') }}

),

gpu_instance_types as (

    select * from {{ ref('aws_gpu_instance_types') }}

),

amortized as (

    select
        line_items.*,
        case line_items.line_item_type
            when 'SavingsPlanCoveredUsage' then line_items.savings_plan_effective_cost
            when 'DiscountedUsage' then line_items.reservation_effective_cost
            when 'SavingsPlanNegation' then cast(0 as decimal(38, 10))
            when 'SavingsPlanRecurringFee'
                then line_items.savings_plan_total_commitment_to_date
                    - line_items.savings_plan_used_commitment
            else line_items.unblended_cost
        end as effective_cost,
        line_items.line_item_type in ('Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage')
            and (
                line_items.usage_type like '%BoxUsage%'
                or line_items.usage_type like '%DedicatedUsage%'
                or line_items.usage_type like '%HostUsage%'
            )
            and gpu_instance_types.instance_type is not null as is_gpu_compute,
        gpu_instance_types.gpu_model,
        gpu_instance_types.gpu_count

    from line_items
    left join gpu_instance_types
        on line_items.instance_type = gpu_instance_types.instance_type

),

final as (

    select
        line_item_id,
        billing_period,
        {{ period_start('billing_period') }} as billing_period_start_at,
        'aws' as provider,
        payer_account_id,
        payer_account_name,
        invoice_id,
        line_item_description,
        pricing_unit,
        usage_amount,
        public_on_demand_cost,
        region_code,
        availability_zone,
        usage_account_id,
        line_item_type,
        usage_start_at,
        usage_end_at,
        greatest(1, {{ dbt.datediff('usage_start_at', 'usage_end_at', 'hour') }}) as usage_hours,
        product_code,
        usage_type,
        resource_id,
        instance_type,
        gpu_model,
        gpu_count,
        unblended_cost,
        effective_cost,
        currency_code,
        savings_plan_arn,
        savings_plan_total_commitment_to_date,
        savings_plan_used_commitment,
        is_gpu_compute

    from amortized

)

select * from final
