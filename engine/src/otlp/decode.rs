//! Bytes to records, and records' OTLP messages to bytes (for the simulator and file writer).
//!
//! A message that does not parse is rejected whole ([`DecodeError`] from the call); a message
//! that parses but holds invalid spans or points keeps its good records and lists the bad ones
//! as [`Rejected`], each with its position inside the message. Nothing here panics on input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, HistogramDataPoint, NumberDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span as OtlpSpan};
use prost::Message;

use super::attributes::{
    resource_info, value_int, value_number, value_text, ServiceNaming, KEPT_POINT_ATTRIBUTES,
};
use super::sampling::{attribute_weight, tracestate_weight};

/// What decoding needs besides the bytes: how to name a resource without `service.name`,
/// which span attribute, if any, holds a span's sampling weight, and which one its end user.
#[derive(Debug, Clone)]
pub struct Decoding {
    /// Service names for unnamed resources.
    pub naming: ServiceNaming,
    /// A span attribute holding the span's adjusted count (`[source] span_weight_attribute`).
    pub weight_attribute: Option<String>,
    /// The span attribute naming the end user (`[identity] user_attribute`).
    pub user_attribute: String,
    /// Resources already read, by their bytes.
    pub resources: ResourceCache,
}

impl Default for Decoding {
    fn default() -> Self {
        Decoding {
            naming: ServiceNaming::default(),
            weight_attribute: None,
            user_attribute: USER_ATTRIBUTE.to_string(),
            resources: ResourceCache::default(),
        }
    }
}

/// The resources a decoder has read, by their encoded bytes: a service sends the same resource
/// with every request, so reading it (its attributes, the service's name and key) is done
/// once, and its spans share one [`ResourceInfo`]. Holds at most [`ResourceCache::MAX`]
/// resources and starts over when full. A clone starts empty: each worker keeps its own, so
/// workers never wait on each other's lock.
#[derive(Default)]
pub struct ResourceCache(Mutex<HashMap<Vec<u8>, Arc<ResourceInfo>, foldhash::fast::FixedState>>);

/// The number of resources held, not the resources: a logged `Decoding` stays one line.
impl std::fmt::Debug for ResourceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.lock().map_or(0, |cache| cache.len());
        write!(f, "ResourceCache({held} resources)")
    }
}

impl Clone for ResourceCache {
    fn clone(&self) -> Self {
        ResourceCache::default()
    }
}

impl ResourceCache {
    /// Resources kept (a fleet's pods; beyond that the cache starts over).
    pub const MAX: usize = 50_000;

    /// The resource encoded as `bytes`, read by `read` unless it was read before.
    pub fn get_or_read(
        &self,
        bytes: &[u8],
        read: impl FnOnce() -> Result<ResourceInfo, DecodeError>,
    ) -> Result<Arc<ResourceInfo>, DecodeError> {
        let mut cache = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = cache.get(bytes) {
            return Ok(Arc::clone(known));
        }
        let info = Arc::new(read()?);
        if cache.len() >= Self::MAX {
            cache.clear();
        }
        cache.insert(bytes.to_vec(), Arc::clone(&info));
        Ok(info)
    }
}

/// The semantic-convention attribute of a span's end user.
pub const USER_ATTRIBUTE: &str = "enduser.id";
use crate::record::{Encoding, MetricPoint, MetricValue, ResourceInfo, Span, SpanKind};

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

/// Parses a whole OTLP request in `encoding` (the receivers parse before they convert, to
/// answer an unreadable body with an error of its own).
pub fn parse<M: Message + Default + serde::de::DeserializeOwned>(
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

/// Converts a parsed `ExportTraceServiceRequest`, appending its valid spans to `out` and
/// returning the rejected ones.
pub fn spans_of(
    request: ExportTraceServiceRequest,
    decoding: &Decoding,
    out: &mut Vec<Span>,
) -> Vec<Rejected> {
    let mut rejected = Vec::new();
    for (r, resource_spans) in request.resource_spans.into_iter().enumerate() {
        let resource = Arc::new(resource_info(
            resource_spans.resource.as_ref(),
            &decoding.naming,
        ));
        for (s, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
            for (i, span) in scope_spans.spans.into_iter().enumerate() {
                match convert_span(span, &resource, decoding) {
                    Ok(span) => out.push(span),
                    Err(error) => rejected.push(Rejected {
                        position: format!("resource {r} scope {s} span {i}"),
                        error,
                    }),
                }
            }
        }
    }
    rejected
}

pub(super) fn fixed_id<const N: usize>(
    bytes: &[u8],
    field: &'static str,
) -> Result<[u8; N], DecodeError> {
    let id: [u8; N] = bytes.try_into().map_err(|_| DecodeError::InvalidId {
        field,
        length: bytes.len(),
    })?;
    if id.iter().all(|b| *b == 0) {
        return Err(DecodeError::InvalidId { field, length: N });
    }
    Ok(id)
}

pub(super) fn check_timestamp(field: &'static str, value_ns: u64) -> Result<u64, DecodeError> {
    if value_ns == 0 {
        return Err(DecodeError::MissingField(field));
    }
    if !(MIN_TIMESTAMP_NS..MAX_TIMESTAMP_NS).contains(&value_ns) {
        return Err(DecodeError::AbsurdTimestamp { field, value_ns });
    }
    Ok(value_ns)
}

/// A span's ids and times, checked: what every decoder requires of a span before it is kept.
pub(super) struct SpanCore {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub start_ns: u64,
    pub end_ns: u64,
}

impl SpanCore {
    /// Checks the ids (trace, span, parent), the times (start, end) and the name, in this
    /// order: the first fault is the one reported.
    pub(super) fn check(
        (trace_id, span_id, parent_span_id): (&[u8], &[u8], &[u8]),
        (start_ns, end_ns): (u64, u64),
        name: &str,
    ) -> Result<Self, DecodeError> {
        let trace_id = fixed_id::<16>(trace_id, "trace_id")?;
        let span_id = fixed_id::<8>(span_id, "span_id")?;
        let parent_span_id = match parent_span_id.len() {
            0 => None,
            _ => Some(fixed_id::<8>(parent_span_id, "parent_span_id")?),
        };
        let start_ns = check_timestamp("start_time_unix_nano", start_ns)?;
        let end_ns = check_timestamp("end_time_unix_nano", end_ns)?;
        if end_ns < start_ns {
            return Err(DecodeError::NegativeDuration { start_ns, end_ns });
        }
        if end_ns - start_ns > MAX_DURATION_NS {
            return Err(DecodeError::AbsurdTimestamp {
                field: "duration",
                value_ns: end_ns - start_ns,
            });
        }
        if name.is_empty() {
            return Err(DecodeError::MissingField("name"));
        }
        Ok(SpanCore {
            trace_id,
            span_id,
            parent_span_id,
            start_ns,
            end_ns,
        })
    }
}

/// A stable 64-bit hash of an end-user id (SipHash with fixed keys: the same in every
/// process, so two workers count one user once).
pub(super) fn user_hash(user: String) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    user.hash(&mut hasher);
    hasher.finish()
}

fn convert_span(
    mut span: OtlpSpan,
    resource: &Arc<ResourceInfo>,
    decoding: &Decoding,
) -> Result<Span, DecodeError> {
    let SpanCore {
        trace_id,
        span_id,
        parent_span_id,
        start_ns,
        end_ns,
    } = SpanCore::check(
        (&span.trace_id, &span.span_id, &span.parent_span_id),
        (span.start_time_unix_nano, span.end_time_unix_nano),
        &span.name,
    )?;
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
        weight: tracestate_weight(&span.trace_state).unwrap_or(1.0),
        user: None,
    };
    let weight_key = decoding.weight_attribute.as_deref();
    for kv in &span.attributes {
        if kv.key == decoding.user_attribute {
            decoded.user = value_text(kv)
                .filter(|user| !user.is_empty())
                .map(user_hash);
            continue;
        }
        if Some(kv.key.as_str()) == weight_key {
            if let Some(weight) = value_number(kv).and_then(attribute_weight) {
                decoded.weight = weight;
            }
            continue;
        }
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
    decoding: &Decoding,
    out: &mut Vec<MetricPoint>,
) -> Result<Vec<Rejected>, DecodeError> {
    let request: ExportMetricsServiceRequest = parse(bytes, encoding)?;
    Ok(points_of(request, decoding, out))
}

/// Converts a parsed `ExportMetricsServiceRequest`, appending its points to `out` and
/// returning the rejected ones.
pub fn points_of(
    request: ExportMetricsServiceRequest,
    decoding: &Decoding,
    out: &mut Vec<MetricPoint>,
) -> Vec<Rejected> {
    let mut rejected = Vec::new();
    for (r, resource_metrics) in request.resource_metrics.into_iter().enumerate() {
        let resource = Arc::new(resource_info(
            resource_metrics.resource.as_ref(),
            &decoding.naming,
        ));
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
    rejected
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

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::metrics::v1::{
        Histogram, Metric, ResourceMetrics, ScopeMetrics,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};
    use proptest::prelude::*;

    use super::*;
    use crate::otlp::decode_spans;
    use crate::record::UNKNOWN_SERVICE;

    const T0: u64 = 1_767_621_600_000_000_000;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn otlp_span(start: u64, end: u64, attributes: Vec<KeyValue>) -> OtlpSpan {
        OtlpSpan {
            trace_id: vec![7; 16],
            span_id: vec![3; 8],
            parent_span_id: vec![],
            name: "GET /cart".into(),
            kind: 2,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            status: Some(Status {
                code: StatusCode::Error as i32,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn request(resource: Vec<KeyValue>, spans: Vec<OtlpSpan>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn end_users_are_hashed_from_the_configured_attribute() {
        let encoded = |attributes: Vec<KeyValue>| {
            let span = otlp_span(T0, T0 + 1_000_000, attributes);
            let resource = vec![kv("service.name", Value::StringValue("cart".into()))];
            Encoding::OtlpProto.encode(&request(resource, vec![span]))
        };
        let users = |bytes: &[u8], decoding: &Decoding| {
            let mut out = Vec::new();
            decode_spans(bytes, Encoding::OtlpProto, decoding, &mut out).unwrap();
            out.iter().map(|s| s.user).collect::<Vec<_>>()
        };
        let default = Decoding::default();
        let alice = encoded(vec![kv("enduser.id", Value::StringValue("alice".into()))]);
        let bob = encoded(vec![kv("enduser.id", Value::StringValue("bob".into()))]);
        let (a, b) = (users(&alice, &default), users(&bob, &default));
        assert!(a.iter().all(|u| u.is_some() && *u == a[0]), "{a:?}");
        assert_ne!(a[0], b[0]);
        assert!(users(&encoded(vec![]), &default)
            .iter()
            .all(Option::is_none));
        let custom = Decoding {
            user_attribute: "app.customer".into(),
            ..Decoding::default()
        };
        let customer = encoded(vec![kv("app.customer", Value::StringValue("alice".into()))]);
        assert_eq!(users(&customer, &custom), a, "the same id hashes alike");
        assert!(users(&alice, &custom).iter().all(Option::is_none));
    }

    #[test]
    fn both_encodings_decode_to_the_same_spans_with_old_and_new_attribute_names() {
        let resource = vec![
            kv("service.name", Value::StringValue("cart".into())),
            kv("service.version", Value::StringValue("2.1".into())),
            kv("deployment.environment", Value::StringValue("prod".into())),
            kv("cloud.region", Value::StringValue("eu-west-1".into())),
            kv("k8s.pod.name", Value::StringValue("cart-0".into())),
        ];
        let spans = vec![
            otlp_span(
                T0,
                T0 + 5_000_000,
                vec![
                    kv("http.status_code", Value::IntValue(503)),
                    kv("peer.service", Value::StringValue("db".into())),
                ],
            ),
            otlp_span(
                T0,
                T0 + 1_000_000,
                vec![
                    kv("http.response.status_code", Value::IntValue(200)),
                    kv("net.peer.name", Value::StringValue("redis".into())),
                ],
            ),
        ];
        let message = request(resource, spans);
        let mut from_proto = Vec::new();
        let mut from_json = Vec::new();
        assert!(decode_spans(
            &Encoding::OtlpProto.encode(&message),
            Encoding::OtlpProto,
            &Decoding::default(),
            &mut from_proto
        )
        .unwrap()
        .is_empty());
        let json = Encoding::OtlpJson.encode(&message);
        assert!(
            String::from_utf8_lossy(&json).contains("\"traceId\":\"07070707"),
            "OTLP/JSON uses hex ids"
        );
        assert!(decode_spans(
            &json,
            Encoding::OtlpJson,
            &Decoding::default(),
            &mut from_json
        )
        .unwrap()
        .is_empty());
        assert_eq!(from_proto, from_json);
        let [first, second] = &from_proto[..] else {
            panic!("two spans")
        };
        assert_eq!(first.service(), crate::record::service_key("cart", "prod"));
        assert_eq!(first.resource.service_version.as_deref(), Some("2.1"));
        assert_eq!(first.resource.environment.as_deref(), Some("prod"));
        assert_eq!(first.resource.pod.as_deref(), Some("cart-0"));
        assert_eq!(
            (first.http_status, second.http_status),
            (Some(503), Some(200))
        );
        assert_eq!(first.peer_service.as_deref(), Some("db"));
        assert_eq!(second.server_address.as_deref(), Some("redis"));
        assert!(first.is_request() && first.is_error() && first.status_error);
        assert_eq!(first.duration_ms(), 5.0);
    }

    #[test]
    fn collector_style_json_with_string_integers_decodes() {
        let json = r#"{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"spans":[
            {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"op",
             "kind":3,"startTimeUnixNano":"1767621600000000000","endTimeUnixNano":"1767621600250000000",
             "attributes":[{"key":"http.response.status_code","value":{"intValue":"404"}}]}]}]}]}"#;
        let mut spans = Vec::new();
        assert!(decode_spans(
            json.as_bytes(),
            Encoding::OtlpJson,
            &Decoding::default(),
            &mut spans
        )
        .unwrap()
        .is_empty());
        assert_eq!(spans[0].service(), UNKNOWN_SERVICE);
        assert_eq!(spans[0].kind, crate::record::SpanKind::Client);
        assert_eq!(spans[0].http_status, Some(404));
        assert_eq!(spans[0].duration_ms(), 250.0);
    }

    #[test]
    fn invalid_spans_are_rejected_individually_with_their_position() {
        let mut zero_trace = otlp_span(T0, T0 + 1, vec![]);
        zero_trace.trace_id = vec![0; 16];
        let mut short_span_id = otlp_span(T0, T0 + 1, vec![]);
        short_span_id.span_id = vec![1, 2];
        let spans = vec![
            otlp_span(T0, T0 + 1, vec![]),
            otlp_span(T0 + 10, T0, vec![]),
            otlp_span(5, 10, vec![]),
            otlp_span(0, 10, vec![]),
            zero_trace,
            short_span_id,
            otlp_span(T0, T0 + 2 * MAX_DURATION_NS, vec![]),
        ];
        let bytes = Encoding::OtlpProto.encode(&request(vec![], spans));
        let mut out = Vec::new();
        let rejected =
            decode_spans(&bytes, Encoding::OtlpProto, &Decoding::default(), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let errors: Vec<_> = rejected
            .iter()
            .map(|r| (r.position.as_str(), r.error.clone()))
            .collect();
        assert_eq!(
            errors[0],
            (
                "resource 0 scope 0 span 1",
                DecodeError::NegativeDuration {
                    start_ns: T0 + 10,
                    end_ns: T0
                }
            )
        );
        assert_eq!(
            errors[1].1,
            DecodeError::AbsurdTimestamp {
                field: "start_time_unix_nano",
                value_ns: 5
            }
        );
        assert_eq!(
            errors[2].1,
            DecodeError::MissingField("start_time_unix_nano")
        );
        assert_eq!(
            errors[3].1,
            DecodeError::InvalidId {
                field: "trace_id",
                length: 16
            }
        );
        assert_eq!(
            errors[4].1,
            DecodeError::InvalidId {
                field: "span_id",
                length: 2
            }
        );
        assert!(matches!(
            errors[5].1,
            DecodeError::AbsurdTimestamp {
                field: "duration",
                ..
            }
        ));
    }

    #[test]
    fn histogram_gauge_and_sum_points_decode() {
        let histogram = Metric {
            name: "http.server.request.duration".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    start_time_unix_nano: T0,
                    time_unix_nano: T0 + 60,
                    count: 3,
                    sum: Some(0.6),
                    bucket_counts: vec![1, 2, 0],
                    explicit_bounds: vec![0.1, 0.5],
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            })),
            ..Default::default()
        };
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![histogram],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        for encoding in [Encoding::OtlpProto, Encoding::OtlpJson] {
            let mut points = Vec::new();
            assert!(decode_metrics(
                &encoding.encode(&request),
                encoding,
                &Decoding::default(),
                &mut points
            )
            .unwrap()
            .is_empty());
            assert_eq!(
                points[0].value,
                MetricValue::Histogram {
                    count: 3,
                    sum: Some(0.6),
                    bounds: vec![0.1, 0.5],
                    bucket_counts: vec![1, 2, 0],
                    cumulative: false
                }
            );
            assert_eq!(points[0].service(), UNKNOWN_SERVICE);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            for encoding in [Encoding::OtlpProto, Encoding::OtlpJson] {
                let _ = decode_spans(&bytes, encoding, &Decoding::default(), &mut Vec::new());
                let _ = decode_metrics(&bytes, encoding, &Decoding::default(), &mut Vec::new());
            }
        }

        #[test]
        fn proto_round_trip_keeps_every_field(
            start in MIN_TIMESTAMP_NS..MAX_TIMESTAMP_NS - MAX_DURATION_NS,
            duration in 0..MAX_DURATION_NS,
            status in 100i64..600,
            name in "[a-zA-Z /{}]{1,20}",
            service in "[a-z-]{1,12}",
        ) {
            let code = kv("http.response.status_code", Value::IntValue(status));
            let mut span = otlp_span(start, start + duration, vec![code]);
            span.name = name.clone();
            let message = request(vec![kv("service.name", Value::StringValue(service.clone()))], vec![span]);
            let mut out = Vec::new();
            let bytes = Encoding::OtlpProto.encode(&message);
            let naming = Decoding::default();
            prop_assert!(decode_spans(&bytes, Encoding::OtlpProto, &naming, &mut out).unwrap().is_empty());
            prop_assert_eq!(out[0].service(), service.as_str());
            prop_assert_eq!(&out[0].name, &name);
            prop_assert_eq!((out[0].start_ns, out[0].end_ns), (start, start + duration));
            prop_assert_eq!(out[0].http_status, Some(status as u16));
        }
    }

    #[test]
    fn garbage_is_a_malformed_message() {
        let error = decode_spans(
            b"\xff\xff\xff",
            Encoding::OtlpProto,
            &Decoding::default(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(
            error,
            DecodeError::Malformed {
                encoding: Encoding::OtlpProto,
                ..
            }
        ));
        let error = decode_spans(
            b"{\"resourceSpans\": 5}",
            Encoding::OtlpJson,
            &Decoding::default(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("malformed otlp_json message"),
            "{error}"
        );
    }
}
