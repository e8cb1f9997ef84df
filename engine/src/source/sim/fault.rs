//! Fault injection: what each fault does to its service, and the schedule of faults.
//!
//! Symptoms propagate the way real ones do because the simulator composes requests: a slow
//! or failing callee makes every caller's span slower or failed too; a network delay shows up
//! in callers' client spans but not in the callee's own server span.

use rand::Rng;

use super::rng::rng_for;
use crate::config::FaultKind;

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// Index of the faulty service.
    pub service: usize,
    /// Start, ns since the epoch.
    pub start_ns: u64,
    /// End (exclusive), ns since the epoch.
    pub end_ns: u64,
}

/// The combined effect of active faults on one service at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effects {
    /// Multiplier on processing time.
    pub latency_factor: f64,
    /// Added processing time, ms.
    pub extra_latency_ms: f64,
    /// Probability a request fails on its own.
    pub error_probability: f64,
    /// Added CPU utilization (ratio).
    pub cpu: f64,
    /// Added memory utilization (ratio).
    pub memory: f64,
    /// Added network delay into the service, ms.
    pub network_delay_ms: f64,
    /// A fault breaking the service's first operation ([`FaultKind::breaks_operation`]).
    pub broken_operation: Option<FaultKind>,
}

impl Default for Effects {
    fn default() -> Self {
        Effects {
            latency_factor: 1.0,
            extra_latency_ms: 0.0,
            error_probability: 0.002,
            cpu: 0.0,
            memory: 0.0,
            network_delay_ms: 0.0,
            broken_operation: None,
        }
    }
}

/// Effects on `service` at `time_ns` of the faults in `faults`.
pub fn effects(faults: &[Fault], service: usize, time_ns: u64) -> Effects {
    let mut effects = Effects::default();
    for fault in faults
        .iter()
        .filter(|f| f.service == service && (f.start_ns..f.end_ns).contains(&time_ns))
    {
        let progress = (time_ns - fault.start_ns) as f64 / (fault.end_ns - fault.start_ns) as f64;
        match fault.kind {
            FaultKind::Latency => effects.extra_latency_ms += 250.0,
            FaultKind::ErrorBurst => effects.error_probability += 0.35,
            FaultKind::CpuHog => {
                effects.cpu += 0.45;
                effects.latency_factor *= 2.0;
            }
            FaultKind::MemoryLeak => {
                effects.memory += 0.5 * progress;
                effects.latency_factor *= 1.0 + 0.8 * progress;
                effects.error_probability += 0.08 * progress;
            }
            FaultKind::NetworkDelay => effects.network_delay_ms += 120.0,
            FaultKind::Exception | FaultKind::EarlyReturn => {
                effects.broken_operation = Some(fault.kind);
            }
        }
    }
    effects
}

/// A random schedule: one fault every `every_ns`, each lasting `duration_ns`, rotating through
/// `kinds`, on random non-entry services; the first starts half a period after `start_ns`.
pub fn random_schedule(
    seed: u64,
    kinds: &[FaultKind],
    services: usize,
    start_ns: u64,
    end_ns: u64,
    every_ns: u64,
    duration_ns: u64,
) -> Vec<Fault> {
    if every_ns == 0 || services < 2 || kinds.is_empty() {
        return Vec::new();
    }
    let mut faults = Vec::new();
    let mut begin = start_ns + every_ns / 2;
    let mut number = 0u64;
    while begin < end_ns {
        let mut rng = rng_for(seed, 0xfa17, number, 0);
        faults.push(Fault {
            kind: kinds[(number % kinds.len() as u64) as usize],
            service: rng.random_range(1..services),
            start_ns: begin,
            end_ns: begin + duration_ns,
        });
        begin += every_ns;
        number += 1;
    }
    faults
}
