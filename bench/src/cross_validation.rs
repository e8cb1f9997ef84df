//! K-fold cross-validation of the GNN on a dataset's own labelled faults.
//!
//! A model trained only on the simulator meets a real system's symptoms for the first time at
//! evaluation. Supervised RCA is usually judged the other way: trained on some of a system's
//! labelled faults and tested on the others. Here every fault is ranked by a network that
//! never saw it: the faults are split into `folds` parts, stratified by fault type (the i-th
//! fault of a type, by time, goes to fold i mod `folds`, so each fold holds every type), and
//! each part is ranked by a network trained on the other parts plus any extra (simulated)
//! incidents. The network sees no service names, only evidence and graph shape, so it cannot
//! memorise which service a dataset usually blames.

use std::collections::BTreeMap;

use aiops_models::rca::gnn::{Gnn, GnnConfig, LabelledIncident};
use aiops_models::rca::{CallGraph, RootCauseRanker};

use aiops_engine::score::incidents::RankingInput;

use crate::datasets::Case;
use crate::error::{Error, Result};

use crate::datasets::MINUTE_US;

/// Fold of each case: stratified by fault type, in time order within a type.
pub fn assign_folds(cases: &[Case], folds: usize) -> Vec<usize> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by_key(|&i| cases[i].start_us);
    let mut fold = vec![0; cases.len()];
    for i in order {
        let count = seen.entry(cases[i].fault.as_str()).or_default();
        fold[i] = *count % folds;
        *count += 1;
    }
    fold
}

/// The recorded ranking input each case is judged by: the one `offset_minutes` after its
/// fault's minute, the one flagging the case's service when there are several (the same update
/// [`crate::scoring::accuracy::Pick::At`] selects).
pub fn inputs_of<'a>(
    cases: &[Case],
    inputs: &'a [RankingInput],
    offset_minutes: i64,
) -> Vec<Option<&'a RankingInput>> {
    cases
        .iter()
        .map(|case| {
            let time = case.start_minute_us() + offset_minutes * MINUTE_US;
            RankingInput::covering(inputs, &case.service, |input| input.time_us == time)
        })
        .collect()
}

/// 1-based rank of each case's service by a GNN that did not train on the case's fold
/// (`None`: no ranking input for the case, or the service is not in it). `extra` incidents
/// join every fold's training set; `fold_done(fold, training incidents)` reports progress.
pub fn cross_validated_ranks(
    cases: &[Case],
    inputs: &[Option<&RankingInput>],
    folds: usize,
    extra: &[LabelledIncident],
    config: &GnnConfig,
    mut fold_done: impl FnMut(usize, usize),
) -> Result<Vec<Option<usize>>> {
    if folds < 2 {
        return Err(Error::Config(format!(
            "cross-validation needs at least 2 folds, got {folds}"
        )));
    }
    let fold_of = assign_folds(cases, folds);
    let mut ranks = vec![None; cases.len()];
    for fold in 0..folds {
        let mut training: Vec<LabelledIncident> = extra.to_vec();
        training.extend(
            (0..cases.len())
                .filter(|&i| fold_of[i] != fold)
                .filter_map(|i| Some(inputs[i]?.labelled(&cases[i].service))),
        );
        let gnn = Gnn::new(config.hidden, config.layers, config.seed)?;
        gnn.train(&training, config, |_, _| {})
            .map_err(|e| Error::Config(format!("training fold {fold}: {e}")))?;
        for i in (0..cases.len()).filter(|&i| fold_of[i] == fold) {
            ranks[i] = inputs[i].and_then(|input| rank_of(&gnn, input, &cases[i].service));
        }
        fold_done(fold, training.len());
    }
    Ok(ranks)
}

fn rank_of(gnn: &Gnn, input: &RankingInput, service: &str) -> Option<usize> {
    let graph = CallGraph::new(&input.edges, std::iter::empty());
    gnn.rank(&graph, &input.evidence)
        .iter()
        .position(|candidate| candidate.service == input.key_of(service))
        .map(|position| position + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(fault: &str, minute: i64) -> Case {
        Case {
            service: "a".into(),
            fault: fault.into(),
            start_us: minute * MINUTE_US,
        }
    }

    #[test]
    fn folds_hold_every_fault_type_in_turn() {
        let cases = vec![
            case("cpu", 5),
            case("delay", 1),
            case("cpu", 2),
            case("cpu", 9),
            case("delay", 7),
        ];
        // cpu by time: minutes 2, 5, 9 -> folds 0, 1, 0; delay: 1, 7 -> 0, 1.
        assert_eq!(assign_folds(&cases, 2), vec![1, 0, 0, 0, 1]);
    }

    #[test]
    fn a_case_is_judged_by_the_input_of_its_offset_minute() {
        let input = |minute: i64| RankingInput {
            time_us: minute * MINUTE_US,
            incident_id: format!("i{minute}"),
            edges: Vec::new(),
            evidence: Vec::new(),
        };
        let inputs = vec![input(3), input(4), input(11)];
        let cases = vec![case("cpu", 3), case("cpu", 10), case("cpu", 20)];
        let chosen: Vec<Option<&str>> = inputs_of(&cases, &inputs, 1)
            .into_iter()
            .map(|i| i.map(|i| i.incident_id.as_str()))
            .collect();
        assert_eq!(chosen, vec![Some("i4"), Some("i11"), None]);
    }

    /// A chain front -> api -> db; the cause (rotating) is the one service whose error rate
    /// jumps, while every service's latency moves, the loudest at the front.
    fn incident(index: usize) -> (Case, RankingInput) {
        let cause = index % 3;
        use aiops_models::rca::{CallEdge, Deviation, ServiceEvidence};
        let services = ["front", "api", "db"];
        let evidence = services
            .iter()
            .enumerate()
            .map(|(i, service)| {
                let latency = Deviation {
                    feature: "p95_latency_1m".into(),
                    z: 9.0 - i as f64,
                };
                let errors = Deviation {
                    feature: "error_rate_1m".into(),
                    z: if i == cause { 8.0 } else { 0.1 },
                };
                ServiceEvidence {
                    service: service.to_string(),
                    deviations: vec![latency, errors],
                    anomalous: true,
                    ..Default::default()
                }
            })
            .collect();
        let minute = 10 * index as i64 + 1;
        let case = Case {
            service: services[cause].into(),
            fault: format!("f{cause}"),
            start_us: minute * MINUTE_US,
        };
        let input = RankingInput {
            time_us: (minute + 1) * MINUTE_US,
            incident_id: String::new(),
            edges: vec![
                CallEdge::new("front", "api", 100, 0, None),
                CallEdge::new("api", "db", 100, 0, None),
            ],
            evidence,
        };
        (case, input)
    }

    #[test]
    fn every_fault_is_ranked_by_a_network_that_learned_the_pattern_from_the_others() {
        let (cases, inputs): (Vec<Case>, Vec<RankingInput>) = (0..12).map(incident).unzip();
        let chosen = inputs_of(&cases, &inputs, 1);
        assert!(chosen.iter().all(Option::is_some));
        let config = GnnConfig {
            epochs: 80,
            ..GnnConfig::default()
        };
        let mut trained = Vec::new();
        let ranks = cross_validated_ranks(&cases, &chosen, 4, &[], &config, |fold, n| {
            trained.push((fold, n));
        })
        .expect("cross-validates");
        // Each type's 4 faults fall one per fold, so each fold trains on the other 9.
        assert_eq!(trained, vec![(0, 9), (1, 9), (2, 9), (3, 9)]);
        let first = ranks.iter().filter(|r| **r == Some(1)).count();
        assert!(first >= 10, "{ranks:?}");
    }

    #[test]
    fn one_fold_is_refused() {
        assert!(cross_validated_ranks(&[], &[], 1, &[], &GnnConfig::default(), |_, _| {}).is_err());
    }
}
