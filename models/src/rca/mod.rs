//! Root-cause ranking: given the services' evidence in an anomalous window and the call graph
//! of that window, order the services by how likely each is the cause.
//!
//! Every method implements [`RootCauseRanker`] over the same two inputs, so the streaming job,
//! the evaluation and later learned methods (the GNN) are interchangeable. The inputs are
//! plain data: the engine builds them from its windows, the evaluation from datasets.

mod baro;
mod combined;
pub mod gnn;
mod graph;
mod walk;

use serde::{Deserialize, Serialize};

pub use baro::Baro;
pub use combined::Combined;
pub use graph::{CallEdge, CallGraph};
pub use walk::PersonalizedPageRank;

/// How far one feature of one service moved in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    /// Feature name, e.g. `p95_latency_1m`.
    pub feature: String,
    /// Robust z-score (median/MAD) against the service's own recent history; positive is up.
    pub z: f64,
}

/// What ranking knows about one service in the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceEvidence {
    /// Service name.
    pub service: String,
    /// Features with a score, in no particular order.
    pub deviations: Vec<Deviation>,
    /// Whether the detector flagged the service in this window.
    pub anomalous: bool,
    /// What moved inside the service that no number captures (its log templates), shown as
    /// evidence beside the deviations when it is a candidate; rankers do not score it.
    // Always written: timely's bincode exchange cannot skip fields (`default` reads JSON
    // recorded before the field existed).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The detector's score in units of its own threshold: at 1 or above the service is
    /// flagged (`anomalous`, unless what moved was only its traffic); 0 when not scored.
    /// Incidents compare it with the fleet's threshold (engine `score::fleet`).
    #[serde(default)]
    pub level: f64,
    /// Whether what moved includes the service's inside, as far as the detector's threshold:
    /// its own log statements or resources, not only what its callers see of it (latency,
    /// errors). Rankers put such services first (see `finish`).
    #[serde(default)]
    pub changed_inside: bool,
}

impl ServiceEvidence {
    /// The largest deviation's magnitude (0 without deviations): how anomalous the service
    /// looks on its own.
    pub fn strength(&self) -> f64 {
        self.deviations
            .iter()
            .map(|d| d.z.abs())
            .filter(|z| z.is_finite())
            .fold(0.0, f64::max)
    }

    /// The `count` largest deviations, largest first.
    pub fn top_deviations(&self, count: usize) -> Vec<&Deviation> {
        let mut sorted: Vec<&Deviation> = self.deviations.iter().collect();
        sorted.sort_by(|a, b| b.z.abs().total_cmp(&a.z.abs()));
        sorted.truncate(count);
        sorted
    }
}

/// One ranked root-cause candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Service name.
    pub service: String,
    /// The method's score; only the order within one ranking means anything.
    pub score: f64,
    /// Why: the features that moved and the call edges the symptom travelled along.
    pub evidence: Vec<String>,
}

/// A root-cause ranking method.
pub trait RootCauseRanker: Send + Sync {
    /// Short name used in configuration, incidents and evaluation tables.
    fn name(&self) -> &'static str;

    /// All services of `evidence` (and nodes of `graph`), most likely cause first. Services
    /// with equal scores are ordered by name, so the ranking is deterministic.
    fn rank(&self, graph: &CallGraph, evidence: &[ServiceEvidence]) -> Vec<Candidate>;
}

/// The ranking methods by name.
pub fn method(name: &str) -> Option<Box<dyn RootCauseRanker>> {
    match name {
        "baro" => Some(Box::new(Baro)),
        "pagerank" => Some(Box::new(PersonalizedPageRank::default())),
        "combined" => Some(Box::new(Combined::default())),
        _ => None,
    }
}

/// Names accepted by [`method`], the default first.
pub const METHODS: [&str; 3] = ["combined", "pagerank", "baro"];

/// Sorts candidates, services that changed inside first, then by score (descending), then
/// name, and fills in feature evidence.
///
/// Why inside first: latency and errors travel from a callee to its callers, so they say
/// where a symptom is, not where it began; a service's own log statements and resources move
/// only when the service itself does something else (an exception skips a statement, a hog
/// takes its CPU). A service whose inside moved as far as the detector's threshold is a
/// better cause than one that only shows symptoms, however large; among several, the scores
/// decide. A tier, not a weight: no exchange rate between the two kinds of evidence is
/// assumed.
fn finish(
    mut candidates: Vec<Candidate>,
    evidence: &[ServiceEvidence],
    graph: &CallGraph,
) -> Vec<Candidate> {
    let by_service: std::collections::HashMap<&str, &ServiceEvidence> =
        evidence.iter().map(|e| (e.service.as_str(), e)).collect();
    let flagged = |node: usize| {
        by_service
            .get(graph.name(node))
            .is_some_and(|e| e.anomalous)
    };
    // A caller's new error lines follow its callee's failure: its inside change counts only
    // when none of its callees is flagged.
    let inside: std::collections::HashSet<&str> = evidence
        .iter()
        .filter(|e| e.changed_inside)
        .filter(|e| {
            graph
                .index_of(&e.service)
                .is_none_or(|node| !graph.callees(node).any(|(callee, _)| flagged(callee)))
        })
        .map(|e| e.service.as_str())
        .collect();
    let inside = |c: &Candidate| inside.contains(c.service.as_str());
    candidates.sort_by(|a, b| {
        inside(b)
            .cmp(&inside(a))
            .then_with(|| b.score.total_cmp(&a.score))
            .then_with(|| a.service.cmp(&b.service))
    });
    for candidate in &mut candidates {
        if let Some(own) = by_service.get(candidate.service.as_str()) {
            let moved = own
                .top_deviations(3)
                .into_iter()
                .filter(|d| d.z.abs() >= 1.0)
                .map(|d| format!("{} z={:+.1}", d.feature, d.z));
            let notes = own.notes.iter().cloned();
            candidate.evidence.splice(0..0, moved.chain(notes));
        }
    }
    candidates
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// Evidence with one deviation per service.
    pub fn evidence(values: &[(&str, f64)]) -> Vec<ServiceEvidence> {
        values
            .iter()
            .map(|(service, z)| ServiceEvidence {
                service: service.to_string(),
                deviations: vec![Deviation {
                    feature: "p95_latency_1m".into(),
                    z: *z,
                }],
                anomalous: *z >= 3.0,
                notes: Vec::new(),
                level: z.abs() / 3.0,
                changed_inside: false,
            })
            .collect()
    }

    /// A graph from caller → callee pairs.
    pub fn graph(edges: &[(&str, &str)]) -> CallGraph {
        let edges: Vec<CallEdge> = edges
            .iter()
            .map(|(caller, callee)| CallEdge::new(caller, callee, 100, 0, Some(10.0)))
            .collect();
        CallGraph::new(&edges, std::iter::empty::<&str>())
    }

    /// The services of a ranking, in order.
    pub fn order(ranking: &[Candidate]) -> Vec<&str> {
        ranking.iter().map(|c| c.service.as_str()).collect()
    }
}
