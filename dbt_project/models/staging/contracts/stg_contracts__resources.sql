with

source as (

    select * from {{ source('raw', 'contract_resources') }}

)

select
    contract_id,
    resource_id

from source
