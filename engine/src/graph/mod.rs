//! The service dependency graph, built from traces inside the dataflow.
//!
//! Spans are exchanged by trace id and paired parent to child ([`pairing`]); a pair whose
//! services differ is one call on the edge caller → callee, and a CLIENT span whose callee never
//! reports spans, but that names its peer, is a call to a virtual node. Per-worker partial
//! counts are merged per edge and minute ([`edges`]) into [`EdgeWindow`]s, which give every
//! feature row its neighbours ([`neighbours`]) and feed root-cause ranking.

pub mod edges;
pub mod layout;
pub mod neighbours;
pub mod pairing;
pub mod render;
pub mod snapshot;

use serde::{Deserialize, Serialize};

use crate::features::{service_hash, LatencySketch};
use crate::published::SecondsHistogram;
use crate::record::{key_parts, service_key};
use crate::time::Pane;

pub use edges::EdgeWindows;
pub use neighbours::WithNeighbours;
pub use pairing::{CallPairs, SpanLink, SplitLinks};

/// Name of the node that stands for all callees beyond the edge cap.
pub const OVERFLOW_NODE: &str = "__overflow__";

/// Calls observed on one edge in one minute, by one worker; merged per edge downstream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgePartial {
    /// The minute.
    pub pane: Pane,
    /// Calling service.
    pub caller: String,
    /// Called service or virtual node.
    pub callee: String,
    /// Whether the callee is a virtual node (named by the caller's span only).
    pub virtual_callee: bool,
    /// Calls, each sampled call counted by its span's weight.
    pub calls: f64,
    /// Failed calls, weighted alike.
    pub errors: f64,
    /// Call latency, ms.
    pub latency: LatencySketch,
    /// Network gap of calls from an outgoing span: the caller's span minus the callee's, ms.
    pub gap: LatencySketch,
    /// Durations of the callee's server spans, for the published service graph.
    pub server: SecondsHistogram,
    /// Durations of the caller's client spans, alike.
    pub client: SecondsHistogram,
}

/// One edge of the dependency graph in one minute. Written (serde) with each end's service
/// key split into its name and environment (`caller`, `environment`, `callee`,
/// `callee_environment`), as the `service_edges` table holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "EdgeRecord", from = "EdgeRecord")]
pub struct EdgeWindow {
    /// The minute.
    pub pane: Pane,
    /// Calling service's key ([`crate::record::service_key`]).
    pub caller: String,
    /// Called service's key, or a virtual node.
    pub callee: String,
    /// Whether the callee is a virtual node.
    pub virtual_callee: bool,
    /// Calls (sampled calls counted by their weight, rounded once per edge and minute).
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Call latency quantiles, ms.
    pub p50_ms: Option<f64>,
    /// See `p50_ms`.
    pub p95_ms: Option<f64>,
    /// See `p50_ms`.
    pub p99_ms: Option<f64>,
    /// Median network gap (caller's outgoing span minus callee's span), ms: time on the
    /// wire and in queues, which a slow network into the callee raises and a slow callee
    /// does not.
    pub gap_p50_ms: Option<f64>,
}

/// An [`EdgeWindow`] as written: names and environments apart. Files written before edges had
/// environments read with empty ones.
#[derive(Serialize, Deserialize)]
struct EdgeRecord {
    pane: Pane,
    caller: String,
    #[serde(default)]
    environment: String,
    callee: String,
    #[serde(default)]
    callee_environment: String,
    virtual_callee: bool,
    calls: u64,
    errors: u64,
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
    #[serde(default)]
    gap_p50_ms: Option<f64>,
}

impl From<EdgeWindow> for EdgeRecord {
    fn from(edge: EdgeWindow) -> Self {
        let (caller, environment) = key_parts(&edge.caller);
        let (callee, callee_environment) = key_parts(&edge.callee);
        EdgeRecord {
            pane: edge.pane,
            caller: caller.to_string(),
            environment: environment.to_string(),
            callee: callee.to_string(),
            callee_environment: callee_environment.to_string(),
            virtual_callee: edge.virtual_callee,
            calls: edge.calls,
            errors: edge.errors,
            p50_ms: edge.p50_ms,
            p95_ms: edge.p95_ms,
            p99_ms: edge.p99_ms,
            gap_p50_ms: edge.gap_p50_ms,
        }
    }
}

impl From<EdgeRecord> for EdgeWindow {
    fn from(edge: EdgeRecord) -> Self {
        EdgeWindow {
            pane: edge.pane,
            caller: service_key(&edge.caller, &edge.environment),
            callee: service_key(&edge.callee, &edge.callee_environment),
            virtual_callee: edge.virtual_callee,
            calls: edge.calls,
            errors: edge.errors,
            p50_ms: edge.p50_ms,
            p95_ms: edge.p95_ms,
            p99_ms: edge.p99_ms,
            gap_p50_ms: edge.gap_p50_ms,
        }
    }
}

impl EdgeWindow {
    /// `calls` calls from `caller` to `callee` in minute `pane`, nothing else measured.
    pub fn calls(pane: Pane, caller: &str, callee: &str, calls: u64) -> Self {
        EdgeWindow {
            pane,
            caller: caller.to_string(),
            callee: callee.to_string(),
            virtual_callee: false,
            calls,
            errors: 0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            gap_p50_ms: None,
        }
    }

    /// Failed / all calls.
    pub fn error_rate(&self) -> f64 {
        match self.calls {
            0 => 0.0,
            calls => self.errors as f64 / calls as f64,
        }
    }
}

/// Stable hash of an edge, to route it: the service hash of both ends, caller first.
pub fn edge_hash(caller: &str, callee: &str) -> u64 {
    service_hash(caller).rotate_left(17) ^ service_hash(callee)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_written_with_names_and_environments_apart_and_old_lines_still_read() {
        let edge = EdgeWindow::calls(7, &service_key("web", "prod"), "mysql", 3);
        let line = serde_json::to_value(&edge).unwrap();
        assert_eq!(line["caller"], "web");
        assert_eq!(line["environment"], "prod");
        assert_eq!(line["callee"], "mysql");
        assert_eq!(line["callee_environment"], "");
        assert_eq!(serde_json::from_value::<EdgeWindow>(line).unwrap(), edge);
        let old = r#"{"pane":7,"caller":"web","callee":"mysql","virtual_callee":true,
            "calls":3,"errors":0,"p50_ms":null,"p95_ms":null,"p99_ms":null}"#;
        let read: EdgeWindow = serde_json::from_str(old).unwrap();
        assert_eq!((read.caller.as_str(), read.calls), ("web", 3));
    }
}
