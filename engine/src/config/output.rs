//! `[sink]`, `[postgres]` and `[metrics]`: where rows, side outputs and the job's own
//! metrics go.

use std::path::PathBuf;

use serde::Deserialize;

use super::values::empty_as_none;

/// `[sink]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection URL; `None` (`""` in a file): Parquet output instead.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub url: Option<String>,
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

/// `[alerts]`: incidents as alerts to people.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Alertmanager base URL (`http://alertmanager:9093`); `None` (`""`): not sent.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub alertmanager_url: Option<String>,
    /// A generic webhook (JSON with a Slack-compatible `text`); `None` (`""`): not sent.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub webhook_url: Option<String>,
    /// Active alerts are sent again this often, seconds (they expire after four intervals).
    pub resend_s: u64,
    /// Most alerts held while a receiver is unreachable; beyond it the oldest are dropped.
    pub max_queued: usize,
    /// Link to an incident, `{incident_id}` replaced; `""`: no link.
    pub incident_url: String,
    /// User-facing entry services: an incident touching one is critical.
    pub entry_services: Vec<String>,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` of the Prometheus endpoint; `None` (`""` in a file): none.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub addr: Option<String>,
}
