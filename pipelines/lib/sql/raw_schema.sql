-- Raw tables: what the Python assets land, as delivered (raw names), plus lineage columns.
create schema if not exists raw;

-- The version of this layout (pipelines/lib/warehouse.py::LAYOUT_VERSION): a warehouse of
-- another layout is refused, and rebuilt from the landing zone.
create table if not exists raw.layout (version integer not null);

create table if not exists raw.aws_cur_line_items (
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

create table if not exists raw.aws_cur_deliveries (
    billing_period varchar primary key,
    execution_id varchar not null,
    export_arn varchar,
    manifest_file varchar not null,
    delivered_at varchar,
    data_files integer not null,
    line_items bigint not null
);

-- NVML spool rows read through Arrow (or landed by an older version); files whose footers vouch
-- for them are kept as files instead. raw.nvml_gpu_windows is a view of both
-- (pipelines/lib/raw_files.py).
create table if not exists raw.nvml_gpu_windows_rows (
    partition_date date not null,
    source_file varchar not null,
    schema_version smallint not null,
    host varchar not null,
    cloud_resource_id varchar,
    gpu_uuid varchar not null,
    gpu_index smallint not null,
    gpu_model varchar,
    mig_instance_id varchar,
    window_start timestamp not null,
    window_end timestamp not null,
    sample_count integer not null,
    util_mean double,
    util_source varchar,
    sm_active_mean double,
    gr_engine_active_mean double,
    gpu_util_mean double,
    memory_used_bytes_max bigint,
    memory_total_bytes bigint,
    power_mw_mean double,
    energy_mj bigint,
    sm_clock_mhz_mean double,
    mem_clock_mhz_mean double,
    temperature_c_max integer,
    clocks_event_reasons bigint,
    unsupported varchar
);

-- dcgm-exporter scrapes (collectors/scrape.py DCGM_SCHEMA), one row per metric sample.
create table if not exists raw.dcgm_samples (
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
    k8s_namespace varchar,
    k8s_pod varchar,
    container varchar,
    metric varchar not null,
    value double
);

-- Inference-server token counters (collectors/scrape.py INFERENCE_METRICS_SCHEMA).
create table if not exists raw.inference_metric_samples (
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

create table if not exists raw.nvml_process_windows_rows (
    partition_date date not null,
    host varchar not null,
    gpu_uuid varchar not null,
    window_start timestamp not null,
    window_end timestamp not null,
    pid bigint,
    container_id varchar,
    k8s_namespace varchar,
    k8s_pod varchar,
    workload varchar,
    busy_share double,
    memory_used_bytes bigint,
    window_process_count integer
);

-- Request logs landed as rows before days were kept as files; raw.inference_requests is a view
-- of both (pipelines/lib/raw_files.py).
create table if not exists raw.inference_requests_rows (
    partition_date date not null,
    source_file varchar not null,
    source_line integer not null,
    request_id varchar not null,
    requested_at timestamp not null,
    host varchar not null,
    endpoint varchar,
    workload varchar not null,
    model varchar not null,
    http_status integer not null,
    finish_reason varchar,
    attempt integer,
    retry_of varchar,
    is_synthetic boolean not null,
    has_usage boolean not null,
    prompt_tokens bigint,
    completion_tokens bigint,
    cached_prompt_tokens bigint,
    reasoning_tokens bigint
);

create table if not exists raw.quarantine (
    source varchar not null,
    partition_key varchar not null,
    source_file varchar not null,
    source_line integer,
    reason varchar not null,
    raw_record varchar
);

-- FOCUS 1.0-1.3 exports, FOCUS column names, one row per charge row of the export.
create table if not exists raw.focus_charges (
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
create table if not exists raw.gcp_billing_export (
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
create table if not exists raw.gcp_billing_credits (
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
create table if not exists raw.list_prices (
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
create table if not exists raw.exchange_rates (
    currency varchar not null,
    billing_period varchar not null,
    usd_per_unit decimal(38, 10) not null,
    source_file varchar not null,
    source_row integer not null
);

-- contracts/commitments.yaml (replaced whole every run).
create table if not exists raw.contracts (
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
create table if not exists raw.contract_resources (
    contract_id varchar not null,
    resource_id varchar not null
);

-- API price book (LiteLLM format) and served model -> API model (replaced whole every run).
create table if not exists raw.api_prices (
    api_model varchar not null,
    provider varchar,
    mode varchar,
    input_cost_per_token decimal(38, 18) not null,
    output_cost_per_token decimal(38, 18) not null,
    cache_read_input_token_cost decimal(38, 18),
    source_file varchar not null
);
create table if not exists raw.api_equivalents (
    served_model varchar not null,
    api_model varchar not null,
    source_file varchar not null,
    source_row integer not null
);

-- What each day partition of the daily sources was last landed from: a version derived from its
-- files (names, sizes, modification times), written in the same transaction as the rows. The
-- incremental dbt models rebuild the days whose version differs from the one they hold.
-- Which copy of a day's spool files raw.nvml_* read (pipelines/lib/raw_files.py).
-- Landed days kept as Parquet files (pipelines/lib/raw_files.py). token: the day's input
-- version (raw.landing_log) when it was kept. NVML only: processes, repeated_windows (at most this
-- many windows repeat a GPU and start; 0: none does) and shared_windows (windows listing more
-- than one process), with which the hourly models skip the checks a day does not need
-- (dbt_project/macros/telemetry_days.sql).
create table if not exists raw.file_days (
    source varchar not null,
    partition_date date not null,
    token varchar not null,
    files integer not null,
    rows bigint not null,
    processes bigint,
    repeated_windows bigint,
    shared_windows bigint,
    primary key (source, partition_date)
);

create table if not exists raw.landing_log (
    source varchar not null,
    partition_date date not null,
    input_version varchar not null,
    files integer not null,
    primary key (source, partition_date)
);
