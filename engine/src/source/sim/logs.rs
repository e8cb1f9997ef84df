//! The log lines a simulated service writes: one per request it serves, derived from the
//! request's span so logs and traces agree (and no random draw is added: the spans of a seed
//! do not change with logs on or off).
//!
//! A served request logs INFO `handled <operation> in <ms> ms for client <id>`; a slow one
//! (over a second, as under a latency fault) logs WARN `slow request <operation>: <ms> ms over
//! budget 1000 ms`; a failed one logs ERROR `request <operation> failed: upstream returned
//! error after <ms> ms`. Each record carries its span's trace and span ids.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};

/// Requests slower than this log a warning.
const SLOW_MS: u64 = 1000;

/// The log record a span's service writes for it, if the span is a served request.
pub fn request_log(span: &Span) -> Option<LogRecord> {
    if span.kind != SpanKind::Server as i32 {
        return None;
    }
    let ms = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano)
        / 1_000_000;
    let failed = span
        .status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32);
    let client = span.trace_id.first().copied().unwrap_or(0) % 50;
    let (severity, text, body) = if failed {
        let body = format!(
            "request {} failed: upstream returned error after {ms} ms",
            span.name
        );
        (SeverityNumber::Error, "ERROR", body)
    } else if ms > SLOW_MS {
        let body = format!(
            "slow request {}: {ms} ms over budget {SLOW_MS} ms",
            span.name
        );
        (SeverityNumber::Warn, "WARN", body)
    } else {
        let body = format!("handled {} in {ms} ms for client {client}", span.name);
        (SeverityNumber::Info, "INFO", body)
    };
    Some(LogRecord {
        time_unix_nano: span.end_time_unix_nano,
        observed_time_unix_nano: span.end_time_unix_nano,
        severity_number: severity as i32,
        severity_text: text.to_string(),
        body: Some(AnyValue {
            value: Some(Value::StringValue(body)),
        }),
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        ..Default::default()
    })
}
