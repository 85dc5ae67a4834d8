{#- Every bill, one FOCUS 1.2-shaped table: each source mapped by its own model, then one union. -#}
with

aws_cur as (

    select * from {{ ref('int_billing_focus_aws_cur') }}

),

focus as (

    select * from {{ ref('int_billing_focus_focus') }}

),

final as (

    select * from aws_cur
    union all
    select * from focus

)

select * from final
