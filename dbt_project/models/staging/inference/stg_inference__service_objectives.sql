with

source as (

    select * from {{ source('raw', 'service_objectives') }}

)

select
    workload,
    time_to_first_token_ms as objective_time_to_first_token_ms,
    time_per_output_token_ms as objective_time_per_output_token_ms,
    duration_ms as objective_duration_ms,
    source_file

from source
