//! OTLP decode: Collector-format Kafka records or file records into [`crate::record`] types.
//!
//! One record is one serialized `ExportTraceServiceRequest` or `ExportMetricsServiceRequest`,
//! as the OpenTelemetry Collector's kafka exporter writes it, in `otlp_proto` or `otlp_json`.
//! The message types are the generated ones of the `opentelemetry-proto` crate.

mod attributes;
mod decode;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use decode::{
    decode_metrics, decode_spans, encode_metrics, encode_traces, DecodeError, Rejected,
};

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
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        })
    }
}
