//! Ingest: decode raw records, advance watermarks, divert late records, feed the dataflow.
//!
//! This is the boundary between the outside world and the dataflow, so it is where bad
//! input is caught: undecodable records and rejected spans or points are counted, logged
//! with their location and written to the dead-letter side output; records whose window has
//! already closed are counted and written to the late side output. Everything else enters
//! the dataflow at the currently open pane.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use timely::dataflow::InputHandleVec;

use super::dedup::DuplicateFilter;
use super::resume::ResumeTracker;
use crate::features::metric_map::is_read;
use crate::otlp::{decode_logs, decode_metrics, decode_spans, Decoding};
use crate::record::{Location, LogRecord, MetricPoint, ResourceInfo, Signal, Span};
use crate::sink::{DeadLetters, SideOutput};
use crate::source::{Batch, Decoded, RawMessage, SourceFault};
use crate::stats::Stats;
use crate::time::{pane_of, Pane, Watermarks};

/// Problems logged at warn level per worker before the rest go to debug level.
const LOUD_PROBLEMS: u64 = 20;

/// Input handles of the dataflow.
pub type SpanInput = InputHandleVec<Pane, Span>;
/// Input handles of the dataflow.
pub type MetricInput = InputHandleVec<Pane, MetricPoint>;
/// Input handles of the dataflow.
pub type LogInput = InputHandleVec<Pane, LogRecord>;

/// The dataflow's three inputs, advanced together.
pub struct Inputs {
    /// Decoded spans.
    pub spans: SpanInput,
    /// Decoded metric points.
    pub metrics: MetricInput,
    /// Decoded log records.
    pub logs: LogInput,
}

impl Default for Inputs {
    fn default() -> Self {
        Inputs {
            spans: SpanInput::new(),
            metrics: MetricInput::new(),
            logs: LogInput::new(),
        }
    }
}

impl Inputs {
    /// The open pane: the inputs' common time.
    pub fn time(&self) -> Pane {
        *self.spans.time()
    }

    fn advance_to(&mut self, pane: Pane) {
        self.spans.advance_to(pane);
        self.metrics.advance_to(pane);
        self.logs.advance_to(pane);
    }
}

/// Per-worker ingest state.
pub struct Ingest {
    watermarks: Watermarks,
    stats: Arc<Stats>,
    late: SideOutput,
    dead: Box<dyn DeadLetters>,
    spans: Vec<Span>,
    points: Vec<MetricPoint>,
    logs: Vec<LogRecord>,
    /// Event-time panes of the records of the message being routed.
    panes: Vec<Pane>,
    resume: ResumeTracker,
    duplicates: DuplicateFilter,
    /// Spans of panes before this one are already in the restored pane state.
    span_floor: Pane,
    /// Log records of panes before this one are already in the restored template state.
    log_floor: Pane,
    /// Metrics-only operation: spans are dropped after decoding.
    drop_spans: bool,
    /// `source.logs = false`: log records are dropped after decoding.
    drop_logs: bool,
    /// The newest pane any accepted record fell in.
    newest_pane: Pane,
    problems: u64,
    decoding: Decoding,
    /// The environments processed (`None`: all); a resource without one is `""`.
    environments: Option<BTreeSet<String>>,
}

impl Ingest {
    /// Ingest over the given watermarks, with side outputs.
    pub fn new(
        watermarks: Watermarks,
        stats: Arc<Stats>,
        late: SideOutput,
        dead: Box<dyn DeadLetters>,
    ) -> Self {
        Ingest {
            watermarks,
            stats,
            late,
            dead,
            spans: Vec::new(),
            points: Vec::new(),
            logs: Vec::new(),
            panes: Vec::new(),
            resume: ResumeTracker::default(),
            duplicates: DuplicateFilter::default(),
            span_floor: 0,
            log_floor: 0,
            drop_spans: false,
            drop_logs: false,
            newest_pane: 0,
            problems: 0,
            decoding: Decoding::default(),
            environments: None,
        }
    }

    /// Processes only the records of these environments (all when `None`).
    pub fn with_environments(mut self, environments: Option<BTreeSet<String>>) -> Self {
        self.environments = environments;
        self
    }

    /// Decodes with `decoding` (service naming, sampling weights).
    pub fn with_decoding(mut self, decoding: Decoding) -> Self {
        self.decoding = decoding;
        self
    }

    /// Tracks resume offsets with `tracker` (which knows the topics with persisted panes).
    pub fn with_resume(mut self, tracker: ResumeTracker) -> Self {
        self.resume = tracker;
        self
    }

    /// Drops spans of panes before `pane`: a restored state already holds them.
    pub fn with_span_floor(mut self, pane: Pane) -> Self {
        self.span_floor = pane;
        self
    }

    /// Drops log records of panes before `pane`: a restored state already mined them.
    pub fn with_log_floor(mut self, pane: Pane) -> Self {
        self.log_floor = pane;
        self
    }

    /// Drops every span after decoding (metrics-only operation).
    pub fn without_spans(mut self, drop: bool) -> Self {
        self.drop_spans = drop;
        self
    }

    /// Drops every log record after decoding.
    pub fn without_logs(mut self, drop: bool) -> Self {
        self.drop_logs = drop;
        self
    }

    /// Which Kafka records are still needed (see [`ResumeTracker`]).
    pub fn resume(&mut self) -> &mut ResumeTracker {
        &mut self.resume
    }

    fn warn(&mut self, what: &str, location: &Location, reason: &str) {
        self.problems += 1;
        if self.problems <= LOUD_PROBLEMS {
            tracing::warn!(%location, reason, "{what}");
        } else {
            tracing::debug!(%location, reason, "{what}");
        }
    }

    fn dead_letter(
        &mut self,
        location: &Location,
        reason: &str,
        signal: Option<Signal>,
        bytes: &[u8],
    ) {
        Stats::add(&self.stats.dead_letters, 1);
        if let Err(error) = self.dead.send(location, reason, signal, bytes) {
            tracing::error!(%error, %location, "cannot write dead letter");
        }
    }

    fn fault(&mut self, fault: SourceFault) {
        Stats::add(&self.stats.bad_messages, 1);
        self.warn("unreadable input", &fault.location, &fault.reason);
        self.dead_letter(&fault.location, &fault.reason, None, &fault.bytes);
    }

    fn late(&mut self, location: &Location, event_ns: u64, open: Pane, record: serde_json::Value) {
        Stats::add(&self.stats.late_records, 1);
        let line = json!({
            "location": location.to_string(),
            "event_time_ns": event_ns,
            "pane": pane_of(event_ns),
            "open_pane": open,
            "record": record,
        });
        if let Err(error) = self.late.write(&line) {
            tracing::error!(%error, "cannot write late record");
        }
    }

    /// Decodes one message into the local buffers, dead-lettering what cannot be used.
    fn decode(&mut self, message: &RawMessage) {
        let result = match message.signal {
            Signal::Traces => decode_spans(
                &message.bytes,
                message.encoding,
                &self.decoding,
                &mut self.spans,
            ),
            Signal::Metrics => {
                let (decoding, points) = (&self.decoding, &mut self.points);
                decode_metrics(&message.bytes, message.encoding, decoding, points)
            }
            Signal::Logs => decode_logs(
                &message.bytes,
                message.encoding,
                &self.decoding,
                &mut self.logs,
            ),
        };
        self.count_unmapped(&self.points);
        match result {
            Err(error) => {
                Stats::add(&self.stats.bad_messages, 1);
                let reason = error.to_string();
                self.warn("undecodable record", &message.location, &reason);
                self.dead_letter(
                    &message.location,
                    &reason,
                    Some(message.signal),
                    &message.bytes,
                );
            }
            Ok(rejected) if !rejected.is_empty() => {
                Stats::add(&self.stats.bad_records, rejected.len() as u64);
                let reason = rejected
                    .iter()
                    .map(|r| format!("{}: {}", r.position, r.error))
                    .collect::<Vec<_>>()
                    .join("; ");
                self.warn(
                    "rejected spans, points or log records",
                    &message.location,
                    &reason,
                );
                self.dead_letter(
                    &message.location,
                    &reason,
                    Some(message.signal),
                    &message.bytes,
                );
            }
            Ok(_) => {}
        }
    }

    /// Sends decoded records whose window is open into `input`; diverts the rest to the late
    /// side output. Every record advances its partition's watermark.
    fn route<R: serde::Serialize + Clone + 'static>(
        &mut self,
        records: &mut Vec<R>,
        (partition, location): (u32, &Location),
        (open, floor): (Pane, Pane),
        event_ns: fn(&R) -> u64,
        accepted: fn(&Stats) -> &AtomicU64,
        input: &mut InputHandleVec<Pane, R>,
    ) {
        let now = Instant::now();
        for record in records.drain(..) {
            let time = event_ns(&record);
            self.watermarks.observe(partition, time, now);
            if pane_of(time) < floor {
                continue; // counted in the restored state of its pane
            }
            if pane_of(time) < open {
                let value = serde_json::to_value(&record).unwrap_or_default();
                self.late(location, time, open, value);
            } else {
                Stats::add(accepted(&self.stats), 1);
                self.panes.push(pane_of(time));
                self.newest_pane = self.newest_pane.max(pane_of(time));
                input.send(record);
            }
        }
    }

    /// Drops the decoded records of environments the job does not process (`[identity]
    /// environments`), counting them; their event times still advance the watermark.
    fn drop_other_environments(&mut self, partition: u32, now: Instant) {
        let Some(allowed) = &self.environments else {
            return;
        };
        let other = |resource: &ResourceInfo| {
            !allowed.contains(resource.environment.as_deref().unwrap_or_default())
        };
        let mut dropped = Vec::new();
        remove_where(
            &mut self.spans,
            |s| other(&s.resource),
            |s| s.start_ns,
            &mut dropped,
        );
        remove_where(
            &mut self.points,
            |p| other(&p.resource),
            |p| p.time_ns,
            &mut dropped,
        );
        remove_where(
            &mut self.logs,
            |l| other(&l.resource),
            |l| l.time_ns,
            &mut dropped,
        );
        for time in &dropped {
            self.watermarks.observe(partition, *time, now);
        }
        Stats::add(&self.stats.other_environments, dropped.len() as u64);
    }

    /// Processes a batch: decode, route to the inputs or the late output, advance watermarks
    /// and the inputs' time to the open pane.
    pub fn push(&mut self, batch: Batch, inputs: &mut Inputs) {
        let now = Instant::now();
        for fault in batch.faults {
            self.fault(fault);
        }
        let open = inputs.time();
        for message in &batch.messages {
            Stats::add(&self.stats.messages, 1);
            if self
                .duplicates
                .is_duplicate(message.partition, &message.bytes)
            {
                Stats::add(&self.stats.duplicates, 1);
                tracing::debug!(location = %message.location, "duplicate record dropped");
                self.consumed(&message.location);
                continue;
            }
            self.decode(message);
            let origin = (message.partition, &message.location);
            self.route_decoded(origin, (open, now), inputs);
        }
        for decoded in batch.decoded {
            self.push_decoded(decoded, (open, now), inputs);
        }
        for (partition, event_ns) in batch.progress {
            self.watermarks.observe(partition, event_ns, now);
            Stats::raise(&self.stats.event_clock_ns, event_ns);
        }
        for partition in batch.finished {
            self.watermarks.finish(partition);
        }
        self.advance(inputs);
    }

    /// Routes the records in the decode buffers: drops spans in metrics-only operation, logs
    /// when they are not used and the records of other environments; sends the rest to the
    /// inputs or the late output.
    fn route_decoded(
        &mut self,
        (partition, location): (u32, &Location),
        (open, now): (Pane, Instant),
        inputs: &mut Inputs,
    ) {
        if self.drop_spans {
            self.spans.clear();
        }
        if self.drop_logs {
            self.logs.clear();
        }
        self.drop_other_environments(partition, now);
        // Taken and put back so the buffers keep their capacity across messages.
        let mut spans = std::mem::take(&mut self.spans);
        self.route(
            &mut spans,
            (partition, location),
            (open, self.span_floor),
            |s| s.start_ns,
            |stats| &stats.spans,
            &mut inputs.spans,
        );
        self.spans = spans;
        let mut points = std::mem::take(&mut self.points);
        self.route(
            &mut points,
            (partition, location),
            (open, 0),
            |p| p.time_ns,
            |stats| &stats.metric_points,
            &mut inputs.metrics,
        );
        self.points = points;
        let mut logs = std::mem::take(&mut self.logs);
        self.route(
            &mut logs,
            (partition, location),
            (open, self.log_floor),
            |l| l.time_ns,
            |stats| &stats.log_records,
            &mut inputs.logs,
        );
        self.logs = logs;
        self.consumed(location);
    }

    /// Routes records a source decoded itself (the receivers), counting and dead-lettering
    /// its rejected records as [`Self::decode`] does for raw ones.
    fn push_decoded(&mut self, mut decoded: Decoded, clock: (Pane, Instant), inputs: &mut Inputs) {
        Stats::add(&self.stats.messages, 1);
        if let Some(rejected) = decoded.rejected.take() {
            Stats::add(&self.stats.bad_records, rejected.count);
            self.warn(
                "rejected spans, points or log records",
                &decoded.location,
                &rejected.reason,
            );
            let signal = Some(rejected.signal);
            self.dead_letter(&decoded.location, &rejected.reason, signal, &rejected.bytes);
        }
        self.count_unmapped(&decoded.points);
        self.spans.append(&mut decoded.spans);
        self.points.append(&mut decoded.points);
        self.logs.append(&mut decoded.logs);
        self.route_decoded((decoded.partition, &decoded.location), clock, inputs);
    }

    /// Counts the decoded metric points no feature reads.
    fn count_unmapped(&self, points: &[MetricPoint]) {
        let unmapped = points.iter().filter(|p| !is_read(p)).count();
        Stats::add(&self.stats.unmapped_points, unmapped as u64);
    }

    /// Notes a consumed Kafka record and the panes its routed records fell in.
    fn consumed(&mut self, location: &Location) {
        self.panes.sort_unstable();
        self.panes.dedup();
        if let Location::Kafka {
            topic,
            partition,
            offset,
        } = location
        {
            self.resume
                .consumed(topic, *partition, *offset, self.panes.iter().copied());
        }
        self.panes.clear();
    }

    /// Moves the inputs to the open pane (idle partitions may let it move without data).
    pub fn advance(&mut self, inputs: &mut Inputs) {
        let open = self.watermarks.open_pane(Instant::now());
        if open > inputs.time() {
            inputs.advance_to(open);
        }
    }

    /// Flushes the side outputs.
    pub fn finish(&mut self) {
        if let Err(error) = self.late.flush() {
            tracing::error!(%error, "cannot flush the late side output");
        }
        if let Err(error) = self.dead.flush() {
            tracing::error!(%error, "cannot flush the dead letters");
        }
    }

    /// The job's counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// The newest pane any accepted record fell in (0 before the first).
    pub fn newest_pane(&self) -> Pane {
        self.newest_pane
    }

    /// Records that the input ended: minutes after its latest event are closed early (see
    /// [`crate::score::detect::closed_early`]); over workers, the latest end counts.
    pub fn mark_input_end(&self) {
        if let Some(end) = self.watermarks.max_event_ns() {
            self.stats.input_end_ns.fetch_max(end, Ordering::Release);
        }
        self.stats.inputs_ended.fetch_add(1, Ordering::Release);
    }

    /// The earliest pane that may still receive records.
    pub fn open_pane(&mut self) -> Pane {
        self.watermarks.open_pane(Instant::now())
    }
}

/// Removes the records `unwanted` picks, collecting their event times.
fn remove_where<R>(
    records: &mut Vec<R>,
    unwanted: impl Fn(&R) -> bool,
    event_ns: fn(&R) -> u64,
    times: &mut Vec<u64>,
) {
    records.retain(|record| {
        let remove = unwanted(record);
        if remove {
            times.push(event_ns(record));
        }
        !remove
    });
}
