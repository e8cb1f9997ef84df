//! The `metric_panes` operator: metric points to per-(service, minute) resource features.
//!
//! How each OpenTelemetry metric feeds a feature is documented once, in
//! [`super::metric_map`]. Byte counters become rates, which needs each series' previous
//! point: that per-series state lives here, bounded by the number of live series and pruned
//! after an hour without points.

use std::collections::{BTreeMap, HashMap};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;

use super::metric_map::{resource_feature, ResourceFeature};
use super::service_hash;
use crate::record::{MetricPoint, MetricValue};
use crate::time::{pane_of, Pane};

/// Panes without a point after which a series' rate state is dropped.
const SERIES_TTL_PANES: u64 = 60;

/// Resource features of one service in one pane; `None` where no metric fed the feature.
#[derive(Debug, Clone, Default, PartialEq)]
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

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

/// Utilization of one feature: mean over instances of the mean over their timestamps.
fn utilization(points: &[&MetricPoint]) -> Option<f64> {
    let mut per_time: BTreeMap<(&str, u64), f64> = BTreeMap::new();
    for point in points {
        if let MetricValue::Gauge(value) | MetricValue::Sum { value, .. } = point.value {
            *per_time
                .entry((point.resource.instance_key(), point.time_ns))
                .or_default() += value;
        }
    }
    let mut per_instance: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for ((instance, _), value) in per_time {
        per_instance.entry(instance).or_default().push(value);
    }
    mean(
        per_instance
            .values()
            .filter_map(|values| mean(values.iter().copied())),
    )
    .map(|v| v * 100.0)
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
    let mut by_feature: BTreeMap<ResourceFeature, Vec<&MetricPoint>> = BTreeMap::new();
    for point in points {
        if result.version < point.resource.service_version {
            result.version.clone_from(&point.resource.service_version);
        }
        if result.region < point.resource.region {
            result.region.clone_from(&point.resource.region);
        }
        if let Some(feature) = resource_feature(point) {
            by_feature.entry(feature).or_default().push(point);
        }
    }
    for (feature, points) in by_feature {
        let value = if feature.is_utilization() {
            utilization(&points)
        } else {
            let mut total: Option<f64> = None;
            for series in points.chunk_by(|a, b| series_ref(a) == series_ref(b)) {
                let (bytes, seconds) = rates.covered(&series_key(series[0]), series, pane);
                if seconds > 0.0 {
                    *total.get_or_insert(0.0) += bytes / seconds / 1e6;
                }
            }
            total
        };
        *result.slot(feature) = value;
    }
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
                        points.sort_by(|a, b| {
                            series_ref(a)
                                .cmp(&series_ref(b))
                                .then(a.time_ns.cmp(&b.time_ns))
                        });
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
        MetricPoint {
            resource: Arc::new(ResourceInfo {
                service: "cart".into(),
                pod: Some(pod.into()),
                ..Default::default()
            }),
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
}
