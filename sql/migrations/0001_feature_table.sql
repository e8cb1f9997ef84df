-- The feature table: one row per (service, minute). Columns follow schemas/feature_row.json
-- (a test checks). Keyed by (service_name, time): TimescaleDB needs the time column in every
-- unique key, and the natural key makes re-written windows idempotent upserts.
-- ${partitioning} is `PARTITION BY RANGE (time)` without TimescaleDB (native partitions, created
-- ahead by the job) and empty with it (0002 turns the table into a hypertable).
CREATE TABLE IF NOT EXISTS otlp_ai_features (
    time TIMESTAMPTZ NOT NULL,
    service_name TEXT NOT NULL,
    operation TEXT,
    http_status_code INTEGER,
    request_rate_1m DOUBLE PRECISION,
    request_rate_5m DOUBLE PRECISION,
    request_rate_15m DOUBLE PRECISION,
    request_rate_1h DOUBLE PRECISION,
    error_rate_1m DOUBLE PRECISION,
    error_rate_5m DOUBLE PRECISION,
    p50_latency_1m DOUBLE PRECISION,
    p95_latency_1m DOUBLE PRECISION,
    p99_latency_1m DOUBLE PRECISION,
    p50_latency_5m DOUBLE PRECISION,
    p95_latency_5m DOUBLE PRECISION,
    p99_latency_5m DOUBLE PRECISION,
    hour_of_day INTEGER NOT NULL,
    day_of_week INTEGER NOT NULL,
    day_of_month INTEGER NOT NULL,
    is_weekend BOOLEAN NOT NULL,
    is_business_hour BOOLEAN NOT NULL,
    is_peak_hour BOOLEAN NOT NULL,
    upstream_services TEXT[],
    downstream_services TEXT[],
    dependency_count INTEGER,
    cpu_usage DOUBLE PRECISION,
    memory_usage DOUBLE PRECISION,
    disk_io_read DOUBLE PRECISION,
    disk_io_write DOUBLE PRECISION,
    network_in DOUBLE PRECISION,
    network_out DOUBLE PRECISION,
    user_id TEXT,
    tenant_id TEXT,
    region TEXT,
    deployment_version TEXT,
    is_anomaly BOOLEAN,
    anomaly_type TEXT,
    anomaly_score DOUBLE PRECISION,
    root_cause TEXT,
    incident_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (service_name, time),
    CONSTRAINT otlp_ai_features_rates_valid CHECK (
        (request_rate_1m IS NULL OR request_rate_1m >= 0)
        AND (error_rate_1m IS NULL OR (error_rate_1m >= 0 AND error_rate_1m <= 1))
        AND (error_rate_5m IS NULL OR (error_rate_5m >= 0 AND error_rate_5m <= 1))
    )
) ${partitioning};

-- Resume offsets of the Kafka partitions, written in the same transaction as the rows.
CREATE TABLE IF NOT EXISTS aiops_kafka_offsets (
    consumer TEXT NOT NULL,
    topic TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    resume_offset BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, kafka_partition)
);
