with

source as (

    select * from {{ source('raw', 'api_equivalents') }}

)

select
    served_model,
    api_model,
    source_file,
    source_row

from source
