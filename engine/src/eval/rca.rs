//! Matching labelled faults with incidents, and the published figures to compare with.

use std::collections::BTreeMap;
use std::path::Path;

use aiops_models::rca::{Accuracy, AccuracyTable};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::score::Incident;
use crate::sim::Simulator;
use crate::source::nezha::service_of_pod;

use crate::time::MINUTE_US;

/// One labelled fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// The faulty service.
    pub service: String,
    /// Fault type, as the dataset names it.
    pub fault: String,
    /// Injection time, µs since the epoch.
    pub start_us: i64,
}

impl Case {
    /// The minute (µs) the fault started in.
    pub fn start_minute_us(&self) -> i64 {
        self.start_us.div_euclid(MINUTE_US) * MINUTE_US
    }
}

/// Which incident update a case is judged by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pick {
    /// The first update within this many minutes from the fault's minute (the live setting:
    /// the ranking the operator saw first). No update: the case counts as a miss.
    FirstWithin(i64),
    /// The update of the fault's minute plus this many minutes (the published setting: RCA is
    /// triggered at a known time).
    At(i64),
}

/// One case's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The case.
    pub case: Case,
    /// Minutes from the fault's minute to the incident update used, if one was found.
    pub delay_minutes: Option<i64>,
    /// 1-based rank of the true service per method (absent: not in the top k or no incident).
    pub ranks: BTreeMap<String, Option<usize>>,
}

/// Judges every case by the incident update `pick` selects.
pub fn judge(cases: &[Case], incidents: &[Incident], methods: &[&str], pick: Pick) -> Vec<Outcome> {
    let mut by_time: Vec<&Incident> = incidents.iter().collect();
    by_time.sort_by_key(|i| i.time_us);
    cases
        .iter()
        .map(|case| {
            let minute = case.start_minute_us();
            let chosen = match pick {
                Pick::FirstWithin(minutes) => by_time
                    .iter()
                    .find(|i| i.time_us >= minute && i.time_us < minute + minutes * MINUTE_US),
                Pick::At(offset) => by_time
                    .iter()
                    .find(|i| i.time_us == minute + offset * MINUTE_US),
            };
            let ranks = methods
                .iter()
                .map(|method| {
                    let rank = chosen
                        .and_then(|i| i.rankings.get(*method))
                        .and_then(|ranking| {
                            ranking
                                .iter()
                                .position(|s| *s == case.service)
                                .map(|p| p + 1)
                        });
                    (method.to_string(), rank)
                })
                .collect();
            Outcome {
                case: case.clone(),
                delay_minutes: chosen.map(|i| (i.time_us - minute) / MINUTE_US),
                ranks,
            }
        })
        .collect()
}

/// Accuracy per method over `outcomes`.
pub fn accuracy(outcomes: &[&Outcome], method: &str) -> Accuracy {
    let mut accuracy = Accuracy::default();
    for outcome in outcomes {
        accuracy.add(outcome.ranks.get(method).copied().flatten());
    }
    accuracy
}

/// Tables for all cases and per fault type: our methods, then `published` rows.
pub fn tables(
    dataset: &str,
    outcomes: &[Outcome],
    methods: &[&str],
    published: &[Published],
) -> Vec<AccuracyTable> {
    let mut groups: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
    for outcome in outcomes {
        groups
            .entry(format!("{dataset} / {}", outcome.case.fault))
            .or_default()
            .push(outcome);
    }
    let all: Vec<&Outcome> = outcomes.iter().collect();
    let mut tables = vec![table(
        &format!("{dataset} / all faults"),
        &all,
        methods,
        published,
    )];
    tables.extend(
        groups
            .iter()
            .map(|(name, group)| table(name, group, methods, &[])),
    );
    tables
}

fn table(
    name: &str,
    outcomes: &[&Outcome],
    methods: &[&str],
    published: &[Published],
) -> AccuracyTable {
    let mut table = AccuracyTable {
        dataset: format!("{name} ({} cases)", outcomes.len()),
        rows: Vec::new(),
    };
    for method in methods {
        table.measured(method, &accuracy(outcomes, method));
    }
    for (method, source, figures) in published {
        table.published(method, source, *figures);
    }
    table
}

/// A published figure: method, source, AC@1/3/5 in percent.
pub type Published = (&'static str, &'static str, [f64; 3]);

/// Published service-level AC@1/3/5 on Nezha's TrainTicket data (Yu et al., FSE 2023).
pub const NEZHA_PUBLISHED: [Published; 4] = [
    ("Nezha (traces+metrics+logs)", "FSE'23", [86.7, 97.8, 97.8]),
    ("Nezha without logs", "FSE'23", [42.2, 44.4, 44.4]),
    ("MicroRCA", "FSE'23", [20.0, 31.1, 44.4]),
    ("MicroRank", "FSE'23", [15.6, 24.4, 35.6]),
];

/// The faults of the Nezha dataset at `root` (both days' fault lists), by `inject_time`
/// (UTC; the README explains why not `inject_timestamp`).
pub fn nezha_cases(root: &Path) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    let mut days: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    days.sort();
    for day in days {
        let Some(name) = day.file_name().and_then(|n| n.to_str()).map(String::from) else {
            continue;
        };
        let list = day.join(format!("{name}-fault_list.json"));
        if !list.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&list).map_err(|e| Error::io(&list, e))?;
        let hours: BTreeMap<String, Vec<serde_json::Value>> = serde_json::from_str(&text)
            .map_err(|e| Error::Schema(format!("{}: {e}", list.display())))?;
        for fault in hours.into_values().flatten() {
            let field = |key: &str| {
                fault[key].as_str().map(String::from).ok_or_else(|| {
                    Error::Schema(format!("{}: a fault lacks {key}", list.display()))
                })
            };
            let time =
                chrono::NaiveDateTime::parse_from_str(&field("inject_time")?, "%Y-%m-%d %H:%M:%S")
                    .map_err(|e| Error::Schema(format!("{}: inject_time: {e}", list.display())))?;
            cases.push(Case {
                service: service_of_pod(&field("inject_pod")?).to_string(),
                fault: field("inject_type")?,
                start_us: time.and_utc().timestamp_micros(),
            });
        }
    }
    cases.sort_by_key(|c| c.start_us);
    if cases.is_empty() {
        return Err(Error::Config(format!(
            "{}: no <day>/<day>-fault_list.json",
            root.display()
        )));
    }
    Ok(cases)
}

/// The faults a simulation injects.
pub fn simulator_cases(sim: &Simulator) -> Vec<Case> {
    sim.faults
        .iter()
        .filter(|f| f.start_ns < sim.end_ns())
        .map(|f| Case {
            service: sim.topology.services[f.service].name.clone(),
            fault: f.kind.name().to_string(),
            start_us: (f.start_ns / 1_000) as i64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(minute: i64, ranking: &[&str]) -> Incident {
        Incident {
            incident_id: "INC".into(),
            time_us: minute * MINUTE_US,
            opened_us: minute * MINUTE_US,
            anomalous_services: Vec::new(),
            method: "baro".into(),
            root_cause: ranking.first().map(|s| s.to_string()),
            candidates: Vec::new(),
            rankings: BTreeMap::from([(
                "baro".to_string(),
                ranking.iter().map(|s| s.to_string()).collect(),
            )]),
            edges: 0,
        }
    }

    fn case(minute: i64, service: &str) -> Case {
        Case {
            service: service.into(),
            fault: "latency".into(),
            start_us: minute * MINUTE_US + 4_000_000,
        }
    }

    #[test]
    fn the_first_update_in_the_window_or_the_fixed_minute_is_judged() {
        let incidents = [
            incident(9, &["x"]),
            incident(11, &["b", "a"]),
            incident(12, &["a"]),
        ];
        let cases = [case(10, "a"), case(20, "a")];
        let first = judge(&cases, &incidents, &["baro"], Pick::FirstWithin(5));
        assert_eq!(first[0].ranks["baro"], Some(2));
        assert_eq!(first[0].delay_minutes, Some(1));
        assert_eq!(first[1].ranks["baro"], None, "no incident: a miss");
        let fixed = judge(&cases, &incidents, &["baro"], Pick::At(2));
        assert_eq!(fixed[0].ranks["baro"], Some(1));
        let acc = accuracy(&first.iter().collect::<Vec<_>>(), "baro");
        assert_eq!((acc.at(1), acc.at(2)), (0.0, 50.0));
    }

    #[test]
    fn nezha_fault_lists_parse_with_the_utc_inject_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let day = dir.path().join("2023-01-29");
        std::fs::create_dir_all(&day).expect("mkdir");
        std::fs::write(
            day.join("2023-01-29-fault_list.json"),
            r#"{"08": [{"inject_time": "2023-01-29 08:43:04", "inject_timestamp": "1674953044",
                "inject_pod": "ts-contacts-service-866bd68c97-xcqfx", "inject_type": "return"}]}"#,
        )
        .expect("write");
        let cases = nezha_cases(dir.path()).expect("parses");
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].service, "ts-contacts-service");
        assert_eq!(cases[0].start_us, 1_674_981_784_000_000);
    }
}
