with

source as (

    select * from {{ source('raw', 'exchange_rates') }}

),

renamed as (

    select
        currency as currency_code,
        billing_period,
        usd_per_unit,
        source_file,
        source_row

    from source

)

select * from renamed
