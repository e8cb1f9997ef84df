//! The PostgreSQL / TimescaleDB sink: binary COPY into staging, one idempotent upsert.
//!
//! A flush writes its rows in one transaction: rows are copied (binary COPY) into a
//! session-local staging table, upserted into `otlp_ai_features` keyed by
//! (service_name, environment, time) — so re-writing a window changes nothing — and, without
//! TimescaleDB, the touched hours of the `otlp_features_1h` rollup are recomputed in the same
//! transaction. Daily partitions are created ahead of the rows and dropped after the retention
//! period. Which storage path is in use was decided by [`migrate()`].

mod copy;
mod graph;
pub mod migrate;
mod offsets;
mod operations;
mod pane_state;
mod partitions;
pub mod tls;

use std::collections::BTreeSet;
use std::sync::Arc;

use std::time::{Duration, Instant};

use postgres::Client;

use super::RowSink;
use crate::config::PostgresConfig;
use crate::error::{Error, Result};
use crate::features::FeatureRow;
use crate::stats::Stats;
pub use graph::{
    edge_minutes, load_edges, load_incident_states, load_incidents, GraphRecord, GraphStore,
};
pub use migrate::{migrate, Storage};
pub use offsets::{OffsetStore, ResumeOffset, StoredProgress};
pub use operations::{load_operations, OperationStore};
pub use pane_state::{LogPaneStore, PaneStore, StoredPane};
pub use partitions::{horizon_us, Dropped};

/// SQLSTATE classes that describe the server's state, not the statement: connection
/// exceptions (08), insufficient resources (53), operator intervention such as a shutdown
/// (57), transaction rollbacks such as deadlocks (40).
const TRANSIENT_SQLSTATE_CLASSES: [&str; 4] = ["08", "40", "53", "57"];

/// Wraps a PostgreSQL error with what was being done; connection-level failures and
/// transient server states are retryable.
pub fn db_error(context: impl Into<String>, error: &postgres::Error) -> Error {
    let (message, transient) = match error.as_db_error() {
        Some(db) => (
            format!("{}: {}", db.code().code(), db.message()),
            TRANSIENT_SQLSTATE_CLASSES.contains(&&db.code().code()[..2]),
        ),
        // Client-side failures (TLS handshake, connection refused) keep their cause.
        None => match std::error::Error::source(error) {
            Some(cause) => (format!("{error}: {cause}"), true),
            None => (error.to_string(), true),
        },
    };
    Error::Database {
        context: context.into(),
        message,
        retryable: transient || error.is_closed(),
    }
}

/// The server part of a URL, without credentials, for messages.
pub fn server_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    host.split(['/', '?']).next().unwrap_or(host).to_string()
}

/// Connects (with TLS as the URL's `sslmode` and `sslrootcert` ask, see [`tls`]), with the
/// server named in the error.
pub fn connect(url: &str) -> Result<Client> {
    tls::connect(url).map_err(|error| match error {
        tls::ConnectError::Setup(error) => error,
        tls::ConnectError::Driver(e) => db_error(format!("connecting to {}", server_of(url)), &e),
    })
}

/// Connects, retrying connection failures with exponential backoff for up to `patience`
/// (a database that is starting, or briefly away); each failure is reported.
pub fn connect_patiently(url: &str, patience: Duration) -> Result<Client> {
    crate::retry::patiently(patience, "PostgreSQL unreachable", || connect(url))
}

/// A connection that names its server in errors and reconnects after the server went away.
pub struct Connection {
    client: Client,
    url: String,
    server: String,
}

impl Connection {
    /// Connects to `postgres.url`, retrying for the configured patience (see
    /// [`connect_patiently`]).
    pub fn open(config: &PostgresConfig) -> Result<Self> {
        let url = config
            .url
            .as_deref()
            .ok_or_else(|| Error::Config("postgres.url is not set".into()))?;
        Ok(Connection {
            client: connect_patiently(url, config.connect_patience())?,
            url: url.to_string(),
            server: server_of(url),
        })
    }

    /// The client, reconnected first if the previous connection was lost.
    pub fn client(&mut self) -> Result<&mut Client> {
        if self.client.is_closed() {
            self.client = connect(&self.url)?;
            tracing::info!(server = %self.server, "reconnected to PostgreSQL");
        }
        Ok(&mut self.client)
    }

    /// The server, without credentials.
    pub fn server(&self) -> &str {
        &self.server
    }
}

/// A time in µs as RFC 3339, for messages.
fn rfc3339(time_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(time_us)
        .map_or_else(|| time_us.to_string(), |t| t.to_rfc3339())
}

/// Rows per transaction: large enough to amortise COPY, small enough to keep locks short.
const ROWS_PER_TRANSACTION: usize = 50_000;

/// Writes feature rows to PostgreSQL.
pub struct PostgresSink {
    connection: Connection,
    storage: Storage,
    config: PostgresConfig,
    statements: copy::UpsertStatements,
    partitions: BTreeSet<i64>,
    /// When native retention is next applied (only on the one sink that applies it).
    retention_due: Option<Instant>,
    /// Where the rows retention dropped are counted (the sink that applies it).
    retention_stats: Option<Arc<Stats>>,
}

/// How often a long-running job drops expired native partitions.
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

impl PostgresSink {
    /// Connects and checks the schema is migrated.
    pub fn connect(config: &PostgresConfig) -> Result<Self> {
        let mut connection = Connection::open(config)?;
        let server = connection.server().to_string();
        let storage = migrate::current_storage(connection.client()?, &server)?;
        Ok(PostgresSink {
            connection,
            storage,
            config: config.clone(),
            statements: copy::UpsertStatements::new(),
            partitions: BTreeSet::new(),
            retention_due: None,
            retention_stats: None,
        })
    }

    /// Makes this sink the one that applies native retention: now, then hourly while rows are
    /// written (one sink per job is enough; dropping a partition is not free). What is dropped
    /// is logged, partition by partition with its row count, and counted in `stats`.
    pub fn applying_retention(mut self, stats: Arc<Stats>) -> Result<Self> {
        self.retention_stats = Some(stats);
        self.retain()?;
        Ok(self)
    }

    fn retain(&mut self) -> Result<()> {
        self.retention_due = Some(Instant::now() + RETENTION_INTERVAL);
        let now_us = chrono::Utc::now().timestamp_micros();
        let horizon = partitions::horizon_us(now_us, self.config.retention_days);
        for dropped in self.apply_retention(now_us)? {
            tracing::warn!(
                from = %dropped.name,
                rows = dropped.rows,
                horizon = %rfc3339(horizon),
                retention_days = self.config.retention_days,
                "retention dropped rows past the horizon"
            );
            let feature_rows = dropped.name.starts_with("otlp_ai_features");
            if let (Some(stats), true) = (&self.retention_stats, feature_rows) {
                Stats::add(&stats.retention_dropped_rows, dropped.rows.max(0) as u64);
            }
        }
        Ok(())
    }

    /// The storage path of the connected database.
    pub fn storage(&self) -> Storage {
        self.storage
    }

    /// Writes `rows` in one transaction, reconnecting first if the connection was lost.
    pub fn write_transaction(&mut self, rows: &[FeatureRow]) -> Result<()> {
        let server = self.connection.server().to_string();
        let failed = |what: &str, e: &postgres::Error| db_error(format!("{what} on {server}"), e);
        let client = self.connection.client()?;
        if self.storage == Storage::Native {
            partitions::ensure(
                client,
                &mut self.partitions,
                rows,
                self.config.partitions_ahead_days,
                &server,
            )?;
        }
        let mut transaction = client.transaction().map_err(|e| failed("begin", &e))?;
        copy::upsert_rows(&mut transaction, &self.statements, rows)
            .map_err(|e| failed("writing feature rows", &e))?;
        if self.storage == Storage::Native {
            copy::refresh_rollup(&mut transaction, rows)
                .map_err(|e| failed("refreshing otlp_features_1h", &e))?;
        }
        transaction.commit().map_err(|e| failed("commit", &e))
    }

    /// Drops native feature partitions older than the retention period (TimescaleDB does
    /// this with its retention policy), then deletes the graph rows past the horizon that no
    /// policy covers (edges and incidents natively, dependency intervals that ended,
    /// operation rows on both paths). Returns
    /// what was dropped: feature partitions by name, graph tables by table name.
    pub fn apply_retention(&mut self, now_us: i64) -> Result<Vec<partitions::Dropped>> {
        let server = self.connection.server().to_string();
        let (days, storage) = (self.config.retention_days, self.storage);
        let client = self.connection.client()?;
        let mut dropped = match storage {
            Storage::Native => partitions::drop_older_than(client, now_us, days, &server)?,
            Storage::Timescale => Vec::new(),
        };
        let horizon = partitions::horizon_us(now_us, days);
        dropped.extend(graph::delete_older_than(client, horizon, storage, &server)?);
        dropped.extend(operations::delete_older_than(client, horizon, &server)?);
        Ok(dropped)
    }
}

impl RowSink for PostgresSink {
    fn max_rows_per_write(&self) -> usize {
        ROWS_PER_TRANSACTION
    }

    fn commits_each_window(&self) -> bool {
        true
    }

    fn horizon_us(&self) -> Option<i64> {
        let now_us = chrono::Utc::now().timestamp_micros();
        Some(partitions::horizon_us(now_us, self.config.retention_days))
    }

    fn persist(&mut self, rows: &[FeatureRow]) -> Result<()> {
        self.write_transaction(rows)?;
        if self.retention_due.is_some_and(|due| Instant::now() >= due) {
            // Rows are durable; a failed drop is retried at the next interval.
            if let Err(error) = self.retain() {
                tracing::warn!(%error, "retention not applied");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::server_of;

    #[test]
    fn server_names_leave_credentials_out() {
        assert_eq!(
            server_of("postgres://user:secret@db.internal:5433/aiops?sslmode=disable"),
            "db.internal:5433"
        );
        assert_eq!(server_of("postgresql://localhost/x"), "localhost");
    }
}
