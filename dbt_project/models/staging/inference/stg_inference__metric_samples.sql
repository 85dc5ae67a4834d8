with

source as (

    select * from {{ source('raw', 'inference_metric_samples') }}

),

renamed as (

    select
        cast(scraped_at as timestamp) as scraped_at,
        {{ resolved_host('source.host') }} as host,
        server,
        model,
        metric,
        value as counter_value,
        coalesce(labels, '') as series_labels,
        partition_date,
        source_file

    from source
    {{ host_aliases_join('source.host') }}

)

select * from renamed
