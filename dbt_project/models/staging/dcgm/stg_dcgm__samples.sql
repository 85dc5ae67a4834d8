with

source as (

    select * from {{ source('raw', 'dcgm_samples') }}

),

renamed as (

    select
        cast(scraped_at as timestamp) as scraped_at,
        {{ resolved_host('source.host') }} as host,
        {{ resolved_cloud_resource_id('source.cloud_resource_id', 'source.host') }}
            as cloud_resource_id,
        gpu_uuid,
        cast(gpu_index as integer) as gpu_index,
        gpu_model,
        mig_instance_id,
        mig_profile,
        k8s_namespace,
        k8s_pod,
        container,
        metric,
        value,
        source_file,
        partition_date

    from source
    {{ host_aliases_join('source.host') }}

)

select * from renamed
