//! The one place that maps OpenTelemetry metric names to the resource features, as the
//! Collector's receivers (hostmetrics, kubeletstats, docker_stats) and the SDKs' runtime
//! instrumentation really send them. The README's "Metrics we read" table lists every mapping
//! with its unit conversion; keep the two in step.
//!
//! A metric maps to a feature with a [`Measure`] (how its points become the feature's unit)
//! and a rank. Several sources can describe one service (a pod's own usage and the host it
//! runs on): per (service, minute, feature) only the points of the best (lowest) rank present
//! are used, so units never mix. Within a rank every metric has the same measure family
//! (a level, a rate, or a share of either), which a test checks.
//!
//! Units of the features: `cpu_usage` and `memory_usage` are percent, `disk_io_*` and
//! `network_*` MB/s (10^6 bytes). CPU from cores (kubeletstats `*.cpu.usage`, CPU-seconds
//! counters of a pod, container or process) is percent of one core, so a pod using 2 cores
//! reads 200; where the pod's limit is known (`k8s.pod.cpu_limit_utilization`) that ratio wins
//! and reads percent of the limit. Server-duration histograms feed the request features of
//! services without traces ([`super::served`]). Points of any other metric feed no feature
//! and are counted by ingest as unmapped ([`is_read`]).

use crate::record::MetricPoint;

/// A resource feature of the feature row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceFeature {
    /// `cpu_usage`.
    Cpu,
    /// `memory_usage`.
    Memory,
    /// `disk_io_read`.
    DiskRead,
    /// `disk_io_write`.
    DiskWrite,
    /// `network_in`.
    NetworkIn,
    /// `network_out`.
    NetworkOut,
}

impl ResourceFeature {
    /// Whether the feature is a utilization (averaged over a service's instances) rather than
    /// a byte rate (added over them).
    pub fn is_utilization(self) -> bool {
        matches!(self, ResourceFeature::Cpu | ResourceFeature::Memory)
    }
}

/// How a point counts towards a share (memory used of all states, busy CPU time of all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// In the numerator and, unless a capacity is given, the denominator (`used`, busy modes).
    Used,
    /// Only in the denominator (`free`, `cached`, `idle`).
    Unused,
    /// The denominator itself (a limit).
    Capacity,
}

/// How the points of a metric become the feature's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// A gauge: `value × scale`; the values of one instance at one timestamp are added (modes,
    /// containers of a pod) and divided by the number of logical CPUs they name (`cpu`,
    /// `cpu.logical_number`; 1 when none).
    Level(f64),
    /// A gauge share: `Σ used / (Σ capacity, or Σ used + unused)`, × 100.
    LevelShare(Share),
    /// A counter (cumulative or delta): its increase per second × scale.
    Rate(f64),
    /// A counter share: the increase of the used series over that of all, × 100.
    RateShare(Share),
}

impl Measure {
    /// Whether the measure differences counters (else it reads levels).
    pub fn is_rate(self) -> bool {
        matches!(self, Measure::Rate(_) | Measure::RateShare(_))
    }
}

/// What one point feeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mapping {
    /// The feature.
    pub feature: ResourceFeature,
    /// Preference among sources of the same feature: lowest wins.
    pub rank: u8,
    /// Unit conversion.
    pub measure: Measure,
}

/// Ratio 0..1 to percent.
const RATIO: f64 = 100.0;
/// Already percent.
const PERCENT: f64 = 1.0;
/// Cores to percent of one core.
const CORES: f64 = 100.0;
/// CPU-seconds per second (cores) to percent of one core.
const CPU_SECONDS: f64 = 100.0;
/// CPU-nanoseconds per second to percent of one core.
const CPU_NANOSECONDS: f64 = 1e-7;
/// Bytes per second to MB/s.
const BYTES: f64 = 1e-6;

fn attribute<'a>(point: &'a MetricPoint, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| point.attribute(key))
}

fn map(feature: ResourceFeature, rank: u8, measure: Measure) -> Option<Mapping> {
    Some(Mapping {
        feature,
        rank,
        measure,
    })
}

/// Whether any feature reads the point: a resource feature or the served requests.
pub fn is_read(point: &MetricPoint) -> bool {
    mapping(point).is_some() || super::served::server_duration_unit_ms(point).is_some()
}

/// The feature a point feeds, if any.
pub fn mapping(point: &MetricPoint) -> Option<Mapping> {
    let name = point.name.as_str();
    let first = name.split('.').next().unwrap_or_default();
    match first {
        "k8s" => kubernetes(point, name),
        "container" => container(point, name),
        "process" => process(point, name),
        "system" => system(point, name),
        _ => None,
    }
}

/// kubeletstats pod metrics.
fn kubernetes(point: &MetricPoint, name: &str) -> Option<Mapping> {
    use ResourceFeature::*;
    match name {
        "k8s.pod.cpu_limit_utilization" => map(Cpu, 0, Measure::Level(RATIO)),
        // `k8s.pod.cpu.utilization` is the deprecated name of `k8s.pod.cpu.usage`: cores.
        "k8s.pod.cpu.usage" | "k8s.pod.cpu.utilization" => map(Cpu, 1, Measure::Level(CORES)),
        "k8s.pod.cpu.time" => map(Cpu, 2, Measure::Rate(CPU_SECONDS)),
        "k8s.pod.memory_limit_utilization" => map(Memory, 0, Measure::Level(RATIO)),
        "k8s.pod.memory.utilization" => map(Memory, 1, Measure::Level(RATIO)),
        "k8s.pod.network.io" => network(point, 0),
        _ => None,
    }
}

/// kubeletstats container metrics and docker_stats.
fn container(point: &MetricPoint, name: &str) -> Option<Mapping> {
    use ResourceFeature::*;
    // Both receivers send `container.cpu.utilization`: kubeletstats (deprecated) in cores,
    // docker_stats in percent of one core. Only kubeletstats' resources name a pod.
    let kubelet = point.resource.pod.is_some();
    match name {
        "container.cpu.usage" => map(Cpu, 3, Measure::Level(CORES)),
        "container.cpu.utilization" if kubelet => map(Cpu, 3, Measure::Level(CORES)),
        "container.cpu.utilization" | "container.cpu.percent" => {
            map(Cpu, 3, Measure::Level(PERCENT))
        }
        "container.cpu.time" => map(Cpu, 4, Measure::Rate(CPU_SECONDS)),
        "container.cpu.usage.total" => map(Cpu, 4, Measure::Rate(CPU_NANOSECONDS)),
        "container.memory.percent" => map(Memory, 2, Measure::Level(PERCENT)),
        "container.memory.utilization" => map(Memory, 2, Measure::Level(RATIO)),
        "container.memory.usage.total" => map(Memory, 3, Measure::LevelShare(Share::Used)),
        "container.memory.usage.limit" => map(Memory, 3, Measure::LevelShare(Share::Capacity)),
        "container.disk.io" => disk(point, 1),
        "container.blockio.io_service_bytes_recursive" => match attribute(point, &["operation"])? {
            "read" => map(DiskRead, 1, Measure::Rate(BYTES)),
            "write" => map(DiskWrite, 1, Measure::Rate(BYTES)),
            _ => None,
        },
        "container.network.io" => network(point, 1),
        "container.network.io.usage.rx_bytes" => map(NetworkIn, 1, Measure::Rate(BYTES)),
        "container.network.io.usage.tx_bytes" => map(NetworkOut, 1, Measure::Rate(BYTES)),
        _ => None,
    }
}

/// hostmetrics' process scraper and the SDKs' process instrumentation.
fn process(point: &MetricPoint, name: &str) -> Option<Mapping> {
    use ResourceFeature::*;
    match name {
        // A ratio of all the CPUs available to the process, per state.
        "process.cpu.utilization" => map(Cpu, 5, Measure::Level(RATIO)),
        "process.cpu.time" => map(Cpu, 6, Measure::Rate(CPU_SECONDS)),
        "process.memory.utilization" => map(Memory, 4, Measure::Level(RATIO)),
        "process.disk.io" => disk(point, 2),
        "process.network.io" => network(point, 2),
        _ => None,
    }
}

/// hostmetrics' cpu, memory, disk and network scrapers.
fn system(point: &MetricPoint, name: &str) -> Option<Mapping> {
    use ResourceFeature::*;
    let cpu_mode = || attribute(point, &["cpu.mode", "system.cpu.state", "state"]);
    let memory_state = || attribute(point, &["system.memory.state", "state"]);
    match name {
        "system.cpu.utilization" => {
            (cpu_mode() != Some("idle")).then_some(())?;
            map(Cpu, 7, Measure::Level(RATIO))
        }
        "system.cpu.time" => {
            let share = match cpu_mode() {
                Some("idle") => Share::Unused,
                _ => Share::Used,
            };
            map(Cpu, 8, Measure::RateShare(share))
        }
        "system.memory.utilization" => {
            memory_state().is_none_or(|s| s == "used").then_some(())?;
            map(Memory, 5, Measure::Level(RATIO))
        }
        "system.memory.usage" => {
            let share = match memory_state() {
                Some("used") | None => Share::Used,
                Some(_) => Share::Unused,
            };
            map(Memory, 6, Measure::LevelShare(share))
        }
        "system.disk.io" => disk(point, 3),
        "system.network.io" => network(point, 3),
        _ => None,
    }
}

fn disk(point: &MetricPoint, rank: u8) -> Option<Mapping> {
    match attribute(point, &["disk.io.direction", "direction"])? {
        "read" => map(ResourceFeature::DiskRead, rank, Measure::Rate(BYTES)),
        "write" => map(ResourceFeature::DiskWrite, rank, Measure::Rate(BYTES)),
        _ => None,
    }
}

fn network(point: &MetricPoint, rank: u8) -> Option<Mapping> {
    match attribute(point, &["network.io.direction", "direction"])? {
        "receive" => map(ResourceFeature::NetworkIn, rank, Measure::Rate(BYTES)),
        "transmit" => map(ResourceFeature::NetworkOut, rank, Measure::Rate(BYTES)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::record::{MetricValue, ResourceInfo};

    /// Every metric name the module maps, with attributes that select each of its features.
    const NAMES: &[(&str, &[(&str, &str)])] = &[
        ("k8s.pod.cpu_limit_utilization", &[]),
        ("k8s.pod.cpu.usage", &[]),
        ("k8s.pod.cpu.utilization", &[]),
        ("k8s.pod.cpu.time", &[]),
        ("k8s.pod.memory_limit_utilization", &[]),
        ("k8s.pod.memory.utilization", &[]),
        ("k8s.pod.network.io", &[("direction", "receive")]),
        ("k8s.pod.network.io", &[("direction", "transmit")]),
        ("container.cpu.usage", &[]),
        ("container.cpu.utilization", &[]),
        ("container.cpu.percent", &[]),
        ("container.cpu.time", &[]),
        ("container.cpu.usage.total", &[]),
        ("container.memory.percent", &[]),
        ("container.memory.utilization", &[]),
        ("container.memory.usage.total", &[]),
        ("container.memory.usage.limit", &[]),
        ("container.disk.io", &[("direction", "read")]),
        ("container.disk.io", &[("direction", "write")]),
        (
            "container.blockio.io_service_bytes_recursive",
            &[("operation", "read")],
        ),
        (
            "container.blockio.io_service_bytes_recursive",
            &[("operation", "write")],
        ),
        ("container.network.io", &[("direction", "receive")]),
        ("container.network.io", &[("direction", "transmit")]),
        ("container.network.io.usage.rx_bytes", &[]),
        ("container.network.io.usage.tx_bytes", &[]),
        ("process.cpu.utilization", &[]),
        ("process.cpu.time", &[]),
        ("process.memory.utilization", &[]),
        ("process.disk.io", &[("direction", "read")]),
        ("process.disk.io", &[("direction", "write")]),
        ("process.network.io", &[("direction", "receive")]),
        ("process.network.io", &[("direction", "transmit")]),
        ("system.cpu.utilization", &[("cpu.mode", "user")]),
        ("system.cpu.time", &[("state", "idle")]),
        ("system.memory.utilization", &[]),
        ("system.memory.usage", &[("state", "free")]),
        ("system.disk.io", &[("direction", "read")]),
        ("system.disk.io", &[("direction", "write")]),
        ("system.network.io", &[("direction", "receive")]),
        ("system.network.io", &[("direction", "transmit")]),
    ];

    fn point(name: &str, attributes: &[(&str, &str)], pod: Option<&str>) -> MetricPoint {
        MetricPoint {
            resource: Arc::new(ResourceInfo {
                pod: pod.map(str::to_string),
                ..Default::default()
            }),
            name: name.into(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            start_ns: 0,
            time_ns: 0,
            value: MetricValue::Gauge(0.0),
        }
    }

    #[test]
    fn every_rank_of_a_feature_is_one_measure_kind() {
        // Levels or rates, plain or shares: one rank's points are combined one way.
        type Kind = (bool, bool);
        let mut families: BTreeMap<(ResourceFeature, u8), (Kind, &str)> = BTreeMap::new();
        for pod in [None, Some("cart-0")] {
            for (name, attributes) in NAMES {
                let m = mapping(&point(name, attributes, pod)).unwrap_or_else(|| panic!("{name}"));
                let share = matches!(m.measure, Measure::LevelShare(_) | Measure::RateShare(_));
                let family = ((m.measure.is_rate(), share), *name);
                let seen = families.entry((m.feature, m.rank)).or_insert(family);
                assert_eq!(seen.0, family.0, "{} and {} share a rank", seen.1, name);
            }
        }
    }

    #[test]
    fn idle_and_unknown_points_feed_nothing_and_idle_time_is_the_unused_share() {
        let idle = [("cpu.mode", "idle")];
        assert_eq!(mapping(&point("system.cpu.utilization", &idle, None)), None);
        let idle_time = mapping(&point("system.cpu.time", &[("state", "idle")], None)).unwrap();
        assert_eq!(idle_time.measure, Measure::RateShare(Share::Unused));
        assert_eq!(
            mapping(&point("http.server.active_requests", &[], None)),
            None
        );
        assert_eq!(mapping(&point("system.disk.io", &[], None)), None);
        let blkio_total = [("operation", "total")];
        let name = "container.blockio.io_service_bytes_recursive";
        assert_eq!(mapping(&point(name, &blkio_total, None)), None);
    }

    #[test]
    fn container_cpu_utilization_is_cores_from_kubelet_and_percent_from_docker() {
        let kubelet = mapping(&point("container.cpu.utilization", &[], Some("cart-0"))).unwrap();
        let docker = mapping(&point("container.cpu.utilization", &[], None)).unwrap();
        assert_eq!(kubelet.measure, Measure::Level(CORES));
        assert_eq!(docker.measure, Measure::Level(PERCENT));
    }
}
