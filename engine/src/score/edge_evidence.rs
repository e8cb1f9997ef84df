//! Evidence only the call edges show, added to the services' own.
//!
//! Two faults hide from a service's own rows. A slow network into a service delays its
//! callers' outgoing spans but not its own spans: the edge's *network gap* (caller's span
//! minus callee's span) rises. A service that returns early or throws stops calling its
//! callees: its *call ratio* on each outgoing edge (calls on the edge per call it received)
//! drops, whatever the load. Both are judged per edge against the edge's own history, like
//! features (median/MAD), and credited to the callee (gap) or the caller (ratio) as the median
//! over its edges, so one odd edge does not flag a service.

use std::collections::{BTreeMap, HashMap};

use aiops_models::detect::{Direction, RobustSeries, SeriesSpec};
use aiops_models::rca::{Deviation, ServiceEvidence};

use crate::config::DetectionConfig;
use crate::graph::EdgeWindow;
use crate::time::Pane;

/// The evidence feature of a service whose inbound calls spend longer on the network.
pub const INBOUND_GAP: &str = "inbound_network_gap";
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
        for edge in edges.iter().filter(|e| !e.virtual_callee) {
            let series = self
                .series
                .entry((edge.caller.clone(), edge.callee.clone()))
                .or_default();
            if let Some(gap) = edge.gap_p50_ms.filter(|g| g.is_finite()) {
                if let Some(z) = judge(&mut series.gap, gap, &GAP_SPEC, &self.detection) {
                    scores
                        .entry((edge.callee.clone(), INBOUND_GAP))
                        .or_default()
                        .push(z);
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
            zs.sort_by(f64::total_cmp);
            let z = zs[zs.len() / 2];
            let flagged = z.abs() >= self.detection.threshold;
            let deviation = Deviation {
                feature: feature.to_string(),
                z,
            };
            match evidence.iter_mut().find(|e| e.service == service) {
                Some(own) => {
                    own.anomalous |= flagged;
                    own.deviations.push(deviation);
                }
                None => evidence.push(ServiceEvidence {
                    service,
                    anomalous: flagged,
                    deviations: vec![deviation],
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
            pane,
            caller: caller.into(),
            callee: callee.into(),
            virtual_callee: false,
            calls,
            errors: 0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            gap_p50_ms: Some(gap),
        }
    }

    fn baselines() -> EdgeBaselines {
        EdgeBaselines::new(DetectionConfig {
            threshold: 5.0,
            history_minutes: 30,
            min_history_minutes: 3,
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
