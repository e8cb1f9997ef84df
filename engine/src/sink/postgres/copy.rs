//! Binary COPY of feature rows into staging, the upsert, and the native hourly rollup.

use chrono::{DateTime, Utc};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::Transaction;

use crate::error::Result;
use crate::features::FeatureRow;
use crate::schema::feature_columns;

fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

fn column_type(kind: &str) -> Type {
    match kind {
        "timestamp" => Type::TIMESTAMPTZ,
        "float64" => Type::FLOAT8,
        "int32" => Type::INT4,
        "bool" => Type::BOOL,
        "list<string>" => Type::TEXT_ARRAY,
        _ => Type::TEXT,
    }
}

/// The COPY and upsert statements and column types of the feature table, derived once from
/// the schema file.
pub struct UpsertStatements {
    copy: String,
    upsert: String,
    types: Vec<Type>,
}

impl UpsertStatements {
    /// Builds the statements from `schemas/feature_row.json`.
    pub fn new() -> Result<Self> {
        let columns = feature_columns()?;
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let updates: Vec<String> = names
            .iter()
            .filter(|n| !matches!(**n, "service_name" | "time"))
            .map(|n| format!("{n} = EXCLUDED.{n}"))
            .collect();
        Ok(UpsertStatements {
            copy: format!(
                "COPY aiops_staging ({}) FROM STDIN (FORMAT binary)",
                names.join(", ")
            ),
            upsert: format!(
                "INSERT INTO otlp_ai_features ({cols}) SELECT {cols} FROM aiops_staging \
                 ON CONFLICT (service_name, time) DO UPDATE SET {updates}",
                cols = names.join(", "),
                updates = updates.join(", ")
            ),
            types: columns.iter().map(|c| column_type(&c.kind)).collect(),
        })
    }
}

/// Copies `rows` into a staging table and upserts them into `otlp_ai_features`.
pub fn upsert_rows(
    transaction: &mut Transaction<'_>,
    statements: &UpsertStatements,
    rows: &[FeatureRow],
) -> Result<(), postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    transaction.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS aiops_staging (LIKE otlp_ai_features INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
    )?;
    let sink = transaction.copy_in(&statements.copy)?;
    let mut writer = BinaryCopyInWriter::new(sink, &statements.types);
    for row in rows {
        let (time, created_at) = (utc(row.time_us), utc(row.created_at_us));
        let values: [&(dyn ToSql + Sync); 41] = [
            &time,
            &row.service_name,
            &row.operation,
            &row.http_status_code,
            &row.request_rate_1m,
            &row.request_rate_5m,
            &row.request_rate_15m,
            &row.request_rate_1h,
            &row.error_rate_1m,
            &row.error_rate_5m,
            &row.p50_latency_1m,
            &row.p95_latency_1m,
            &row.p99_latency_1m,
            &row.p50_latency_5m,
            &row.p95_latency_5m,
            &row.p99_latency_5m,
            &row.hour_of_day,
            &row.day_of_week,
            &row.day_of_month,
            &row.is_weekend,
            &row.is_business_hour,
            &row.is_peak_hour,
            &row.upstream_services,
            &row.downstream_services,
            &row.dependency_count,
            &row.cpu_usage,
            &row.memory_usage,
            &row.disk_io_read,
            &row.disk_io_write,
            &row.network_in,
            &row.network_out,
            &row.user_id,
            &row.tenant_id,
            &row.region,
            &row.deployment_version,
            &row.is_anomaly,
            &row.anomaly_type,
            &row.anomaly_score,
            &row.root_cause,
            &row.incident_id,
            &created_at,
        ];
        writer.write(&values)?;
    }
    writer.finish()?;
    transaction.batch_execute(&statements.upsert)
}

/// Recomputes the hours of `otlp_features_1h` that `rows` touch (native storage only).
pub fn refresh_rollup(
    transaction: &mut Transaction<'_>,
    rows: &[FeatureRow],
) -> Result<(), postgres::Error> {
    let hour = 3_600_000_000i64;
    let (Some(first), Some(last)) = (
        rows.iter().map(|r| r.time_us).min(),
        rows.iter().map(|r| r.time_us).max(),
    ) else {
        return Ok(());
    };
    let from = utc(first.div_euclid(hour) * hour);
    let to = utc((last.div_euclid(hour) + 1) * hour);
    transaction.execute(
        "INSERT INTO otlp_features_1h (bucket, service_name, avg_request_rate, avg_error_rate, avg_p99_latency, avg_cpu_usage, avg_memory_usage, anomaly_count) \
         SELECT date_trunc('hour', time), service_name, avg(request_rate_1m), avg(error_rate_1m), avg(p99_latency_1m), avg(cpu_usage), avg(memory_usage), \
                count(*) FILTER (WHERE is_anomaly) \
         FROM otlp_ai_features WHERE time >= $1 AND time < $2 GROUP BY 1, 2 \
         ON CONFLICT (service_name, bucket) DO UPDATE SET avg_request_rate = EXCLUDED.avg_request_rate, \
           avg_error_rate = EXCLUDED.avg_error_rate, avg_p99_latency = EXCLUDED.avg_p99_latency, \
           avg_cpu_usage = EXCLUDED.avg_cpu_usage, avg_memory_usage = EXCLUDED.avg_memory_usage, anomaly_count = EXCLUDED.anomaly_count",
        &[&from, &to],
    )?;
    Ok(())
}
