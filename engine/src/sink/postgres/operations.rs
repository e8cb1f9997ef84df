//! Operation-level features in PostgreSQL: `operation_features` (migration 0011).
//!
//! One transaction per activation of closed minutes, one statement for all its rows (arrays
//! unnested server-side: a minute of 200 services × 50 operations is one round trip), keyed
//! upsert so a replayed minute changes nothing. Retention deletes rows past the horizon, as for
//! the graph tables.

use chrono::{DateTime, Utc};

use super::{db_error, Connection, Dropped};
use crate::config::PostgresConfig;
use crate::error::Result;
use crate::features::OperationRow;
use crate::record::{key_parts, service_key};
use crate::sink::ClosedStore;
use crate::time::{pane_start_ns, Pane};

const UPSERT: &str = "INSERT INTO operation_features \
    (time, service_name, environment, operation, calls, errors, p50_ms, p95_ms, p99_ms, \
     merged_operations) \
    SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], \
     $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::int4[]) \
    ON CONFLICT (service_name, environment, operation, time) DO UPDATE SET \
    calls = EXCLUDED.calls, errors = EXCLUDED.errors, p50_ms = EXCLUDED.p50_ms, \
    p95_ms = EXCLUDED.p95_ms, p99_ms = EXCLUDED.p99_ms, \
    merged_operations = EXCLUDED.merged_operations";

/// Writes operation rows of closed minutes.
pub struct OperationStore {
    connection: Connection,
    /// Minutes before the retention horizon are not written (as feature rows are not).
    retention_days: u32,
}

fn pane_time(pane: Pane) -> DateTime<Utc> {
    DateTime::from_timestamp_micros((pane_start_ns(pane) / 1_000) as i64).unwrap_or_default()
}

impl OperationStore {
    /// Connects.
    pub fn connect(config: &PostgresConfig) -> Result<Self> {
        Ok(OperationStore {
            connection: Connection::open(config)?,
            retention_days: config.retention_days,
        })
    }
}

impl ClosedStore<OperationRow> for OperationStore {
    const WHAT: &'static str = "operation features";

    fn write(&mut self, _panes: &[Pane], rows: &[OperationRow]) -> Result<()> {
        let horizon = super::horizon_us(Utc::now().timestamp_micros(), self.retention_days);
        let rows: Vec<&OperationRow> = rows
            .iter()
            .filter(|r| (pane_start_ns(r.pane) / 1_000) as i64 >= horizon)
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let (names, environments): (Vec<&str>, Vec<&str>) =
            rows.iter().map(|r| key_parts(&r.service)).unzip();
        let column = |get: fn(&OperationRow) -> f64| rows.iter().map(|r| get(r)).collect();
        let (calls, errors): (Vec<f64>, Vec<f64>) = (column(|r| r.calls), column(|r| r.errors));
        let (p50, p95, p99): (Vec<f64>, Vec<f64>, Vec<f64>) = (
            column(|r| r.p50_ms),
            column(|r| r.p95_ms),
            column(|r| r.p99_ms),
        );
        let times: Vec<DateTime<Utc>> = rows.iter().map(|r| pane_time(r.pane)).collect();
        let operations: Vec<&str> = rows.iter().map(|r| r.operation.as_str()).collect();
        let merged: Vec<i32> = rows.iter().map(|r| r.merged_operations as i32).collect();
        let server = self.connection.server().to_string();
        let failed =
            |e: &postgres::Error| db_error(format!("storing {} on {server}", Self::WHAT), e);
        let client = self.connection.client()?;
        client
            .execute(
                UPSERT,
                &[
                    &times,
                    &names,
                    &environments,
                    &operations,
                    &calls,
                    &errors,
                    &p50,
                    &p95,
                    &p99,
                    &merged,
                ],
            )
            .map_err(|e| failed(&e))?;
        Ok(())
    }
}

/// Deletes operation rows before `horizon` (µs), on either storage path.
pub fn delete_older_than(
    client: &mut postgres::Client,
    horizon_us: i64,
    server: &str,
) -> Result<Option<Dropped>> {
    let horizon = DateTime::from_timestamp_micros(horizon_us).unwrap_or_default();
    let rows = client
        .execute(
            "DELETE FROM operation_features WHERE time < $1",
            &[&horizon],
        )
        .map_err(|e| {
            db_error(
                format!("applying retention to operation_features on {server}"),
                &e,
            )
        })?;
    Ok((rows > 0).then(|| Dropped {
        name: "operation_features".to_string(),
        rows: rows as i64,
    }))
}

/// The rows of `operation_features` of the service `service` (a key) in the minutes `minutes`,
/// oldest first.
pub fn load_operations(
    url: &str,
    service: &str,
    minutes: std::ops::Range<Pane>,
) -> Result<Vec<OperationRow>> {
    let mut client = super::connect(url)?;
    let server = super::server_of(url);
    let (name, environment) = key_parts(service);
    let rows = client
        .query(
            "SELECT (extract(epoch FROM time) / 60)::bigint, operation, calls, errors, p50_ms, \
             p95_ms, p99_ms, merged_operations FROM operation_features \
             WHERE service_name = $1 AND environment = $2 AND time >= $3 AND time < $4 \
             ORDER BY time, operation",
            &[
                &name,
                &environment,
                &pane_time(minutes.start),
                &pane_time(minutes.end),
            ],
        )
        .map_err(|e| db_error(format!("reading operation_features on {server}"), &e))?;
    Ok(rows
        .iter()
        .map(|row| OperationRow {
            service: service_key(name, environment),
            pane: row.get::<_, i64>(0).max(0) as Pane,
            operation: row.get(1),
            calls: row.get(2),
            errors: row.get(3),
            p50_ms: row.get(4),
            p95_ms: row.get(5),
            p99_ms: row.get(6),
            merged_operations: row.get::<_, i32>(7).max(0) as u32,
        })
        .collect())
}
