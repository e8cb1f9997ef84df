//! OTLP decode: Collector-format Kafka records or file records into [`crate::record`] types.
//!
//! One record is one serialized `ExportTraceServiceRequest` or `ExportMetricsServiceRequest`,
//! as the OpenTelemetry Collector's kafka exporter writes it, in `otlp_proto` or `otlp_json`.
//! The message types are the generated ones of the `opentelemetry-proto` crate.

mod attributes;
mod decode;
pub mod sampling;

pub use attributes::ServiceNaming;
pub use decode::{decode_metrics, decode_spans, DecodeError, Decoding, Rejected};
