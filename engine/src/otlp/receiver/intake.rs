//! What both receivers do with a request body, whatever the protocol: decode it exactly as a
//! file's or a topic's record is decoded, queue the valid records, wait until a worker has put
//! them into the dataflow, and say what was rejected.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use super::queue::{Queue, Refusal};
use crate::otlp::{decode_logs, decode_metrics, decode_spans, DecodeError, Decoding, Rejected};
use crate::record::{Encoding, Location, Signal};
use crate::source::{Decoded, RejectedRecords, SourceFault};
use crate::stats::Stats;

/// Which export service a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// `TraceService/Export`, `/v1/traces`.
    Traces,
    /// `MetricsService/Export`, `/v1/metrics`.
    Metrics,
    /// `LogsService/Export`, `/v1/logs`.
    Logs,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its records are in the dataflow, except `rejected` ones (why: `message`).
    Accepted {
        /// Records rejected.
        rejected: u64,
        /// Why, position by position; empty when none was.
        message: String,
    },
    /// The body is not a request of this signal in this encoding.
    Invalid(String),
    /// Not taken; the client should retry later.
    Refused(Refusal),
}

/// Who sent a request, for its [`Location`].
pub struct Origin {
    /// `otlp-grpc` or `otlp-http`.
    pub protocol: &'static str,
    /// The client's address, when known.
    pub peer: String,
}

/// The shared state of both receivers.
pub struct Intake {
    queue: Arc<Queue>,
    decoding: Decoding,
    stats: Arc<Stats>,
    requests: AtomicU64,
    /// The delay a refused client is asked to wait.
    pub retry_after: Duration,
    /// Largest request body accepted, after decompression.
    pub max_request_bytes: usize,
}

impl Intake {
    /// An intake feeding `queue`.
    pub fn new(
        queue: Arc<Queue>,
        decoding: Decoding,
        stats: Arc<Stats>,
        (retry_after, max_request_bytes): (Duration, usize),
    ) -> Self {
        Intake {
            queue,
            decoding,
            stats,
            requests: AtomicU64::new(0),
            retry_after,
            max_request_bytes,
        }
    }

    /// A location for the next request from `origin`.
    pub fn location(&self, origin: Origin) -> Location {
        Location::Receiver {
            protocol: origin.protocol.to_string(),
            peer: origin.peer,
            request: self.requests.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Records a request that never reached decoding (too large, unreadable framing): counted
    /// and dead-lettered like unreadable input of any source.
    pub fn fault(&self, location: Location, reason: String, bytes: Vec<u8>) {
        Stats::add(&self.stats.receiver_requests, 1);
        self.queue.offer_fault(SourceFault {
            location,
            reason,
            bytes,
        });
    }

    /// Decodes, queues and waits for one request body.
    pub async fn export(
        &self,
        export: Export,
        body: Vec<u8>,
        encoding: Encoding,
        location: Location,
    ) -> Outcome {
        Stats::add(&self.stats.receiver_requests, 1);
        if self.queue.is_full() {
            // Shed load before spending a decode on a request that cannot be queued.
            Stats::add(&self.stats.receiver_refused, 1);
            return Outcome::Refused(Refusal::Full);
        }
        let signal = match export {
            Export::Traces => Signal::Traces,
            Export::Metrics => Signal::Metrics,
            Export::Logs => Signal::Logs,
        };
        let decoded = match self.decode(signal, body, encoding, location) {
            Ok(decoded) => decoded,
            Err(reason) => return Outcome::Invalid(reason),
        };
        let (rejected, message) = decoded
            .rejected
            .as_ref()
            .map_or((0, String::new()), |r| (r.count, r.reason.clone()));
        let answer = match self.queue.offer(decoded) {
            Ok(answer) => answer,
            Err(refusal) => {
                Stats::add(&self.stats.receiver_refused, 1);
                return Outcome::Refused(refusal);
            }
        };
        match answer.await {
            Ok(()) => Outcome::Accepted { rejected, message },
            Err(_) => Outcome::Refused(Refusal::Closed),
        }
    }

    /// Decodes a request body; an unreadable one is queued as a fault and its
    /// reason returned.
    fn decode(
        &self,
        signal: Signal,
        body: Vec<u8>,
        encoding: Encoding,
        location: Location,
    ) -> Result<Decoded, String> {
        let (mut spans, mut points, mut logs) = (Vec::new(), Vec::new(), Vec::new());
        let result = match signal {
            Signal::Traces => decode_spans(&body, encoding, &self.decoding, &mut spans),
            Signal::Metrics => decode_metrics(&body, encoding, &self.decoding, &mut points),
            Signal::Logs => decode_logs(&body, encoding, &self.decoding, &mut logs),
        };
        let rejected = match result {
            Ok(rejected) => rejected,
            Err(error) => return Err(self.unreadable(location, &error, body)),
        };
        Ok(Decoded {
            partition: 0,
            location,
            spans,
            points,
            logs,
            rejected: rejected_records(&rejected, signal, body),
        })
    }

    /// Queues an unreadable body for the dead letters; returns the reason for the answer.
    fn unreadable(&self, location: Location, error: &DecodeError, body: Vec<u8>) -> String {
        let reason = error.to_string();
        self.queue.offer_fault(SourceFault {
            location,
            reason: reason.clone(),
            bytes: body,
        });
        reason
    }
}

/// The rejected records of a request, with the body kept for the dead letters.
fn rejected_records(
    rejected: &[Rejected],
    signal: Signal,
    body: Vec<u8>,
) -> Option<RejectedRecords> {
    if rejected.is_empty() {
        return None;
    }
    let reason = rejected
        .iter()
        .map(|r| format!("{}: {}", r.position, r.error))
        .collect::<Vec<_>>()
        .join("; ");
    Some(RejectedRecords {
        count: rejected.len() as u64,
        reason,
        signal,
        bytes: body,
    })
}

/// The `Export*ServiceResponse` of an accepted request, in `encoding`: a partial success when
/// records were rejected, empty otherwise.
pub fn response_body(
    export: Export,
    (rejected, message): (u64, &str),
    encoding: Encoding,
) -> Vec<u8> {
    let (rejected, message) = (rejected as i64, message.to_string());
    let partial = rejected > 0;
    macro_rules! encode {
        ($response:expr) => {
            match encoding {
                Encoding::OtlpProto => $response.encode_to_vec(),
                Encoding::OtlpJson => serde_json::to_vec(&$response).unwrap_or_default(),
            }
        };
    }
    match export {
        Export::Traces => encode!(ExportTraceServiceResponse {
            partial_success: partial.then_some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message,
            }),
        }),
        Export::Metrics => encode!(ExportMetricsServiceResponse {
            partial_success: partial.then_some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: message,
            }),
        }),
        Export::Logs => encode!(ExportLogsServiceResponse {
            partial_success: partial.then_some(ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: message,
            }),
        }),
    }
}
