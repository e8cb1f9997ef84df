//! BARO-style ranking: the service whose own features moved most, in robust standard
//! deviations, is the most likely cause.
//!
//! BARO (Pham et al., FSE 2024) ranks by the largest robust-scaled deviation of each service's
//! metrics after the change point. Our detector already scores every feature against its
//! median/MAD baseline, so the ranking is the maximum |z| per service. It needs no graph,
//! which makes it the method for metrics-only data. Cost: O(services × features).

use super::{finish, CallGraph, Candidate, RootCauseRanker, ServiceEvidence};

/// Ranks services by their strongest deviation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Baro;

impl RootCauseRanker for Baro {
    fn name(&self) -> &'static str {
        "baro"
    }

    fn rank(&self, graph: &CallGraph, evidence: &[ServiceEvidence]) -> Vec<Candidate> {
        let mut candidates: Vec<Candidate> = evidence
            .iter()
            .map(|e| Candidate {
                service: e.service.clone(),
                score: e.strength(),
                evidence: Vec::new(),
            })
            .collect();
        let known: std::collections::HashSet<&str> =
            evidence.iter().map(|e| e.service.as_str()).collect();
        for service in graph.services().filter(|s| !known.contains(s)) {
            candidates.push(Candidate {
                service: service.to_string(),
                score: 0.0,
                evidence: Vec::new(),
            });
        }
        finish(candidates, evidence, graph)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{evidence, graph, order};
    use super::*;

    #[test]
    fn the_largest_deviation_ranks_first_and_graph_only_nodes_last() {
        let evidence = evidence(&[("a", 2.0), ("b", -9.0), ("c", 5.0)]);
        let ranking = Baro.rank(&graph(&[("a", "mysql")]), &evidence);
        assert_eq!(order(&ranking), ["b", "c", "a", "mysql"]);
        assert_eq!(ranking[0].evidence, ["p95_latency_1m z=-9.0"]);
    }
}
