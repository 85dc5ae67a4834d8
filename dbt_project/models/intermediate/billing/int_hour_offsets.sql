{#- 0..767 hour offsets (32 days): spreads a line item that spans several hours over each hour. -#}
with

digits as (

    {% for d in range(10) %}
    select {{ d }} as digit{% if not loop.last %} union all{% endif %}
    {% endfor %}

),

final as (

    select hundreds.digit * 100 + tens.digit * 10 + ones.digit as hour_offset
    from digits as hundreds
    cross join digits as tens
    cross join digits as ones
    where hundreds.digit * 100 + tens.digit * 10 + ones.digit < 768

)

select * from final
