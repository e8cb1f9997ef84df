//! Closed span and log panes in PostgreSQL: the state a restarted Kafka job rebuilds its
//! windows and template miners from.
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
//!
//! Log panes ([`LogPane`]) go to `aiops_log_panes` in the same shape; each carries its
//! service's templates after the minute, so a restart needs only each service's latest one.

use super::{db_error, Connection};
use crate::config::PostgresConfig;
use crate::error::{Error, Result};
use crate::features::structure::CallShape;
use crate::features::{LatencySketch, LogPane, SpanPane};
use crate::sink::ClosedStore;
use crate::time::Pane;

/// A closed pane kept as state: its table, its key and its encoding.
pub trait StoredPane: Sized + 'static {
    /// The table.
    const TABLE: &'static str;
    /// What the rows are, for messages.
    const WHAT: &'static str;
    /// The pane's service.
    fn service(&self) -> &str;
    /// The pane's minute.
    fn pane(&self) -> Pane;
    /// The stored bytes.
    fn encode(&self) -> Result<Vec<u8>>;
    /// Reads stored bytes.
    fn decode(state: &[u8]) -> std::result::Result<Self, postcard::Error>;
}

impl StoredPane for SpanPane {
    const TABLE: &'static str = "aiops_span_panes";
    const WHAT: &'static str = "span panes";

    fn service(&self) -> &str {
        &self.service
    }

    fn pane(&self) -> Pane {
        self.pane
    }

    fn encode(&self) -> Result<Vec<u8>> {
        encode_as(STATE_FORMAT, self)
    }

    fn decode(state: &[u8]) -> std::result::Result<Self, postcard::Error> {
        decode_state(state)
    }
}

impl StoredPane for LogPane {
    const TABLE: &'static str = "aiops_log_panes";
    const WHAT: &'static str = "log panes";

    fn service(&self) -> &str {
        &self.service
    }

    fn pane(&self) -> Pane {
        self.pane
    }

    fn encode(&self) -> Result<Vec<u8>> {
        encode_as(LOG_STATE_FORMAT, self)
    }

    fn decode(state: &[u8]) -> std::result::Result<Self, postcard::Error> {
        if let Some(body) = state.strip_prefix(&[0, LOG_STATE_FORMAT]) {
            return postcard::from_bytes(body);
        }
        let body = state
            .strip_prefix(&[0, 1])
            .ok_or(postcard::Error::DeserializeBadEncoding)?;
        // The first format: the same fields, positionally, less the template shift.
        let (service, pane, lines, errors, new_template_lines, overflow_lines, moved, templates) =
            postcard::from_bytes(body)?;
        Ok(LogPane {
            service,
            pane,
            lines,
            errors,
            new_template_lines,
            overflow_lines,
            moved,
            templates,
            template_shift: 0.0,
        })
    }
}

impl<P: StoredPane> ClosedStore<P> for PaneStore<P> {
    const WHAT: &'static str = P::WHAT;

    fn write(&mut self, _panes: &[Pane], records: &[P]) -> Result<()> {
        PaneStore::write(self, records)
    }
}

/// The format of stored log panes: 2 since panes carry their template shift.
const LOG_STATE_FORMAT: u8 = 2;

/// The format of stored pane state: 2 since request counts became weights, 3 since panes
/// count distinct end users, 4 since they carry their call shape.
const STATE_FORMAT: u8 = 4;

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

/// A pane as format 2 stored it: no end users.
#[derive(serde::Serialize, serde::Deserialize)]
struct SecondFormat {
    service: String,
    pane: Pane,
    requests: f64,
    errors: f64,
    latency: LatencySketch,
    operation: Option<String>,
    http_status: Option<u16>,
    version: Option<String>,
    region: Option<String>,
}

impl From<FirstFormat> for SecondFormat {
    fn from(first: FirstFormat) -> Self {
        SecondFormat {
            service: first.service,
            pane: first.pane,
            requests: first.requests as f64,
            errors: first.errors as f64,
            latency: first.latency,
            operation: first.operation,
            http_status: first.http_status,
            version: first.version,
            region: first.region,
        }
    }
}

/// A zero byte, `format`, then the pane as postcard.
fn encode_as<P: StoredPane + serde::Serialize>(format: u8, pane: &P) -> Result<Vec<u8>> {
    let mut state = vec![0, format];
    let body = postcard::to_allocvec(pane)
        .map_err(|e| Error::Schema(format!("{} state: {e}", P::WHAT)))?;
    state.extend(body);
    Ok(state)
}

/// Reads any format. A first-format state never starts with a zero byte: it starts with
/// the length of a service name, which is never empty.
fn decode_state(state: &[u8]) -> std::result::Result<SpanPane, postcard::Error> {
    if let Some(body) = state.strip_prefix(&[0, STATE_FORMAT]) {
        return postcard::from_bytes(body);
    }
    // Postcard is positional: format 3 is format 2's fields, then the end users.
    let (old, users): (SecondFormat, Option<u32>) = match state {
        [0, 3, body @ ..] => postcard::from_bytes(body)?,
        [0, 2, body @ ..] => (postcard::from_bytes(body)?, None),
        _ => (postcard::from_bytes::<FirstFormat>(state)?.into(), None),
    };
    Ok(SpanPane {
        service: old.service,
        pane: old.pane,
        requests: old.requests,
        errors: old.errors,
        latency: old.latency,
        operation: old.operation,
        http_status: old.http_status,
        version: old.version,
        region: old.region,
        users,
        shape: CallShape::default(),
    })
}

/// Writes and reads one consumer's closed panes of one kind.
pub struct PaneStore<P = SpanPane> {
    connection: Connection,
    consumer: String,
    kind: std::marker::PhantomData<P>,
}

/// The store of closed log panes.
pub type LogPaneStore = PaneStore<LogPane>;

fn to_i64(pane: Pane) -> i64 {
    pane.min(i64::MAX as u64) as i64
}

impl<P: StoredPane> PaneStore<P> {
    /// Connects.
    pub fn connect(config: &PostgresConfig) -> Result<Self> {
        Ok(PaneStore {
            connection: Connection::open(config)?,
            consumer: config.consumer.clone(),
            kind: std::marker::PhantomData,
        })
    }

    /// Upserts `panes` in one transaction; reconnects first if the connection was lost.
    pub fn write(&mut self, panes: &[P]) -> Result<()> {
        if panes.is_empty() {
            return Ok(());
        }
        let server = self.connection.server().to_string();
        let failed = |e: &postgres::Error| db_error(format!("storing {} on {server}", P::WHAT), e);
        let mut transaction = self
            .connection
            .client()?
            .transaction()
            .map_err(|e| failed(&e))?;
        let statement = transaction
            .prepare(&format!(
                "INSERT INTO {} (consumer, pane, service_name, state) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (consumer, pane, service_name) DO UPDATE SET state = EXCLUDED.state",
                P::TABLE
            ))
            .map_err(|e| failed(&e))?;
        for pane in panes {
            let state = pane.encode()?;
            transaction
                .execute(
                    &statement,
                    &[
                        &self.consumer,
                        &to_i64(pane.pane()),
                        &pane.service(),
                        &state,
                    ],
                )
                .map_err(|e| failed(&e))?;
        }
        transaction.commit().map_err(|e| failed(&e))
    }

    /// The panes of minutes `from .. to`, oldest first.
    pub fn load(&mut self, from: Pane, to: Pane) -> Result<Vec<P>> {
        self.query(
            "SELECT state FROM {table} WHERE consumer = $1 AND pane >= $2 AND pane < $3 \
             ORDER BY pane, service_name",
            (from, to),
        )
    }

    fn query(&mut self, sql: &str, (from, to): (Pane, Pane)) -> Result<Vec<P>> {
        let server = self.connection.server().to_string();
        let rows = self
            .connection
            .client()?
            .query(
                &sql.replace("{table}", P::TABLE),
                &[&self.consumer, &to_i64(from), &to_i64(to)],
            )
            .map_err(|e| db_error(format!("reading {} on {server}", P::WHAT), &e))?;
        rows.iter()
            .map(|row| {
                let state: Vec<u8> = row.get(0);
                P::decode(&state).map_err(|e| {
                    Error::Schema(format!("{} on {server}: unreadable state: {e}", P::TABLE))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_of_stored_state_is_read() {
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
        let second = SecondFormat {
            requests: 12.5,
            ..SecondFormat::from(first)
        };
        let mut state = vec![0, 2];
        state.extend(postcard::to_allocvec(&second).unwrap());
        let read = decode_state(&state).unwrap();
        assert_eq!((read.requests, read.users), (12.5, None));
        let mut state = vec![0, 3];
        state.extend(postcard::to_allocvec(&(&second, Some(31u32))).unwrap());
        let read = decode_state(&state).unwrap();
        assert_eq!((read.requests, read.users), (12.5, Some(31)));
        assert_eq!(read.shape, CallShape::default());
        let shape = CallShape {
            operations: vec![("GET /".into(), 4), ("SELECT".into(), 8)],
            calls: vec![(0, 1, 8)],
            untracked: 0,
        };
        let current = SpanPane {
            requests: 12.5,
            users: Some(31),
            shape: shape.clone(),
            ..old.clone()
        };
        let read = decode_state(&current.encode().unwrap()).unwrap();
        assert_eq!(
            (read.requests, read.errors, read.region, read.users),
            (12.5, 2.0, Some("eu".into()), Some(31))
        );
        assert_eq!(read.shape, shape);
    }

    #[test]
    fn a_log_pane_of_the_first_format_reads_with_no_shift() {
        let pane = LogPane {
            service: "cart".into(),
            pane: 9,
            lines: 30,
            errors: 4,
            template_shift: 5.5,
            ..LogPane::default()
        };
        let first = (
            &pane.service,
            pane.pane,
            pane.lines,
            pane.errors,
            0u64,
            0u64,
            &pane.moved,
            &pane.templates,
        );
        let mut state = vec![0, 1];
        state.extend(postcard::to_allocvec(&first).unwrap());
        let read = LogPane::decode(&state).unwrap();
        assert_eq!(
            read,
            LogPane {
                template_shift: 0.0,
                ..pane.clone()
            }
        );
        assert_eq!(LogPane::decode(&pane.encode().unwrap()).unwrap(), pane);
        assert!(LogPane::decode(&[0, 9, 1]).is_err());
    }
}
