//! Closed span panes in PostgreSQL: the state a restarted Kafka job rebuilds its windows from.
//!
//! A feature row of minute `m` needs the request statistics of minutes `m-59 ..= m`. Keeping
//! each closed (service, minute) [`SpanPane`] lets a restart load the last hour of them
//! instead of replaying an hour of spans from Kafka: the span topics then resume at the first
//! minute whose rows are not durable. The panes are written before the resume offsets that
//! rely on them (both gate the durable frontier), and deleted once older than an hour before
//! the resume point (see [`super::OffsetStore::store`]).

use super::{db_error, Connection};
use crate::config::PostgresConfig;
use crate::error::{Error, Result};
use crate::features::SpanPane;
use crate::sink::ClosedStore;
use crate::time::Pane;

impl ClosedStore<SpanPane> for PaneStore {
    const WHAT: &'static str = "span panes";

    fn write(&mut self, _panes: &[Pane], records: &[SpanPane]) -> Result<()> {
        PaneStore::write(self, records)
    }
}

/// Writes and reads one consumer's closed span panes.
pub struct PaneStore {
    connection: Connection,
    consumer: String,
}

fn to_i64(pane: Pane) -> i64 {
    pane.min(i64::MAX as u64) as i64
}

impl PaneStore {
    /// Connects.
    pub fn connect(config: &PostgresConfig) -> Result<Self> {
        Ok(PaneStore {
            connection: Connection::open(config)?,
            consumer: config.consumer.clone(),
        })
    }

    /// Upserts `panes` in one transaction; reconnects first if the connection was lost.
    pub fn write(&mut self, panes: &[SpanPane]) -> Result<()> {
        if panes.is_empty() {
            return Ok(());
        }
        let server = self.connection.server().to_string();
        let failed = |e: &postgres::Error| db_error(format!("storing span panes on {server}"), e);
        let mut transaction = self
            .connection
            .client()?
            .transaction()
            .map_err(|e| failed(&e))?;
        let statement = transaction
            .prepare(
                "INSERT INTO aiops_span_panes (consumer, pane, service_name, state) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (consumer, pane, service_name) DO UPDATE SET state = EXCLUDED.state",
            )
            .map_err(|e| failed(&e))?;
        for pane in panes {
            let state = postcard::to_allocvec(pane)
                .map_err(|e| Error::Schema(format!("span pane state: {e}")))?;
            transaction
                .execute(
                    &statement,
                    &[&self.consumer, &to_i64(pane.pane), &pane.service, &state],
                )
                .map_err(|e| failed(&e))?;
        }
        transaction.commit().map_err(|e| failed(&e))
    }

    /// The panes of minutes `from .. to`, oldest first.
    pub fn load(&mut self, from: Pane, to: Pane) -> Result<Vec<SpanPane>> {
        let server = self.connection.server().to_string();
        let rows = self
            .connection
            .client()?
            .query(
                "SELECT state FROM aiops_span_panes WHERE consumer = $1 AND pane >= $2 AND pane < $3 \
                 ORDER BY pane, service_name",
                &[&self.consumer, &to_i64(from), &to_i64(to)],
            )
            .map_err(|e| db_error(format!("reading span panes on {server}"), &e))?;
        rows.iter()
            .map(|row| {
                let state: Vec<u8> = row.get(0);
                postcard::from_bytes(&state).map_err(|e| {
                    Error::Schema(format!(
                        "aiops_span_panes on {server}: unreadable state: {e}"
                    ))
                })
            })
            .collect()
    }
}
