//! The Nezha log files as OTLP log records: `<day>/log/HH_MM_log.csv.gz`, one line per
//! application log line (see the dataset's README).
//!
//! A line becomes a LogRecord with the application line (the `log` field of the container
//! runtime's JSON envelope, without its newline) as body, `TimeUnixNano` as time, the trace
//! and span ids of its columns, and the pod's resource. Severity is left unset, as the CSV
//! carries none: the engine reads the level word of the body (`16:42:22.382 INFO ...`), which
//! is exactly how it treats any plain-text appender. The logger location that follows the
//! level word (`t.s.TravelServiceImpl#532`: class and line) becomes the record's
//! `code.namespace` and `code.lineno` attributes, what the OpenTelemetry Java agent's logback
//! appender records with code attributes on; the body stays the whole line.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

use opentelemetry_proto::tonic::resource::v1::Resource;

use super::ids::hex;
use aiops_engine::source::otlp_build::{int, scope, string};

/// A parsed log line: its pod and record.
#[derive(Debug)]
pub struct LogLine {
    /// The pod that wrote it.
    pub pod: String,
    /// The record.
    pub record: LogRecord,
}

/// Parses one CSV line: `Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log`,
/// where only `Log` may hold commas and quotes (CSV-quoted JSON).
pub fn parse_log_line(line: &str) -> Result<LogLine, String> {
    let fields: Vec<&str> = line.splitn(8, ',').collect();
    if fields.len() != 8 {
        return Err(format!("expected 8 columns, found {}", fields.len()));
    }
    let time_ns: u64 = fields[1]
        .parse()
        .map_err(|_| format!("TimeUnixNano {:?} is not a number", fields[1]))?;
    let id = |text: &str, bytes: usize| match text {
        "" => Ok(Vec::new()),
        text => hex(text, bytes),
    };
    let envelope = unquote(fields[7]);
    let json: serde_json::Value =
        serde_json::from_str(&envelope).map_err(|e| format!("Log is not JSON: {e}"))?;
    let body = json
        .get("log")
        .and_then(serde_json::Value::as_str)
        .ok_or("Log has no \"log\" field")?
        .trim_end_matches(['\n', '\r']);
    Ok(LogLine {
        pod: fields[3].to_string(),
        record: LogRecord {
            time_unix_nano: time_ns,
            observed_time_unix_nano: time_ns,
            body: Some(AnyValue {
                value: Some(Value::StringValue(body.to_string())),
            }),
            trace_id: id(fields[5], 16)?,
            span_id: id(fields[6], 8)?,
            attributes: code_attributes(body),
            ..Default::default()
        },
    })
}

/// `code.namespace` and `code.lineno` from the logger location after the time and level words
/// (`class#line`); none when the third token has no such shape.
fn code_attributes(body: &str) -> Vec<KeyValue> {
    let Some((class, line)) = body
        .split_ascii_whitespace()
        .nth(2)
        .and_then(|token| token.rsplit_once('#'))
    else {
        return Vec::new();
    };
    let Ok(line) = line.parse::<i64>() else {
        return Vec::new();
    };
    vec![string("code.namespace", class), int("code.lineno", line)]
}

/// A CSV field without its quotes, doubled quotes made single.
fn unquote(field: &str) -> String {
    match field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => field.to_string(),
    }
}

/// The lines of one file as one export request, grouped by pod in order of appearance, each
/// pod's resource from `resource`.
pub fn log_request(
    lines: Vec<LogLine>,
    resource: fn(&str) -> Resource,
) -> ExportLogsServiceRequest {
    let mut by_pod: Vec<(String, Vec<LogRecord>)> = Vec::new();
    for line in lines {
        match by_pod.iter_mut().find(|(pod, _)| *pod == line.pod) {
            Some((_, records)) => records.push(line.record),
            None => by_pod.push((line.pod, vec![line.record])),
        }
    }
    let resource_logs = by_pod
        .into_iter()
        .map(|(pod, log_records)| ResourceLogs {
            resource: Some(resource(&pod)),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = concat!(
        "2023-01-29T08:42:22.383150913Z,1674981742383150913,33.33.33.116,",
        "ts-travel-service-64469b5b48-25zj6,server,ffc8ca7e4c8f06c75142c880d5595d96,439bc949a9eeb0cc,",
        r#""{""log"":""16:42:22.382 ERROR t.s.TravelServiceImpl#532 [getRoute][Route is: "#,
        r#"Route(id=f3, stations=[shanghai, suzhou])]\n"",""stream"":""stdout""}""#
    );

    #[test]
    fn a_nezha_line_becomes_a_record_with_its_ids_and_application_line() {
        let line = parse_log_line(LINE).expect("parses");
        assert_eq!(line.pod, "ts-travel-service-64469b5b48-25zj6");
        assert_eq!(line.record.time_unix_nano, 1_674_981_742_383_150_913);
        assert_eq!(line.record.trace_id.len(), 16);
        assert_eq!(line.record.span_id, hex("439bc949a9eeb0cc", 8).unwrap());
        let Some(Value::StringValue(body)) =
            line.record.body.as_ref().and_then(|b| b.value.clone())
        else {
            panic!("string body");
        };
        assert!(
            body.starts_with("16:42:22.382 ERROR t.s.TravelServiceImpl#532"),
            "{body}"
        );
        assert!(body.ends_with("suzhou])]"), "{body}");
        let code: Vec<(&str, Option<&Value>)> = line
            .record
            .attributes
            .iter()
            .map(|kv| {
                (
                    kv.key.as_str(),
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                )
            })
            .collect();
        assert_eq!(
            code,
            [
                (
                    "code.namespace",
                    Some(&Value::StringValue("t.s.TravelServiceImpl".into()))
                ),
                ("code.lineno", Some(&Value::IntValue(532))),
            ]
        );
        assert!(code_attributes("12:00:00 INFO started").is_empty());
        assert!(code_attributes("12:00:00 INFO a#b rest").is_empty());
        assert!(aiops_engine::otlp::body_is_error(&body));
        let request = log_request(vec![line], |_| Resource::default());
        assert_eq!(request.resource_logs.len(), 1);
    }

    #[test]
    fn malformed_lines_are_reasons_not_panics() {
        for bad in [
            "",
            "a,b,c",
            "t,notanumber,n,p,c,,,\"{}\"",
            "t,1,n,p,c,zz,,\"{\"\"log\"\":\"\"x\"\"}\"",
            "t,1,n,p,c,,,\"not json\"",
        ] {
            assert!(parse_log_line(bad).is_err(), "{bad}");
        }
        assert!(parse_log_line("t,1,n,p,c,,,\"{\"\"log\"\":\"\"x\"\"}\"").is_ok());
    }
}
