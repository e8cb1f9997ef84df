//! The robust per-service detector, as a dataflow operator.
//!
//! Each service's scored features keep a rolling median/MAD baseline
//! ([`aiops_models::detect::RobustSeries`]); a row is anomalous when one feature lies
//! `threshold` robust standard deviations away. It is the detection signal RCA uses until the
//! learned models exist, and its deviations are the evidence the rankings read.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aiops_models::detect::RobustSeries;
use aiops_models::rca::{Deviation, ServiceEvidence};
use timely::dataflow::operators::vec::Map;
use timely::dataflow::StreamVec;

use super::inputs::{Scored, EVIDENCE_ONLY, SCORED, WORKLOAD};
use super::learned::ModelSlot;
use crate::config::{Combine, DetectionConfig};
use crate::features::FeatureRow;
use crate::stats::Stats;
use crate::time::{minute_of_us, pane_start_ns, Pane};

/// A stream whose last record came within this of a minute's end covered the minute: records
/// are not evenly spaced, and a replay ending at 12:00:59.9 holds a whole 12:00.
pub const INPUT_END_SLACK_NS: u64 = 1_000_000_000;

/// Whether minute `pane` was closed because the input ended inside it: the last record
/// came more than [`INPUT_END_SLACK_NS`] before the minute's end. Only once every worker's
/// input ended: until then the others still fill the minute.
pub fn closed_early(stats: &Stats, pane: Pane) -> bool {
    let ended = stats.inputs_ended.load(Ordering::Acquire);
    if ended == 0 || ended < stats.inputs_started.load(Ordering::Acquire) {
        return false;
    }
    let end = stats.input_end_ns.load(Ordering::Acquire);
    end != 0 && pane_start_ns(pane + 1) > end.saturating_add(INPUT_END_SLACK_NS)
}

/// Per-service detector state.
pub struct Detector {
    config: DetectionConfig,
    series: HashMap<String, [RobustSeries; SCORED.len() + EVIDENCE_ONLY.len()]>,
    models: Option<(ModelSlot, Combine)>,
    /// Knows when the input ended, so a minute closed early is marked, not judged.
    stats: Option<Arc<Stats>>,
}

impl Detector {
    /// A detector with no history.
    pub fn new(config: DetectionConfig) -> Self {
        Detector {
            config,
            series: HashMap::new(),
            models: None,
            stats: None,
        }
    }

    /// Marks the rows of a minute closed because the input ended inside it (`partial`) and
    /// leaves them unjudged and out of the history: half a minute's rates are not a drop.
    pub fn with_input_end(mut self, stats: Arc<Stats>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Also scores with the learned model in `slot`, combined with the robust score as
    /// `combine` says.
    pub fn with_models(mut self, slot: ModelSlot, combine: Combine) -> Self {
        self.models = Some((slot, combine));
        self
    }

    /// Applies the learned models' verdicts to `row` and `evidence`, if a model knows the
    /// service. The row's score becomes the combination (mean: of the robust score and every
    /// model's; max: the largest; model: the models' mean); its type the robust detector's
    /// feature when that one flagged, else the input the most confident model found furthest
    /// from the service's normal.
    fn apply_model(&mut self, row: &mut FeatureRow, evidence: &mut ServiceEvidence) {
        let Some((slot, combine)) = &mut self.models else {
            return;
        };
        let verdicts = slot.score(row);
        let Some((strongest, top_input)) = verdicts
            .iter()
            .max_by(|a, b| a.0.normalized.total_cmp(&b.0.normalized))
            .map(|(score, input)| (score.normalized, *input))
        else {
            return;
        };
        let models = verdicts.iter().map(|(s, _)| s.normalized);
        let count = verdicts.len() as f64;
        let combined = match (*combine, row.anomaly_score) {
            (Combine::Mean, Some(robust)) => (robust + models.sum::<f64>()) / (count + 1.0),
            (Combine::Max, Some(robust)) => robust.max(strongest),
            (Combine::Max, None) => strongest,
            _ => models.sum::<f64>() / count,
        };
        let anomalous = combined >= 0.5;
        if row.is_anomaly != Some(true) || !anomalous {
            row.anomaly_type = anomalous.then(|| top_input.to_string());
        }
        row.anomaly_score = Some(combined);
        row.is_anomaly = Some(anomalous);
        // As with the robust detector, a traffic change alone flags the row but opens no
        // incident: the ranking needs evidence of what the service did.
        let workload = row
            .anomaly_type
            .as_deref()
            .is_some_and(|t| WORKLOAD.contains(&t));
        evidence.anomalous = anomalous && !workload;
        // -log2(1 - score) is 1 at the combination's threshold of 0.5, as the robust level.
        evidence.level = match workload {
            true => 0.0,
            false => -(1.0 - combined).max(f64::MIN_POSITIVE).log2(),
        };
    }

    /// Scores `row` against its service's history, then adds it to that history. Sets
    /// `is_anomaly`, `anomaly_score` (0..1, 0.5 at the threshold) and `anomaly_type` (the
    /// feature that moved most) when at least one feature has enough history.
    pub fn score(&mut self, row: &mut FeatureRow) -> ServiceEvidence {
        let pane = minute_of_us(row.time_us) as Pane;
        if self.stats.as_ref().is_some_and(|s| closed_early(s, pane)) {
            row.partial = true;
            return ServiceEvidence {
                service: row.service_key(),
                ..Default::default()
            };
        }
        let series = self.series.entry(row.service_key()).or_default();
        let (detecting, evidence_only) = series.split_at_mut(SCORED.len());
        let deviations = score_features(row, &SCORED, detecting, &self.config);
        let evidence_only = score_features(row, &EVIDENCE_ONLY, evidence_only, &self.config);
        let mut evidence = ServiceEvidence {
            service: row.service_key(),
            deviations,
            anomalous: false,
            notes: moved_notes(row),
            level: 0.0,
            changed_inside: false,
        };
        if !evidence.deviations.is_empty() {
            self.flag(row, &mut evidence);
        }
        self.apply_model(row, &mut evidence);
        evidence.deviations.extend(evidence_only);
        evidence.changed_inside = moved_inside(&evidence.deviations, self.config.threshold);
        evidence
    }

    /// Flags `row` and sets its evidence's level from the detecting features' deviations.
    fn flag(&self, row: &mut FeatureRow, evidence: &mut ServiceEvidence) {
        let strength = evidence.strength();
        evidence.anomalous = strength >= self.config.threshold;
        row.is_anomaly = Some(evidence.anomalous);
        row.anomaly_score = Some(1.0 - 0.5f64.powf(strength / self.config.threshold));
        row.anomaly_type = evidence
            .anomalous
            .then(|| evidence.top_deviations(1)[0].feature.clone());
        // Traffic is an input to a service, not a property of it: a load surge moves every
        // service's rate and says nothing about where a fault is. It flags the row, but the
        // ranking's evidence is what the service itself did (latency, errors, resources).
        evidence
            .deviations
            .retain(|d| !WORKLOAD.contains(&d.feature.as_str()));
        evidence.level = evidence.strength() / self.config.threshold;
        evidence.anomalous = evidence.level >= 1.0;
    }
}

/// What moved inside the service that no number says: its calls and its log templates.
fn moved_notes(row: &FeatureRow) -> Vec<String> {
    let calls = row
        .moved_calls
        .iter()
        .flatten()
        .map(|c| format!("call: {c}"));
    let logs = row
        .moved_templates
        .iter()
        .flatten()
        .map(|t| format!("log: {t}"));
    calls.chain(logs).collect()
}

/// The robust z of each of `features` in `row` against its series (when it has enough
/// history), then the row's values join the series.
fn score_features(
    row: &FeatureRow,
    features: &[Scored],
    series: &mut [RobustSeries],
    config: &DetectionConfig,
) -> Vec<Deviation> {
    let mut deviations = Vec::new();
    for (scored, series) in features.iter().zip(series.iter_mut()) {
        let Some(value) = (scored.value)(row).filter(|v| v.is_finite()) else {
            continue;
        };
        if let Some(z) = series.score(value, &scored.spec, config.min_history_minutes) {
            deviations.push(Deviation {
                feature: scored.name.to_string(),
                z,
            });
        }
        series.push(value, config.history_minutes);
    }
    deviations
}

/// Whether one of the service's inside features (see [`super::inputs::Scored::inside`]) moved
/// `threshold` robust standard deviations.
fn moved_inside(deviations: &[Deviation], threshold: f64) -> bool {
    deviations.iter().any(|d| {
        d.z.abs() >= threshold
            && SCORED
                .iter()
                .chain(&EVIDENCE_ONLY)
                .any(|s| s.inside && s.name == d.feature.as_str())
    })
}

/// Extension trait: score rows.
pub trait DetectAnomalies<'scope> {
    /// Scores each row against its service's history (rows must be partitioned by service and
    /// arrive in minute order per service, as `feature_windows` emits them) and emits it with
    /// its evidence, at the row's time. Stateless with respect to progress: a row leaves as
    /// soon as it arrives.
    fn detect_anomalies(
        self,
        detector: Detector,
    ) -> StreamVec<'scope, Pane, (FeatureRow, ServiceEvidence)>;
}

impl<'scope> DetectAnomalies<'scope> for StreamVec<'scope, Pane, FeatureRow> {
    fn detect_anomalies(
        self,
        mut detector: Detector,
    ) -> StreamVec<'scope, Pane, (FeatureRow, ServiceEvidence)> {
        self.map(move |mut row| {
            let evidence = detector.score(&mut row);
            (row, evidence)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DetectionConfig {
        DetectionConfig {
            threshold: 5.0,
            history_minutes: 30,
            min_history_minutes: 10,
            alarms_per_hour: 1.0,
        }
    }

    fn row(latency: f64) -> FeatureRow {
        FeatureRow {
            service_name: "api".into(),
            p95_latency_1m: Some(latency),
            ..Default::default()
        }
    }

    #[test]
    fn a_minute_is_closed_early_only_after_every_worker_ended_before_its_end() {
        let stats = Stats::default();
        stats.inputs_started.store(2, Ordering::Release);
        // The input's last record at 10:00:30 (pane 600 = 10:00).
        stats
            .input_end_ns
            .store(pane_start_ns(600) + 30_000_000_000, Ordering::Release);
        stats.inputs_ended.store(1, Ordering::Release);
        assert!(
            !closed_early(&stats, 600),
            "the other worker still fills it"
        );
        stats.inputs_ended.store(2, Ordering::Release);
        assert!(closed_early(&stats, 600));
        assert!(!closed_early(&stats, 599));
        // A last record within the slack of the minute's end covered it.
        stats
            .input_end_ns
            .store(pane_start_ns(601) - 500_000_000, Ordering::Release);
        assert!(!closed_early(&stats, 600));
    }

    #[test]
    fn only_inside_features_at_the_threshold_count_as_an_inside_change() {
        let deviation = |feature: &str, z: f64| Deviation {
            feature: feature.into(),
            z,
        };
        assert!(moved_inside(&[deviation("template_shift", 5.0)], 5.0));
        assert!(moved_inside(&[deviation("cpu_usage", -6.0)], 5.0));
        assert!(!moved_inside(&[deviation("template_shift", 4.9)], 5.0));
        assert!(!moved_inside(&[deviation("p99_latency_1m", 60.0)], 5.0));
        assert!(!moved_inside(&[deviation("error_rate_1m", 9.0)], 5.0));
    }

    #[test]
    fn warm_up_rows_are_unjudged_then_a_latency_jump_is_flagged() {
        let mut detector = Detector::new(config());
        for i in 0..10 {
            let mut r = row(100.0 + (i % 3) as f64);
            let evidence = detector.score(&mut r);
            assert_eq!(r.is_anomaly, None);
            assert!(evidence.deviations.is_empty());
        }
        let mut normal = row(101.0);
        detector.score(&mut normal);
        assert_eq!(normal.is_anomaly, Some(false));
        assert!(normal.anomaly_score.expect("scored") < 0.5);
        let mut slow = row(400.0);
        let evidence = detector.score(&mut slow);
        assert!(evidence.anomalous);
        assert_eq!(slow.is_anomaly, Some(true));
        assert_eq!(slow.anomaly_type.as_deref(), Some("p95_latency_1m"));
        assert!(slow.anomaly_score.expect("scored") > 0.9);
    }
}
