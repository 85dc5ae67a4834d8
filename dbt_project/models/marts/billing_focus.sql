{#- Every bill, one FOCUS 1.2-shaped table: each source mapped by its own model, then one union.
    Incremental by billing period, as the three (macros/billing_periods.sql). -#}
{%- set inputs = [
    ['int_billing_focus_from_aws_cur', 'billing_periods'],
    ['int_billing_focus_from_focus_exports', 'billing_periods'],
    ['int_billing_focus_from_gcp_billing', 'billing_periods'],
] -%}
{{ billing_periods_config(inputs, column='x_billing_period') }}
{%- set build_periods = billing_periods_to_build(inputs) %}

with

aws_cur as (

    select * from {{ ref('int_billing_focus_from_aws_cur') }}
    where {{ billing_period_filter('x_billing_period', build_periods) }}

),

focus as (

    select * from {{ ref('int_billing_focus_from_focus_exports') }}
    where {{ billing_period_filter('x_billing_period', build_periods) }}

),

gcp_billing as (

    select * from {{ ref('int_billing_focus_from_gcp_billing') }}
    where {{ billing_period_filter('x_billing_period', build_periods) }}

),

final as (

    select * from aws_cur
    union all
    select * from focus
    union all
    select * from gcp_billing

)

select * from final
