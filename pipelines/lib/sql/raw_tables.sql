-- The columns of the raw layer's Parquet files, in their types (pipelines/lib/raw_files.py):
-- what each source lands, as delivered (raw names), plus lineage columns. A table's partition
-- key (billing_period, partition_date, invoice_month, provider) is in its folder names, not in
-- its files. The NVML spool is kept as the collector wrote it (collectors/spool.py).

-- AWS Data Exports CUR 2.0 line items of the newest complete delivery of a billing period.
create table aws_cur_line_items (
    billing_period varchar not null,
    execution_id varchar not null,
    source_file varchar not null,
    identity_line_item_id varchar,
    identity_time_interval varchar,
    bill_billing_period_start_date timestamp,
    bill_invoice_id varchar,
    bill_payer_account_id varchar,
    line_item_usage_account_id varchar,
    line_item_line_item_type varchar,
    line_item_usage_start_date timestamp,
    line_item_usage_end_date timestamp,
    line_item_product_code varchar,
    line_item_usage_type varchar,
    line_item_operation varchar,
    line_item_resource_id varchar,
    line_item_usage_amount double,
    line_item_unblended_cost double,
    line_item_currency_code varchar,
    product_instance_type varchar,
    product_product_family varchar,
    pricing_public_on_demand_cost double,
    savings_plan_savings_plan_a_r_n varchar,
    savings_plan_savings_plan_effective_cost double,
    savings_plan_total_commitment_to_date double,
    savings_plan_used_commitment double,
    reservation_effective_cost double,
    bill_payer_account_name varchar,
    line_item_line_item_description varchar,
    pricing_unit varchar,
    product_region_code varchar,
    line_item_availability_zone varchar
);

-- dcgm-exporter scrapes (collectors/scrape.py DCGM_SCHEMA), one row per metric sample.
create table dcgm_samples (
    partition_date date not null,
    source_file varchar not null,
    schema_version smallint not null,
    scraped_at timestamp not null,
    host varchar not null,
    cloud_resource_id varchar,
    gpu_uuid varchar,
    gpu_index smallint,
    gpu_model varchar,
    mig_instance_id varchar,
    mig_profile varchar,
    k8s_namespace varchar,
    k8s_pod varchar,
    container varchar,
    metric varchar not null,
    value double
);

-- Inference-server token counters (collectors/scrape.py INFERENCE_METRICS_SCHEMA).
create table inference_metric_samples (
    partition_date date not null,
    source_file varchar not null,
    schema_version smallint not null,
    scraped_at timestamp not null,
    host varchar not null,
    server varchar not null,
    model varchar,
    metric varchar not null,
    value double not null,
    labels varchar
);

-- Request logs (the envelope's lines, LiteLLM payloads, OTel GenAI spans), one row per request
-- that passed validation.
create table inference_requests (
    partition_date date not null,
    source_file varchar not null,
    source_line integer not null,
    request_id varchar not null,
    requested_at timestamp not null,
    host varchar not null,
    endpoint varchar,
    workload varchar not null,
    model varchar not null,
    -- Null: a gateway logged a failure without its HTTP status.
    http_status integer,
    finish_reason varchar,
    attempt integer,
    retry_of varchar,
    is_synthetic boolean not null,
    has_usage boolean not null,
    prompt_tokens bigint,
    completion_tokens bigint,
    cached_prompt_tokens bigint,
    reasoning_tokens bigint,
    -- gpuledger (the envelope), litellm or otel (pipelines/defs/sources/inference/gateways.py).
    source_system varchar not null,
    time_to_first_token_ms double,
    duration_ms double
);

-- FOCUS 1.0-1.3 exports, FOCUS column names, one row per charge row of the export.
create table focus_charges (
    billing_period varchar not null,
    source_file varchar not null,
    source_row integer not null,
    "BillingPeriodStart" timestamp,
    "BillingPeriodEnd" timestamp,
    "ChargePeriodStart" timestamp,
    "ChargePeriodEnd" timestamp,
    "BilledCost" double,
    "EffectiveCost" double,
    "ListCost" double,
    "ContractedCost" double,
    "ConsumedQuantity" double,
    "PricingQuantity" double,
    "ListUnitPrice" double,
    "ContractedUnitPrice" double,
    "CommitmentDiscountQuantity" double,
    "AvailabilityZone" varchar,
    "BillingAccountId" varchar,
    "BillingAccountName" varchar,
    "BillingAccountType" varchar,
    "BillingCurrency" varchar,
    "ChargeCategory" varchar,
    "ChargeClass" varchar,
    "ChargeDescription" varchar,
    "ChargeFrequency" varchar,
    "CommitmentDiscountCategory" varchar,
    "CommitmentDiscountId" varchar,
    "CommitmentDiscountName" varchar,
    "CommitmentDiscountStatus" varchar,
    "CommitmentDiscountType" varchar,
    "CommitmentDiscountUnit" varchar,
    "ConsumedUnit" varchar,
    "InvoiceId" varchar,
    "InvoiceIssuerName" varchar,
    "PricingCategory" varchar,
    "PricingUnit" varchar,
    "ProviderName" varchar,
    "PublisherName" varchar,
    "RegionId" varchar,
    "RegionName" varchar,
    "ResourceId" varchar,
    "ResourceName" varchar,
    "ResourceType" varchar,
    "ServiceCategory" varchar,
    "ServiceName" varchar,
    "ServiceSubcategory" varchar,
    "SkuId" varchar,
    "SkuPriceId" varchar,
    "SkuMeter" varchar,
    "SkuPriceDetails" varchar,
    "SubAccountId" varchar,
    "SubAccountName" varchar,
    "SubAccountType" varchar,
    "Tags" varchar,
    x_extensions varchar
);

-- Google Cloud Billing detailed usage cost export, flattened; replaced per invoice month.
create table gcp_billing_export (
    invoice_month varchar not null,
    source_file varchar not null,
    source_row integer not null,
    billing_account_id varchar,
    service_id varchar,
    service_description varchar,
    sku_id varchar not null,
    sku_description varchar,
    usage_start_time timestamp not null,
    usage_end_time timestamp not null,
    project_id varchar,
    project_name varchar,
    location_region varchar,
    location_zone varchar,
    resource_name varchar,
    resource_global_name varchar,
    export_time timestamp,
    cost decimal(38, 10) not null,
    currency varchar not null,
    currency_conversion_rate double,
    usage_amount double,
    usage_unit varchar,
    usage_amount_in_pricing_units double,
    usage_pricing_unit varchar,
    credits_json varchar,
    cost_type varchar,
    consumption_model_id varchar,
    consumption_model_description varchar
);
-- Each export row's credits, one row per credit; replaced with the rows of its invoice month.
create table gcp_billing_credits (
    invoice_month varchar not null,
    source_file varchar not null,
    source_row integer not null,
    credit_index integer not null,
    name varchar,
    type varchar,
    full_name varchar,
    id varchar,
    amount decimal(38, 10) not null
);

-- Public list prices of GPU capacity (AWS Price List offer files, GCP Cloud Billing Catalog).
create table list_prices (
    provider varchar not null,
    sku_id varchar not null,
    price_id varchar,
    description varchar,
    instance_type varchar,
    gpu_count integer,
    resource_group varchar,
    region varchar,
    market_option varchar,
    usage_unit varchar,
    tier_start_usage_amount double,
    unit_price decimal(38, 10) not null,
    currency varchar not null,
    effective_at timestamp not null,
    source varchar not null
);

-- US dollars per unit of a billing currency, per billing period (prices/exchange_rates.csv).
create table exchange_rates (
    currency varchar not null,
    billing_period varchar not null,
    usd_per_unit decimal(38, 10) not null,
    source_file varchar not null,
    source_row integer not null
);

-- contracts/commitments.yaml (replaced whole every run).
create table contracts (
    contract_id varchar not null,
    kind varchar not null,
    provider varchar,
    description varchar,
    commitment_id varchar,
    instance_type varchar,
    instance_count integer,
    gpu_model varchar,
    gpu_count integer,
    start_at timestamp not null,
    end_at timestamp not null,
    upfront_usd decimal(38, 10),
    hourly_commitment_usd decimal(38, 10),
    hourly_fee_usd_per_gpu decimal(38, 10),
    monthly_fee_usd decimal(38, 10),
    escalator_per_year decimal(38, 10),
    purchase_price_usd decimal(38, 10),
    salvage_value_usd decimal(38, 10),
    power_price_usd_per_kwh decimal(38, 10),
    pue decimal(38, 10),
    opex_usd_per_month decimal(38, 10),
    early_termination_notice_days integer,
    early_termination_fee_usd decimal(38, 10),
    gpu_share decimal(38, 10),
    source_file varchar not null
);
create table contract_resources (
    contract_id varchar not null,
    resource_id varchar not null
);

-- API price book (LiteLLM format) and served model -> API model (replaced whole every run).
create table api_prices (
    api_model varchar not null,
    provider varchar,
    mode varchar,
    input_cost_per_token decimal(38, 18) not null,
    output_cost_per_token decimal(38, 18) not null,
    cache_read_input_token_cost decimal(38, 18),
    source_file varchar not null
);
-- Service-level objectives per workload, in milliseconds (inference/objectives.yml).
create table service_objectives (
    workload varchar not null,
    time_to_first_token_ms double,
    time_per_output_token_ms double,
    duration_ms double,
    source_file varchar not null
);
create table host_aliases (
    alias varchar not null,
    host varchar not null,
    cloud_resource_id varchar,
    source_row integer not null
);
create table api_equivalents (
    served_model varchar not null,
    api_model varchar not null,
    source_file varchar not null,
    source_row integer not null
);
