with

source as (

    select * from {{ source('raw', 'host_aliases') }}

)

select
    alias,
    host,
    cloud_resource_id,
    source_row

from source
