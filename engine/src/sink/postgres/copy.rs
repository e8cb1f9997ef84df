//! Binary COPY of feature rows into staging, the upsert, and the native hourly rollup.

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::Transaction;

use crate::features::row::{CellRef, ColumnKind, COLUMNS, KEY, TABLE};
use crate::features::FeatureRow;

fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

fn column_type(kind: ColumnKind) -> Type {
    match kind {
        ColumnKind::Timestamp => Type::TIMESTAMPTZ,
        ColumnKind::Text => Type::TEXT,
        ColumnKind::Float64 => Type::FLOAT8,
        ColumnKind::Int32 => Type::INT4,
        ColumnKind::Bool => Type::BOOL,
        ColumnKind::TextList => Type::TEXT_ARRAY,
    }
}

/// A cell of the feature row is a PostgreSQL value of its column's type.
impl ToSql for CellRef<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            CellRef::Timestamp(micros) => utc(micros).to_sql(ty, out),
            CellRef::Text(value) => value.to_sql(ty, out),
            CellRef::Int32(value) => value.to_sql(ty, out),
            CellRef::Float64(value) => value.to_sql(ty, out),
            CellRef::Bool(value) => value.to_sql(ty, out),
            CellRef::TextList(value) => value.to_sql(ty, out),
        }
    }

    /// The COPY writer is given each column's type from [`COLUMNS`], so the kind of a cell
    /// always matches its column's type.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The COPY and upsert statements and column types of the feature table, derived once from
/// [`COLUMNS`].
pub struct UpsertStatements {
    copy: String,
    upsert: String,
    types: Vec<Type>,
}

impl UpsertStatements {
    /// Builds the statements from the row's columns.
    pub fn new() -> Self {
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        let updates: Vec<String> = names
            .iter()
            .filter(|n| !KEY.contains(n))
            .map(|n| format!("{n} = EXCLUDED.{n}"))
            .collect();
        UpsertStatements {
            copy: format!(
                "COPY aiops_staging ({}) FROM STDIN (FORMAT binary)",
                names.join(", ")
            ),
            upsert: format!(
                "INSERT INTO {TABLE} ({cols}) SELECT {cols} FROM aiops_staging \
                 ON CONFLICT ({key}) DO UPDATE SET {updates}",
                cols = names.join(", "),
                key = KEY.join(", "),
                updates = updates.join(", ")
            ),
            types: COLUMNS.iter().map(|c| column_type(c.kind)).collect(),
        }
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
        "CREATE TEMP TABLE IF NOT EXISTS aiops_staging (LIKE otlp_ai_features INCLUDING DEFAULTS) \
         ON COMMIT DELETE ROWS",
    )?;
    let sink = transaction.copy_in(&statements.copy)?;
    let mut writer = BinaryCopyInWriter::new(sink, &statements.types);
    for row in rows {
        let cells = row.cells();
        let values = cells.each_ref().map(|cell| cell as &(dyn ToSql + Sync));
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
        "INSERT INTO otlp_features_1h (bucket, service_name, environment, avg_request_rate, \
           avg_error_rate, max_p99_latency, avg_cpu_usage, avg_memory_usage, anomaly_count) \
         SELECT date_trunc('hour', time), service_name, environment, avg(request_rate_1m), \
           avg(error_rate_1m), max(p99_latency_1m), avg(cpu_usage), avg(memory_usage), \
                count(*) FILTER (WHERE is_anomaly) \
         FROM otlp_ai_features WHERE time >= $1 AND time < $2 GROUP BY 1, 2, 3 \
         ON CONFLICT (service_name, environment, bucket) DO UPDATE SET \
           avg_request_rate = EXCLUDED.avg_request_rate, \
           avg_error_rate = EXCLUDED.avg_error_rate, max_p99_latency = EXCLUDED.max_p99_latency, \
           avg_cpu_usage = EXCLUDED.avg_cpu_usage, avg_memory_usage = EXCLUDED.avg_memory_usage, \
           anomaly_count = EXCLUDED.anomaly_count",
        &[&from, &to],
    )?;
    Ok(())
}
