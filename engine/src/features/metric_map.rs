//! The one place that maps OpenTelemetry metric names to the resource features.
//!
//! - `cpu_usage`, percent: `system.cpu.utilization`, `process.cpu.utilization`,
//!   `container.cpu.utilization`, `k8s.pod.cpu.utilization`; gauge ratios 0..1; with a
//!   `cpu.mode`/`state` attribute only non-idle modes, summed per instance and timestamp.
//! - `memory_usage`, percent: `system.memory.utilization`, `process.memory.utilization`,
//!   `container.memory.utilization`, `k8s.pod.memory.utilization`; gauge ratios 0..1; with a
//!   `system.memory.state`/`state` attribute only `used`.
//! - `disk_io_read` / `disk_io_write`, MB/s (10^6 bytes): `system.disk.io`, `process.disk.io`,
//!   `container.disk.io`; byte sums, `disk.io.direction` (or `direction`) `read` / `write`.
//! - `network_in` / `network_out`, MB/s (10^6 bytes): `system.network.io`,
//!   `process.network.io`, `container.network.io`, `k8s.pod.network.io`; byte sums,
//!   `network.io.direction` (or `direction`) `receive` / `transmit`.
//!
//! Aggregation over a pane: utilization is averaged over the timestamps of each instance
//! (pod, `service.instance.id` or host), then over the service's instances. Byte sums become
//! rates: cumulative series by differencing consecutive points (a decrease is a reset),
//! delta series by dividing by their interval; the rates of a service's series are added.
//! Points of any other metric are decoded and counted but feed no feature.

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
    /// Whether the feature is a utilization gauge (else a byte-rate).
    pub fn is_utilization(self) -> bool {
        matches!(self, ResourceFeature::Cpu | ResourceFeature::Memory)
    }
}

const CPU: &[&str] = &[
    "system.cpu.utilization",
    "process.cpu.utilization",
    "container.cpu.utilization",
    "k8s.pod.cpu.utilization",
];
const MEMORY: &[&str] = &[
    "system.memory.utilization",
    "process.memory.utilization",
    "container.memory.utilization",
    "k8s.pod.memory.utilization",
];
const DISK: &[&str] = &["system.disk.io", "process.disk.io", "container.disk.io"];
const NETWORK: &[&str] = &[
    "system.network.io",
    "process.network.io",
    "container.network.io",
    "k8s.pod.network.io",
];

fn attribute<'a>(point: &'a MetricPoint, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| point.attribute(key))
}

/// The feature a point feeds, if any.
pub fn resource_feature(point: &MetricPoint) -> Option<ResourceFeature> {
    let name = point.name.as_str();
    if CPU.contains(&name) {
        let idle = attribute(point, &["cpu.mode", "state"]) == Some("idle");
        return (!idle).then_some(ResourceFeature::Cpu);
    }
    if MEMORY.contains(&name) {
        let used = attribute(point, &["system.memory.state", "state"]).is_none_or(|s| s == "used");
        return used.then_some(ResourceFeature::Memory);
    }
    if DISK.contains(&name) {
        return match attribute(point, &["disk.io.direction", "direction"]) {
            Some("read") => Some(ResourceFeature::DiskRead),
            Some("write") => Some(ResourceFeature::DiskWrite),
            _ => None,
        };
    }
    if NETWORK.contains(&name) {
        return match attribute(point, &["network.io.direction", "direction"]) {
            Some("receive") => Some(ResourceFeature::NetworkIn),
            Some("transmit") => Some(ResourceFeature::NetworkOut),
            _ => None,
        };
    }
    None
}
