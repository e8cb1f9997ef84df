//! Bytes to records, and records' OTLP messages to bytes (for the simulator and file writer).
//!
//! A message that does not parse is rejected whole ([`DecodeError`] from the call); a message
//! that parses but holds invalid spans or points keeps its good records and lists the bad ones
//! as [`Rejected`], each with its position inside the message. Nothing here panics on input.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, HistogramDataPoint, NumberDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span as OtlpSpan};
use prost::Message;

use super::attributes::{resource_info, value_int, value_text, KEPT_POINT_ATTRIBUTES};
use super::Encoding;
use crate::record::{MetricPoint, MetricValue, ResourceInfo, Span, SpanKind};

/// Earliest timestamp accepted: 2000-01-01T00:00:00Z. Earlier ones are clock bugs or zeros.
pub const MIN_TIMESTAMP_NS: u64 = 946_684_800 * 1_000_000_000;
/// Latest timestamp accepted: 2100-01-01T00:00:00Z.
pub const MAX_TIMESTAMP_NS: u64 = 4_102_444_800 * 1_000_000_000;
/// Longest span accepted: one day.
pub const MAX_DURATION_NS: u64 = 86_400 * 1_000_000_000;

/// Why a message or one of its records was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a valid message in the stated encoding.
    #[error("malformed {encoding} message: {detail}")]
    Malformed {
        /// The encoding tried.
        encoding: Encoding,
        /// The parser's complaint.
        detail: String,
    },
    /// A required field is absent or empty.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// An id has the wrong length or is all zeros.
    #[error("invalid {field}: {length} bytes")]
    InvalidId {
        /// Which id.
        field: &'static str,
        /// Its length in bytes.
        length: usize,
    },
    /// The span ends before it starts.
    #[error("negative duration: start {start_ns} ns, end {end_ns} ns")]
    NegativeDuration {
        /// Start.
        start_ns: u64,
        /// End.
        end_ns: u64,
    },
    /// A timestamp lies outside 2000..2100, or a span lasts longer than a day.
    #[error("absurd {field}: {value_ns} ns")]
    AbsurdTimestamp {
        /// Which timestamp.
        field: &'static str,
        /// Its value.
        value_ns: u64,
    },
}

/// A record inside a parsed message that was rejected, with its position in the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Path inside the message, e.g. `resource 0 scope 1 span 7`.
    pub position: String,
    /// Why.
    pub error: DecodeError,
}

fn parse<M: Message + Default + serde::de::DeserializeOwned>(
    bytes: &[u8],
    encoding: Encoding,
) -> Result<M, DecodeError> {
    match encoding {
        Encoding::OtlpProto => M::decode(bytes).map_err(|e| DecodeError::Malformed {
            encoding,
            detail: e.to_string(),
        }),
        Encoding::OtlpJson => serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed {
            encoding,
            detail: e.to_string(),
        }),
    }
}

/// Serializes a trace request in the given encoding.
pub fn encode_traces(request: &ExportTraceServiceRequest, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::OtlpProto => request.encode_to_vec(),
        // Serializing generated message types to a Vec cannot fail: no maps with non-string keys.
        Encoding::OtlpJson => serde_json::to_vec(request).unwrap_or_default(),
    }
}

/// Serializes a metrics request in the given encoding.
pub fn encode_metrics(request: &ExportMetricsServiceRequest, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::OtlpProto => request.encode_to_vec(),
        Encoding::OtlpJson => serde_json::to_vec(request).unwrap_or_default(),
    }
}

/// Decodes one `ExportTraceServiceRequest`, appending its valid spans to `out`.
///
/// Returns the spans that were rejected; an `Err` means the whole message was unreadable and
/// nothing was appended.
pub fn decode_spans(
    bytes: &[u8],
    encoding: Encoding,
    out: &mut Vec<Span>,
) -> Result<Vec<Rejected>, DecodeError> {
    let request: ExportTraceServiceRequest = parse(bytes, encoding)?;
    let mut rejected = Vec::new();
    for (r, resource_spans) in request.resource_spans.into_iter().enumerate() {
        let resource = Arc::new(resource_info(resource_spans.resource.as_ref()));
        for (s, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
            for (i, span) in scope_spans.spans.into_iter().enumerate() {
                match convert_span(span, &resource) {
                    Ok(span) => out.push(span),
                    Err(error) => rejected.push(Rejected {
                        position: format!("resource {r} scope {s} span {i}"),
                        error,
                    }),
                }
            }
        }
    }
    Ok(rejected)
}

fn fixed_id<const N: usize>(bytes: &[u8], field: &'static str) -> Result<[u8; N], DecodeError> {
    let id: [u8; N] = bytes.try_into().map_err(|_| DecodeError::InvalidId {
        field,
        length: bytes.len(),
    })?;
    if id.iter().all(|b| *b == 0) {
        return Err(DecodeError::InvalidId { field, length: N });
    }
    Ok(id)
}

fn check_timestamp(field: &'static str, value_ns: u64) -> Result<u64, DecodeError> {
    if value_ns == 0 {
        return Err(DecodeError::MissingField(field));
    }
    if !(MIN_TIMESTAMP_NS..MAX_TIMESTAMP_NS).contains(&value_ns) {
        return Err(DecodeError::AbsurdTimestamp { field, value_ns });
    }
    Ok(value_ns)
}

fn convert_span(mut span: OtlpSpan, resource: &Arc<ResourceInfo>) -> Result<Span, DecodeError> {
    let trace_id = fixed_id::<16>(&span.trace_id, "trace_id")?;
    let span_id = fixed_id::<8>(&span.span_id, "span_id")?;
    let parent_span_id = match span.parent_span_id.len() {
        0 => None,
        _ => Some(fixed_id::<8>(&span.parent_span_id, "parent_span_id")?),
    };
    let start_ns = check_timestamp("start_time_unix_nano", span.start_time_unix_nano)?;
    let end_ns = check_timestamp("end_time_unix_nano", span.end_time_unix_nano)?;
    if end_ns < start_ns {
        return Err(DecodeError::NegativeDuration { start_ns, end_ns });
    }
    if end_ns - start_ns > MAX_DURATION_NS {
        return Err(DecodeError::AbsurdTimestamp {
            field: "duration",
            value_ns: end_ns - start_ns,
        });
    }
    if span.name.is_empty() {
        return Err(DecodeError::MissingField("name"));
    }
    let status_error = span
        .status
        .as_ref()
        .is_some_and(|status| status.code == StatusCode::Error as i32);
    let mut decoded = Span {
        resource: Arc::clone(resource),
        trace_id,
        span_id,
        parent_span_id,
        name: std::mem::take(&mut span.name),
        kind: SpanKind::from_i32(span.kind),
        start_ns,
        end_ns,
        status_error,
        http_status: None,
        peer_service: None,
        server_address: None,
        db_system: None,
    };
    for kv in &span.attributes {
        match kv.key.as_str() {
            "http.response.status_code" | "http.status_code" => {
                decoded.http_status = value_int(kv).and_then(|code| u16::try_from(code).ok());
            }
            "peer.service" => decoded.peer_service = value_text(kv),
            "server.address" | "net.peer.name" if decoded.server_address.is_none() => {
                decoded.server_address = value_text(kv);
            }
            "db.system" | "db.system.name" => decoded.db_system = value_text(kv),
            _ => {}
        }
    }
    Ok(decoded)
}

/// Decodes one `ExportMetricsServiceRequest`, appending its gauge, sum and histogram points.
///
/// Exponential histograms and summaries are not used by any feature and are skipped.
pub fn decode_metrics(
    bytes: &[u8],
    encoding: Encoding,
    out: &mut Vec<MetricPoint>,
) -> Result<Vec<Rejected>, DecodeError> {
    let request: ExportMetricsServiceRequest = parse(bytes, encoding)?;
    let mut rejected = Vec::new();
    for (r, resource_metrics) in request.resource_metrics.into_iter().enumerate() {
        let resource = Arc::new(resource_info(resource_metrics.resource.as_ref()));
        for (s, scope_metrics) in resource_metrics.scope_metrics.into_iter().enumerate() {
            for (m, metric) in scope_metrics.metrics.into_iter().enumerate() {
                let mut reject = |i: usize, error| {
                    rejected.push(Rejected {
                        position: format!("resource {r} scope {s} metric {m} point {i}"),
                        error,
                    })
                };
                if metric.name.is_empty() {
                    reject(0, DecodeError::MissingField("name"));
                    continue;
                }
                let points: Vec<Result<MetricPoint, DecodeError>> = match metric.data {
                    Some(Data::Gauge(gauge)) => gauge
                        .data_points
                        .iter()
                        .map(|p| number_point(p, &metric.name, &resource, None))
                        .collect(),
                    Some(Data::Sum(sum)) => {
                        let cumulative = sum.aggregation_temporality
                            == AggregationTemporality::Cumulative as i32;
                        let kind = Some((cumulative, sum.is_monotonic));
                        sum.data_points
                            .iter()
                            .map(|p| number_point(p, &metric.name, &resource, kind))
                            .collect()
                    }
                    Some(Data::Histogram(histogram)) => {
                        let cumulative = histogram.aggregation_temporality
                            == AggregationTemporality::Cumulative as i32;
                        histogram
                            .data_points
                            .iter()
                            .map(|p| histogram_point(p, &metric.name, &resource, cumulative))
                            .collect()
                    }
                    Some(_) => Vec::new(),
                    None => vec![Err(DecodeError::MissingField("data"))],
                };
                for (i, point) in points.into_iter().enumerate() {
                    match point {
                        Ok(point) => out.push(point),
                        Err(error) => reject(i, error),
                    }
                }
            }
        }
    }
    Ok(rejected)
}

fn kept_attributes(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = attributes
        .iter()
        .filter(|kv| KEPT_POINT_ATTRIBUTES.contains(&kv.key.as_str()))
        .filter_map(|kv| Some((kv.key.clone(), value_text(kv)?)))
        .collect();
    kept.sort();
    kept
}

fn point_times(start_ns: u64, time_ns: u64) -> Result<(u64, u64), DecodeError> {
    let time_ns = check_timestamp("time_unix_nano", time_ns)?;
    if start_ns != 0 {
        check_timestamp("start_time_unix_nano", start_ns)?;
        if start_ns > time_ns {
            return Err(DecodeError::NegativeDuration {
                start_ns,
                end_ns: time_ns,
            });
        }
    }
    Ok((start_ns, time_ns))
}

fn number_point(
    point: &NumberDataPoint,
    name: &str,
    resource: &Arc<ResourceInfo>,
    sum: Option<(bool, bool)>,
) -> Result<MetricPoint, DecodeError> {
    let (start_ns, time_ns) = point_times(point.start_time_unix_nano, point.time_unix_nano)?;
    let value = match point.value {
        Some(number_data_point::Value::AsDouble(value)) => value,
        Some(number_data_point::Value::AsInt(value)) => value as f64,
        None => return Err(DecodeError::MissingField("value")),
    };
    let value = match sum {
        None => MetricValue::Gauge(value),
        Some((cumulative, monotonic)) => MetricValue::Sum {
            value,
            cumulative,
            monotonic,
        },
    };
    Ok(MetricPoint {
        resource: Arc::clone(resource),
        name: name.to_string(),
        attributes: kept_attributes(&point.attributes),
        start_ns,
        time_ns,
        value,
    })
}

fn histogram_point(
    point: &HistogramDataPoint,
    name: &str,
    resource: &Arc<ResourceInfo>,
    cumulative: bool,
) -> Result<MetricPoint, DecodeError> {
    let (start_ns, time_ns) = point_times(point.start_time_unix_nano, point.time_unix_nano)?;
    Ok(MetricPoint {
        resource: Arc::clone(resource),
        name: name.to_string(),
        attributes: kept_attributes(&point.attributes),
        start_ns,
        time_ns,
        value: MetricValue::Histogram {
            count: point.count,
            sum: point.sum,
            bounds: point.explicit_bounds.clone(),
            bucket_counts: point.bucket_counts.clone(),
            cumulative,
        },
    })
}
