//! OTLP decode: Collector-format Kafka records or file records into [`crate::record`] types.
//!
//! One record is one serialized `ExportTraceServiceRequest`, `ExportMetricsServiceRequest` or
//! `ExportLogsServiceRequest`,
//! as the OpenTelemetry Collector's kafka exporter writes it, in `otlp_proto` or `otlp_json`.
//! The message types are the generated ones of the `opentelemetry-proto` crate.
//!
//! Decoding also settles two things every later stage relies on: which service a resource is
//! (`service.name`, prefixed by `service.namespace`; without a name, the Kubernetes workload,
//! pod or container — [`ServiceNaming`]) and how many requests a sampled span stands for
//! ([`sampling`]).

mod attributes;
mod decode;
mod logs;
pub mod receiver;
pub mod sampling;
mod span_wire;
mod wire;

pub use attributes::ServiceNaming;
pub use decode::{
    decode_metrics, parse, points_of, spans_of, DecodeError, Decoding, Rejected, ResourceCache,
};
pub use logs::{body_is_error, decode_logs, level_is_error, logs_of, MAX_BODY_BYTES};
pub use receiver::{ReceiverSource, Receivers};
pub use span_wire::decode_spans;
