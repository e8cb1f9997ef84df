//! MicroRCA-style ranking: a personalized PageRank over the call graph, weighted by how
//! anomalous each service is.
//!
//! A symptom travels from a failing callee up to its callers, so a walker that starts at
//! anomalous services and moves from callers to the more anomalous of their callees ends up,
//! most of the time, at the service where the symptom began. Transitions from `u`:
//! to each callee `v` with weight `s(v) + ε`; back to each caller `c` with weight
//! `ρ (s(c) + ε)` (so a walker is not trapped at a healthy leaf); and to itself with weight
//! `max(0, s(u) − max s(callees))`, the part of `u`'s anomaly its callees do not explain
//! (CloudRanger's self-loop). Restarts follow the personalization `s / Σ s`. The final score is
//! the visit probability times `s(v) + ε`, as MicroRCA multiplies by the anomaly.
//! `s` is the service's strongest deviation divided by the largest in the window.
//!
//! Cost: O(iterations × (services + edges)); at most 100 iterations of power iteration.

use super::{finish, CallGraph, Candidate, RootCauseRanker, ServiceEvidence};

/// Weight added to every anomaly so unscored services stay reachable.
const EPSILON: f64 = 0.01;

/// Personalized PageRank root-cause ranking.
#[derive(Debug, Clone, Copy)]
pub struct PersonalizedPageRank {
    /// Probability of following an edge rather than restarting.
    pub damping: f64,
    /// Weight of walking back to a caller relative to walking to a callee.
    pub backward: f64,
    /// Power-iteration cap.
    pub iterations: usize,
}

impl Default for PersonalizedPageRank {
    fn default() -> Self {
        PersonalizedPageRank {
            damping: 0.85,
            backward: 0.1,
            iterations: 100,
        }
    }
}

/// Anomaly per node of `graph` (0..=1) and whether each node is flagged, with services of
/// `evidence` missing from the graph added as isolated nodes.
pub(crate) fn node_anomaly(
    graph: &CallGraph,
    evidence: &[ServiceEvidence],
) -> (CallGraph, Vec<f64>, Vec<bool>) {
    let graph = CallGraph::extended(graph, evidence.iter().map(|e| e.service.as_str()));
    let mut anomaly = vec![0.0; graph.len()];
    let mut flagged = vec![false; graph.len()];
    for e in evidence {
        if let Some(node) = graph.index_of(&e.service) {
            anomaly[node] = e.strength();
            flagged[node] = e.anomalous;
        }
    }
    (graph, relative(anomaly), flagged)
}

/// `values` divided by their maximum, so the largest is 1 (unchanged when none is positive).
pub(crate) fn relative(mut values: Vec<f64>) -> Vec<f64> {
    let most = values.iter().copied().fold(0.0, f64::max);
    if most > 0.0 {
        values.iter_mut().for_each(|v| *v /= most);
    }
    values
}

impl PersonalizedPageRank {
    /// Visit probabilities of the walk.
    pub(crate) fn visits(&self, graph: &CallGraph, anomaly: &[f64]) -> Vec<f64> {
        let n = graph.len();
        let total: f64 = anomaly.iter().sum();
        let restart: Vec<f64> = match total > 0.0 {
            true => anomaly.iter().map(|a| a / total).collect(),
            false => vec![1.0 / n as f64; n],
        };
        let transitions = self.transitions(graph, anomaly);
        let mut rank = restart.clone();
        for _ in 0..self.iterations {
            let mut next: Vec<f64> = restart.iter().map(|r| (1.0 - self.damping) * r).collect();
            let mut dangling = 0.0;
            for (from, out) in transitions.iter().enumerate() {
                if out.is_empty() {
                    dangling += rank[from];
                }
                for &(to, p) in out {
                    next[to] += self.damping * rank[from] * p;
                }
            }
            for (value, r) in next.iter_mut().zip(&restart) {
                *value += self.damping * dangling * r;
            }
            let change: f64 = next.iter().zip(&rank).map(|(a, b)| (a - b).abs()).sum();
            rank = next;
            if change < 1e-10 {
                break;
            }
        }
        rank
    }

    /// Per node, its normalized out-transitions (empty: dangling).
    fn transitions(&self, graph: &CallGraph, anomaly: &[f64]) -> Vec<Vec<(usize, f64)>> {
        (0..graph.len())
            .map(|node| {
                let mut out: Vec<(usize, f64)> = Vec::new();
                let mut strongest_callee: f64 = 0.0;
                for (callee, _) in graph.callees(node) {
                    out.push((callee, anomaly[callee] + EPSILON));
                    strongest_callee = strongest_callee.max(anomaly[callee]);
                }
                for (caller, _) in graph.callers(node) {
                    out.push((caller, self.backward * (anomaly[caller] + EPSILON)));
                }
                let unexplained = (anomaly[node] - strongest_callee).max(0.0);
                if unexplained > 0.0 {
                    out.push((node, unexplained));
                }
                let sum: f64 = out.iter().map(|(_, w)| w).sum();
                out.iter_mut().for_each(|(_, w)| *w /= sum);
                out
            })
            .collect()
    }
}

impl RootCauseRanker for PersonalizedPageRank {
    fn name(&self) -> &'static str {
        "pagerank"
    }

    fn rank(&self, graph: &CallGraph, evidence: &[ServiceEvidence]) -> Vec<Candidate> {
        self.rank_by(graph, evidence, |anomaly, visits| {
            visits * (anomaly + EPSILON)
        })
    }
}

impl PersonalizedPageRank {
    /// Ranks every node by `score(anomaly, visits / max visits)`, with the symptom edges as
    /// evidence: the shared frame of the walk-based methods.
    pub(crate) fn rank_by(
        &self,
        graph: &CallGraph,
        evidence: &[ServiceEvidence],
        score: impl Fn(f64, f64) -> f64,
    ) -> Vec<Candidate> {
        let (graph, anomaly, flagged) = node_anomaly(graph, evidence);
        if graph.is_empty() {
            return Vec::new();
        }
        let visits = relative(self.visits(&graph, &anomaly));
        let candidates = (0..graph.len())
            .map(|node| Candidate {
                service: graph.name(node).to_string(),
                score: score(anomaly[node], visits[node]),
                evidence: graph.symptom_edges(node, &flagged, 3),
            })
            .collect();
        finish(candidates, evidence, &graph)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{evidence, graph, order};
    use super::*;

    #[test]
    fn the_deepest_anomalous_callee_wins_over_its_louder_callers() {
        // front → checkout → payment → db; payment is the cause, its callers show it louder.
        let graph = graph(&[
            ("front", "checkout"),
            ("checkout", "payment"),
            ("payment", "db"),
            ("front", "catalog"),
        ]);
        let evidence = evidence(&[
            ("front", 9.0),
            ("checkout", 8.0),
            ("payment", 7.0),
            ("db", 0.5),
            ("catalog", 0.3),
        ]);
        let ranking = PersonalizedPageRank::default().rank(&graph, &evidence);
        assert_eq!(order(&ranking)[0], "payment", "{ranking:?}");
        assert!(ranking[0]
            .evidence
            .contains(&"checkout → payment".to_string()));
    }

    #[test]
    fn visits_are_a_probability_distribution() {
        let graph = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("a", "d")]);
        let (graph, anomaly, _) = node_anomaly(&graph, &evidence(&[("a", 1.0), ("d", 4.0)]));
        let visits = PersonalizedPageRank::default().visits(&graph, &anomaly);
        let sum: f64 = visits.iter().sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
        assert!(visits.iter().all(|v| *v >= 0.0));
    }

    #[test]
    fn services_without_edges_are_still_ranked() {
        let ranking = PersonalizedPageRank::default()
            .rank(&CallGraph::default(), &evidence(&[("x", 1.0), ("y", 6.0)]));
        assert_eq!(order(&ranking), ["y", "x"]);
    }
}
