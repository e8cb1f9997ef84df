//! `[source]`, `[identity]`, `[kafka]` and `[watermark]`: where records come from, which
//! service they belong to, and how late they may be.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::values::empty_as_none;
use crate::error::{Error, Result};
use crate::record::{Encoding, Signal};

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
    /// Only the OTLP receivers of `[receiver]`.
    Otlp,
}

/// `[source]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Which source.
    pub kind: SourceKind,
    /// Directory of OTLP files, for `files`.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub path: Option<PathBuf>,
    /// Whether spans are used; `false` runs metrics-only (spans are decoded and dropped).
    pub traces: bool,
    /// Whether log records are used; `false` drops them after decoding (no log features).
    pub logs: bool,
    /// A span attribute whose value is how many requests the span stands for (its adjusted
    /// count, as Tempo's `span_multiplier_key`). `None`: only the W3C `tracestate` threshold
    /// of OpenTelemetry's probability sampling gives weights.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub span_weight_attribute: Option<String>,
}

/// `[receiver]`: the OTLP/gRPC and OTLP/HTTP receivers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Listen address of the OTLP/gRPC receiver (`host:port`); `None`: none.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub grpc: Option<String>,
    /// Listen address of the OTLP/HTTP receiver (`host:port`); `None`: none.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub http: Option<String>,
    /// Largest request accepted, after decompression (bytes).
    pub max_request_bytes: usize,
    /// Records received but not yet taken by the workers, over all requests; requests beyond
    /// this are refused with a retry hint.
    pub max_queued_records: usize,
    /// The retry delay a refused request is given (seconds).
    pub retry_after_s: u64,
}

impl ReceiverConfig {
    /// Whether any receiver is configured.
    pub fn any(&self) -> bool {
        self.grpc.is_some() || self.http.is_some()
    }
}

/// `[identity]`: how a record's resource names its service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// For resources without `service.name` and without a Kubernetes workload name: a regular
    /// expression over `k8s.pod.name` whose first capture group is the service. `None`: the
    /// built-in rule (strip a Deployment's ReplicaSet hash and pod suffix, a StatefulSet's
    /// ordinal, a DaemonSet's or Job's suffix).
    #[serde(default, deserialize_with = "empty_as_none")]
    pub pod_name_pattern: Option<String>,
    /// The deployment environments the job processes (`deployment.environment.name`, or the
    /// older `deployment.environment`; `""` for resources without one). Empty: all.
    pub environments: Vec<String>,
    /// The span attribute naming the end user, counted by `distinct_users`.
    pub user_attribute: String,
}

impl IdentityConfig {
    /// The environments to process, or `None` for all.
    pub fn environment_filter(&self) -> Option<std::collections::BTreeSet<String>> {
        (!self.environments.is_empty()).then(|| self.environments.iter().cloned().collect())
    }

    /// The compiled pod-name pattern, if one is set; a bad one is an error naming the key.
    pub fn pod_pattern(&self) -> Result<Option<regex::Regex>> {
        let Some(pattern) = &self.pod_name_pattern else {
            return Ok(None);
        };
        let bad = |reason: String| {
            Error::Config(format!("identity.pod_name_pattern {pattern:?}: {reason}"))
        };
        let regex = regex::Regex::new(pattern).map_err(|e| bad(e.to_string()))?;
        if regex.captures_len() < 2 {
            return Err(bad("it needs a capture group for the service".into()));
        }
        Ok(Some(regex))
    }
}

/// One Kafka topic the job consumes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list (librdkafka's `bootstrap.servers`).
    pub brokers: String,
    /// The topics to consume.
    pub topics: Vec<KafkaTopic>,
    /// Undecodable records are produced here with headers naming the error; `None` (`""` in
    /// a file): not at all.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub dead_letter_topic: Option<String>,
    /// Incident updates are produced here as JSON; `None` (`""` in a file): not at all.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub alerts_topic: Option<String>,
    /// Start of partitions without a stored resume offset.
    pub start: StartOffset,
    /// Stop once every partition reaches the end offset it had when the job started (a bounded
    /// replay, as for a backfill or a test), instead of running until Ctrl-C.
    pub stop_at_end: bool,
    /// Extra librdkafka properties passed through verbatim (TLS, SASL, timeouts), e.g.
    /// `"security.protocol" = "sasl_ssl"`.
    pub client: BTreeMap<String, String>,
}

/// `[watermark]`: event-time progress of the sources.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatermarkConfig {
    /// How far behind the newest event a record may arrive and still be on time (ms).
    pub max_out_of_orderness_ms: u64,
    /// How long a window stays open after the watermark passes its end (ms).
    pub allowed_lateness_ms: u64,
    /// Wall-clock time without records after which a partition stops holding the watermark (ms).
    pub idle_timeout_ms: u64,
}

impl Default for WatermarkConfig {
    fn default() -> Self {
        WatermarkConfig {
            max_out_of_orderness_ms: 5_000,
            allowed_lateness_ms: 0,
            idle_timeout_ms: 30_000,
        }
    }
}
