with

source as (

    select * from {{ source('raw', 'inference_metric_samples') }}

),

renamed as (

    select
        cast(scraped_at as timestamp) as scraped_at,
        host,
        server,
        model,
        metric,
        value as counter_value,
        coalesce(labels, '') as series_labels,
        partition_date,
        source_file

    from source

)

select * from renamed
