//! The features the detectors score, and how each is judged: one list shared by the robust
//! detector ([`super::detect`]) and the learned models' inputs ([`super::learned`], and
//! `aiops train` through [`model_inputs`]).

use aiops_models::detect::{Direction, SeriesSpec};

use crate::features::FeatureRow;

/// A scored feature: its name, how to read it from a row, how it is judged, and whether it
/// measures the service's inside. The spreads are floors in the feature's unit, chosen from
/// what an operator would call noise (1 ms of latency, 2 points of error rate or CPU), not
/// fitted to any dataset.
pub(super) struct Scored {
    pub(super) name: &'static str,
    pub(super) value: fn(&FeatureRow) -> Option<f64>,
    pub(super) spec: SeriesSpec,
    /// What the service itself does (its resources, its log statements), as opposed to what
    /// its callers see of it (latency, errors, traffic), which a callee's fault moves too.
    pub(super) inside: bool,
    /// Whether learned models take it as an input (see [`model_inputs`]).
    pub(super) learned: bool,
}

const fn spec(direction: Direction, min_spread: f64, relative_spread: f64) -> SeriesSpec {
    SeriesSpec {
        direction,
        min_spread,
        relative_spread,
    }
}

pub(super) const SCORED: [Scored; 14] = [
    Scored {
        name: "request_rate_1m",
        value: |r| r.request_rate_1m,
        spec: spec(Direction::Both, 0.05, 0.1),
        inside: false,
        learned: true,
    },
    Scored {
        name: "error_rate_1m",
        value: |r| r.error_rate_1m,
        spec: spec(Direction::Up, 0.02, 0.0),
        inside: false,
        learned: true,
    },
    Scored {
        name: "p50_latency_1m",
        value: |r| r.p50_latency_1m,
        spec: spec(Direction::Up, 1.0, 0.1),
        inside: false,
        learned: true,
    },
    Scored {
        name: "p95_latency_1m",
        value: |r| r.p95_latency_1m,
        spec: spec(Direction::Up, 1.0, 0.1),
        inside: false,
        learned: true,
    },
    Scored {
        name: "p99_latency_1m",
        value: |r| r.p99_latency_1m,
        spec: spec(Direction::Up, 1.0, 0.1),
        inside: false,
        learned: true,
    },
    Scored {
        name: "cpu_usage",
        value: |r| r.cpu_usage,
        spec: spec(Direction::Up, 2.0, 0.05),
        inside: true,
        learned: true,
    },
    Scored {
        name: "memory_usage",
        value: |r| r.memory_usage,
        spec: spec(Direction::Up, 2.0, 0.02),
        inside: true,
        learned: true,
    },
    Scored {
        name: "disk_io_read",
        value: |r| r.disk_io_read,
        spec: spec(Direction::Both, 0.1, 0.1),
        inside: true,
        learned: true,
    },
    Scored {
        name: "disk_io_write",
        value: |r| r.disk_io_write,
        spec: spec(Direction::Both, 0.1, 0.1),
        inside: true,
        learned: true,
    },
    Scored {
        name: "network_in",
        value: |r| r.network_in,
        spec: spec(Direction::Both, 0.05, 0.1),
        inside: false,
        learned: true,
    },
    Scored {
        name: "network_out",
        value: |r| r.network_out,
        spec: spec(Direction::Both, 0.05, 0.1),
        inside: false,
        learned: true,
    },
    // Logs: a line a minute more is noise (1/60 lines/s), so is a tenth more of a busy rate.
    Scored {
        name: "error_log_rate",
        value: |r| r.error_log_rate,
        spec: spec(Direction::Up, 1.0 / 60.0, 0.1),
        inside: true,
        learned: true,
    },
    Scored {
        name: "new_template_rate",
        value: |r| r.new_template_rate,
        spec: spec(Direction::Up, 1.0 / 60.0, 0.1),
        inside: true,
        learned: true,
    },
    // Calls an operation makes per execution, in standard deviations (a move of one is noise,
    // as is a tenth of a usual shift). Detecting: a method that throws or returns early shows
    // nowhere else in the traces. Not a learned input: models trained before it existed
    // keep their inputs, and its scale is already a deviation.
    Scored {
        name: "structure_shift",
        value: |r| r.structure_shift,
        spec: spec(Direction::Up, 1.0, 0.1),
        inside: true,
        learned: false,
    },
];

/// Features scored as root-cause evidence but not for detection: they neither flag a row nor
/// feed a learned model. A busy service's mix of log statements varies with its requests' mix
/// by more than chance: as a detection input the shift took the robust detector on the
/// simulator from 0.36 false alarms an hour to 13 (docs/evaluation.md). As evidence it tells
/// which service's own statements changed, once something is wrong.
pub(super) const EVIDENCE_ONLY: [Scored; 1] = [
    // Already in standard deviations: a move of one is noise, as is a tenth of a usual shift.
    Scored {
        name: "template_shift",
        value: |r| r.template_shift,
        spec: spec(Direction::Up, 1.0, 0.1),
        inside: true,
        learned: true,
    },
];

/// The inputs a learned model may use: the scored features' names, in a fixed order.
pub fn model_inputs() -> Vec<&'static str> {
    SCORED
        .iter()
        .filter(|s| s.learned)
        .map(|s| s.name)
        .collect()
}

/// The spread floor of each named input, in its unit (the robust detector's, so both
/// detectors call the same movement noise); `None` for a name that is not an input.
pub fn input_floors(names: &[String]) -> Option<Vec<f64>> {
    names
        .iter()
        .map(|name| {
            SCORED
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.spec.min_spread)
        })
        .collect()
}

/// How to read the named input from a row; `None` for a name that is not an input.
pub fn input_reader(name: &str) -> Option<fn(&FeatureRow) -> Option<f64>> {
    SCORED.iter().find(|s| s.name == name).map(|s| s.value)
}

/// Scored features that measure the load offered to a service rather than its behaviour.
pub(super) const WORKLOAD: [&str; 1] = ["request_rate_1m"];
