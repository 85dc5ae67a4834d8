with

source as (

    select * from {{ source('raw', 'api_prices') }}

)

select
    api_model,
    provider as api_provider,
    mode,
    input_cost_per_token,
    output_cost_per_token,
    -- A provider without a cached-input price bills cached prompt tokens as input.
    coalesce(cache_read_input_token_cost, input_cost_per_token) as cached_input_cost_per_token,
    source_file

from source
