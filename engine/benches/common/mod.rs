//! Inputs the benches share.

use std::sync::Arc;

use aiops_engine::config::JobConfig;
use aiops_engine::otlp::{decode_spans, Decoding};
use aiops_engine::record::Encoding;

/// Twenty simulated minutes of a 30-service shop, as encoded requests.
pub fn requests() -> (Vec<Vec<u8>>, u64) {
    let mut config = JobConfig::load(None, Vec::new()).expect("defaults");
    config.simulator.services = 30;
    config.simulator.traces_per_second = 12.0;
    config.simulator.start = "2026-01-05T14:00:00Z".into();
    config.simulator.duration = Some("20m".into());
    let sim = Arc::new(aiops_engine::job::simulator(&config, 0).expect("simulator"));
    let mut shard = sim.shard(0, 1);
    let (mut requests, mut spans) = (Vec::new(), 0u64);
    let naming = Decoding::default();
    while let Some(second) = shard.next_second() {
        if let Some(traces) = second.traces {
            let bytes = Encoding::OtlpProto.encode(&traces);
            let mut decoded = Vec::new();
            let _ = decode_spans(&bytes, Encoding::OtlpProto, &naming, &mut decoded);
            spans += decoded.len() as u64;
            requests.push(bytes);
        }
    }
    (requests, spans)
}
