//! The PostgreSQL / TimescaleDB sink: binary COPY into staging, one idempotent upsert.
//!
//! A flush writes its rows and any Kafka resume offsets in one transaction: rows are copied
//! (binary COPY) into a session-local staging table, upserted into `otlp_ai_features` keyed
//! by (service_name, time) — so re-writing a window changes nothing — and, without
//! TimescaleDB, the touched hours of the `otlp_features_1h` rollup are recomputed in the same
//! transaction. Daily partitions are created ahead of the rows and dropped after the retention
//! period. Which storage path is in use was decided by [`migrate()`].

mod copy;
pub mod migrate;
mod partitions;

use std::collections::BTreeSet;

use postgres::{Client, NoTls};

use super::RowSink;
use crate::config::PostgresConfig;
use crate::error::{Error, Result};
use crate::features::FeatureRow;
pub use migrate::{migrate, Storage};

/// A Kafka partition's resume offset, stored with the rows it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First offset whose records may still belong to an unwritten window.
    pub offset: i64,
}

/// Wraps a PostgreSQL error with what was being done; connection-level failures are retryable.
pub fn db_error(context: impl Into<String>, error: &postgres::Error) -> Error {
    let message = match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    };
    Error::Database {
        context: context.into(),
        message,
        retryable: error.is_closed() || error.as_db_error().is_none(),
    }
}

/// The server part of a URL, without credentials, for messages.
pub fn server_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    host.split(['/', '?']).next().unwrap_or(host).to_string()
}

/// Connects, with the server named in the error.
pub fn connect(url: &str) -> Result<Client> {
    Client::connect(url, NoTls)
        .map_err(|e| db_error(format!("connecting to {}", server_of(url)), &e))
}

/// Rows per transaction: large enough to amortise COPY, small enough to keep locks short.
const ROWS_PER_TRANSACTION: usize = 50_000;

/// Writes feature rows to PostgreSQL.
pub struct PostgresSink {
    client: Client,
    server: String,
    storage: Storage,
    config: PostgresConfig,
    statements: copy::UpsertStatements,
    partitions: BTreeSet<i64>,
}

impl PostgresSink {
    /// Connects and checks the schema is migrated.
    pub fn connect(config: &PostgresConfig) -> Result<Self> {
        let mut client = connect(&config.url)?;
        let server = server_of(&config.url);
        let storage = migrate::current_storage(&mut client, &server)?;
        Ok(PostgresSink {
            client,
            server,
            storage,
            config: config.clone(),
            statements: copy::UpsertStatements::new()?,
            partitions: BTreeSet::new(),
        })
    }

    /// The storage path of the connected database.
    pub fn storage(&self) -> Storage {
        self.storage
    }

    /// Writes `rows` and `offsets` in one transaction.
    pub fn write_transaction(
        &mut self,
        rows: &[FeatureRow],
        offsets: &[ResumeOffset],
    ) -> Result<()> {
        let server = self.server.clone();
        let failed = |what: &str, e: &postgres::Error| db_error(format!("{what} on {server}"), e);
        if self.storage == Storage::Native {
            partitions::ensure(
                &mut self.client,
                &mut self.partitions,
                rows,
                self.config.partitions_ahead_days,
                &server,
            )?;
        }
        let mut transaction = self.client.transaction().map_err(|e| failed("begin", &e))?;
        copy::upsert_rows(&mut transaction, &self.statements, rows)
            .map_err(|e| failed("writing feature rows", &e))?;
        for offset in offsets {
            transaction
                .execute(
                    "INSERT INTO aiops_kafka_offsets (consumer, topic, kafka_partition, resume_offset) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (consumer, topic, kafka_partition) DO UPDATE SET resume_offset = EXCLUDED.resume_offset, updated_at = now()",
                    &[&self.config.consumer, &offset.topic, &offset.partition, &offset.offset],
                )
                .map_err(|e| failed("storing resume offsets", &e))?;
        }
        if self.storage == Storage::Native {
            copy::refresh_rollup(&mut transaction, rows)
                .map_err(|e| failed("refreshing otlp_features_1h", &e))?;
        }
        transaction.commit().map_err(|e| failed("commit", &e))
    }

    /// Drops native partitions older than the retention period (TimescaleDB does this with
    /// its retention policy). Returns the partitions dropped.
    pub fn apply_retention(&mut self, now_us: i64) -> Result<Vec<String>> {
        if self.storage != Storage::Native {
            return Ok(Vec::new());
        }
        partitions::drop_older_than(
            &mut self.client,
            now_us,
            self.config.retention_days,
            &self.server,
        )
    }
}

/// The resume offsets stored for `consumer`.
pub fn stored_offsets(client: &mut Client, consumer: &str) -> Result<Vec<ResumeOffset>> {
    let rows = client
        .query("SELECT topic, kafka_partition, resume_offset FROM aiops_kafka_offsets WHERE consumer = $1 ORDER BY 1, 2", &[&consumer])
        .map_err(|e| db_error("reading resume offsets", &e))?;
    Ok(rows
        .iter()
        .map(|r| ResumeOffset {
            topic: r.get(0),
            partition: r.get(1),
            offset: r.get(2),
        })
        .collect())
}

impl RowSink for PostgresSink {
    fn max_rows_per_write(&self) -> usize {
        ROWS_PER_TRANSACTION
    }

    fn persist(&mut self, rows: &[FeatureRow]) -> Result<()> {
        self.write_transaction(rows, &[])
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
