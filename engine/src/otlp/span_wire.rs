//! `ExportTraceServiceRequest` protobuf straight to [`Span`]s, reading the bytes in place.
//!
//! Spans are most of the volume and decode was allocation-bound: prost's generated types
//! allocate every id, the trace state, each attribute key and value, events and links, only to
//! be dropped after [`super::decode::spans_of`] picked out a few of them. Here the wire is
//! walked once ([`super::wire`]); a span allocates its name and the attribute values a feature
//! keeps, nothing else. The result equals prost + `spans_of` on every message prost accepts (a
//! property test checks), with the same rejections at the same positions. One difference, on
//! purpose: fields no feature reads (scopes, events, links, other attributes' values) are
//! skipped unread, so a request whose only fault is an invalid UTF-8 string inside one of them
//! is accepted where prost would refuse all of it.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use smallvec::SmallVec;

use super::attributes::resource_info;
use super::decode::{parse, spans_of, user_hash, DecodeError, Decoding, Rejected, SpanCore};
use super::sampling::{attribute_weight, tracestate_weight};
use super::wire::{Fields, Value, WireError};
use crate::record::{Encoding, ResourceInfo, Span, SpanKind};

/// `Status.code` ERROR.
const STATUS_ERROR: u64 = 2;

/// Decodes one `ExportTraceServiceRequest`, appending its valid spans to `out`.
///
/// Returns the spans that were rejected; an `Err` means the whole message was unreadable and
/// nothing was appended. Protobuf is read in place, JSON through the generated types.
pub fn decode_spans(
    bytes: &[u8],
    encoding: Encoding,
    decoding: &Decoding,
    out: &mut Vec<Span>,
) -> Result<Vec<Rejected>, DecodeError> {
    match encoding {
        Encoding::OtlpProto => decode(bytes, decoding, out),
        Encoding::OtlpJson => {
            let request: ExportTraceServiceRequest = parse(bytes, encoding)?;
            Ok(spans_of(request, decoding, out))
        }
    }
}

/// Decodes one protobuf `ExportTraceServiceRequest`, appending its valid spans to `out` and
/// returning the rejected ones; on `Err` (the bytes are not such a message) nothing is
/// appended.
fn decode(
    bytes: &[u8],
    decoding: &Decoding,
    out: &mut Vec<Span>,
) -> Result<Vec<Rejected>, DecodeError> {
    let mark = out.len();
    let mut rejected = Vec::new();
    let mut r = 0;
    for field in Fields::new(bytes) {
        let read = match field.map_err(malformed)? {
            (1, value) => resource_spans(as_bytes(value)?, r, decoding, out, &mut rejected),
            _ => continue,
        };
        if let Err(error) = read {
            out.truncate(mark);
            return Err(error);
        }
        r += 1;
    }
    Ok(rejected)
}

fn malformed(error: WireError) -> DecodeError {
    DecodeError::Malformed {
        encoding: Encoding::OtlpProto,
        detail: error.to_string(),
    }
}

fn wrong_type(what: &str) -> DecodeError {
    DecodeError::Malformed {
        encoding: Encoding::OtlpProto,
        detail: format!("invalid wire type for {what}"),
    }
}

fn as_bytes(value: Value<'_>) -> Result<&[u8], DecodeError> {
    match value {
        Value::Bytes(bytes) => Ok(bytes),
        _ => Err(wrong_type("a length-delimited field")),
    }
}

fn as_str(value: Value<'_>) -> Result<&str, DecodeError> {
    std::str::from_utf8(as_bytes(value)?).map_err(|error| DecodeError::Malformed {
        encoding: Encoding::OtlpProto,
        detail: format!("invalid UTF-8 in a string field: {error}"),
    })
}

fn as_varint(value: Value<'_>) -> Result<u64, DecodeError> {
    match value {
        Value::Varint(number) => Ok(number),
        _ => Err(wrong_type("a varint field")),
    }
}

fn as_fixed64(value: Value<'_>) -> Result<u64, DecodeError> {
    match value {
        Value::Fixed64(number) => Ok(number),
        _ => Err(wrong_type("a fixed64 field")),
    }
}

/// One `ResourceSpans` (`r` is its index): the resource first, wherever it lies in the
/// message (several occurrences merge, as protobuf says), then the scopes' spans.
fn resource_spans(
    bytes: &[u8],
    r: usize,
    decoding: &Decoding,
    out: &mut Vec<Span>,
    rejected: &mut Vec<Rejected>,
) -> Result<(), DecodeError> {
    // One resource field is the rule: kept inline, no allocation per resource block.
    let mut parts: SmallVec<[&[u8]; 1]> = SmallVec::new();
    for field in Fields::new(bytes) {
        if let (1, value) = field.map_err(malformed)? {
            parts.push(as_bytes(value)?);
        }
    }
    let info = match parts.as_slice() {
        [one] => decoding
            .resources
            .get_or_read(one, || read_resource(&parts, decoding))?,
        _ => Arc::new(read_resource(&parts, decoding)?),
    };
    let mut s = 0;
    for field in Fields::new(bytes) {
        if let (2, value) = field.map_err(malformed)? {
            scope_spans(as_bytes(value)?, (r, s), &info, decoding, out, rejected)?;
            s += 1;
        }
    }
    Ok(())
}

/// The resource of `parts`, its occurrences merged (as protobuf says), or the default one.
fn read_resource(parts: &[&[u8]], decoding: &Decoding) -> Result<ResourceInfo, DecodeError> {
    let mut resource: Option<Resource> = None;
    for part in parts {
        let merged = resource.get_or_insert_with(Resource::default);
        merged
            .merge(*part)
            .map_err(|error| DecodeError::Malformed {
                encoding: Encoding::OtlpProto,
                detail: format!("resource: {error}"),
            })?;
    }
    Ok(resource_info(resource.as_ref(), &decoding.naming))
}

/// One `ScopeSpans`: its spans (the scope itself is not read).
fn scope_spans(
    bytes: &[u8],
    (r, s): (usize, usize),
    resource: &Arc<ResourceInfo>,
    decoding: &Decoding,
    out: &mut Vec<Span>,
    rejected: &mut Vec<Rejected>,
) -> Result<(), DecodeError> {
    let mut i = 0;
    for field in Fields::new(bytes) {
        if let (2, value) = field.map_err(malformed)? {
            let wire = WireSpan::read(as_bytes(value)?, decoding)?;
            match wire.into_span(resource) {
                Ok(span) => out.push(span),
                Err(error) => rejected.push(Rejected {
                    position: format!("resource {r} scope {s} span {i}"),
                    error,
                }),
            }
            i += 1;
        }
    }
    Ok(())
}

/// A span's fields as they lie in the request, and the attributes a feature reads.
#[derive(Default)]
struct WireSpan<'a> {
    trace_id: &'a [u8],
    span_id: &'a [u8],
    parent_span_id: &'a [u8],
    trace_state: &'a str,
    name: &'a str,
    kind: u64,
    start_ns: u64,
    end_ns: u64,
    status_error: bool,
    kept: KeptAttributes,
}

/// What the span attributes contribute to a [`Span`].
#[derive(Default)]
struct KeptAttributes {
    http_status: Option<u16>,
    peer_service: Option<String>,
    server_address: Option<String>,
    db_system: Option<String>,
    user: Option<u64>,
    weight: Option<f64>,
}

impl<'a> WireSpan<'a> {
    /// Reads a `Span` message; `Err` only when the bytes are malformed.
    fn read(bytes: &'a [u8], decoding: &Decoding) -> Result<Self, DecodeError> {
        let mut span = WireSpan::default();
        for field in Fields::new(bytes) {
            match field.map_err(malformed)? {
                (1, value) => span.trace_id = as_bytes(value)?,
                (2, value) => span.span_id = as_bytes(value)?,
                (3, value) => span.trace_state = as_str(value)?,
                (4, value) => span.parent_span_id = as_bytes(value)?,
                (5, value) => span.name = as_str(value)?,
                (6, value) => span.kind = as_varint(value)?,
                (7, value) => span.start_ns = as_fixed64(value)?,
                (8, value) => span.end_ns = as_fixed64(value)?,
                (9, value) => span.kept.read(as_bytes(value)?, decoding)?,
                (15, value) => span.read_status(as_bytes(value)?)?,
                _ => {}
            }
        }
        Ok(span)
    }

    /// `Status.code`; occurrences merge, so a later status without a code keeps the earlier.
    fn read_status(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        for field in Fields::new(bytes) {
            if let (3, value) = field.map_err(malformed)? {
                self.status_error = as_varint(value)? == STATUS_ERROR;
            }
        }
        Ok(())
    }

    /// The record, or why the span is rejected (checked in the order `spans_of` checks).
    fn into_span(self, resource: &Arc<ResourceInfo>) -> Result<Span, DecodeError> {
        let SpanCore {
            trace_id,
            span_id,
            parent_span_id,
            start_ns,
            end_ns,
        } = SpanCore::check(
            (self.trace_id, self.span_id, self.parent_span_id),
            (self.start_ns, self.end_ns),
            self.name,
        )?;
        let kept = self.kept;
        Ok(Span {
            resource: Arc::clone(resource),
            trace_id,
            span_id,
            parent_span_id,
            name: self.name.to_string(),
            // An enum is an int32 on the wire: the low 32 bits, as prost reads it.
            kind: SpanKind::from_i32(self.kind as i32),
            start_ns,
            end_ns,
            status_error: self.status_error,
            http_status: kept.http_status,
            peer_service: kept.peer_service,
            server_address: kept.server_address,
            db_system: kept.db_system,
            weight: kept
                .weight
                .or_else(|| tracestate_weight(self.trace_state))
                .unwrap_or(1.0),
            user: kept.user,
        })
    }
}

impl KeptAttributes {
    /// Reads one `KeyValue` and keeps its value if a feature reads the key (the same keys and
    /// precedence as `spans_of`).
    fn read(&mut self, bytes: &[u8], decoding: &Decoding) -> Result<(), DecodeError> {
        let mut key: &[u8] = &[];
        for field in Fields::new(bytes) {
            match field.map_err(malformed)? {
                (1, v) => key = as_bytes(v)?,
                (2, v) => {
                    as_bytes(v)?;
                }
                _ => {}
            }
        }
        // The value is read only for a kept key; its occurrences merge, as protobuf says.
        let any = || {
            let mut any = Any::Other;
            for field in Fields::new(bytes) {
                if let (2, v) = field.map_err(malformed)? {
                    any.merge(as_bytes(v)?)?;
                }
            }
            Ok::<_, DecodeError>(any)
        };
        if key == decoding.user_attribute.as_bytes() {
            self.user = any()?.text().filter(|u| !u.is_empty()).map(user_hash);
            return Ok(());
        }
        if decoding.weight_attribute.as_deref().map(str::as_bytes) == Some(key) {
            if let Some(weight) = any()?.number().and_then(attribute_weight) {
                self.weight = Some(weight);
            }
            return Ok(());
        }
        match key {
            b"http.response.status_code" | b"http.status_code" => {
                self.http_status = any()?.int().and_then(|code| u16::try_from(code).ok());
            }
            b"peer.service" => self.peer_service = any()?.text(),
            b"server.address" | b"net.peer.name" if self.server_address.is_none() => {
                self.server_address = any()?.text();
            }
            b"db.system" | b"db.system.name" => self.db_system = any()?.text(),
            _ => {}
        }
        Ok(())
    }
}

/// An `AnyValue`, borrowed; arrays, maps and bytes are `Other` (no kept attribute is one).
#[derive(Clone, Copy)]
enum Any<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Other,
}

impl<'a> Any<'a> {
    /// Merges an `AnyValue` message into `self`: of its oneof, the last one set counts.
    fn merge(&mut self, bytes: &'a [u8]) -> Result<(), DecodeError> {
        for field in Fields::new(bytes) {
            *self = match field.map_err(malformed)? {
                (1, v) => Any::Str(as_str(v)?),
                (2, v) => Any::Bool(as_varint(v)? != 0),
                (3, v) => Any::Int(as_varint(v)? as i64),
                (4, v) => Any::Double(f64::from_bits(as_fixed64(v)?)),
                (5..=7, _) => Any::Other,
                _ => continue,
            };
        }
        Ok(())
    }

    /// Strings as they are, numbers and flags in decimal (as `value_text`).
    fn text(self) -> Option<String> {
        match self {
            Any::Str(text) => Some(text.to_string()),
            Any::Int(number) => Some(number.to_string()),
            Any::Bool(flag) => Some(flag.to_string()),
            Any::Double(number) => Some(number.to_string()),
            Any::Other => None,
        }
    }

    /// A number, also from a decimal string (as `value_number`).
    fn number(self) -> Option<f64> {
        match self {
            Any::Int(number) => Some(number as f64),
            Any::Double(number) => Some(number),
            Any::Str(text) => text.parse().ok(),
            _ => None,
        }
    }

    /// An integer, also from a decimal string (as `value_int`).
    fn int(self) -> Option<i64> {
        match self {
            Any::Int(number) => Some(number),
            Any::Str(text) => text.parse().ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{
        ResourceSpans, ScopeSpans, Span as OtlpSpan, Status,
    };
    use proptest::prelude::*;

    use super::super::decode::{MAX_DURATION_NS, MAX_TIMESTAMP_NS, MIN_TIMESTAMP_NS};
    use super::*;

    /// What prost and `spans_of` make of `bytes`.
    fn by_prost(bytes: &[u8], decoding: &Decoding) -> Option<(Vec<Span>, Vec<Rejected>)> {
        let request = ExportTraceServiceRequest::decode(bytes).ok()?;
        let mut spans = Vec::new();
        let rejected = spans_of(request, decoding, &mut spans);
        Some((spans, rejected))
    }

    fn in_place(
        bytes: &[u8],
        decoding: &Decoding,
    ) -> Result<(Vec<Span>, Vec<Rejected>), DecodeError> {
        let mut spans = Vec::new();
        let rejected = decode(bytes, decoding, &mut spans)?;
        Ok((spans, rejected))
    }

    fn decoding() -> Decoding {
        Decoding {
            weight_attribute: Some("sample.weight".into()),
            ..Decoding::default()
        }
    }

    fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => prop::collection::vec(any::<u8>(), len..=len),
            1 => Just(vec![0; len]),
            1 => prop::collection::vec(any::<u8>(), 0..len + 3),
        ]
    }

    fn value() -> impl Strategy<Value = Option<AnyValue>> {
        let one = prop_oneof![
            "[a-z0-9.]{0,6}".prop_map(any_value::Value::StringValue),
            any::<i64>().prop_map(any_value::Value::IntValue),
            (0i64..700).prop_map(any_value::Value::IntValue),
            any::<bool>().prop_map(any_value::Value::BoolValue),
            any::<f64>().prop_map(any_value::Value::DoubleValue),
            prop::collection::vec(any::<u8>(), 0..3).prop_map(any_value::Value::BytesValue),
        ];
        prop::option::of(prop::option::of(one).prop_map(|value| AnyValue { value }))
    }

    fn attribute() -> impl Strategy<Value = KeyValue> {
        const KEYS: [&str; 10] = [
            "http.response.status_code",
            "http.status_code",
            "peer.service",
            "server.address",
            "net.peer.name",
            "db.system",
            "db.system.name",
            "enduser.id",
            "sample.weight",
            "other",
        ];
        (prop::sample::select(&KEYS[..]), value()).prop_map(|(key, value)| KeyValue {
            key: key.into(),
            value,
            ..Default::default()
        })
    }

    fn timestamp() -> impl Strategy<Value = u64> {
        prop_oneof![
            8 => MIN_TIMESTAMP_NS..MAX_TIMESTAMP_NS - MAX_DURATION_NS,
            1 => Just(0u64),
            1 => any::<u64>(),
        ]
    }

    fn span() -> impl Strategy<Value = OtlpSpan> {
        let ids = (id(16), id(8), prop_oneof![Just(Vec::new()), id(8)]);
        let shape = (
            "[a-z /]{0,6}",
            0i32..7,
            prop_oneof![Just(String::new()), Just("ot=th:c".to_string())],
        );
        let times = (timestamp(), prop_oneof![0..1_000_000_000u64, any::<u64>()]);
        let rest = (
            prop::collection::vec(attribute(), 0..5),
            prop::option::of(0i32..3),
        );
        (ids, shape, times, rest).prop_map(
            |(
                (trace_id, span_id, parent_span_id),
                (name, kind, trace_state),
                (start, duration),
                (attributes, status),
            )| {
                OtlpSpan {
                    trace_id,
                    span_id,
                    parent_span_id,
                    trace_state,
                    name,
                    kind,
                    start_time_unix_nano: start,
                    end_time_unix_nano: start.wrapping_add(duration),
                    attributes,
                    status: status.map(|code| Status {
                        code,
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            },
        )
    }

    fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
        let resource = prop::collection::vec(attribute(), 0..2).prop_map(|mut attributes| {
            attributes.push(KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("cart".into())),
                }),
                ..Default::default()
            });
            Some(Resource {
                attributes,
                ..Default::default()
            })
        });
        let scope = prop::collection::vec(span(), 0..4).prop_map(|spans| ScopeSpans {
            spans,
            ..Default::default()
        });
        let resource_spans = (
            prop_oneof![resource, Just(None)],
            prop::collection::vec(scope, 0..3),
        )
            .prop_map(|(resource, scope_spans)| ResourceSpans {
                resource,
                scope_spans,
                ..Default::default()
            });
        prop::collection::vec(resource_spans, 0..3)
            .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
    }

    proptest! {
        #[test]
        fn in_place_decode_equals_prost_and_spans_of(request in request()) {
            let bytes = request.encode_to_vec();
            let expected = by_prost(&bytes, &decoding()).expect("prost reads what it wrote");
            prop_assert_eq!(in_place(&bytes, &decoding()).unwrap(), expected);
        }

        #[test]
        fn a_damaged_request_prost_accepts_decodes_alike(
            request in request(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut bytes = request.encode_to_vec();
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let mut out = Vec::new();
            let decoded = decode(&bytes, &decoding(), &mut out);
            if let Some(expected) = by_prost(&bytes, &decoding()) {
                prop_assert_eq!(decoded.map(|rejected| (out, rejected)), Ok(expected));
            } else if decoded.is_err() {
                prop_assert!(out.is_empty(), "a refused message appends nothing");
            }
        }
    }

    /// One valid span of trace 7, span 3.
    fn valid_span() -> OtlpSpan {
        OtlpSpan {
            trace_id: vec![7; 16],
            span_id: vec![3; 8],
            name: "GET /cart".into(),
            start_time_unix_nano: MIN_TIMESTAMP_NS + 1,
            end_time_unix_nano: MIN_TIMESTAMP_NS + 2,
            ..Default::default()
        }
    }

    #[test]
    fn a_resource_sent_again_is_read_once_and_shared() {
        let request = |service: &str| {
            let attributes = vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(service.into())),
                }),
                ..Default::default()
            }];
            let scope = ScopeSpans {
                spans: vec![valid_span()],
                ..Default::default()
            };
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_spans: vec![scope],
                    ..Default::default()
                }],
            }
            .encode_to_vec()
        };
        let (decoding, mut out) = (decoding(), Vec::new());
        for bytes in [request("cart"), request("cart"), request("shop")] {
            decode(&bytes, &decoding, &mut out).unwrap();
        }
        assert_eq!(out.len(), 3);
        assert!(
            Arc::ptr_eq(&out[0].resource, &out[1].resource),
            "one read, shared"
        );
        assert_eq!((out[1].service(), out[2].service()), ("cart", "shop"));
        let mut again = Vec::new();
        decode(&request("cart"), &decoding.clone(), &mut again).unwrap();
        assert!(
            !Arc::ptr_eq(&out[0].resource, &again[0].resource),
            "a clone reads its own"
        );
        assert_eq!(again[0].resource, out[0].resource);
    }

    #[test]
    fn a_truncated_request_is_malformed_and_appends_nothing() {
        let scope = ScopeSpans {
            spans: vec![valid_span(), valid_span()],
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![scope],
                ..Default::default()
            }],
        };
        let bytes = request.encode_to_vec();
        let mut out = vec![];
        assert_eq!(
            decode(&bytes, &decoding(), &mut out).map(|r| r.len()),
            Ok(0)
        );
        assert_eq!(out.len(), 2);
        let error = decode(&bytes[..bytes.len() - 3], &decoding(), &mut out).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("malformed otlp_proto message: truncated"),
            "{error}"
        );
        assert_eq!(
            out.len(),
            2,
            "nothing of the truncated request was appended"
        );
    }
}
