//! Log records: `ExportLogsServiceRequest` to [`LogRecord`]s.
//!
//! Logs are the third signal. The features need little of a record: its service, its time,
//! whether it reports an error, its body (for template mining) and the span it was written in.
//! Whether a record is an error is decided here, once: `severity_number` 17 (ERROR) and above;
//! when a logger left the number unset, the severity text; failing that, the level word at the
//! start of the body, as plain-text appenders write it (`2026-01-05 10:00:01 ERROR ...`).

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord as OtlpLogRecord;

use super::attributes::{resource_info, value_text};
use super::decode::{check_timestamp, fixed_id, parse, DecodeError, Decoding, Rejected};
use crate::record::{Encoding, LogRecord, ResourceInfo};

/// `SEVERITY_NUMBER_ERROR`: this and above (ERROR2..4, FATAL..FATAL4) are errors.
const SEVERITY_ERROR: i32 = 17;
/// Body tokens searched for a level word: a timestamp, a thread name and a logger name may
/// come first.
const LEVEL_WORD_WINDOW: usize = 6;
/// Longest body kept, in bytes: template mining reads the start of a message; a stack trace's
/// thousandth line adds nothing but cost.
pub const MAX_BODY_BYTES: usize = 2048;
/// Longest code location kept, in bytes: a fully qualified method name and a line number.
const MAX_CODE_BYTES: usize = 256;

/// Decodes one `ExportLogsServiceRequest`, appending its valid records to `out`.
///
/// Returns the records that were rejected; an `Err` means the whole message was unreadable
/// and nothing was appended.
pub fn decode_logs(
    bytes: &[u8],
    encoding: Encoding,
    decoding: &Decoding,
    out: &mut Vec<LogRecord>,
) -> Result<Vec<Rejected>, DecodeError> {
    let request: ExportLogsServiceRequest = parse(bytes, encoding)?;
    Ok(logs_of(request, decoding, out))
}

/// Converts a parsed `ExportLogsServiceRequest`, appending its valid records to `out` and
/// returning the rejected ones.
pub fn logs_of(
    request: ExportLogsServiceRequest,
    decoding: &Decoding,
    out: &mut Vec<LogRecord>,
) -> Vec<Rejected> {
    let mut rejected = Vec::new();
    for (r, resource_logs) in request.resource_logs.into_iter().enumerate() {
        let resource = Arc::new(resource_info(
            resource_logs.resource.as_ref(),
            &decoding.naming,
        ));
        for (s, scope_logs) in resource_logs.scope_logs.into_iter().enumerate() {
            for (i, record) in scope_logs.log_records.into_iter().enumerate() {
                match convert_log(record, &resource) {
                    Ok(record) => out.push(record),
                    Err(error) => rejected.push(Rejected {
                        position: format!("resource {r} scope {s} log record {i}"),
                        error,
                    }),
                }
            }
        }
    }
    rejected
}

fn convert_log(
    record: OtlpLogRecord,
    resource: &Arc<ResourceInfo>,
) -> Result<LogRecord, DecodeError> {
    let time = match record.time_unix_nano {
        0 => record.observed_time_unix_nano,
        time => time,
    };
    let time_ns = check_timestamp("time_unix_nano", time)?;
    let trace_id = match record.trace_id.len() {
        0 => None,
        _ => Some(fixed_id::<16>(&record.trace_id, "trace_id")?),
    };
    let span_id = match record.span_id.len() {
        0 => None,
        _ => Some(fixed_id::<8>(&record.span_id, "span_id")?),
    };
    let mut body = record.body.map(body_text).unwrap_or_default();
    truncate(&mut body, MAX_BODY_BYTES);
    let error = match record.severity_number {
        0 => level_is_error(&record.severity_text).unwrap_or_else(|| body_is_error(&body)),
        number => number >= SEVERITY_ERROR,
    };
    Ok(LogRecord {
        resource: Arc::clone(resource),
        time_ns,
        error,
        body,
        trace_id,
        span_id,
        code: code_location(&record.attributes),
    })
}

/// The statement that wrote a record, from the semantic conventions' code attributes: the
/// current names (`code.function.name`, `code.line.number`) or the older ones the Java agent's
/// appenders still write (`code.namespace` and `code.function`, `code.lineno`), as
/// `function#line`, whitespace removed so that it stays one token. `None` without a function.
fn code_location(attributes: &[KeyValue]) -> Option<String> {
    let text = |key: &str| {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(value_text)
            .filter(|v| !v.is_empty())
    };
    let function = text("code.function.name").or_else(|| {
        match (text("code.namespace"), text("code.function")) {
            (Some(namespace), Some(function)) => Some(format!("{namespace}.{function}")),
            (namespace, function) => namespace.or(function),
        }
    })?;
    let mut location: String = function.split_whitespace().collect();
    if let Some(line) = text("code.line.number").or_else(|| text("code.lineno")) {
        location.push('#');
        location.push_str(line.trim());
    }
    truncate(&mut location, MAX_CODE_BYTES);
    Some(location)
}

/// A body as text: strings as they are, numbers and booleans printed, structured values as
/// OTLP/JSON.
fn body_text(body: AnyValue) -> String {
    match body.value {
        Some(Value::StringValue(text)) => text,
        Some(Value::IntValue(number)) => number.to_string(),
        Some(Value::DoubleValue(number)) => number.to_string(),
        Some(Value::BoolValue(flag)) => flag.to_string(),
        Some(Value::BytesValue(bytes)) => format!("<{} bytes>", bytes.len()),
        Some(other) => serde_json::to_string(&AnyValue { value: Some(other) }).unwrap_or_default(),
        None => String::new(),
    }
}

/// Cuts `text` to at most `limit` bytes at a character boundary.
fn truncate(text: &mut String, limit: usize) {
    if text.len() > limit {
        let cut = (0..=limit)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
    }
}

/// Whether a level word names an error level; `None` when it is no level word at all.
pub fn level_is_error(word: &str) -> Option<bool> {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphabetic());
    const ERRORS: &[&str] = &[
        "ERROR", "ERR", "FATAL", "CRITICAL", "CRIT", "SEVERE", "PANIC", "ALERT", "EMERG",
    ];
    const OTHERS: &[&str] = &[
        "TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "FINE", "FINER", "FINEST",
    ];
    if ERRORS.iter().any(|level| word.eq_ignore_ascii_case(level)) {
        Some(true)
    } else if OTHERS.iter().any(|level| word.eq_ignore_ascii_case(level)) {
        Some(false)
    } else {
        None
    }
}

/// Whether the first level word among the body's first tokens is an error level.
pub fn body_is_error(body: &str) -> bool {
    body.split(|c: char| c.is_whitespace() || c == '|' || c == ':')
        .filter(|token| !token.is_empty())
        .take(LEVEL_WORD_WINDOW)
        .find_map(level_is_error)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;

    const T0: u64 = 1_767_621_600_000_000_000;

    fn text(body: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(Value::StringValue(body.into())),
        })
    }

    fn request(records: Vec<OtlpLogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: text("cart"),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn decode(
        request: &ExportLogsServiceRequest,
        encoding: Encoding,
    ) -> (Vec<LogRecord>, Vec<Rejected>) {
        let mut out = Vec::new();
        let bytes = encoding.encode(request);
        let rejected =
            decode_logs(&bytes, encoding, &Decoding::default(), &mut out).expect("parses");
        (out, rejected)
    }

    #[test]
    fn severity_number_then_text_then_body_decide_errors() {
        let records = vec![
            OtlpLogRecord {
                time_unix_nano: T0,
                severity_number: 17,
                body: text("payment declined"),
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                ..Default::default()
            },
            OtlpLogRecord {
                time_unix_nano: T0,
                severity_number: 9,
                body: text("ERROR in the text but INFO by number"),
                ..Default::default()
            },
            OtlpLogRecord {
                observed_time_unix_nano: T0 + 5,
                severity_text: "Fatal".into(),
                body: text("out of memory"),
                ..Default::default()
            },
            OtlpLogRecord {
                time_unix_nano: T0,
                body: text(
                    "2026-01-05 10:00:01.123 [http-nio-8080-exec-3] ERROR c.t.PayService: timeout",
                ),
                ..Default::default()
            },
            OtlpLogRecord {
                time_unix_nano: T0,
                body: text("level=info msg=\"ERROR count reset\""),
                ..Default::default()
            },
        ];
        for encoding in [Encoding::OtlpProto, Encoding::OtlpJson] {
            let (logs, rejected) = decode(&request(records.clone()), encoding);
            assert!(rejected.is_empty(), "{rejected:?}");
            let errors: Vec<bool> = logs.iter().map(|l| l.error).collect();
            assert_eq!(errors, [true, false, true, true, false], "{encoding}");
            assert_eq!(logs[0].service(), "cart");
            assert_eq!(
                (logs[0].trace_id, logs[0].span_id),
                (Some([1; 16]), Some([2; 8]))
            );
            assert_eq!((logs[1].trace_id, logs[1].span_id), (None, None));
            assert_eq!(logs[2].time_ns, T0 + 5, "observed time stands in");
            assert_eq!(logs[0].body, "payment declined");
        }
    }

    #[test]
    fn bad_records_are_rejected_with_their_position_and_the_rest_kept() {
        let records = vec![
            OtlpLogRecord {
                body: text("no time at all"),
                ..Default::default()
            },
            OtlpLogRecord {
                time_unix_nano: T0,
                trace_id: vec![1; 5],
                ..Default::default()
            },
            OtlpLogRecord {
                time_unix_nano: T0,
                body: Some(AnyValue {
                    value: Some(Value::IntValue(42)),
                }),
                ..Default::default()
            },
        ];
        let (logs, rejected) = decode(&request(records), Encoding::OtlpProto);
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].body, "42");
        let positions: Vec<&str> = rejected.iter().map(|r| r.position.as_str()).collect();
        assert_eq!(
            positions,
            [
                "resource 0 scope 0 log record 0",
                "resource 0 scope 0 log record 1"
            ]
        );
        assert_eq!(
            rejected[0].error,
            DecodeError::MissingField("time_unix_nano")
        );
    }

    fn attribute(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    #[test]
    fn code_attributes_of_either_convention_name_the_statement() {
        let current = [
            attribute("code.function.name", Value::StringValue("cart.Add".into())),
            attribute("code.line.number", Value::IntValue(53)),
        ];
        assert_eq!(code_location(&current).as_deref(), Some("cart.Add#53"));
        let older = [
            attribute("code.namespace", Value::StringValue("com.shop.Cart".into())),
            attribute("code.function", Value::StringValue("add item".into())),
            attribute("code.lineno", Value::StringValue("7".into())),
        ];
        assert_eq!(
            code_location(&older).as_deref(),
            Some("com.shop.Cart.additem#7")
        );
        let line_only = [attribute("code.lineno", Value::IntValue(7))];
        assert_eq!(code_location(&line_only), None);
        let record = OtlpLogRecord {
            time_unix_nano: T0,
            body: text("added"),
            attributes: current.to_vec(),
            ..Default::default()
        };
        let (logs, _) = decode(&request(vec![record]), Encoding::OtlpJson);
        assert_eq!(logs[0].code.as_deref(), Some("cart.Add#53"));
    }

    #[test]
    fn long_bodies_are_cut_at_a_character_boundary() {
        let mut body = "é".repeat(MAX_BODY_BYTES);
        truncate(&mut body, MAX_BODY_BYTES - 1);
        assert!((MAX_BODY_BYTES - 2..MAX_BODY_BYTES).contains(&body.len()));
        assert!(body.chars().all(|c| c == 'é'));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        for encoding in [Encoding::OtlpProto, Encoding::OtlpJson] {
            let result = decode_logs(
                b"\xff\xff\x00garbage",
                encoding,
                &Decoding::default(),
                &mut out,
            );
            assert!(
                matches!(result, Err(DecodeError::Malformed { .. })),
                "{encoding}"
            );
        }
        assert!(out.is_empty());
    }
}
