{#- Per source and billing period: the unified table carries exactly each source's cost. -#}

{{ config(meta={'dagster': {'ref': {'name': 'billing_focus'}}}) }}

with

sources as (

    select
        'aws_cur' as x_source_system,
        billing_period,
        sum(unblended_cost) as billed_cost
    from {{ ref('stg_aws_cur__line_items') }}
    group by 1, 2

    union all

    select
        'focus' as x_source_system,
        billing_period,
        sum(billed_cost) as billed_cost
    from {{ ref('stg_focus__charges') }}
    group by 1, 2

    union all

    select
        'gcp_billing' as x_source_system,
        invoice_month as billing_period,
        sum(net_cost) as billed_cost
    from {{ ref('stg_gcp_billing__export_rows') }}
    group by 1, 2

),

unified as (

    select
        x_source_system,
        x_billing_period as billing_period,
        sum({{ adapter.quote("BilledCost") }}) as billed_cost
    from {{ ref('billing_focus') }}
    group by 1, 2

)

select
    coalesce(sources.x_source_system, unified.x_source_system) as x_source_system,
    coalesce(sources.billing_period, unified.billing_period) as billing_period,
    sources.billed_cost as source_cost,
    unified.billed_cost as unified_cost
from sources
full outer join unified
    on sources.x_source_system = unified.x_source_system
    and sources.billing_period = unified.billing_period
where abs(coalesce(sources.billed_cost, 0) - coalesce(unified.billed_cost, 0)) >= 0.005
