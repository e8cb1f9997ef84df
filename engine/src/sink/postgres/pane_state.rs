//! Closed span panes in PostgreSQL: the state a restarted Kafka job rebuilds its windows from.
//!
//! A feature row of minute `m` needs the request statistics of minutes `m-59 ..= m`. Keeping
//! each closed (service, minute) [`SpanPane`] lets a restart load the last hour of them
//! instead of replaying an hour of spans from Kafka: the span topics then resume at the first
//! minute whose rows are not durable. The panes are written before the resume offsets that
//! rely on them (both gate the durable frontier), and deleted once older than an hour before
//! the resume point (see [`super::OffsetStore::store`]).
//!
//! The state is postcard, which is not self-describing, so it carries its format: a zero byte
//! and [`STATE_FORMAT`] before the pane. State without them is the first format (whole
//! request counts, before sampling weights), written by earlier versions; it is still read,
//! so an upgrade restarts from its stored windows.

use super::{db_error, Connection};
use crate::config::PostgresConfig;
use crate::error::{Error, Result};
use crate::features::{LatencySketch, SpanPane};
use crate::sink::ClosedStore;
use crate::time::Pane;

impl ClosedStore<SpanPane> for PaneStore {
    const WHAT: &'static str = "span panes";

    fn write(&mut self, _panes: &[Pane], records: &[SpanPane]) -> Result<()> {
        PaneStore::write(self, records)
    }
}

/// The format of stored pane state: 2 since request counts became weights.
const STATE_FORMAT: u8 = 2;

/// A pane as the first format stored it: counts were whole numbers.
#[derive(serde::Serialize, serde::Deserialize)]
struct FirstFormat {
    service: String,
    pane: Pane,
    requests: u64,
    errors: u64,
    latency: LatencySketch,
    operation: Option<String>,
    http_status: Option<u16>,
    version: Option<String>,
    region: Option<String>,
}

fn encode_state(pane: &SpanPane) -> Result<Vec<u8>> {
    let mut state = vec![0, STATE_FORMAT];
    let body =
        postcard::to_allocvec(pane).map_err(|e| Error::Schema(format!("span pane state: {e}")))?;
    state.extend(body);
    Ok(state)
}

/// Reads either format. A first-format state never starts with a zero byte: it starts with
/// the length of a service name, which is never empty.
fn decode_state(state: &[u8]) -> std::result::Result<SpanPane, postcard::Error> {
    if let Some(body) = state.strip_prefix(&[0, STATE_FORMAT]) {
        return postcard::from_bytes(body);
    }
    let old: FirstFormat = postcard::from_bytes(state)?;
    Ok(SpanPane {
        service: old.service,
        pane: old.pane,
        requests: old.requests as f64,
        errors: old.errors as f64,
        latency: old.latency,
        operation: old.operation,
        http_status: old.http_status,
        version: old.version,
        region: old.region,
    })
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
            let state = encode_state(pane)?;
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
                decode_state(&state).map_err(|e| {
                    Error::Schema(format!(
                        "aiops_span_panes on {server}: unreadable state: {e}"
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_of_stored_state_are_read() {
        let mut latency = LatencySketch::default();
        latency.add(12.0);
        let first = FirstFormat {
            service: "cart".into(),
            pane: 7,
            requests: 40,
            errors: 2,
            latency: latency.clone(),
            operation: Some("GET /".into()),
            http_status: Some(200),
            version: None,
            region: Some("eu".into()),
        };
        let old = decode_state(&postcard::to_allocvec(&first).unwrap()).unwrap();
        assert_eq!((old.service.as_str(), old.pane), ("cart", 7));
        assert_eq!((old.requests, old.errors), (40.0, 2.0));
        assert_eq!(old.operation.as_deref(), Some("GET /"));
        assert_eq!(old.latency.count(), 1);
        let current = SpanPane {
            requests: 12.5,
            ..old.clone()
        };
        let read = decode_state(&encode_state(&current).unwrap()).unwrap();
        assert_eq!(
            (read.requests, read.errors, read.region),
            (12.5, 2.0, Some("eu".into()))
        );
    }
}
