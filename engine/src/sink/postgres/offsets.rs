//! Kafka resume offsets in PostgreSQL, next to the rows they lead to.
//!
//! Each worker stores the resume offsets of its own partitions, together with the first
//! minute whose rows were not yet durable on every worker when the offsets were computed. The
//! offsets are written only after the rows they cover are durable (the job learns that from
//! timely's progress tracking across all workers), so a crash between the two makes the next
//! run replay a little more, never less; the upsert absorbs the repeated rows.

use std::collections::HashMap;

use super::{db_error, Connection};
use crate::config::PostgresConfig;
use crate::error::Result;
use crate::time::{pane_of, pane_start_ns, Pane};
use chrono::{DateTime, Utc};

/// A Kafka partition's resume offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First offset whose records may still belong to an unwritten window.
    pub offset: i64,
}

/// What an earlier run left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredProgress {
    /// Resume offset by (topic, partition).
    pub offsets: HashMap<(String, i32), i64>,
    /// Rows of panes before this one are durable (the largest any partition recorded).
    pub durable_before: Option<Pane>,
}

/// Reads and writes one consumer's resume offsets.
pub struct OffsetStore {
    connection: Connection,
    consumer: String,
}

fn timestamp_of(pane: Pane) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(pane_start_ns(pane).min(i64::MAX as u64) as i64)
}

impl OffsetStore {
    /// Connects.
    pub fn connect(config: &PostgresConfig) -> Result<Self> {
        Ok(OffsetStore {
            connection: Connection::open(config)?,
            consumer: config.consumer.clone(),
        })
    }

    /// The offsets and progress stored by earlier runs of this consumer.
    pub fn load(&mut self) -> Result<StoredProgress> {
        let server = self.connection.server().to_string();
        let rows = self
            .connection
            .client()?
            .query(
                "SELECT topic, kafka_partition, resume_offset, windows_complete_before \
                 FROM aiops_kafka_offsets WHERE consumer = $1",
                &[&self.consumer],
            )
            .map_err(|e| db_error(format!("reading resume offsets on {server}"), &e))?;
        let mut progress = StoredProgress::default();
        for row in rows {
            progress
                .offsets
                .insert((row.get(0), row.get(1)), row.get(2));
            let before: Option<DateTime<Utc>> = row.get(3);
            if let Some(nanos) = before.and_then(|t| t.timestamp_nanos_opt()) {
                let pane = pane_of(nanos.max(0) as u64);
                progress.durable_before = progress.durable_before.max(Some(pane));
            }
        }
        Ok(progress)
    }

    /// Stores `offsets` in one transaction, noting that rows before `durable_before` are
    /// durable, and deletes the span panes before `state_from` (no restart needs them any
    /// more); reconnects first if the connection was lost.
    pub fn store(
        &mut self,
        offsets: &[ResumeOffset],
        durable_before: Pane,
        state_from: Pane,
    ) -> Result<()> {
        let server = self.connection.server().to_string();
        let failed =
            |e: &postgres::Error| db_error(format!("storing resume offsets on {server}"), e);
        let before = timestamp_of(durable_before);
        let mut transaction = self
            .connection
            .client()?
            .transaction()
            .map_err(|e| failed(&e))?;
        for offset in offsets {
            transaction
                .execute(
                    "INSERT INTO aiops_kafka_offsets (consumer, topic, kafka_partition, resume_offset, \
                       windows_complete_before) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (consumer, topic, kafka_partition) DO UPDATE SET \
                     resume_offset = EXCLUDED.resume_offset, \
                     windows_complete_before = EXCLUDED.windows_complete_before, updated_at = now()",
                    &[&self.consumer, &offset.topic, &offset.partition, &offset.offset, &before],
                )
                .map_err(|e| failed(&e))?;
        }
        let state_from = state_from.min(i64::MAX as u64) as i64;
        for table in ["aiops_span_panes", "aiops_log_panes"] {
            transaction
                .execute(
                    &format!("DELETE FROM {table} WHERE consumer = $1 AND pane < $2"),
                    &[&self.consumer, &state_from],
                )
                .map_err(|e| failed(&e))?;
        }
        transaction.commit().map_err(|e| failed(&e))
    }
}
