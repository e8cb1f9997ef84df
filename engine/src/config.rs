//! Job configuration: typed, layered, strict.
//!
//! Defaults live in the checked-in `engine/config/default.toml`; a user's file overrides them
//! key by key, then `AIOPS_<SECTION>__<KEY>` environment variables override both. Unknown
//! keys anywhere are errors that name the key, so a typo never silently falls back to a
//! default.

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::otlp::{Encoding, Signal};
use crate::sim::SimConfig;
use crate::time::WatermarkConfig;

/// The checked-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Which source the job reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The built-in simulator.
    Simulator,
    /// Replay of OTLP files.
    Files,
    /// Kafka topics written by the OpenTelemetry Collector's kafka exporter.
    Kafka,
    /// Replay of the Nezha TrainTicket dataset's CSV layout (evaluation).
    Nezha,
}

/// `[source]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Which source.
    pub kind: SourceKind,
    /// Directory of OTLP files, for `files`.
    pub path: PathBuf,
    /// Whether spans are used; `false` runs metrics-only (spans are decoded and dropped).
    pub traces: bool,
}

/// One Kafka topic the job consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTopic {
    /// Topic name.
    pub name: String,
    /// What its records carry.
    pub signal: Signal,
    /// How they are encoded.
    pub encoding: Encoding,
}

/// Where a partition starts when no resume offset is stored for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartOffset {
    /// The oldest retained record.
    Earliest,
    /// Only records produced after the job starts.
    Latest,
}

/// `[kafka]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list (librdkafka's `bootstrap.servers`).
    pub brokers: String,
    /// The topics to consume.
    pub topics: Vec<KafkaTopic>,
    /// Undecodable records are produced here with headers naming the error; empty: not at all.
    pub dead_letter_topic: String,
    /// Incident updates are produced here as JSON; empty: not at all.
    pub alerts_topic: String,
    /// Start of partitions without a stored resume offset.
    pub start: StartOffset,
    /// Stop once every partition reaches the end offset it had when the job started (a bounded
    /// replay, as for a backfill or a test), instead of running until Ctrl-C.
    pub stop_at_end: bool,
    /// Extra librdkafka properties passed through verbatim (TLS, SASL, timeouts), e.g.
    /// `"security.protocol" = "sasl_ssl"`.
    pub client: std::collections::BTreeMap<String, String>,
}

/// `[features]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// IANA time zone of the calendar features.
    pub timezone: String,
}

impl FeatureConfig {
    /// The parsed time zone.
    pub fn zone(&self) -> Result<Tz> {
        self.timezone.parse().map_err(|_| {
            Error::Config(format!(
                "features.timezone {:?} is not an IANA time zone (e.g. \"Europe/Berlin\")",
                self.timezone
            ))
        })
    }
}

/// `[graph]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// Minutes a span waits for its parent, its child, or a callee's answer.
    pub pairing_wait_minutes: u64,
    /// Most distinct edges per worker and minute; further callees become the overflow node.
    pub max_edges_per_minute: usize,
    /// Call edges known from configuration (a service catalog), `[caller, callee]` pairs:
    /// root-cause ranking adds them to every minute's graph, so metrics-only services still
    /// have a topology.
    pub static_edges: Vec<[String; 2]>,
    /// Minutes an edge stays in the live graph (`service_dependencies`, `aiops graph`) after
    /// it was last seen.
    pub edge_expiry_minutes: u64,
}

/// `[detection]`: the robust detector that flags anomalous services for RCA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionConfig {
    /// A service is anomalous in a minute when one of its features lies this many robust
    /// standard deviations from its recent median.
    pub threshold: f64,
    /// Minutes of each feature's history the median and MAD are taken over.
    pub history_minutes: usize,
    /// Minutes of history needed before a feature is scored.
    pub min_history_minutes: usize,
}

/// `[models]`: learned detectors scoring beside the robust one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Directory of model files written by `aiops train` ("" for none: robust detector only).
    pub dir: String,
    /// Seconds between checks of the directory for a newer model version.
    pub reload_seconds: u64,
    /// How the model's score and the robust detector's are combined.
    pub combine: Combine,
    /// Minutes of scored inputs the drift (PSI) figures are taken over.
    pub drift_window_minutes: u64,
}

/// How the learned model's normalized score and the robust detector's are combined; each is
/// 0.5 at its own threshold and the combination flags a row at 0.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Combine {
    /// The mean of the two: both must lean towards anomalous, or one strongly.
    Mean,
    /// The larger of the two: either detector alone flags.
    Max,
    /// The model alone (the robust detector still supplies RCA evidence).
    Model,
}

/// `[rca]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RcaConfig {
    /// Ranking method of incidents: combined | pagerank | baro | gnn (needs models.dir; ranks
    /// as combined until a gnn model appears there).
    pub method: String,
    /// Candidates kept per incident.
    pub top_k: usize,
    /// Record every ranking's inputs (edges, evidence) under `<data_dir>/rca_inputs/`, to
    /// train the GNN on or replay rankings.
    pub record_inputs: bool,
}

/// `[sink]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Root of the local output.
    pub data_dir: PathBuf,
    /// Longest time rows wait in memory before a Parquet file is completed, ms.
    pub flush_interval_ms: u64,
    /// Most rows per Parquet file.
    pub max_rows_per_file: usize,
}

/// `[postgres]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection URL; empty: Parquet output instead.
    pub url: String,
    /// TimescaleDB chunk interval (a PostgreSQL interval, e.g. `1 hour`).
    pub chunk_interval: String,
    /// TimescaleDB compression age.
    pub compress_after: String,
    /// Age after which rows are dropped, days.
    pub retention_days: u32,
    /// Native partitions created ahead of the newest row, days.
    pub partitions_ahead_days: u32,
    /// Owner of the stored Kafka resume offsets.
    pub consumer: String,
    /// How long the job keeps retrying to reach the database at start, seconds.
    pub connect_retry_s: u64,
}

impl PostgresConfig {
    /// How long to keep retrying to connect at start.
    pub fn connect_patience(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.connect_retry_s)
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` of the Prometheus endpoint; empty: none.
    pub addr: String,
}

/// The whole job configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// `[source]`.
    pub source: SourceConfig,
    /// `[simulator]`.
    pub simulator: SimConfig,
    /// `[kafka]`.
    pub kafka: KafkaConfig,
    /// `[watermark]`.
    pub watermark: WatermarkConfig,
    /// `[features]`.
    pub features: FeatureConfig,
    /// `[graph]`.
    pub graph: GraphConfig,
    /// `[detection]`.
    pub detection: DetectionConfig,
    /// `[rca]`.
    pub rca: RcaConfig,
    /// `[models]`.
    pub models: ModelsConfig,
    /// `[sink]`.
    pub sink: SinkConfig,
    /// `[postgres]`.
    pub postgres: PostgresConfig,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
}

fn merge(base: &mut toml::Value, overlay: toml::Value) {
    match (base, overlay) {
        (toml::Value::Table(base), toml::Value::Table(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

fn parse_toml(text: &str, origin: &str) -> Result<toml::Value> {
    toml::from_str(text).map_err(|e| Error::Config(format!("{origin}: {e}")))
}

/// A scalar from an environment variable: a TOML literal if it parses as one, else a string.
fn env_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

impl JobConfig {
    /// Defaults, then `file` (if any), then the given `AIOPS_*` environment variables.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<JobConfig> {
        let mut value = parse_toml(DEFAULT_TOML, "built-in defaults")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            merge(&mut value, parse_toml(&text, &path.display().to_string())?);
        }
        for (name, text) in env {
            let Some(rest) = name.strip_prefix("AIOPS_") else {
                continue;
            };
            let Some((section, key)) = rest.split_once("__") else {
                continue;
            };
            let mut overlay = toml::Table::new();
            let mut inner = toml::Table::new();
            inner.insert(key.to_lowercase(), env_value(&text));
            overlay.insert(section.to_lowercase(), toml::Value::Table(inner));
            merge(&mut value, toml::Value::Table(overlay));
        }
        let config: JobConfig = value
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(e.to_string()))?;
        config.features.zone()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aiops.toml");
        std::fs::write(&file, "[simulator]\nseed = 7\nservices = 5\n").unwrap();
        let env = vec![
            ("AIOPS_SIMULATOR__SERVICES".to_string(), "9".to_string()),
            (
                "AIOPS_FEATURES__TIMEZONE".to_string(),
                "Europe/Berlin".to_string(),
            ),
        ];
        let config = JobConfig::load(Some(&file), env).unwrap();
        assert_eq!((config.simulator.seed, config.simulator.services), (7, 9));
        assert_eq!(config.features.timezone, "Europe/Berlin");
        assert_eq!(config.sink.flush_interval_ms, 5000);

        std::fs::write(&file, "[simulator]\nsead = 7\n").unwrap();
        let error = JobConfig::load(Some(&file), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("sead"), "{error}");
        let bad_zone = vec![(
            "AIOPS_FEATURES__TIMEZONE".to_string(),
            "Mars/Olympus".to_string(),
        )];
        assert!(JobConfig::load(None, bad_zone)
            .unwrap_err()
            .to_string()
            .contains("Mars/Olympus"));
    }

    #[test]
    fn defaults_parse() {
        assert_eq!(
            JobConfig::load(None, Vec::new()).unwrap().source.kind,
            SourceKind::Simulator
        );
    }
}
