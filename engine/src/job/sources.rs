//! Each worker's source: the simulator, OTLP files, Kafka, or a source of the caller's (the
//! benchmark crate replays public datasets this way), chosen once per job.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{JobConfig, SourceKind};
use crate::error::{Error, Result};
use crate::otlp::Receivers;
use crate::sink::postgres::StoredProgress;
use crate::source::sim::Simulator;
use crate::source::{FileSource, KafkaSource, Merged, SimulatorSource, Source};
use crate::stats::Stats;

/// Opens worker `index` of `peers`' source: how a caller plugs a source of its own into the
/// job (see [`super::JobOptions::with_source`]). Such a job keeps no Kafka offsets and
/// writes dead letters to the data directory, as a file replay does.
pub type SourceFactory = Arc<dyn Fn(usize, usize) -> Result<Box<dyn Source>> + Send + Sync>;

/// The simulator a configuration describes, with its time range resolved against `now_ns`.
pub fn simulator(config: &JobConfig, now_ns: u64) -> Result<Simulator> {
    let (start, end) = config.simulator.time_range(now_ns)?;
    Simulator::new(config.simulator.clone(), start, end)
}

/// The job's input, resolved once from `[source]` or the caller's factory.
pub(super) enum Input {
    Simulator(Arc<Simulator>),
    Files(PathBuf),
    Kafka,
    /// The OTLP receivers alone (`source.kind = "otlp"`).
    ReceiversOnly,
    Custom(SourceFactory),
}

impl Input {
    /// Checks the configured source (a files source needs a directory) and lays out the
    /// simulation, if that is the source.
    pub(super) fn resolve(config: &JobConfig, custom: Option<SourceFactory>) -> Result<Input> {
        if let Some(factory) = custom {
            return Ok(Input::Custom(factory));
        }
        match (config.source.kind, &config.source.path) {
            (SourceKind::Simulator, _) => {
                let now_ns = chrono::Utc::now().timestamp_micros() as u64 * 1_000;
                Ok(Input::Simulator(Arc::new(simulator(config, now_ns)?)))
            }
            (SourceKind::Files, Some(path)) if path.is_dir() => Ok(Input::Files(path.clone())),
            (SourceKind::Files, Some(path)) => Err(Error::Config(format!(
                "source.path {path:?} is not a directory of OTLP files"
            ))),
            (SourceKind::Files, None) => Err(Error::Config(
                "source.kind = \"files\" needs source.path, a directory of OTLP files".into(),
            )),
            (SourceKind::Kafka, _) => {
                if config.postgres.url.is_none() {
                    tracing::warn!(
                        "Kafka source without a PostgreSQL sink: no resume offsets are kept, \
                         every start begins at kafka.start"
                    );
                }
                Ok(Input::Kafka)
            }
            (SourceKind::Otlp, _) if config.receiver.any() => Ok(Input::ReceiversOnly),
            (SourceKind::Otlp, _) => Err(Error::Config(
                "source.kind = \"otlp\" needs receiver.grpc or receiver.http, an address to \
                 listen on (--otlp-grpc, --otlp-http)"
                    .into(),
            )),
        }
    }

    /// Whether records come from Kafka (offsets to resume from, topics to write to).
    pub(super) fn is_kafka(&self) -> bool {
        matches!(self, Input::Kafka)
    }

    /// Worker `index` of `peers`' source, with its reader of the `receivers` if any; Kafka
    /// partitions start at the `stored` offsets.
    pub(super) fn open(
        &self,
        config: &JobConfig,
        (stats, receivers): (&Arc<Stats>, Option<&Receivers>),
        (index, peers): (usize, usize),
        stored: &StoredProgress,
    ) -> Result<Box<dyn Source>> {
        let receiver = receivers.map(|r| Box::new(r.source(index)) as Box<dyn Source>);
        let primary = self.open_primary(config, stats, (index, peers), stored)?;
        Ok(match (primary, receiver) {
            (Some(primary), Some(receiver)) => Box::new(Merged::new(vec![primary, receiver])),
            (Some(source), None) | (None, Some(source)) => source,
            (None, None) => Box::new(Merged::new(Vec::new())),
        })
    }

    fn open_primary(
        &self,
        config: &JobConfig,
        stats: &Arc<Stats>,
        (index, peers): (usize, usize),
        stored: &StoredProgress,
    ) -> Result<Option<Box<dyn Source>>> {
        Ok(Some(match self {
            Input::Simulator(sim) => {
                let (speed, encoding) = (config.simulator.speed, config.simulator.encoding);
                Box::new(SimulatorSource::new(sim, index, peers, speed, encoding))
            }
            Input::Files(path) => Box::new(FileSource::open(path, index, peers)?),
            Input::Kafka => Box::new(KafkaSource::open(
                &config.kafka,
                &stored.offsets,
                (index, peers),
                Arc::clone(stats),
            )?),
            Input::Custom(factory) => factory(index, peers)?,
            Input::ReceiversOnly => return Ok(None),
        }))
    }
}
