//! Inputs the benches share.

use aiops_engine::config::JobConfig;
use aiops_engine::job::sizing::{self, Workload};

/// Twenty simulated minutes of a 30-service shop, as encoded requests.
pub fn workload() -> Workload {
    let mut config = JobConfig::load(None, Vec::new()).expect("defaults");
    config.simulator.services = 30;
    config.simulator.traces_per_second = 12.0;
    config.simulator.start = "2026-01-05T14:00:00Z".into();
    config.simulator.duration = Some("20m".into());
    sizing::simulated(&config, |_| {}).expect("simulator")
}
