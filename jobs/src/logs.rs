//! Log lines for people: written above the live status line (never into it), and the job's
//! incident events as short readable blocks.
//!
//! The status line is an indicatif bar on stderr; a log line written while it is drawn would
//! land in the middle of it. Every log line goes through [`LogWriter`], which asks the bar to
//! step aside ([`ProgressBar::suspend`]) while it writes. With `--log-format text`, an
//! incident event prints as a block (id, minute, root cause, top candidates, the console's
//! page) when the incident opens or its root cause changes; the minutes in between add no
//! lines (the console shows them). JSON logs keep every event as one object.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The status line being drawn, if any.
static STATUS_LINE: Mutex<Option<ProgressBar>> = Mutex::new(None);
/// The web console's address, once it serves: incident blocks link to their page.
static CONSOLE_URL: OnceLock<String> = OnceLock::new();

/// Registers (or, with `None`, forgets) the status line log lines must step around.
pub fn status_line(bar: Option<ProgressBar>) {
    if let Ok(mut slot) = STATUS_LINE.lock() {
        *slot = bar;
    }
}

/// Incident blocks link to `url` (the web console's base address).
pub fn console_url(url: String) {
    let _ = CONSOLE_URL.set(url);
}

/// Makes a [`LineWriter`] per log event.
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter(Vec::new())
    }
}

/// Collects one event's text and writes it to stderr when dropped, around the status line.
pub struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let text = std::mem::take(&mut self.0);
        let write = || {
            let _ = std::io::stderr().lock().write_all(&text);
        };
        let bar = STATUS_LINE.lock().ok().and_then(|slot| slot.clone());
        match bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

/// The text format, with incident events as blocks.
#[derive(Default)]
pub struct Readable {
    inner: Format,
    /// The root cause each incident was last shown with.
    shown: Mutex<HashMap<String, String>>,
}

/// An event's fields as text.
#[derive(Default)]
struct Fields(HashMap<&'static str, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

impl<S, N> FormatEvent<S, N> for Readable
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(id) = fields.0.get("incident").cloned() else {
            return self.inner.format_event(context, writer, event);
        };
        let field = |name: &str| fields.0.get(name).cloned().unwrap_or_default();
        let cause = field("root_cause");
        let mut shown = self.shown.lock().map_err(|_| fmt::Error)?;
        if shown.get(&id) == Some(&cause) {
            return Ok(());
        }
        let opened = shown.insert(id.clone(), cause.clone()).is_none();
        write!(writer, "{}", incident_block(&id, opened, &fields.0))
    }
}

/// The block of an incident that opened (or whose root cause changed) in an event.
fn incident_block(id: &str, opened: bool, fields: &HashMap<&'static str, String>) -> String {
    let field = |name: &str| fields.get(name).map_or("-", String::as_str);
    let what = if opened {
        "opened"
    } else {
        "root cause changed"
    };
    let candidates: Vec<String> = field("candidates")
        .split(',')
        .filter(|c| !c.is_empty())
        .enumerate()
        .map(|(i, c)| format!("{}. {c}", i + 1))
        .collect();
    let mut block = format!(
        "incident {id} {what} at {} UTC\n  root cause  {}\n  candidates  {}\n  anomalous   {}\n",
        field("minute"),
        field("root_cause"),
        candidates.join("  "),
        field("anomalous").replace(',', ", "),
    );
    if let Some(url) = CONSOLE_URL.get() {
        block += &format!("  details     {url}#/incident/{id}\n");
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incident_block_names_cause_candidates_and_services() {
        let fields: HashMap<&'static str, String> = [
            ("minute", "2026-01-05 09:10"),
            ("root_cause", "email"),
            ("candidates", "email,frontend,catalog"),
            ("anomalous", "catalog,email,frontend"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        let block = incident_block("INC-20260105T0910Z", true, &fields);
        let expected = "incident INC-20260105T0910Z opened at 2026-01-05 09:10 UTC\n  \
            root cause  email\n  candidates  1. email  2. frontend  3. catalog\n  \
            anomalous   catalog, email, frontend\n";
        assert_eq!(block, expected);
    }
}
