-- The warehouse's own record of the raw layer. The landed data itself is Parquet files beside
-- the warehouse (pipelines/lib/raw_files.py; its columns: raw_tables.sql); raw.<table> views
-- read them.
create schema if not exists raw;

-- The version of this layout (pipelines/lib/warehouse.py::LAYOUT_VERSION): a warehouse of
-- another layout is refused, and rebuilt from the landing zone.
create table if not exists raw.layout (version integer not null);

-- The CUR deliveries each billing period was landed from: each export's newest complete one.
create table if not exists raw.aws_cur_deliveries (
    billing_period varchar not null,
    export varchar not null,
    execution_id varchar not null,
    export_arn varchar,
    manifest_file varchar not null,
    delivered_at varchar,
    data_files integer not null,
    line_items bigint not null,
    primary key (billing_period, export)
);

-- Input rows that could not be landed, with the file, line and reason.
create table if not exists raw.quarantine (
    source varchar not null,
    partition_key varchar not null,
    source_file varchar not null,
    source_line integer,
    reason varchar not null,
    raw_record varchar
);

-- Which token (folder) holds each partition of each raw table's files; '' is the key of a
-- table replaced whole. NVML only: processes, repeated_windows (at most this many windows
-- repeat a GPU and start; 0: none does) and shared_windows (windows listing more than one
-- process), with which the hourly models skip the checks a day does not need
-- (dbt_project/macros/spool.sql).
create table if not exists raw.partitions (
    table_name varchar not null,
    partition_key varchar not null,
    token varchar not null,
    files integer not null,
    rows bigint not null,
    processes bigint,
    repeated_windows bigint,
    shared_windows bigint,
    primary key (table_name, partition_key)
);

-- What each day partition of the daily sources was last landed from: a version derived from its
-- files (names, sizes, modification times), written in the same transaction as the partition.
create table if not exists raw.landing_log (
    source varchar not null,
    partition_date date not null,
    input_version varchar not null,
    files integer not null,
    primary key (source, partition_date)
);
