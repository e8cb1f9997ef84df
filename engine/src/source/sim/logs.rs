//! The log lines a simulated service writes: one per request it serves, derived from the
//! request's span so logs and traces agree (and no random draw is added: the spans of a seed
//! do not change with logs on or off).
//!
//! A served request logs INFO `handled <operation> in <ms> ms for client <id>`; a slow one
//! (over a second) logs WARN `slow request <operation>: <ms> ms over budget 1000 ms`; a failed
//! one logs ERROR `request <operation> failed: upstream returned error after <ms> ms`. A fault
//! on the service changes what it writes, as a real fault would: an error burst fails with
//! `connection reset by peer`, a CPU hog warns of a saturated thread pool, a memory leak of
//! long GC pauses, a latency fault of slow queries; a network delay into the service leaves its
//! own lines unchanged (its callers see it). A broken operation's requests log the exception
//! (ERROR) or the default result returned (INFO) instead of the usual line. Each record
//! carries its span's trace and span ids and, as the OpenTelemetry Java agent's appenders
//! record them, the code attributes of the statement that wrote it (`RequestHandler.serve`,
//! one line number per kind of line).

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};

use super::fault::Fault;
use crate::config::FaultKind;
use crate::source::otlp_build::{int, string};

/// Requests slower than this log a warning.
const SLOW_MS: u64 = 1000;

/// The log record a span's service writes for it, if the span is a served request; `fault`
/// is the fault active on the service when the request ended, if any, and `first_operation`
/// the service's first operation (the one a fault breaking an operation breaks).
pub fn request_log(span: &Span, fault: Option<&Fault>, first_operation: &str) -> Option<LogRecord> {
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
    let fault = fault
        .map(|f| f.kind)
        .filter(|kind| !kind.breaks_operation() || span.name == first_operation);
    let (severity, body, statement) = line(&span.name, ms, failed, client, fault);
    let text = match severity {
        SeverityNumber::Error => "ERROR",
        SeverityNumber::Warn => "WARN",
        _ => "INFO",
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
        attributes: code_attributes(statement),
        ..Default::default()
    })
}

/// `code.function.name` and `code.line.number` of the statement at `line`.
fn code_attributes(line: i64) -> Vec<KeyValue> {
    vec![
        string("code.function.name", "RequestHandler.serve"),
        int("code.line.number", line),
    ]
}

/// The severity, body and statement (line number) of a request's line.
fn line(
    name: &str,
    ms: u64,
    failed: bool,
    client: u8,
    fault: Option<FaultKind>,
) -> (SeverityNumber, String, i64) {
    use SeverityNumber::{Error, Info, Warn};
    match (failed, fault) {
        (true, Some(FaultKind::ErrorBurst)) => (
            Error,
            format!("request {name} failed: connection reset by peer after {ms} ms"),
            52,
        ),
        (true, _) => (
            Error,
            format!("request {name} failed: upstream returned error after {ms} ms"),
            48,
        ),
        (false, Some(FaultKind::Exception)) => (
            Error,
            format!("request {name} threw IllegalStateException: order {client} has no items"),
            56,
        ),
        (false, Some(FaultKind::EarlyReturn)) => (
            Info,
            format!("returning default result for {name} to client {client}"),
            72,
        ),
        (false, Some(FaultKind::CpuHog)) => (
            Warn,
            format!(
                "worker pool saturated: {} tasks queued for {name}",
                20 + client
            ),
            60,
        ),
        (false, Some(FaultKind::MemoryLeak)) => (
            Warn,
            format!("GC pause of {} ms while serving {name}", 50 + ms % 200),
            64,
        ),
        (false, Some(FaultKind::Latency)) => (
            Warn,
            format!("slow database query during {name}: {ms} ms"),
            68,
        ),
        (false, _) if ms > SLOW_MS => (
            Warn,
            format!("slow request {name}: {ms} ms over budget {SLOW_MS} ms"),
            44,
        ),
        (false, _) => (
            Info,
            format!("handled {name} in {ms} ms for client {client}"),
            40,
        ),
    }
}
