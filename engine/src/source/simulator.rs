//! The simulator as a source: paces simulated time against the wall clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Batch, Poll, RawMessage, Source};
use crate::record::{Encoding, Location, Signal};
use crate::source::sim::{SimShard, Simulator};

/// Simulated seconds produced per poll when running as fast as possible.
const SECONDS_PER_POLL: usize = 5;

/// One worker's shard of the simulator, emitting encoded OTLP.
pub struct SimulatorSource {
    shard: SimShard,
    index: usize,
    /// Simulated seconds per wall-clock second; 0 = unpaced.
    speed: f64,
    encoding: Encoding,
    started: Instant,
    start_ns: u64,
    sequence: u64,
}

impl SimulatorSource {
    /// Shard `index` of `shards` of `sim`, paced at `speed` (0 = as fast as possible).
    pub fn new(
        sim: &Arc<Simulator>,
        index: usize,
        shards: usize,
        speed: f64,
        encoding: Encoding,
    ) -> Self {
        SimulatorSource {
            shard: sim.shard(index, shards),
            index,
            speed,
            encoding,
            started: Instant::now(),
            start_ns: sim.start_ns(),
            sequence: 0,
        }
    }

    fn message(&mut self, signal: Signal, bytes: Vec<u8>) -> RawMessage {
        self.sequence += 1;
        RawMessage {
            partition: 0,
            signal,
            encoding: self.encoding,
            bytes,
            location: Location::Simulator {
                shard: self.index,
                sequence: self.sequence,
            },
        }
    }
}

impl Source for SimulatorSource {
    fn partitions(&self) -> Vec<u32> {
        vec![0]
    }

    fn poll(&mut self) -> Poll {
        if self.shard.finished() {
            return Poll::Done;
        }
        if self.speed > 0.0 {
            let simulated = (self.shard.clock_ns() - self.start_ns) as f64 / 1e9;
            let due = Duration::from_secs_f64(simulated / self.speed);
            let elapsed = self.started.elapsed();
            if elapsed < due {
                return Poll::Wait(due - elapsed);
            }
        }
        let mut batch = Batch::default();
        for _ in 0..SECONDS_PER_POLL {
            let Some(second) = self.shard.next_second() else {
                break;
            };
            if let Some(traces) = second.traces {
                let bytes = self.encoding.encode(&traces);
                batch.messages.push(self.message(Signal::Traces, bytes));
            }
            if let Some(metrics) = second.metrics {
                let bytes = self.encoding.encode(&metrics);
                batch.messages.push(self.message(Signal::Metrics, bytes));
            }
            if let Some(logs) = second.logs {
                let bytes = self.encoding.encode(&logs);
                batch.messages.push(self.message(Signal::Logs, bytes));
            }
            if self.speed > 0.0 {
                break;
            }
        }
        batch.progress.push((0, self.shard.clock_ns()));
        if self.shard.finished() {
            batch.finished.push(0);
        }
        Poll::Ready(batch)
    }

    fn stop(&mut self) {
        self.shard.stop_at_next_minute();
        self.speed = 0.0;
    }
}
