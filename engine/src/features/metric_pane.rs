//! The `metric_panes` operator: metric points to per-(service, minute) resource features.
//!
//! Which OpenTelemetry metric feeds which feature, with what unit conversion, is decided once,
//! in [`super::metric_map`]; this operator does the arithmetic. Levels (gauges) are read per
//! instance and timestamp, then averaged over the pane. Counters become rates, which needs each
//! series' previous point: cumulative series are differenced (a decrease or a new start time is
//! a reset), delta series divided by their interval. That per-series state lives here, bounded
//! by the number of live series and pruned after an hour without points.

use std::collections::{BTreeMap, HashMap};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;

use super::log_pane::LogPane;
use super::metric_map::{mapping, Mapping, Measure, ResourceFeature, Share};
use super::served::{served, HistogramState};
use super::service_hash;
use super::span_pane::SpanPane;
use crate::record::{MetricPoint, MetricValue};
use crate::time::{pane_of, Pane};

/// Panes without a point after which a series' rate state is dropped.
const SERIES_TTL_PANES: u64 = 60;

/// Resource features of one service in one pane; `None` where no metric fed the feature.
#[derive(Debug, Clone, Default)]
pub struct MetricPane {
    /// Service name.
    pub service: String,
    /// The pane.
    pub pane: Pane,
    /// CPU utilization, percent.
    pub cpu_usage: Option<f64>,
    /// Memory utilization, percent.
    pub memory_usage: Option<f64>,
    /// Disk reads, MB/s.
    pub disk_io_read: Option<f64>,
    /// Disk writes, MB/s.
    pub disk_io_write: Option<f64>,
    /// Network received, MB/s.
    pub network_in: Option<f64>,
    /// Network transmitted, MB/s.
    pub network_out: Option<f64>,
    /// The greatest `service.version` seen in the pane.
    pub version: Option<String>,
    /// The greatest `cloud.region` seen in the pane.
    pub region: Option<String>,
    /// Requests reported by server-duration histograms (see [`super::served`]).
    pub served: Option<SpanPane>,
    /// The service's log features of the pane, joined in by [`super::windows`].
    pub logs: Option<LogPane>,
}

impl MetricPane {
    fn slot(&mut self, feature: ResourceFeature) -> &mut Option<f64> {
        match feature {
            ResourceFeature::Cpu => &mut self.cpu_usage,
            ResourceFeature::Memory => &mut self.memory_usage,
            ResourceFeature::DiskRead => &mut self.disk_io_read,
            ResourceFeature::DiskWrite => &mut self.disk_io_write,
            ResourceFeature::NetworkIn => &mut self.network_in,
            ResourceFeature::NetworkOut => &mut self.network_out,
        }
    }
}

/// Identity of a time series: service, instance, metric name and kept attributes.
type SeriesKey = (String, String, String, Vec<(String, String)>);

/// The previous point of a byte-counter series.
#[derive(Debug, Clone, Copy)]
struct SeriesState {
    time_ns: u64,
    start_ns: u64,
    value: f64,
}

/// Rate state of all series, carried from pane to pane in pane order.
#[derive(Default)]
struct RateState {
    series: HashMap<SeriesKey, (SeriesState, Pane)>,
    histograms: HistogramState,
}

impl RateState {
    /// Bytes and seconds covered by a series' points of one pane, in time order.
    fn covered(&mut self, key: &SeriesKey, points: &[&MetricPoint], pane: Pane) -> (f64, f64) {
        let (mut bytes, mut seconds) = (0.0, 0.0);
        for point in points {
            let value = match point.value {
                MetricValue::Sum {
                    value,
                    cumulative: false,
                    ..
                } => {
                    if point.start_ns > 0 && point.time_ns > point.start_ns {
                        bytes += value;
                        seconds += (point.time_ns - point.start_ns) as f64 / 1e9;
                    }
                    continue;
                }
                MetricValue::Sum { value, .. } | MetricValue::Gauge(value) => value,
                MetricValue::Histogram { .. } => continue,
            };
            let current = SeriesState {
                time_ns: point.time_ns,
                start_ns: point.start_ns,
                value,
            };
            if let Some((previous, _)) = self.series.get(key) {
                if current.time_ns > previous.time_ns {
                    let reset =
                        current.value < previous.value || current.start_ns != previous.start_ns;
                    bytes += if reset {
                        current.value
                    } else {
                        current.value - previous.value
                    };
                    seconds += (current.time_ns - previous.time_ns) as f64 / 1e9;
                }
            }
            self.series.insert(key.clone(), (current, pane));
        }
        (bytes, seconds)
    }

    fn prune(&mut self, pane: Pane) {
        self.series
            .retain(|_, (_, last)| *last + SERIES_TTL_PANES >= pane);
        self.histograms.prune(pane, SERIES_TTL_PANES);
    }
}

fn series_key(point: &MetricPoint) -> SeriesKey {
    (
        point.service().to_string(),
        point.resource.instance_key().to_string(),
        point.name.clone(),
        point.attributes.clone(),
    )
}

/// A borrowed [`SeriesKey`], for sorting and grouping without allocating.
fn series_ref(point: &MetricPoint) -> (&str, &str, &str, &[(String, String)]) {
    (
        point.service(),
        point.resource.instance_key(),
        &point.name,
        &point.attributes,
    )
}

/// Points in series order and each series in time order, as [`service_pane`] expects them.
fn sort_by_series(points: &mut [MetricPoint]) {
    points.sort_by(|a, b| {
        series_ref(a)
            .cmp(&series_ref(b))
            .then(a.time_ns.cmp(&b.time_ns))
    });
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

/// The plain value of a gauge or sum point; histograms feed no resource feature.
fn number(point: &MetricPoint) -> Option<f64> {
    match point.value {
        MetricValue::Gauge(value) | MetricValue::Sum { value, .. } => Some(value),
        MetricValue::Histogram { .. } => None,
    }
}

/// The readings of one instance at one timestamp, or the rates of one instance's series.
#[derive(Default)]
struct Parts<'a> {
    total: f64,
    cpus: Vec<&'a str>,
    used: f64,
    unused: f64,
    capacity: f64,
    shared: bool,
}

impl<'a> Parts<'a> {
    fn add(&mut self, measure: Measure, value: f64, cpu: Option<&'a str>) {
        match measure {
            Measure::Level(scale) | Measure::Rate(scale) => self.total += value * scale,
            Measure::LevelShare(share) | Measure::RateShare(share) => {
                self.shared = true;
                match share {
                    Share::Used => self.used += value,
                    Share::Unused => self.unused += value,
                    Share::Capacity => self.capacity += value,
                }
            }
        }
        if let Some(cpu) = cpu.filter(|cpu| !self.cpus.contains(cpu)) {
            self.cpus.push(cpu);
        }
    }

    /// The feature value: a share in percent, or the total over the logical CPUs named.
    fn value(&self) -> Option<f64> {
        if !self.shared {
            return Some(self.total / self.cpus.len().max(1) as f64);
        }
        let whole = if self.capacity > 0.0 {
            self.capacity
        } else {
            self.used + self.unused
        };
        (whole > 0.0).then(|| self.used / whole * 100.0)
    }
}

fn logical_cpu(point: &MetricPoint) -> Option<&str> {
    point
        .attribute("cpu")
        .or_else(|| point.attribute("cpu.logical_number"))
}

/// Levels: per instance, the mean over its timestamps of what each timestamp's points say.
fn levels<'a>(points: &[(Mapping, &'a MetricPoint)]) -> Vec<f64> {
    let mut moments: BTreeMap<(&str, u64), Parts<'a>> = BTreeMap::new();
    for (mapping, point) in points {
        if let Some(value) = number(point) {
            let key = (point.resource.instance_key(), point.time_ns);
            let parts = moments.entry(key).or_default();
            parts.add(mapping.measure, value, logical_cpu(point));
        }
    }
    let mut per_instance: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for ((instance, _), parts) in &moments {
        if let Some(value) = parts.value() {
            per_instance.entry(instance).or_default().push(value);
        }
    }
    let means = per_instance.values().map(|v| mean(v.iter().copied()));
    means.flatten().collect()
}

/// Rates: per instance, what the per-second increases of its series over the pane say.
fn rates(points: &[(Mapping, &MetricPoint)], pane: Pane, state: &mut RateState) -> Vec<f64> {
    let mut per_instance: BTreeMap<&str, Parts<'_>> = BTreeMap::new();
    for series in points.chunk_by(|(_, a), (_, b)| series_ref(a) == series_ref(b)) {
        let (mapping, first) = series[0];
        let series_points: Vec<&MetricPoint> = series.iter().map(|(_, p)| *p).collect();
        let (increase, seconds) = state.covered(&series_key(first), &series_points, pane);
        if seconds > 0.0 {
            let parts = per_instance
                .entry(first.resource.instance_key())
                .or_default();
            parts.add(mapping.measure, increase / seconds, None);
        }
    }
    per_instance.values().filter_map(Parts::value).collect()
}

/// One feature of a service from the points of its best-ranked source: utilizations are
/// averaged over the service's instances, byte rates added.
fn feature_value(
    feature: ResourceFeature,
    mut points: Vec<(Mapping, &MetricPoint)>,
    pane: Pane,
    state: &mut RateState,
) -> Option<f64> {
    let best = points.iter().map(|(m, _)| m.rank).min()?;
    points.retain(|(m, _)| m.rank == best);
    let per_instance = if points[0].0.measure.is_rate() {
        rates(&points, pane, state)
    } else {
        levels(&points)
    };
    if feature.is_utilization() {
        mean(per_instance.into_iter())
    } else {
        (!per_instance.is_empty()).then(|| per_instance.iter().sum())
    }
}

fn service_pane(
    service: &str,
    pane: Pane,
    points: &[MetricPoint],
    rates: &mut RateState,
) -> MetricPane {
    let mut result = MetricPane {
        service: service.to_string(),
        pane,
        ..Default::default()
    };
    let mut by_feature: BTreeMap<ResourceFeature, Vec<(Mapping, &MetricPoint)>> = BTreeMap::new();
    for point in points {
        if result.version < point.resource.service_version {
            result.version.clone_from(&point.resource.service_version);
        }
        if result.region < point.resource.region {
            result.region.clone_from(&point.resource.region);
        }
        if let Some(mapping) = mapping(point) {
            by_feature
                .entry(mapping.feature)
                .or_default()
                .push((mapping, point));
        }
    }
    for (feature, points) in by_feature {
        *result.slot(feature) = feature_value(feature, points, pane, rates);
    }
    result.served = served(service, pane, points, &mut rates.histograms);
    result
}

/// Extension trait: cut a metric point stream into per-(service, pane) resource features.
pub trait MetricPanes<'scope> {
    /// Routes points by service and emits one [`MetricPane`] per (service, pane) with points,
    /// at the pane's timestamp, once the input frontier has passed the pane. Panes are
    /// processed in order, so counter rates see each series' points in time order.
    ///
    /// State: the points of open panes (bounded by series × points per minute × open panes) and
    /// the last point of each byte-counter series. Output within a pane is sorted by service.
    fn metric_panes(self) -> StreamVec<'scope, Pane, MetricPane>;
}

impl<'scope> MetricPanes<'scope> for StreamVec<'scope, Pane, MetricPoint> {
    fn metric_panes(self) -> StreamVec<'scope, Pane, MetricPane> {
        let exchange = Exchange::new(|point: &MetricPoint| service_hash(point.service()));
        self.unary_frontier::<CapacityContainerBuilder<Vec<MetricPane>>, _, _, _>(
            exchange,
            "MetricPanes",
            |_capability, _info| {
                let mut open: BTreeMap<Pane, (Capability<Pane>, Vec<MetricPoint>)> =
                    BTreeMap::new();
                let mut rates = RateState::default();
                move |(input, frontier), output| {
                    input.for_each(|capability, points| {
                        let Some(&least) = capability.least() else {
                            return;
                        };
                        for point in points.drain(..) {
                            let pane = pane_of(point.time_ns);
                            if pane < least {
                                continue; // ingest diverts late records before they get here
                            }
                            let (_, pending) = open
                                .entry(pane)
                                .or_insert_with(|| (capability.delayed(&pane, 0), Vec::new()));
                            pending.push(point);
                        }
                    });
                    while let Some(entry) = open.first_entry() {
                        if frontier.less_equal(entry.key()) {
                            break;
                        }
                        let (pane, (capability, mut points)) = entry.remove_entry();
                        sort_by_series(&mut points);
                        let mut session = output.session(&capability);
                        for service_points in points.chunk_by(|a, b| a.service() == b.service()) {
                            let service = service_points[0].service();
                            session.give(service_pane(service, pane, service_points, &mut rates));
                        }
                        rates.prune(pane);
                    }
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::record::ResourceInfo;

    fn point(
        pod: &str,
        name: &str,
        attrs: &[(&str, &str)],
        time_s: u64,
        value: MetricValue,
    ) -> MetricPoint {
        let resource = ResourceInfo {
            service: "cart".into(),
            pod: Some(pod.into()),
            ..Default::default()
        };
        at(resource, name, attrs, time_s, value)
    }

    /// A point of a docker_stats or hostmetrics resource: an instance, no pod.
    fn host(
        instance: &str,
        name: &str,
        attrs: &[(&str, &str)],
        t: u64,
        v: MetricValue,
    ) -> MetricPoint {
        let resource = ResourceInfo {
            service: "cart".into(),
            instance: Some(instance.into()),
            ..Default::default()
        };
        at(resource, name, attrs, t, v)
    }

    fn at(
        resource: ResourceInfo,
        name: &str,
        attrs: &[(&str, &str)],
        time_s: u64,
        value: MetricValue,
    ) -> MetricPoint {
        MetricPoint {
            resource: Arc::new(resource),
            name: name.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            start_ns: 1,
            time_ns: time_s * 1_000_000_000,
            value,
        }
    }

    #[test]
    fn utilization_averages_timestamps_then_instances_and_skips_idle() {
        let g = MetricValue::Gauge;
        let points = vec![
            point(
                "a",
                "system.cpu.utilization",
                &[("cpu.mode", "user")],
                60,
                g(0.2),
            ),
            point(
                "a",
                "system.cpu.utilization",
                &[("cpu.mode", "system")],
                60,
                g(0.1),
            ),
            point(
                "a",
                "system.cpu.utilization",
                &[("cpu.mode", "idle")],
                60,
                g(0.7),
            ),
            point(
                "a",
                "system.cpu.utilization",
                &[("cpu.mode", "user")],
                75,
                g(0.5),
            ),
            point("b", "system.cpu.utilization", &[], 60, g(0.8)),
        ];
        let pane = service_pane("cart", 1, &points, &mut RateState::default());
        // pod a: mean(0.3, 0.5) = 0.4; pod b: 0.8; mean over pods 0.6 -> 60 %.
        assert!((pane.cpu_usage.unwrap() - 60.0).abs() < 1e-9);
        assert_eq!(pane.memory_usage, None);
    }

    #[test]
    fn cumulative_byte_counters_become_rates_across_panes() {
        let sum = |value| MetricValue::Sum {
            value,
            cumulative: true,
            monotonic: true,
        };
        let dir = [("disk.io.direction", "read")];
        let mut rates = RateState::default();
        let first = vec![point("a", "system.disk.io", &dir, 45, sum(1.0e6))];
        assert_eq!(
            service_pane("cart", 0, &first, &mut rates).disk_io_read,
            None
        );
        let second = vec![
            point("a", "system.disk.io", &dir, 60, sum(4.0e6)),
            point("a", "system.disk.io", &dir, 105, sum(10.0e6)),
        ];
        // 9 MB over 60 s = 0.15 MB/s
        let rate = service_pane("cart", 1, &second, &mut rates)
            .disk_io_read
            .unwrap();
        assert!((rate - 0.15).abs() < 1e-12, "{rate}");
    }

    fn counter(value: f64) -> MetricValue {
        MetricValue::Sum {
            value,
            cumulative: true,
            monotonic: true,
        }
    }

    fn pane_of(points: &[MetricPoint], pane: Pane, rates: &mut RateState) -> MetricPane {
        let mut points = points.to_vec();
        sort_by_series(&mut points);
        service_pane("cart", pane, &points, rates)
    }

    fn close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("a value");
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    /// hostmetrics' default cpu output: cumulative seconds per logical CPU and state.
    #[test]
    fn system_cpu_time_is_the_busy_share_of_all_logical_cpus() {
        let cpu = |n: &'static str, state: &'static str, t, v| {
            host(
                "node-1",
                "system.cpu.time",
                &[("cpu", n), ("state", state)],
                t,
                counter(v),
            )
        };
        let mut rates = RateState::default();
        let first = [
            cpu("cpu0", "user", 45, 100.0),
            cpu("cpu0", "system", 45, 50.0),
            cpu("cpu0", "idle", 45, 850.0),
            cpu("cpu1", "user", 45, 200.0),
            cpu("cpu1", "system", 45, 0.0),
            cpu("cpu1", "idle", 45, 800.0),
        ];
        assert_eq!(pane_of(&first, 0, &mut rates).cpu_usage, None);
        // Over 60 s: cpu0 busy 30 + 10 of 60 s, cpu1 busy 15 + 5 of 60 s: 60 of 120 s = 50 %.
        let second = [
            cpu("cpu0", "user", 105, 130.0),
            cpu("cpu0", "system", 105, 60.0),
            cpu("cpu0", "idle", 105, 870.0),
            cpu("cpu1", "user", 105, 215.0),
            cpu("cpu1", "system", 105, 5.0),
            cpu("cpu1", "idle", 105, 840.0),
        ];
        close(pane_of(&second, 1, &mut rates).cpu_usage, 50.0);
    }

    /// hostmetrics' default memory output: bytes per state, `used` of their sum.
    #[test]
    fn system_memory_usage_is_used_of_all_states() {
        let gib = 1024.0 * 1024.0 * 1024.0;
        let memory = |state: &'static str, v: f64| {
            let value = MetricValue::Sum {
                value: v * gib,
                cumulative: true,
                monotonic: false,
            };
            host(
                "node-1",
                "system.memory.usage",
                &[("state", state)],
                60,
                value,
            )
        };
        let points = [
            memory("used", 4.0),
            memory("free", 2.0),
            memory("cached", 1.5),
            memory("buffered", 0.5),
        ];
        close(
            pane_of(&points, 1, &mut RateState::default()).memory_usage,
            50.0,
        );
    }

    /// The optional per-CPU utilization: busy modes added per CPU, averaged over CPUs.
    #[test]
    fn per_cpu_utilization_is_averaged_over_logical_cpus() {
        let g = MetricValue::Gauge;
        let cpu = |n: &'static str, mode: &'static str, v| {
            host(
                "node-1",
                "system.cpu.utilization",
                &[("cpu", n), ("cpu.mode", mode)],
                60,
                g(v),
            )
        };
        let points = [
            cpu("cpu0", "user", 0.2),
            cpu("cpu0", "system", 0.1),
            cpu("cpu0", "idle", 0.7),
            cpu("cpu1", "user", 0.5),
            cpu("cpu1", "idle", 0.5),
        ];
        // (0.3 + 0.5) / 2 CPUs = 40 %.
        close(
            pane_of(&points, 1, &mut RateState::default()).cpu_usage,
            40.0,
        );
    }

    /// kubeletstats: cores are percent of one core; the limit ratio wins when it is sent; the
    /// pod's own usage wins over its node's hostmetrics.
    #[test]
    fn kubelet_cores_are_percent_of_a_core_unless_the_limit_is_known() {
        let g = MetricValue::Gauge;
        let usage = [
            point("cart-0", "k8s.pod.cpu.usage", &[], 60, g(2.0)),
            point("cart-1", "k8s.pod.cpu.usage", &[], 60, g(0.5)),
            host(
                "node-1",
                "system.cpu.utilization",
                &[("cpu.mode", "user")],
                60,
                g(0.9),
            ),
        ];
        // Two pods at 200 % and 50 % of a core: 125 % on average.
        close(
            pane_of(&usage, 1, &mut RateState::default()).cpu_usage,
            125.0,
        );
        let mut limited = usage.to_vec();
        limited.push(point(
            "cart-0",
            "k8s.pod.cpu_limit_utilization",
            &[],
            60,
            g(0.5),
        ));
        close(
            pane_of(&limited, 1, &mut RateState::default()).cpu_usage,
            50.0,
        );
        let deprecated = [point("cart-0", "k8s.pod.cpu.utilization", &[], 60, g(2.0))];
        close(
            pane_of(&deprecated, 1, &mut RateState::default()).cpu_usage,
            200.0,
        );
    }

    /// docker_stats: CPU in percent, memory as usage of the limit (or its percent), block I/O
    /// and network as cumulative byte counters.
    #[test]
    fn docker_stats_percent_usage_of_limit_and_byte_counters() {
        let (g, mb) = (MetricValue::Gauge, 1e6);
        let limit = |v: f64| host("c1", "container.memory.usage.limit", &[], 60, g(v * mb));
        let mut rates = RateState::default();
        let blkio = "container.blockio.io_service_bytes_recursive";
        let first = [
            host(
                "c1",
                blkio,
                &[("operation", "read")],
                45,
                counter(10.0 * mb),
            ),
            host(
                "c1",
                blkio,
                &[("operation", "total")],
                45,
                counter(99.0 * mb),
            ),
            host(
                "c1",
                "container.network.io.usage.rx_bytes",
                &[],
                45,
                counter(0.0),
            ),
        ];
        pane_of(&first, 0, &mut rates);
        let second = [
            host("c1", "container.cpu.utilization", &[], 60, g(150.0)),
            host("c1", "container.memory.usage.total", &[], 60, g(256.0 * mb)),
            limit(1024.0),
            host(
                "c1",
                blkio,
                &[("operation", "read")],
                105,
                counter(40.0 * mb),
            ),
            host(
                "c1",
                blkio,
                &[("operation", "total")],
                105,
                counter(999.0 * mb),
            ),
            host(
                "c1",
                "container.network.io.usage.rx_bytes",
                &[],
                105,
                counter(6.0 * mb),
            ),
        ];
        let pane = pane_of(&second, 1, &mut rates);
        close(pane.cpu_usage, 150.0);
        close(pane.memory_usage, 25.0);
        close(pane.disk_io_read, 0.5); // 30 MB in 60 s
        close(pane.network_in, 0.1); // 6 MB in 60 s
        assert_eq!(pane.disk_io_write, None);
        let mut with_percent = second.to_vec();
        with_percent.push(host("c1", "container.memory.percent", &[], 60, g(30.0)));
        close(
            pane_of(&with_percent, 1, &mut RateState::default()).memory_usage,
            30.0,
        );
    }
}
