//! Ranking quality as the RCA literature reports it: AC@k, the fraction of cases whose true
//! root cause is among the top k, and Avg@5, the mean of AC@1..AC@5; and which incident
//! update judges each labelled fault.

use std::collections::{BTreeMap, BTreeSet};

use aiops_engine::score::Incident;
use serde::Serialize;

use crate::datasets::{Case, Published, MINUTE_US};

/// Accumulates AC@1..AC@5 over cases.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Accuracy {
    /// Cases seen.
    pub cases: usize,
    /// Cases whose cause was at rank 1..=5 (index 0 is rank 1); a cause at rank 2 counts for
    /// AC@2..AC@5.
    hits_at: [usize; 5],
}

impl Accuracy {
    /// Adds a case whose true cause is at `rank` (1-based), or was not ranked (`None`).
    pub fn add(&mut self, rank: Option<usize>) {
        self.cases += 1;
        if let Some(rank) = rank.filter(|r| (1..=5).contains(r)) {
            for hits in &mut self.hits_at[rank - 1..] {
                *hits += 1;
            }
        }
    }

    /// AC@k in percent (k in 1..=5); 0 without cases.
    pub fn at(&self, k: usize) -> f64 {
        if self.cases == 0 || !(1..=5).contains(&k) {
            return 0.0;
        }
        100.0 * self.hits_at[k - 1] as f64 / self.cases as f64
    }

    /// Avg@5 in percent.
    pub fn avg5(&self) -> f64 {
        (1..=5).map(|k| self.at(k)).sum::<f64>() / 5.0
    }
}

/// One row of an evaluation table: a method and its accuracy, or a published figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyRow {
    /// Method name.
    pub method: String,
    /// Where the figures come from: `ours` or a citation.
    pub source: String,
    /// Cases.
    pub cases: Option<usize>,
    /// AC@1, AC@3, AC@5 and Avg@5 in percent (Avg@5 unknown for some published rows).
    pub ac1: f64,
    /// AC@3.
    pub ac3: f64,
    /// AC@5.
    pub ac5: f64,
    /// Avg@5.
    pub avg5: Option<f64>,
}

/// An evaluation table for one dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccuracyTable {
    /// Dataset (and subset) name.
    pub dataset: String,
    /// Rows, ours first.
    pub rows: Vec<AccuracyRow>,
}

impl AccuracyTable {
    /// Adds our method's measured accuracy.
    pub fn measured(&mut self, method: &str, accuracy: &Accuracy) {
        self.rows.push(AccuracyRow {
            method: method.to_string(),
            source: "ours".into(),
            cases: Some(accuracy.cases),
            ac1: accuracy.at(1),
            ac3: accuracy.at(3),
            ac5: accuracy.at(5),
            avg5: Some(accuracy.avg5()),
        });
    }

    /// Adds a published figure.
    pub fn published(&mut self, method: &str, source: &str, [ac1, ac3, ac5]: [f64; 3]) {
        self.rows.push(AccuracyRow {
            method: method.to_string(),
            source: source.to_string(),
            cases: None,
            ac1,
            ac3,
            ac5,
            avg5: None,
        });
    }

    /// The table as aligned text.
    pub fn render(&self) -> String {
        let mut text = format!(
            "{}\n{:<28} {:<12} {:>5} {:>6} {:>6} {:>6} {:>6}\n",
            self.dataset, "method", "source", "cases", "AC@1", "AC@3", "AC@5", "Avg@5"
        );
        for row in &self.rows {
            let cases = row.cases.map_or("-".into(), |c| c.to_string());
            let avg5 = row.avg5.map_or("-".into(), |a| format!("{a:.1}"));
            text += &format!(
                "{:<28} {:<12} {:>5} {:>6.1} {:>6.1} {:>6.1} {:>6}\n",
                row.method, row.source, cases, row.ac1, row.ac3, row.ac5, avg5
            );
        }
        text
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
    /// The first update within `window` minutes, as [`Pick::FirstWithin`], then what its
    /// incident said `after` minutes later (the root cause an alert carries once the job has
    /// revised it; an incident over by then keeps its last update).
    Revised {
        /// As in [`Pick::FirstWithin`].
        window: i64,
        /// Minutes after that first update.
        after: i64,
    },
}

/// One case's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The case.
    pub case: Case,
    /// Minutes from the fault's minute to the incident update used, if one was found.
    pub delay_minutes: Option<i64>,
    /// The incident judged, if one was found.
    pub incident_id: Option<String>,
    /// 1-based rank of the true service per method (absent: not in the top k or no incident).
    pub ranks: BTreeMap<String, Option<usize>>,
}

/// Judges every case by the incident update `pick` selects. Among the updates `pick` allows,
/// the fault's is the first whose anomalous services include the fault's service (the
/// incident that covers it, when several run at once); when none does, the first.
pub fn judge(cases: &[Case], incidents: &[Incident], methods: &[&str], pick: Pick) -> Vec<Outcome> {
    let mut by_time: Vec<&Incident> = incidents.iter().collect();
    by_time.sort_by_key(|i| i.time_us);
    cases
        .iter()
        .map(|case| {
            let minute = case.start_minute_us();
            let covering = |within: &dyn Fn(&Incident) -> bool| {
                let mut updates = by_time.iter().copied().filter(|i| within(i));
                let first = updates.clone().next();
                updates
                    .find(|i| i.anomalous_services.contains(&case.service))
                    .or(first)
            };
            let first_within = |minutes: i64| {
                covering(&|i| i.time_us >= minute && i.time_us < minute + minutes * MINUTE_US)
            };
            let chosen = match pick {
                Pick::FirstWithin(minutes) => first_within(minutes),
                Pick::At(offset) => covering(&|i| i.time_us == minute + offset * MINUTE_US),
                Pick::Revised { window, after } => first_within(window).map(|first| {
                    let until = first.time_us + after * MINUTE_US;
                    let same = by_time
                        .iter()
                        .filter(|i| i.incident_id == first.incident_id);
                    same.take_while(|i| i.time_us <= until)
                        .last()
                        .copied()
                        .unwrap_or(first)
                }),
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
                incident_id: chosen.map(|i| i.incident_id.clone()),
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

/// Minutes after a fault's judged window in which an incident may still be its recovery: such
/// an incident is neither a hit nor a false alarm.
pub const RECOVERY_MINUTES: i64 = 5;

/// Incidents the detector opened away from every fault: the live protocol's false alarms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FalseIncidents {
    /// Incidents opened in a quiet minute.
    pub count: usize,
    /// Minutes with feature rows outside every fault's window and recovery.
    pub quiet_minutes: usize,
}

impl FalseIncidents {
    /// Counts the incidents of one run opened in its quiet minutes: those of `minutes` (the
    /// run's minutes with rows, microseconds) outside `[fault minute, + window + recovery)`.
    pub fn of(
        cases: &[Case],
        incidents: &[Incident],
        minutes: &BTreeSet<i64>,
        window: i64,
    ) -> Self {
        let stretch = (window + RECOVERY_MINUTES) * MINUTE_US;
        let quiet = |minute: i64| {
            cases.iter().all(|c| {
                let start = c.start_minute_us();
                minute < start || minute >= start + stretch
            })
        };
        let opened: BTreeSet<(i64, &str)> = incidents
            .iter()
            .map(|i| (i.opened_us, i.incident_id.as_str()))
            .collect();
        Self {
            count: opened.iter().filter(|(minute, _)| quiet(*minute)).count(),
            quiet_minutes: minutes.iter().filter(|m| quiet(**m)).count(),
        }
    }

    /// Adds another run's counts.
    pub fn add(&mut self, other: Self) {
        self.count += other.count;
        self.quiet_minutes += other.quiet_minutes;
    }

    /// False incidents per quiet hour (0 without quiet minutes).
    pub fn per_hour(&self) -> f64 {
        match self.quiet_minutes {
            0 => 0.0,
            minutes => self.count as f64 * 60.0 / minutes as f64,
        }
    }
}

/// One table per UTC day of the faults' starts: how stable a figure is across days, the
/// held-out view when no setting was chosen on either.
pub fn day_tables(dataset: &str, outcomes: &[Outcome], methods: &[&str]) -> Vec<AccuracyTable> {
    let mut days: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
    for outcome in outcomes {
        let day = chrono::DateTime::from_timestamp_micros(outcome.case.start_us).map_or_else(
            || "unknown day".to_string(),
            |t| t.format("%Y-%m-%d").to_string(),
        );
        days.entry(format!("{dataset} / day {day}"))
            .or_default()
            .push(outcome);
    }
    days.iter()
        .map(|(name, group)| table(name, group, methods, &[]))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ac_at_k_counts_a_hit_for_every_k_at_or_beyond_its_rank() {
        let mut accuracy = Accuracy::default();
        for rank in [Some(1), Some(2), Some(4), None] {
            accuracy.add(rank);
        }
        assert_eq!(accuracy.at(1), 25.0);
        assert_eq!(accuracy.at(2), 50.0);
        assert_eq!(accuracy.at(3), 50.0);
        assert_eq!(accuracy.at(4), 75.0);
        assert_eq!(accuracy.at(5), 75.0);
        assert_eq!(accuracy.avg5(), 55.0);
    }

    #[test]
    fn a_table_renders_ours_and_published_rows() {
        let mut accuracy = Accuracy::default();
        accuracy.add(Some(1));
        let mut table = AccuracyTable {
            dataset: "demo".into(),
            rows: Vec::new(),
        };
        table.measured("combined", &accuracy);
        table.published("MicroRCA", "paper", [20.0, 31.1, 44.4]);
        let text = table.render();
        assert!(text.contains("combined"), "{text}");
        assert!(text.contains("100.0"), "{text}");
        assert!(text.contains("44.4"), "{text}");
    }

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
            environment: String::new(),
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
        // A minute after the first update (11) the incident said "a"; two minutes after, it
        // was over and its last update (12) stands.
        for after in [1, 2] {
            let revised = judge(
                &cases,
                &incidents,
                &["baro"],
                Pick::Revised { window: 5, after },
            );
            assert_eq!(revised[0].ranks["baro"], Some(1), "after {after}");
            assert_eq!(revised[0].delay_minutes, Some(2));
            assert_eq!(revised[1].ranks["baro"], None);
        }
    }

    #[test]
    fn of_several_incidents_the_one_whose_symptoms_include_the_fault_is_judged() {
        let with = |minute: i64, id: &str, anomalous: &[&str], ranking: &[&str]| Incident {
            incident_id: id.into(),
            anomalous_services: anomalous.iter().map(|s| s.to_string()).collect(),
            ..incident(minute, ranking)
        };
        let incidents = [
            with(10, "INC-10", &["x"], &["x"]),
            with(11, "INC-10", &["x"], &["x"]),
            with(11, "INC-11", &["a", "b"], &["b", "a"]),
            with(12, "INC-11", &["a", "b"], &["a"]),
        ];
        let cases = [case(10, "a"), case(10, "z")];
        let first = judge(&cases, &incidents, &["baro"], Pick::FirstWithin(5));
        assert_eq!(first[0].incident_id.as_deref(), Some("INC-11"));
        assert_eq!(
            (first[0].delay_minutes, first[0].ranks["baro"]),
            (Some(1), Some(2))
        );
        assert_eq!(
            first[1].incident_id.as_deref(),
            Some("INC-10"),
            "covered by none: the first update"
        );
        let at = judge(&cases, &incidents, &["baro"], Pick::At(1));
        assert_eq!(at[0].incident_id.as_deref(), Some("INC-11"));
        let revised = judge(
            &cases,
            &incidents,
            &["baro"],
            Pick::Revised {
                window: 5,
                after: 1,
            },
        );
        assert_eq!(revised[0].ranks["baro"], Some(1), "INC-11 a minute later");
    }

    #[test]
    fn false_incidents_are_those_opened_in_quiet_minutes() {
        // A fault at minute 10 judged over 5 minutes: minutes 10..20 are its window and
        // recovery; the run has rows in minutes 0..40.
        let cases = [case(10, "a")];
        let minutes: BTreeSet<i64> = (0..40).map(|m| m * MINUTE_US).collect();
        let opened = |minute: i64, id: &str| {
            let mut update = incident(minute, &["a"]);
            update.incident_id = id.into();
            update
        };
        let incidents = [
            opened(3, "INC-3"),   // quiet: false
            opened(11, "INC-11"), // the fault's
            opened(19, "INC-19"), // recovery
            opened(25, "INC-25"), // quiet: false
            {
                let mut later = opened(26, "INC-25"); // an update of INC-25, not a new one
                later.opened_us = 25 * MINUTE_US;
                later
            },
        ];
        let quiet = FalseIncidents::of(&cases, &incidents, &minutes, 5);
        assert_eq!(
            quiet,
            FalseIncidents {
                count: 2,
                quiet_minutes: 30
            }
        );
        assert_eq!(quiet.per_hour(), 4.0);
    }

    #[test]
    fn day_tables_split_the_cases_by_the_day_they_started() {
        let day = 24 * 60;
        let outcome = |minute: i64, rank: Option<usize>| Outcome {
            case: case(minute, "a"),
            delay_minutes: Some(1),
            incident_id: None,
            ranks: BTreeMap::from([("baro".to_string(), rank)]),
        };
        let outcomes = [
            outcome(10, Some(1)),
            outcome(day + 10, None),
            outcome(day + 20, Some(1)),
        ];
        let tables = day_tables("demo", &outcomes, &["baro"]);
        let names: Vec<&str> = tables.iter().map(|t| t.dataset.as_str()).collect();
        assert_eq!(
            names,
            [
                "demo / day 1970-01-01 (1 cases)",
                "demo / day 1970-01-02 (2 cases)"
            ]
        );
        assert!(
            tables[1].render().contains("50.0"),
            "{}",
            tables[1].render()
        );
    }
}
