//! The dependency graph and incidents in PostgreSQL: `service_edges`,
//! `service_dependencies` (validity intervals) and `incidents` (migration 0005), and the open
//! incidents after each minute, `incident_state` (migration 0013).

use chrono::{DateTime, Utc};

use super::{db_error, Connection, Dropped, Storage};
use crate::config::PostgresConfig;
use crate::error::{Error, Result};
use crate::graph::EdgeWindow;
use crate::record::{key_parts, service_key};
use crate::score::incidents::IncidentState;
use crate::score::Incident;
use crate::sink::ClosedStore;
use crate::time::{pane_start_ns, Pane};

/// What the graph store writes: the two streams of one minute.
#[derive(Debug, Clone)]
pub enum GraphRecord {
    /// An edge of a minute.
    Edge(EdgeWindow),
    /// An incident update of a minute.
    Incident(Incident),
    /// The open incidents after a minute.
    IncidentState(IncidentState),
}

impl GraphRecord {
    /// The record's minute, µs since the epoch.
    pub fn time_us(&self) -> i64 {
        match self {
            GraphRecord::Edge(edge) => (pane_start_ns(edge.pane) / 1_000) as i64,
            GraphRecord::Incident(incident) => incident.time_us,
            GraphRecord::IncidentState(state) => state.time_us(),
        }
    }
}

/// Writes edges and incidents, and extends the dependency intervals.
pub struct GraphStore {
    connection: Connection,
    expiry_minutes: u64,
    /// Minutes before the retention horizon are not written (as feature rows are not).
    retention_days: u32,
}

fn timestamp(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn pane_time(pane: Pane) -> DateTime<Utc> {
    timestamp((pane_start_ns(pane) / 1_000) as i64)
}

const UPSERT_EDGE: &str = "INSERT INTO service_edges \
    (time, caller, callee, virtual_callee, calls, errors, p50_ms, p95_ms, p99_ms, gap_p50_ms, \
     environment, callee_environment) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (environment, caller, callee_environment, callee, time) DO UPDATE SET \
    virtual_callee = EXCLUDED.virtual_callee, \
    calls = EXCLUDED.calls, errors = EXCLUDED.errors, p50_ms = EXCLUDED.p50_ms, \
    p95_ms = EXCLUDED.p95_ms, p99_ms = EXCLUDED.p99_ms, gap_p50_ms = EXCLUDED.gap_p50_ms";

const UPSERT_INCIDENT: &str = "INSERT INTO incidents \
    (incident_id, time, opened_at, anomalous_services, method, root_cause, candidates, rankings, \
     environment) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
    ON CONFLICT (incident_id, time) DO UPDATE SET opened_at = EXCLUDED.opened_at, \
    environment = EXCLUDED.environment, \
    anomalous_services = EXCLUDED.anomalous_services, method = EXCLUDED.method, \
    root_cause = EXCLUDED.root_cause, candidates = EXCLUDED.candidates, \
    rankings = EXCLUDED.rankings";

const UPSERT_STATE: &str = "INSERT INTO incident_state (time, open) VALUES ($1, $2) \
    ON CONFLICT (time) DO UPDATE SET open = EXCLUDED.open";

/// How long the open incidents of past minutes are kept: a restart reads only the newest.
const STATE_KEPT: &str = "1 day";

impl GraphStore {
    /// Connects; intervals expire after `expiry_minutes` unseen.
    pub fn connect(config: &PostgresConfig, expiry_minutes: u64) -> Result<Self> {
        Ok(GraphStore {
            connection: Connection::open(config)?,
            expiry_minutes,
            retention_days: config.retention_days,
        })
    }

    fn write_all(&mut self, panes: &[Pane], records: &[GraphRecord]) -> Result<()> {
        let horizon = super::horizon_us(Utc::now().timestamp_micros(), self.retention_days);
        let records = records.iter().filter(|r| r.time_us() >= horizon);
        let panes = panes
            .iter()
            .filter(|p| (pane_start_ns(**p) / 1_000) as i64 >= horizon);
        let server = self.connection.server().to_string();
        let failed = |e: &postgres::Error| db_error(format!("storing the graph on {server}"), e);
        let expiry = format!("{} minutes", self.expiry_minutes);
        let mut transaction = self
            .connection
            .client()?
            .transaction()
            .map_err(|e| failed(&e))?;
        let edge = transaction.prepare(UPSERT_EDGE).map_err(|e| failed(&e))?;
        let incident = transaction
            .prepare(UPSERT_INCIDENT)
            .map_err(|e| failed(&e))?;
        let state = transaction.prepare(UPSERT_STATE).map_err(|e| failed(&e))?;
        for record in records {
            match record {
                GraphRecord::Edge(e) => {
                    let (caller, environment) = key_parts(&e.caller);
                    let (callee, callee_environment) = key_parts(&e.callee);
                    transaction.execute(
                        &edge,
                        &[
                            &pane_time(e.pane),
                            &caller,
                            &callee,
                            &e.virtual_callee,
                            &(e.calls as i64),
                            &(e.errors as i64),
                            &e.p50_ms,
                            &e.p95_ms,
                            &e.p99_ms,
                            &e.gap_p50_ms,
                            &environment,
                            &callee_environment,
                        ],
                    )
                }
                GraphRecord::Incident(i) => transaction.execute(
                    &incident,
                    &[
                        &i.incident_id,
                        &timestamp(i.time_us),
                        &timestamp(i.opened_us),
                        &i.anomalous_services,
                        &i.method,
                        &i.root_cause,
                        &to_json(&i.candidates)?,
                        &to_json(&i.rankings)?,
                        &i.environment,
                    ],
                ),
                GraphRecord::IncidentState(s) => {
                    transaction.execute(&state, &[&timestamp(s.time_us()), &to_json(&s.open)?])
                }
            }
            .map_err(|e| failed(&e))?;
        }
        if let Some(newest) = panes.clone().max() {
            let forget = format!(
                "DELETE FROM incident_state WHERE time < $1::timestamptz - interval '{STATE_KEPT}'"
            );
            transaction
                .execute(&forget, &[&pane_time(*newest)])
                .map_err(|e| failed(&e))?;
        }
        for pane in panes {
            transaction
                .execute(
                    "SELECT aiops_extend_dependencies($1, $2::text::interval)",
                    &[&pane_time(*pane), &expiry],
                )
                .map_err(|e| failed(&e))?;
        }
        transaction.commit().map_err(|e| failed(&e))
    }
}

/// The graph tables' rows past the horizon that no retention policy drops: on the native path
/// edges and incidents by their minute; on both paths dependency intervals that ended before
/// it (an interval is kept while it may still be extended, however long ago it opened).
pub fn delete_older_than(
    client: &mut postgres::Client,
    horizon_us: i64,
    storage: Storage,
    server: &str,
) -> Result<Vec<Dropped>> {
    let mut tables = vec![("service_dependencies", "valid_to")];
    if storage == Storage::Native {
        tables.extend([("service_edges", "time"), ("incidents", "time")]);
    }
    let horizon = timestamp(horizon_us);
    let mut deleted = Vec::new();
    for (table, column) in tables {
        let rows = client
            .execute(
                &format!("DELETE FROM {table} WHERE {column} < $1"),
                &[&horizon],
            )
            .map_err(|e| db_error(format!("applying retention to {table} on {server}"), &e))?;
        if rows > 0 {
            deleted.push(Dropped {
                name: table.to_string(),
                rows: rows as i64,
            });
        }
    }
    Ok(deleted)
}

/// The nested incident fields as JSONB values.
fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Schema(format!("incident JSON: {e}")))
}

impl ClosedStore<GraphRecord> for GraphStore {
    const WHAT: &'static str = "dependency graph";

    fn write(&mut self, panes: &[Pane], records: &[GraphRecord]) -> Result<()> {
        self.write_all(panes, records)
    }
}

/// The edges stored for minutes `from..=to`.
pub fn load_edges(url: &str, from: Pane, to: Pane) -> Result<Vec<EdgeWindow>> {
    let mut client = super::connect(url)?;
    let server = super::server_of(url);
    let rows = client
        .query(
            "SELECT (extract(epoch FROM time) / 60)::bigint, caller, callee, virtual_callee, calls, \
             errors, p50_ms, p95_ms, p99_ms, gap_p50_ms, environment, callee_environment \
             FROM service_edges WHERE time >= $1 AND time <= $2",
            &[&pane_time(from), &pane_time(to)],
        )
        .map_err(|e| db_error(format!("reading service_edges on {server}"), &e))?;
    Ok(rows
        .iter()
        .map(|row| EdgeWindow {
            pane: row.get::<_, i64>(0) as Pane,
            caller: service_key(row.get(1), row.get(10)),
            callee: service_key(row.get(2), row.get(11)),
            virtual_callee: row.get(3),
            calls: row.get::<_, i64>(4) as u64,
            errors: row.get::<_, i64>(5) as u64,
            p50_ms: row.get(6),
            p95_ms: row.get(7),
            p99_ms: row.get(8),
            gap_p50_ms: row.get(9),
        })
        .collect())
}

/// The open incidents stored after each minute of `from..=to` that has them, oldest first.
pub fn load_incident_states(url: &str, from: Pane, to: Pane) -> Result<Vec<IncidentState>> {
    let mut client = super::connect(url)?;
    let server = super::server_of(url);
    let rows = client
        .query(
            "SELECT (extract(epoch FROM time) / 60)::bigint, open::text FROM incident_state \
             WHERE time >= $1 AND time <= $2 ORDER BY time",
            &[&pane_time(from), &pane_time(to)],
        )
        .map_err(|e| db_error(format!("reading incident_state on {server}"), &e))?;
    rows.iter()
        .map(|row| {
            let pane = row.get::<_, i64>(0) as Pane;
            let open = serde_json::from_str(row.get::<_, &str>(1)).map_err(|e| {
                Error::Schema(format!("incident_state on {server} at minute {pane}: {e}"))
            })?;
            Ok(IncidentState { pane, open })
        })
        .collect()
}

/// Every stored incident update (`edges` is not stored: 0).
pub fn load_incidents(url: &str) -> Result<Vec<Incident>> {
    let mut client = super::connect(url)?;
    let server = super::server_of(url);
    let rows = client
        .query(
            "SELECT incident_id, (extract(epoch FROM time) * 1000000)::bigint, \
             (extract(epoch FROM opened_at) * 1000000)::bigint, anomalous_services, method, \
             root_cause, candidates::text, rankings::text, environment FROM incidents",
            &[],
        )
        .map_err(|e| db_error(format!("reading incidents on {server}"), &e))?;
    rows.iter()
        .map(|row| {
            let json = |i: usize| -> Result<serde_json::Value> {
                serde_json::from_str(row.get::<_, &str>(i))
                    .map_err(|e| Error::Schema(format!("incidents on {server}: {e}")))
            };
            let value = serde_json::json!({
                "incident_id": row.get::<_, String>(0),
                "time_us": row.get::<_, i64>(1),
                "opened_us": row.get::<_, i64>(2),
                "anomalous_services": row.get::<_, Vec<String>>(3),
                "method": row.get::<_, String>(4),
                "root_cause": row.get::<_, Option<String>>(5),
                "candidates": json(6)?,
                "rankings": json(7)?,
                "edges": 0,
                "environment": row.get::<_, String>(8),
            });
            serde_json::from_value(value)
                .map_err(|e| Error::Schema(format!("an incident on {server}: {e}")))
        })
        .collect()
}

/// The first and last minute of `service_edges`, if it has rows.
pub fn edge_minutes(url: &str) -> Result<Option<(Pane, Pane)>> {
    let mut client = super::connect(url)?;
    let server = super::server_of(url);
    let row = client
        .query_one(
            "SELECT (extract(epoch FROM min(time)) / 60)::bigint, \
             (extract(epoch FROM max(time)) / 60)::bigint FROM service_edges",
            &[],
        )
        .map_err(|e| db_error(format!("reading service_edges on {server}"), &e))?;
    let minute = |i: usize| row.get::<_, Option<i64>>(i).map(|m| m.max(0) as Pane);
    Ok(minute(0).zip(minute(1)))
}
