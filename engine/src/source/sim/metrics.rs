//! Resource metrics of simulated pods, as host-metrics-style OTLP points.
//!
//! Utilization follows the expected load of the service (seasonality × visits per request)
//! plus noise and fault effects; disk and network byte counters are cumulative sums whose
//! growth follows the same load.

use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Metric, NumberDataPoint, Sum,
};
use rand::Rng;

use super::fault::Effects;
use super::rng::rng_for;
use crate::source::otlp_build::{gauge, string};

/// Cumulative byte counters of one pod.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodCounters {
    /// Series start, ns.
    pub start_ns: u64,
    /// Disk bytes read, written; network bytes received, transmitted.
    pub bytes: [f64; 4],
}

/// Inputs of one pod's metric sample.
pub struct Sample<'a> {
    /// Seed of the simulation.
    pub seed: u64,
    /// Service index and pod index.
    pub service: usize,
    /// Pod index.
    pub pod: usize,
    /// Sample time, ns.
    pub time_ns: u64,
    /// Seconds since the previous sample.
    pub interval_s: f64,
    /// Load of the service relative to its peak (0..1).
    pub load: f64,
    /// Requests per second this pod serves.
    pub requests_per_second: f64,
    /// Active fault effects.
    pub effects: Effects,
    /// The pod's counters, advanced by this sample.
    pub counters: &'a mut PodCounters,
}

fn counter(
    name: &str,
    key: &str,
    directions: [(&str, f64); 2],
    start_ns: u64,
    time_ns: u64,
) -> Metric {
    let data_points = directions
        .iter()
        .map(|(direction, value)| NumberDataPoint {
            attributes: vec![string(key, direction)],
            start_time_unix_nano: start_ns,
            time_unix_nano: time_ns,
            value: Some(number_data_point::Value::AsInt(*value as i64)),
            ..Default::default()
        })
        .collect();
    Metric {
        name: name.to_string(),
        unit: "By".to_string(),
        data: Some(Data::Sum(Sum {
            data_points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

/// The metrics of one pod at one instant.
pub fn pod_metrics(sample: Sample<'_>) -> Vec<Metric> {
    let mut rng = rng_for(
        sample.seed,
        0x3e7c,
        sample.service as u64 * 1_000 + sample.pod as u64,
        sample.time_ns,
    );
    let mut noise = |scale: f64| rng.random_range(-scale..scale);
    let cpu = (0.08 + 0.35 * sample.load + noise(0.02) + sample.effects.cpu).clamp(0.0, 0.99);
    let memory = (0.35 + 0.05 * sample.load + noise(0.01) + sample.effects.memory).clamp(0.0, 0.99);
    let rate = sample.requests_per_second * sample.interval_s;
    let counters = sample.counters;
    let growth = [
        rate * 4_000.0,
        rate * 12_000.0,
        rate * 2_000.0,
        rate * 9_000.0,
    ];
    for (total, grow) in counters.bytes.iter_mut().zip(growth) {
        *total += (grow * (1.0 + noise(0.05))).max(0.0);
    }
    let time = sample.time_ns;
    let [read, write, received, sent] = counters.bytes;
    vec![
        gauge("system.cpu.utilization", "1", time, cpu, Vec::new()),
        gauge(
            "system.memory.utilization",
            "1",
            time,
            memory,
            vec![string("system.memory.state", "used")],
        ),
        counter(
            "system.disk.io",
            "disk.io.direction",
            [("read", read), ("write", write)],
            counters.start_ns,
            time,
        ),
        counter(
            "system.network.io",
            "network.io.direction",
            [("receive", received), ("transmit", sent)],
            counters.start_ns,
            time,
        ),
    ]
}
