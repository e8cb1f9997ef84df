//! `[features]`, `[graph]`, `[detection]`, `[models]` and `[rca]`: what the job computes from
//! the records, and how it judges and explains it.

use std::path::PathBuf;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::values::empty_as_none;
use crate::error::{Error, Result};

/// `[features]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// IANA time zone of the calendar features.
    pub timezone: String,
    /// Operations kept per service and minute in the operation rows; the rest are merged into
    /// one overflow row (see [`crate::features::operations`]).
    pub max_operations: usize,
}

impl FeatureConfig {
    /// Checks what deserializing cannot: a known time zone, at least one operation kept.
    pub fn validate(&self) -> Result<()> {
        self.zone()?;
        if self.max_operations == 0 {
            return Err(Error::Config(
                "features.max_operations must be at least 1 (the rest go to the overflow row)"
                    .into(),
            ));
        }
        Ok(())
    }

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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionConfig {
    /// A service is anomalous in a minute when one of its features lies this many robust
    /// standard deviations from its recent median.
    pub threshold: f64,
    /// Minutes of each feature's history the median and MAD are taken over.
    pub history_minutes: usize,
    /// Minutes of history needed before a feature is scored.
    pub min_history_minutes: usize,
    /// False incidents an hour the whole fleet may open: the bar a flagged service must reach
    /// to open or extend an incident is fitted to it online (`score::fleet`); 0 turns it off.
    pub alarms_per_hour: f64,
}

/// `[models]`: learned detectors scoring beside the robust one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Directory of model files written by `aiops train`; `None` (`""` in a file): the robust
    /// detector alone.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub dir: Option<PathBuf>,
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

/// Ranking method of incidents' root-cause candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RcaMethod {
    /// The geometric mean of the relative-deviation and walk rankings.
    Combined,
    /// Personalized PageRank walks from the anomalous services.
    Pagerank,
    /// BARO-style relative deviation.
    Baro,
    /// The graph network of `models.dir` (`aiops train --model gnn`); ranks as `combined`
    /// until a first version appears there.
    Gnn,
}

impl RcaMethod {
    /// The method's name, as in configuration files and incidents' `method`.
    pub fn name(self) -> &'static str {
        match self {
            RcaMethod::Combined => "combined",
            RcaMethod::Pagerank => "pagerank",
            RcaMethod::Baro => "baro",
            RcaMethod::Gnn => "gnn",
        }
    }
}

/// `[rca]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RcaConfig {
    /// Ranking method of incidents.
    pub method: RcaMethod,
    /// Candidates kept per incident.
    pub top_k: usize,
    /// Record every ranking's inputs (edges, evidence) under `<data_dir>/rca_inputs/`, to
    /// train the GNN on or replay rankings.
    pub record_inputs: bool,
}
