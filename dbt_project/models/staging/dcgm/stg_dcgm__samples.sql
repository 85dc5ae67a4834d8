with

source as (

    select * from {{ source('raw', 'dcgm_samples') }}

),

renamed as (

    select
        cast(scraped_at as timestamp) as scraped_at,
        host,
        cloud_resource_id,
        gpu_uuid,
        cast(gpu_index as integer) as gpu_index,
        gpu_model,
        mig_instance_id,
        k8s_namespace,
        k8s_pod,
        container,
        metric,
        value,
        source_file,
        partition_date

    from source

)

select * from renamed
