//! The `feature_windows` operator: outer join of span, metric and log panes, sliding windows.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono_tz::Tz;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::StreamVec;

use super::calendar::calendar;
use super::structure::{structure_shift, CallShape, MovedCall, SHAPE_PANES};
use super::templates::MovedTemplate;
use super::{FeatureRow, LatencySketch, LogPane, MetricPane, SpanPane};
use crate::time::{pane_start_ns, Pane, PaneJoin};

/// The longest window (1 h), in panes: history older than this is dropped.
const LONGEST_WINDOW: u64 = 60;
/// Panes a row's values depend on, its own included: the row of minute `m` is a function of
/// the records of panes `m + 1 - HISTORY_PANES ..= m` (the 1 h window; byte-counter rates
/// look back at most as far, see `metric_pane`). A replay that must reproduce the rows from
/// minute `m` on starts at the records of pane `m + 1 - HISTORY_PANES`.
pub const HISTORY_PANES: u64 = LONGEST_WINDOW;
/// Windows with latency quantiles keep their panes' sketches (5 min).
const SKETCH_WINDOW: u64 = 5;

/// One pane of a service's request history.
struct Slot {
    pane: Pane,
    requests: f64,
    errors: f64,
    latency: Option<LatencySketch>,
}

/// A service's recent request history, newest last.
#[derive(Default)]
struct History {
    first_pane: Option<Pane>,
    slots: VecDeque<Slot>,
    /// The call shapes of the last [`SHAPE_PANES`] minutes with spans (within the hour).
    shapes: VecDeque<(Pane, CallShape)>,
}

impl History {
    fn push(&mut self, pane: &SpanPane) {
        self.first_pane.get_or_insert(pane.pane);
        self.slots.push_back(Slot {
            pane: pane.pane,
            requests: pane.requests,
            errors: pane.errors,
            latency: Some(pane.latency.clone()),
        });
    }

    /// Scores the minute's call shape against the last ones (see
    /// [`super::structure::structure_shift`]), then keeps it; nothing for a pane without
    /// spans (one made from server histograms).
    fn shift(&mut self, pane: Pane, shape: CallShape) -> (Option<f64>, Vec<MovedCall>) {
        if shape.operations.is_empty() {
            return (None, Vec::new());
        }
        let past: Vec<&CallShape> = self.shapes.iter().map(|(_, s)| s).collect();
        let scored = structure_shift(&past, &shape);
        if self.shapes.len() == SHAPE_PANES {
            self.shapes.pop_front();
        }
        self.shapes.push_back((pane, shape));
        scored
    }

    fn forget_before(&mut self, pane: Pane) {
        while self
            .shapes
            .front()
            .is_some_and(|(p, _)| p + LONGEST_WINDOW <= pane)
        {
            self.shapes.pop_front();
        }
        while self
            .slots
            .front()
            .is_some_and(|s| s.pane + LONGEST_WINDOW <= pane)
        {
            self.slots.pop_front();
        }
        for slot in &mut self.slots {
            if slot.pane + SKETCH_WINDOW <= pane {
                slot.latency = None;
            }
        }
    }

    fn window(&self, pane: Pane, length: u64) -> impl Iterator<Item = &Slot> {
        self.slots
            .iter()
            .filter(move |s| s.pane + length > pane && s.pane <= pane)
    }

    /// Requests per second over `length` panes ending at `pane`; the denominator is shortened
    /// to the time since the service was first seen, so a new service's rate is not diluted.
    fn rate(&self, pane: Pane, length: u64) -> Option<f64> {
        let first = self.first_pane?;
        let covered = length.min(pane.saturating_sub(first) + 1);
        let requests: f64 = self.window(pane, length).map(|s| s.requests).sum();
        Some(requests / (covered * 60) as f64)
    }

    fn error_rate(&self, pane: Pane, length: u64) -> Option<f64> {
        let (requests, errors) = self
            .window(pane, length)
            .fold((0.0, 0.0), |(r, e), s| (r + s.requests, e + s.errors));
        (requests > 0.0).then(|| errors / requests)
    }

    fn quantiles(&self, pane: Pane, length: u64) -> [Option<f64>; 3] {
        let mut merged = LatencySketch::default();
        for sketch in self.window(pane, length).filter_map(|s| s.latency.as_ref()) {
            merged.merge(sketch);
        }
        [0.5, 0.95, 0.99].map(|q| merged.quantile(q))
    }
}

/// Builds feature rows from the panes of one closed minute.
pub struct RowBuilder {
    zone: Tz,
    histories: HashMap<String, History>,
}

impl RowBuilder {
    /// A builder computing calendar features in `zone`.
    pub fn new(zone: Tz) -> Self {
        RowBuilder {
            zone,
            histories: HashMap::new(),
        }
    }

    /// The rows of `pane`: one per service present in either input (an outer join), sorted
    /// by service. Must be called for panes in increasing order.
    pub fn rows(
        &mut self,
        pane: Pane,
        spans: Vec<SpanPane>,
        metrics: Vec<MetricPane>,
        created_at_us: i64,
    ) -> Vec<FeatureRow> {
        let mut joined: BTreeMap<String, (Option<SpanPane>, Option<MetricPane>)> = BTreeMap::new();
        for span_pane in spans {
            let service = span_pane.service.clone();
            joined.entry(service).or_default().0 = Some(span_pane);
        }
        for metric_pane in metrics {
            let service = metric_pane.service.clone();
            joined.entry(service).or_default().1 = Some(metric_pane);
        }
        let rows = joined
            .into_iter()
            .map(|(service, (span, metric))| self.row(pane, service, span, metric, created_at_us))
            .collect();
        self.histories.retain(|_, history| {
            history.forget_before(pane);
            !history.slots.is_empty()
        });
        rows
    }

    fn row(
        &mut self,
        pane: Pane,
        service: String,
        span: Option<SpanPane>,
        metric: Option<MetricPane>,
        created_at_us: i64,
    ) -> FeatureRow {
        let mut metric = metric.unwrap_or_default();
        // A service without spans this minute counts what its server histograms report.
        let mut span = span.or_else(|| metric.served.take());
        let history = self.histories.entry(service.clone()).or_default();
        let (structure_shift, moved_calls) = match &mut span {
            Some(span) => {
                history.push(span);
                history.shift(pane, std::mem::take(&mut span.shape))
            }
            None => (None, Vec::new()),
        };
        let history = &*history;
        let [p50_1m, p95_1m, p99_1m] = history.quantiles(pane, 1);
        let [p50_5m, p95_5m, p99_5m] = history.quantiles(pane, SKETCH_WINDOW);
        let day = calendar(pane, self.zone);
        let (operation, http_status, span_version, span_region, users) = match span {
            Some(s) => (s.operation, s.http_status, s.version, s.region, s.users),
            None => (None, None, None, None, None),
        };
        let mut row = FeatureRow {
            time_us: (pane_start_ns(pane) / 1_000) as i64,
            operation,
            http_status_code: http_status.map(i32::from),
            request_rate_1m: history.rate(pane, 1),
            request_rate_5m: history.rate(pane, 5),
            request_rate_15m: history.rate(pane, 15),
            request_rate_1h: history.rate(pane, LONGEST_WINDOW),
            error_rate_1m: history.error_rate(pane, 1),
            error_rate_5m: history.error_rate(pane, 5),
            p50_latency_1m: p50_1m,
            p95_latency_1m: p95_1m,
            p99_latency_1m: p99_1m,
            p50_latency_5m: p50_5m,
            p95_latency_5m: p95_5m,
            p99_latency_5m: p99_5m,
            hour_of_day: day.hour_of_day,
            day_of_week: day.day_of_week,
            day_of_month: day.day_of_month,
            is_weekend: day.is_weekend,
            is_business_hour: day.is_business_hour,
            is_peak_hour: day.is_peak_hour,
            cpu_usage: metric.cpu_usage,
            memory_usage: metric.memory_usage,
            disk_io_read: metric.disk_io_read,
            disk_io_write: metric.disk_io_write,
            network_in: metric.network_in,
            network_out: metric.network_out,
            region: span_region.max(metric.region),
            deployment_version: span_version.max(metric.version),
            created_at_us,
            log_rate: metric.logs.as_ref().map(|l| l.lines as f64 / 60.0),
            error_log_rate: metric.logs.as_ref().map(|l| l.errors as f64 / 60.0),
            new_template_rate: metric
                .logs
                .as_ref()
                .map(|l| l.new_template_lines as f64 / 60.0),
            distinct_users: users.map(|n| n as i32),
            moved_templates: metric
                .logs
                .as_ref()
                .filter(|l| !l.moved.is_empty())
                .map(|l| l.moved.iter().map(MovedTemplate::describe).collect()),
            template_shift: metric.logs.as_ref().map(|l| l.template_shift),
            structure_shift,
            moved_calls: (!moved_calls.is_empty())
                .then(|| moved_calls.iter().map(MovedCall::describe).collect()),
            ..Default::default()
        };
        row.set_service(&service);
        row
    }
}

/// Attaches each service's log pane to its metric pane (an outer join: a service with logs
/// and no metrics gets an otherwise empty metric pane).
fn attach_logs(metrics: Vec<MetricPane>, logs: Vec<LogPane>) -> Vec<MetricPane> {
    let mut joined: BTreeMap<String, MetricPane> = metrics
        .into_iter()
        .map(|pane| (pane.service.clone(), pane))
        .collect();
    for log_pane in logs {
        let metric = joined
            .entry(log_pane.service.clone())
            .or_insert_with(|| MetricPane {
                service: log_pane.service.clone(),
                pane: log_pane.pane,
                ..Default::default()
            });
        metric.logs = Some(log_pane);
    }
    joined.into_values().collect()
}

/// Extension trait: join span and metric panes into feature rows.
pub trait FeatureWindows<'scope> {
    /// Joins span panes with metric panes, and those with log panes, by (service, pane) —
    /// outer joins — and emits one
    /// [`FeatureRow`] per service present in the pane, at the pane's timestamp, once both input
    /// frontiers have passed it. The 5m/15m/1h windows end at the row's minute and are merges
    /// of the service's last panes, so every window slides by one minute.
    ///
    /// All inputs must already be partitioned by service with the same routing (as
    /// `span_panes`, `metric_panes` and `log_panes` are): this operator does not exchange. State: per
    /// service, the last 60 panes' counters and the last 5 panes' sketches; services silent for
    /// an hour are dropped. `now_us` stamps `created_at`.
    fn feature_windows(
        self,
        metrics: StreamVec<'scope, Pane, MetricPane>,
        logs: StreamVec<'scope, Pane, LogPane>,
        zone: Tz,
        now_us: fn() -> i64,
    ) -> StreamVec<'scope, Pane, FeatureRow>;
}

impl<'scope> FeatureWindows<'scope> for StreamVec<'scope, Pane, SpanPane> {
    fn feature_windows(
        self,
        metrics: StreamVec<'scope, Pane, MetricPane>,
        logs: StreamVec<'scope, Pane, LogPane>,
        zone: Tz,
        now_us: fn() -> i64,
    ) -> StreamVec<'scope, Pane, FeatureRow> {
        let mut builder = RowBuilder::new(zone);
        let resources = metrics.pane_join(logs, (Pipeline, Pipeline), "AttachLogs", |_, m, l| {
            attach_logs(m, l)
        });
        self.pane_join(
            resources,
            (Pipeline, Pipeline),
            "FeatureWindows",
            move |pane, span_panes, metric_panes| {
                builder.rows(pane, span_panes, metric_panes, now_us())
            },
        )
    }
}
