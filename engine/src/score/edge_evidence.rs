//! Evidence only the call edges show, added to the services' own.
//!
//! Two faults hide from a service's own rows. A slow network into a service delays its
//! callers' outgoing spans but not its own spans: the edge's *network gap* (caller's span
//! minus callee's span) rises; so does a CPU-starved caller's, which is slow to send and to
//! take the answer. A service that returns early or throws stops calling its callees: its
//! *call ratio* on each outgoing edge (calls on the edge per call it received) drops, whatever
//! the load. Both are judged per edge against the edge's own history, like features
//! (median/MAD). Gaps are credited to the end whose edges deviate together (see
//! `attribute_gaps`), ratios to the caller, each as the median over the service's edges, so
//! one odd edge does not flag a service.

use std::collections::{BTreeMap, HashMap};

use aiops_models::detect::{Direction, RobustSeries, SeriesSpec};
use aiops_models::rca::{Deviation, ServiceEvidence};

use crate::config::DetectionConfig;
use crate::graph::EdgeWindow;
use crate::time::Pane;

/// The evidence feature of a service whose inbound calls spend longer on the network.
pub const INBOUND_GAP: &str = "inbound_network_gap";
/// The evidence feature of a service whose outgoing calls spend longer between its spans and
/// its callees' (a slow or starved caller, or a slow network out of it).
pub const OUTBOUND_GAP: &str = "outbound_network_gap";
/// The evidence feature of a service whose calls per received call changed.
pub const OUTBOUND_RATIO: &str = "outbound_call_ratio";

/// 1 ms or 10% of the median gap is noise.
const GAP_SPEC: SeriesSpec = SeriesSpec {
    direction: Direction::Up,
    min_spread: 1.0,
    relative_spread: 0.1,
};
/// A tenth of a call per call, or 10% of the median ratio, is noise.
const RATIO_SPEC: SeriesSpec = SeriesSpec {
    direction: Direction::Both,
    min_spread: 0.1,
    relative_spread: 0.1,
};

#[derive(Default)]
struct EdgeSeries {
    gap: RobustSeries,
    ratio: RobustSeries,
}

/// Per-edge baselines of worker 0.
pub struct EdgeBaselines {
    detection: DetectionConfig,
    series: HashMap<(String, String), EdgeSeries>,
    /// Edges of minutes before this one were restored as history; the stream's are replays.
    live_from: Pane,
}

/// The median of `values` (which it sorts); `None` when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// Credits each edge's gap deviation to the end that explains it. A gap sits between caller
/// and callee: a slow network into the callee raises the gaps of all its inbound edges, a
/// starved or slow caller those of all its outbound edges. So an edge goes to the caller when
/// the caller's *other* outbound edges deviate comparably (their median at least half this
/// edge's deviation) and more than the callee's other inbound edges; else to the callee. An
/// end without other edges lends no support, so a lone edge is the callee's.
fn attribute_gaps(
    gaps: &[(&str, &str, f64)],
    scores: &mut BTreeMap<(String, &'static str), Vec<f64>>,
) {
    let mut outbound: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut inbound: HashMap<&str, Vec<f64>> = HashMap::new();
    for (caller, callee, z) in gaps {
        outbound.entry(caller).or_default().push(*z);
        inbound.entry(callee).or_default().push(*z);
    }
    // The median of a side's edges other than one with deviation `z`; 0 without others.
    let others = |side: &HashMap<&str, Vec<f64>>, service: &str, z: f64| {
        let mut rest = side.get(service).cloned().unwrap_or_default();
        if let Some(own) = rest.iter().position(|v| *v == z) {
            rest.swap_remove(own);
        }
        median(&mut rest).unwrap_or(0.0)
    };
    for (caller, callee, z) in gaps {
        let caller_support = others(&outbound, caller, *z);
        let callee_support = others(&inbound, callee, *z);
        let caller_explains = caller_support >= z / 2.0 && caller_support > callee_support;
        let key = match caller_explains {
            true => (caller.to_string(), OUTBOUND_GAP),
            false => (callee.to_string(), INBOUND_GAP),
        };
        scores.entry(key).or_default().push(*z);
    }
}

/// Scores `value` against `series` and adds it.
fn judge(
    series: &mut RobustSeries,
    value: f64,
    spec: &SeriesSpec,
    detection: &DetectionConfig,
) -> Option<f64> {
    let z = series.score(value, spec, detection.min_history_minutes);
    series.push(value, detection.history_minutes);
    z
}

impl EdgeBaselines {
    /// Empty baselines, judged with the detector's settings.
    pub fn new(detection: DetectionConfig) -> Self {
        EdgeBaselines {
            detection,
            series: HashMap::new(),
            live_from: 0,
        }
    }

    /// Takes the stored edges of the minutes before `live_from` as history (a restart);
    /// the stream's edges before `live_from` are then ignored as partial replays.
    pub fn restore(&mut self, mut edges: Vec<EdgeWindow>, live_from: Pane) {
        edges.sort_by_key(|e| e.pane);
        let mut start = 0;
        while start < edges.len() {
            let pane = edges[start].pane;
            let end = start + edges[start..].iter().take_while(|e| e.pane == pane).count();
            self.observe(&edges[start..end]);
            start = end;
        }
        self.live_from = live_from;
    }

    /// Judges one minute's edges: per service, the deviations of its inbound gaps and its
    /// outbound call ratios.
    fn observe(&mut self, edges: &[EdgeWindow]) -> BTreeMap<(String, &'static str), Vec<f64>> {
        let mut received: HashMap<&str, u64> = HashMap::new();
        for edge in edges {
            *received.entry(edge.callee.as_str()).or_default() += edge.calls;
        }
        let mut scores: BTreeMap<(String, &'static str), Vec<f64>> = BTreeMap::new();
        let mut gaps: Vec<(&str, &str, f64)> = Vec::new();
        for edge in edges.iter().filter(|e| !e.virtual_callee) {
            let series = self
                .series
                .entry((edge.caller.clone(), edge.callee.clone()))
                .or_default();
            if let Some(gap) = edge.gap_p50_ms.filter(|g| g.is_finite()) {
                if let Some(z) = judge(&mut series.gap, gap, &GAP_SPEC, &self.detection) {
                    gaps.push((edge.caller.as_str(), edge.callee.as_str(), z));
                }
            }
            if let Some(&calls_in) = received.get(edge.caller.as_str()).filter(|c| **c > 0) {
                let ratio = edge.calls as f64 / calls_in as f64;
                if let Some(z) = judge(&mut series.ratio, ratio, &RATIO_SPEC, &self.detection) {
                    scores
                        .entry((edge.caller.clone(), OUTBOUND_RATIO))
                        .or_default()
                        .push(z);
                }
            }
        }
        attribute_gaps(&gaps, &mut scores);
        scores
    }

    /// Adds the edges' evidence of minute `pane` to `evidence` (creating entries for services
    /// without rows), flagging services whose median edge deviation reaches the threshold.
    pub fn add_evidence(
        &mut self,
        pane: Pane,
        edges: &[EdgeWindow],
        evidence: &mut Vec<ServiceEvidence>,
    ) {
        if pane < self.live_from {
            return;
        }
        for ((service, feature), mut zs) in self.observe(edges) {
            let Some(z) = median(&mut zs) else {
                continue;
            };
            let level = z.abs() / self.detection.threshold;
            let flagged = level >= 1.0;
            let deviation = Deviation {
                feature: feature.to_string(),
                z,
            };
            match evidence.iter_mut().find(|e| e.service == service) {
                Some(own) => {
                    own.anomalous |= flagged;
                    own.level = own.level.max(level);
                    own.deviations.push(deviation);
                }
                None => evidence.push(ServiceEvidence {
                    service,
                    anomalous: flagged,
                    notes: Vec::new(),
                    deviations: vec![deviation],
                    level,
                    changed_inside: false,
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(pane: Pane, caller: &str, callee: &str, calls: u64, gap: f64) -> EdgeWindow {
        EdgeWindow {
            gap_p50_ms: Some(gap),
            ..EdgeWindow::calls(pane, caller, callee, calls)
        }
    }

    fn baselines() -> EdgeBaselines {
        EdgeBaselines::new(DetectionConfig {
            threshold: 5.0,
            history_minutes: 30,
            min_history_minutes: 3,
            alarms_per_hour: 1.0,
        })
    }

    fn feature<'a>(
        evidence: &'a [ServiceEvidence],
        service: &str,
        name: &str,
    ) -> Option<&'a Deviation> {
        evidence
            .iter()
            .find(|e| e.service == service)?
            .deviations
            .iter()
            .find(|d| d.feature == name)
    }

    #[test]
    fn a_service_that_stops_calling_its_callees_is_flagged_whatever_the_load() {
        let mut baselines = baselines();
        // front calls api; api calls db twice per request. Load varies tenfold.
        let minute = |pane, load: u64, per_call: u64| {
            vec![
                edge(pane, "front", "api", load, 1.0),
                edge(pane, "api", "db", load * per_call, 1.0),
            ]
        };
        for (pane, load) in [(1, 10), (2, 100), (3, 40), (4, 70)] {
            let mut evidence = Vec::new();
            baselines.add_evidence(pane, &minute(pane, load, 2), &mut evidence);
            assert!(evidence.iter().all(|e| !e.anomalous), "minute {pane}");
        }
        let mut evidence = Vec::new();
        baselines.add_evidence(5, &minute(5, 300, 0), &mut evidence);
        let ratio = feature(&evidence, "api", OUTBOUND_RATIO).expect("scored");
        assert!(ratio.z <= -5.0, "{ratio:?}");
        assert!(evidence
            .iter()
            .find(|e| e.service == "api")
            .is_some_and(|e| e.anomalous));
    }

    #[test]
    fn gaps_go_to_the_end_whose_other_edges_deviate_too() {
        let mut scores = BTreeMap::new();
        // A starved caller: all three of its calls are slow to come back; c is also called by
        // d, normally.
        let gaps = [
            ("a", "b", 40.0),
            ("a", "c", 42.0),
            ("a", "e", 41.0),
            ("d", "c", 0.5),
        ];
        attribute_gaps(&gaps, &mut scores);
        assert_eq!(scores[&("a".to_string(), OUTBOUND_GAP)].len(), 3);
        assert!(
            !scores.contains_key(&("c".to_string(), INBOUND_GAP))
                || scores[&("c".to_string(), INBOUND_GAP)] == [0.5]
        );
        // A slow network into b, its only caller a calls others a little slower too.
        let mut scores = BTreeMap::new();
        attribute_gaps(
            &[("a", "b", 300.0), ("a", "c", 4.0), ("a", "d", 5.0)],
            &mut scores,
        );
        assert_eq!(scores[&("b".to_string(), INBOUND_GAP)], [300.0]);
        // A slow network into b: both its callers see it; x also calls y normally.
        let mut scores = BTreeMap::new();
        let gaps = [("x", "b", 30.0), ("w", "b", 33.0), ("x", "y", 0.2)];
        attribute_gaps(&gaps, &mut scores);
        assert_eq!(scores[&("b".to_string(), INBOUND_GAP)], [30.0, 33.0]);
    }

    #[test]
    fn restored_history_counts_and_replayed_minutes_are_ignored() {
        let mut baselines = baselines();
        let history = (1..=3)
            .map(|pane| edge(pane, "api", "db", 10, 2.0))
            .collect();
        baselines.restore(history, 4);
        let mut replayed = Vec::new();
        baselines.add_evidence(3, &[edge(3, "api", "db", 10, 900.0)], &mut replayed);
        assert!(replayed.is_empty());
        let mut evidence = Vec::new();
        baselines.add_evidence(4, &[edge(4, "api", "db", 10, 80.0)], &mut evidence);
        assert!(feature(&evidence, "db", INBOUND_GAP).is_some_and(|d| d.z > 5.0));
    }
}
