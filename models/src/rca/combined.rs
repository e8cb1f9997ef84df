//! The combined ranking: a service's own deviation (BARO) weighed by where the walk over the
//! call graph ends (PageRank).
//!
//! Each alone has a known failure. The deviation ranking blames the loudest service, often a
//! caller that amplifies a callee's latency; the walk blames a quiet service that happens to
//! sit downstream of the noise. The score here is the geometric mean of the two, each divided
//! by its maximum in the window, so a candidate must both have moved and be where the symptoms
//! lead. Without edges the walk follows the anomaly alone and the ranking reduces to BARO's.
//! Cost: that of the PageRank method.

use super::{CallGraph, Candidate, PersonalizedPageRank, RootCauseRanker, ServiceEvidence};

/// Geometric mean of the normalized BARO and PageRank scores.
#[derive(Debug, Clone, Copy, Default)]
pub struct Combined {
    /// The walk used.
    pub walk: PersonalizedPageRank,
}

impl RootCauseRanker for Combined {
    fn name(&self) -> &'static str {
        "combined"
    }

    fn rank(&self, graph: &CallGraph, evidence: &[ServiceEvidence]) -> Vec<Candidate> {
        self.walk.rank_by(graph, evidence, combined_score)
    }
}

/// The combined score of a node from its relative anomaly and relative walk visits.
pub(crate) fn combined_score(anomaly: f64, visits: f64) -> f64 {
    (anomaly * visits).sqrt()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{evidence, graph, order};
    use super::*;
    use crate::rca::Baro;

    #[test]
    fn a_quiet_service_downstream_of_the_fault_is_not_blamed() {
        let graph = graph(&[("front", "api"), ("api", "cache")]);
        // api is the cause; cache is healthy but downstream of it.
        let evidence = evidence(&[("front", 6.0), ("api", 7.0), ("cache", 0.2)]);
        let ranking = Combined::default().rank(&graph, &evidence);
        assert_eq!(order(&ranking)[0], "api", "{ranking:?}");
    }

    #[test]
    fn notes_are_shown_as_evidence_and_do_not_move_the_ranking() {
        let graph = graph(&[("front", "api")]);
        let mut noted = evidence(&[("front", 6.0), ("api", 7.0)]);
        noted[0].notes = vec!["log: \"GC pause of <*> ms\" (40 lines, 0.0 expected)".into()];
        let plain = Combined::default().rank(&graph, &evidence(&[("front", 6.0), ("api", 7.0)]));
        let ranking = Combined::default().rank(&graph, &noted);
        assert_eq!(order(&ranking), order(&plain));
        let front = ranking.iter().find(|c| c.service == "front").unwrap();
        assert!(front.evidence.contains(&noted[0].notes[0]), "{front:?}");
    }

    #[test]
    fn a_service_that_changed_inside_ranks_before_larger_symptoms_elsewhere() {
        let graph = graph(&[("front", "api"), ("front", "routes")]);
        let mut evidence = evidence(&[("front", 3.0), ("api", 40.0), ("routes", 6.0)]);
        evidence[2].changed_inside = true;
        for ranking in [
            Combined::default().rank(&graph, &evidence),
            Baro.rank(&graph, &evidence),
        ] {
            assert_eq!(order(&ranking), ["routes", "api", "front"], "{ranking:?}");
        }
    }

    #[test]
    fn a_callers_inside_change_does_not_count_while_a_callee_is_flagged() {
        // The caller logs errors because its callee times out: the callee is the cause.
        let graph = graph(&[("front", "api")]);
        let mut evidence = evidence(&[("front", 9.0), ("api", 8.0)]);
        evidence[0].changed_inside = true;
        let ranking = Combined::default().rank(&graph, &evidence);
        assert_eq!(order(&ranking)[0], "api", "{ranking:?}");
        evidence[1].anomalous = false;
        let ranking = Combined::default().rank(&graph, &evidence);
        assert_eq!(order(&ranking)[0], "front", "{ranking:?}");
    }

    #[test]
    fn without_edges_it_orders_like_baro() {
        let evidence = evidence(&[("a", 2.0), ("b", 9.0), ("c", 5.0)]);
        let empty = CallGraph::default();
        let combined = Combined::default().rank(&empty, &evidence);
        let baro = Baro.rank(&empty, &evidence);
        assert_eq!(order(&combined), order(&baro));
    }
}
