//! Compact internal records: what the dataflow carries after OTLP decode.
//!
//! Raw records are tagged with their [`Signal`] and wire [`Encoding`] by the sources, before
//! any decoding: both are defined here so sources and the decoder share them.
//!
//! OTLP messages are deep trees of strings and attribute lists; the features need a few
//! fields of each span and metric point. Decode flattens each span / point into one of these
//! records, sharing the per-resource strings behind an `Arc` so a batch of 500 spans from one
//! service does not copy its resource attributes 500 times.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Service name used when a resource carries no `service.name` (as OpenTelemetry SDKs do).
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Separates a service's name from its environment inside a service key (ASCII unit
/// separator: no service name or environment holds it; [`service_key`] replaces one that
/// does).
const KEY_SEPARATOR: char = '\u{1f}';

/// The key that identifies a service everywhere inside the job: its name (namespaced, as
/// `shop/cart`) and its environment. Two environments of one service never share a key, so
/// they never merge into one series, edge or model. Without an environment the key is the
/// name itself.
///
/// Why one string and not a struct: panes, edges, detectors and rankers are keyed by a
/// service string throughout, and the environment must separate all of them; a composite
/// string gives every one of them the identity at once. Outputs split it again: rows, edges,
/// incidents, alerts and metrics carry `service_name` and `environment` apart, and people
/// read [`service_label`].
pub fn service_key(name: &str, environment: &str) -> String {
    let clean = |text: &str| text.replace(KEY_SEPARATOR, "_");
    match environment {
        "" => clean(name),
        environment => format!("{}{KEY_SEPARATOR}{}", clean(name), clean(environment)),
    }
}

/// A service key's name and environment (`""` when it has none).
pub fn key_parts(key: &str) -> (&str, &str) {
    key.split_once(KEY_SEPARATOR).unwrap_or((key, ""))
}

/// A service key for people: `name`, or `name@environment`.
pub fn service_label(key: &str) -> std::borrow::Cow<'_, str> {
    match key_parts(key) {
        (name, "") => name.into(),
        (name, environment) => format!("{name}@{environment}").into(),
    }
}

/// A service key for people reading within `environment`: the plain name when the service is
/// in it, else [`service_label`] (a call that crosses environments shows where it went).
pub fn label_within<'a>(key: &'a str, environment: &str) -> std::borrow::Cow<'a, str> {
    match key_parts(key) {
        (name, own) if own == environment => name.into(),
        _ => service_label(key),
    }
}

/// Attributes of the resource (process, pod) that emitted a span or a metric point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceInfo {
    /// The [`service_key`] of `service.name` (or [`UNKNOWN_SERVICE`]) and the environment.
    pub service: String,
    /// `service.version`.
    pub service_version: Option<String>,
    /// `deployment.environment.name` or the older `deployment.environment`.
    pub environment: Option<String>,
    /// `cloud.region`.
    pub region: Option<String>,
    /// `k8s.pod.name`.
    pub pod: Option<String>,
    /// `service.instance.id`, or `host.name` when there is none.
    pub instance: Option<String>,
}

impl ResourceInfo {
    /// The key that tells two emitting instances of one service apart (pod, instance, host).
    pub fn instance_key(&self) -> &str {
        self.pod
            .as_deref()
            .or(self.instance.as_deref())
            .unwrap_or("")
    }
}

/// OTLP span kind, as its protobuf number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpanKind {
    /// SPAN_KIND_UNSPECIFIED.
    Unspecified,
    /// SPAN_KIND_INTERNAL.
    Internal,
    /// SPAN_KIND_SERVER.
    Server,
    /// SPAN_KIND_CLIENT.
    Client,
    /// SPAN_KIND_PRODUCER.
    Producer,
    /// SPAN_KIND_CONSUMER.
    Consumer,
}

impl SpanKind {
    /// Maps the protobuf enum number; unknown numbers are `Unspecified`.
    pub fn from_i32(value: i32) -> Self {
        match value {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// One decoded span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Resource of the emitting service, shared by all spans of one OTLP resource block.
    pub resource: Arc<ResourceInfo>,
    /// 16-byte trace id.
    pub trace_id: [u8; 16],
    /// 8-byte span id.
    pub span_id: [u8; 8],
    /// Parent span id; `None` for a root span.
    pub parent_span_id: Option<[u8; 8]>,
    /// Span name (the operation).
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Start, nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// End, nanoseconds since the Unix epoch; never before `start_ns`.
    pub end_ns: u64,
    /// Status code ERROR.
    pub status_error: bool,
    /// `http.response.status_code` (or the older `http.status_code`).
    pub http_status: Option<u16>,
    /// `peer.service`.
    pub peer_service: Option<String>,
    /// `server.address` (or the older `net.peer.name`).
    pub server_address: Option<String>,
    /// `db.system` (or `db.system.name`), for client spans to databases.
    pub db_system: Option<String>,
    /// Requests the span stands for: 1 / its sampling probability (see
    /// [`crate::otlp::sampling`]), 1 for an unsampled span.
    pub weight: f64,
    /// A hash of the span's end user (`enduser.id`, or `[identity] user_attribute`): the
    /// features count distinct users and need no id itself.
    #[serde(default)]
    pub user: Option<u64>,
}

impl Span {
    /// The emitting service's key ([`service_key`]).
    pub fn service(&self) -> &str {
        &self.resource.service
    }

    /// Duration in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        (self.end_ns - self.start_ns) as f64 / 1e6
    }

    /// Whether this span is a request served by its service: SERVER and CONSUMER spans, and
    /// root spans of any kind (an uninstrumented caller leaves the entry span parentless).
    pub fn is_request(&self) -> bool {
        matches!(self.kind, SpanKind::Server | SpanKind::Consumer) || self.parent_span_id.is_none()
    }

    /// Whether the request failed: status ERROR, or an HTTP status of 500 or above.
    pub fn is_error(&self) -> bool {
        self.status_error || self.http_status.is_some_and(|code| code >= 500)
    }
}

/// The value of one metric data point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetricValue {
    /// A gauge reading.
    Gauge(f64),
    /// A sum (counter or up-down counter).
    Sum {
        /// The value.
        value: f64,
        /// Cumulative (true) or delta (false) temporality.
        cumulative: bool,
        /// Whether the sum only ever grows.
        monotonic: bool,
    },
    /// An explicit-bucket histogram.
    Histogram {
        /// Number of observations.
        count: u64,
        /// Sum of observations, when reported.
        sum: Option<f64>,
        /// Bucket upper bounds.
        bounds: Vec<f64>,
        /// Per-bucket counts, one more than `bounds`.
        bucket_counts: Vec<u64>,
        /// Cumulative (true) or delta (false) temporality.
        cumulative: bool,
    },
}

/// One decoded metric data point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// Resource of the emitting service.
    pub resource: Arc<ResourceInfo>,
    /// Metric name, e.g. `system.cpu.utilization`.
    pub name: String,
    /// The data point attributes the features use (direction, state, mode, device), sorted.
    pub attributes: Vec<(String, String)>,
    /// Start of the point's aggregation interval (0 when not reported), ns since the epoch.
    pub start_ns: u64,
    /// Observation time, ns since the epoch.
    pub time_ns: u64,
    /// The value.
    pub value: MetricValue,
}

impl MetricPoint {
    /// The emitting service's name.
    pub fn service(&self) -> &str {
        &self.resource.service
    }

    /// The value of a kept attribute.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One decoded log record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Resource of the emitting service.
    pub resource: Arc<ResourceInfo>,
    /// `time_unix_nano`, or `observed_time_unix_nano` when the source left it unset.
    pub time_ns: u64,
    /// Severity ERROR or worse: `severity_number` >= 17, or, when unset, the severity text or
    /// the level word at the start of the body (see [`crate::otlp`]).
    pub error: bool,
    /// The body as text (a string body as is; other values rendered as JSON).
    pub body: String,
    /// Trace id of the span the record was written in, when it carries one.
    pub trace_id: Option<[u8; 16]>,
    /// Span id of the span the record was written in, when it carries one.
    pub span_id: Option<[u8; 8]>,
    /// The log statement that wrote it, from the record's `code.*` attributes, as
    /// `function#line`, when the logger recorded them: template mining keeps statements apart
    /// by it (see `features::templates`).
    pub code: Option<String>,
}

impl LogRecord {
    /// The emitting service's name.
    pub fn service(&self) -> &str {
        &self.resource.service
    }
}

/// Where a record came from, precise enough for a user to find the bytes again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Location {
    /// A record of a Kafka topic.
    Kafka {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
    /// A record of a file: its line for JSON lines, its byte offset for length-prefixed proto.
    File {
        /// The file.
        path: String,
        /// 1-based line (JSON) or 0 when `offset` is meaningful.
        line: u64,
        /// Byte offset of the record.
        offset: u64,
    },
    /// A request produced by the built-in simulator.
    Simulator {
        /// Simulator shard (the worker that generated it).
        shard: usize,
        /// Sequence number of the request within the shard.
        sequence: u64,
    },
    /// A request to an OTLP receiver.
    Receiver {
        /// `otlp-grpc` or `otlp-http`.
        protocol: String,
        /// The client's address, when known.
        peer: String,
        /// Sequence number of the request since the receivers started.
        request: u64,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Kafka {
                topic,
                partition,
                offset,
            } => {
                write!(f, "topic {topic} partition {partition} offset {offset}")
            }
            Location::File { path, line, offset } if *line > 0 => {
                write!(f, "{path}:{line} (byte {offset})")
            }
            Location::File { path, offset, .. } => write!(f, "{path} at byte {offset}"),
            Location::Simulator { shard, sequence } => {
                write!(f, "simulator shard {shard} request {sequence}")
            }
            Location::Receiver {
                protocol,
                peer,
                request,
            } => write!(f, "{protocol} request {request} from {peer}"),
        }
    }
}

/// Wire encoding of an OTLP record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Protobuf binary (`otlp_proto`, the Collector's default).
    OtlpProto,
    /// OTLP/JSON (`otlp_json`): hex ids, camelCase fields, 64-bit integers as strings.
    OtlpJson,
}

impl FromStr for Encoding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "otlp_proto" => Ok(Encoding::OtlpProto),
            "otlp_json" => Ok(Encoding::OtlpJson),
            other => Err(format!(
                "unknown encoding {other:?}: expected otlp_proto or otlp_json"
            )),
        }
    }
}

impl Encoding {
    /// Serializes an OTLP export request (or any generated OTLP message) in this encoding.
    pub fn encode<M: prost::Message + Serialize>(self, message: &M) -> Vec<u8> {
        match self {
            Encoding::OtlpProto => message.encode_to_vec(),
            // Serializing generated message types to a Vec cannot fail: no maps with
            // non-string keys.
            Encoding::OtlpJson => serde_json::to_vec(message).unwrap_or_default(),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::OtlpProto => "otlp_proto",
            Encoding::OtlpJson => "otlp_json",
        })
    }
}

/// Which OTLP signal a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// `ExportTraceServiceRequest`.
    Traces,
    /// `ExportMetricsServiceRequest`.
    Metrics,
    /// `ExportLogsServiceRequest`.
    Logs,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        })
    }
}

/// A span of service `api` named `name` for unit tests: an internal root span of 1 ns, ids all
/// ones; tests set what they are about with struct update syntax.
#[cfg(test)]
pub(crate) fn test_span(name: &str) -> Span {
    Span {
        resource: Arc::new(ResourceInfo {
            service: "api".into(),
            ..Default::default()
        }),
        trace_id: [1; 16],
        span_id: [1; 8],
        parent_span_id: None,
        name: name.into(),
        kind: SpanKind::Internal,
        start_ns: 0,
        end_ns: 1,
        status_error: false,
        http_status: None,
        peer_service: None,
        server_address: None,
        db_system: None,
        weight: 1.0,
        user: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_key_keeps_name_and_environment_apart() {
        let prod = service_key("shop/cart", "prod");
        assert_ne!(prod, service_key("shop/cart", "staging"));
        assert_ne!(prod, service_key("shop/cart", ""));
        assert_eq!(key_parts(&prod), ("shop/cart", "prod"));
        assert_eq!(key_parts("cart"), ("cart", ""));
        assert_eq!(service_key("cart", ""), "cart");
        assert_eq!(service_label(&prod), "shop/cart@prod");
        assert_eq!(service_label("cart"), "cart");
        assert_eq!(label_within(&prod, "prod"), "shop/cart");
        assert_eq!(label_within(&prod, "staging"), "shop/cart@prod");
        assert_eq!(label_within("mysql", "prod"), "mysql");
    }

    #[test]
    fn a_separator_inside_a_name_cannot_forge_an_environment() {
        let key = service_key("a\u{1f}b", "");
        assert_eq!(key_parts(&key), ("a_b", ""));
    }
}
