{#- Every bill, one FOCUS 1.2-shaped table: each source mapped by its own model, then one union.
    Built a billing period at a time, as the three (macros/batch.sql). -#}
with

aws_cur as (

    select * from {{ ref('int_billing_focus_from_aws_cur') }}

),

focus as (

    select * from {{ ref('int_billing_focus_from_focus_exports') }}

),

gcp_billing as (

    select * from {{ ref('int_billing_focus_from_gcp_billing') }}

),

final as (

    select * from aws_cur
    union all
    select * from focus
    union all
    select * from gcp_billing

)

select * from final
