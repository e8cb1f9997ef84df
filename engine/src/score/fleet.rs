//! The fleet's false-alarm budget: which flagged services may open or keep an incident.
//!
//! A row threshold sets the false alarms of one service: with 1 % of healthy rows flagged, 16
//! services open an incident now and then, 2,000 services flag 20 rows every minute and one
//! incident never closes. What an on-call engineer sees is the fleet's rate, so the bar that
//! opens an incident is set for the fleet: the level (a row's score in units of its own
//! threshold, [`ServiceEvidence::level`]) that a healthy row exceeds with probability
//! `alarms_per_hour / (60 × rows a minute)`, so the whole fleet exceeds it about
//! `alarms_per_hour` times an hour, whatever its size.
//!
//! That level is estimated online from the fleet's own recent levels (a fault's rows, far
//! beyond the bar or of a service in an open incident, are not learned), by a SPOT tail fit
//! ([`LiveBar`]): no labels,
//! no training data, and a model trained last week that scores higher on today's data than on
//! its training rows gets a bar that follows today's scores. The bar never drops below the
//! row threshold (level 1): the gate only removes alarms. Until the pool holds enough rows to
//! fit the tail, the bar is the row threshold.
//!
//! State: the levels of the last [`POOL_MINUTES`] minutes.

use std::collections::{BTreeSet, HashMap, HashSet};

use aiops_models::live_bar::LiveBar;
use aiops_models::rca::ServiceEvidence;

use crate::time::Pane;

/// Minutes of levels the bar is fitted on. Below the hour a restarted job replays (the
/// feature history), so a restart rebuilds the same pool; at 16 services it holds 928 rows.
pub const POOL_MINUTES: u64 = 58;

/// The fleet's recent levels and the bars they set.
#[derive(Debug, Clone)]
pub struct FleetGate {
    alarms_per_hour: f64,
    /// The bar on one minute's level.
    single: LiveBar,
    /// The bar on two minutes' levels together (the smaller of a service's last two).
    lasting: LiveBar,
    /// Each service's level in the minute before, by minute.
    previous: HashMap<String, (Pane, f64)>,
    /// The first minute the gate saw.
    first: Option<Pane>,
}

impl FleetGate {
    /// A gate for `alarms_per_hour` false incidents an hour across the fleet; 0 or less
    /// disables it (the bars stay at the row threshold).
    pub fn new(alarms_per_hour: f64) -> Self {
        FleetGate {
            alarms_per_hour,
            single: LiveBar::new(POOL_MINUTES),
            lasting: LiveBar::new(POOL_MINUTES),
            previous: HashMap::new(),
            first: None,
        }
    }

    /// Whether the bars at minute `pane` are fitted on a full pool ([`POOL_MINUTES`] minutes
    /// seen). Before that, in a job's first hour, the detector's own history is short too,
    /// and a large fleet's ordinary outliers reach the bars by the dozen.
    pub fn settled(&self, pane: Pane) -> bool {
        self.first.is_some_and(|first| pane >= first + POOL_MINUTES)
    }

    /// The two pools, for tests comparing a restarted gate with an undisturbed one.
    #[cfg(test)]
    pub(crate) fn pools(&self) -> String {
        format!("{:?} {:?}", self.single, self.lasting)
    }

    /// The flagged services of minute `pane` that reach the fleet's bars, fitted on the
    /// minutes before it: their level alone, or the smaller of their last two minutes' levels,
    /// each bar with half the budget. A slow fault (a memory leak) never lifts one minute above
    /// what a large healthy fleet shows now and then, but two high minutes in a row are much
    /// rarer there. Then pools the minute's levels but those of `unlearned` services (the
    /// members of open incidents: a fault's levels would lift the bars above the next fault's
    /// for a whole pool's time). Minutes must come in increasing order.
    pub fn alarming(
        &mut self,
        pane: Pane,
        evidence: &[ServiceEvidence],
        unlearned: &HashSet<&str>,
    ) -> BTreeSet<String> {
        self.first.get_or_insert(pane);
        let scored: Vec<&ServiceEvidence> = evidence
            .iter()
            .filter(|e| !e.deviations.is_empty())
            .collect();
        let lasting: Vec<Option<f64>> = scored
            .iter()
            .map(|e| match self.previous.get(&e.service) {
                Some((before, level)) if before + 1 == pane => Some(level.min(e.level)),
                _ => None,
            })
            .collect();
        let budget = (self.alarms_per_hour > 0.0).then_some(self.alarms_per_hour / 120.0);
        let learned = |e: &&&ServiceEvidence| !unlearned.contains(e.service.as_str());
        let levels: Vec<f64> = scored.iter().filter(learned).map(|e| e.level).collect();
        let single_bar = self.single.next(pane, &levels, budget);
        let pairs: Vec<f64> = (scored.iter().zip(&lasting))
            .filter(|(e, _)| learned(e))
            .filter_map(|(_, pair)| *pair)
            .collect();
        let lasting_bar = self.lasting.next(pane, &pairs, budget);
        self.previous.retain(|_, (before, _)| *before + 1 >= pane);
        let mut alarming = BTreeSet::new();
        for (e, lasting) in scored.iter().zip(&lasting) {
            self.previous.insert(e.service.clone(), (pane, e.level));
            let reached = e.level >= single_bar || lasting.is_some_and(|l| l >= lasting_bar);
            if e.anomalous && reached {
                alarming.insert(e.service.clone());
            }
        }
        alarming
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// One minute of `services` healthy rows whose levels are Exponential(1) / 5: a row
    /// reaches level 1 (z 5) with probability e^-5 = 0.7 %.
    fn minute(rng: &mut impl Rng, services: usize) -> Vec<ServiceEvidence> {
        (0..services)
            .map(|i| {
                let level = -(1.0 - rng.random::<f64>()).ln() / 5.0;
                ServiceEvidence {
                    service: format!("s{i}"),
                    deviations: vec![aiops_models::rca::Deviation {
                        feature: "p95_latency_1m".into(),
                        z: level * 5.0,
                    }],
                    anomalous: level >= 1.0,
                    level,
                    ..Default::default()
                }
            })
            .collect()
    }

    /// Minutes in `hours` after the pool filled with rows over the row threshold, and with
    /// services at the fleet's bars.
    fn alarmed_minutes(services: usize, hours: usize, seed: u64) -> (usize, usize) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut gate = FleetGate::new(1.0);
        let (mut row_alarms, mut fleet_alarms) = (0, 0);
        for pane in 0..POOL_MINUTES + 60 * hours as Pane {
            let evidence = minute(&mut rng, services);
            let alarming = gate.alarming(pane, &evidence, &HashSet::new());
            if pane >= POOL_MINUTES {
                row_alarms += usize::from(evidence.iter().any(|e| e.anomalous));
                fleet_alarms += usize::from(!alarming.is_empty());
            }
        }
        (row_alarms, fleet_alarms)
    }

    #[test]
    fn the_fleet_raises_about_its_budget_whatever_its_size() {
        // 2,000 services: 0.7 % of rows over the row threshold is 14 a minute, every minute.
        let (rows, fleet) = alarmed_minutes(2_000, 5, 1);
        assert_eq!(rows, 300, "the row threshold alarms every minute");
        assert!(fleet <= 12, "{fleet} alarmed minutes in 5 hours, budget 5");
        // 16 services: the row threshold already meets the budget; the bars stay near it.
        let (rows, fleet) = alarmed_minutes(16, 5, 2);
        assert!(
            rows >= 20,
            "{rows}: 0.7 % of 960 rows an hour is about 6.5 an hour"
        );
        assert!(fleet <= 12 && fleet <= rows, "{fleet} of {rows}");
    }

    #[test]
    fn a_faults_levels_left_out_of_the_pools_keep_the_bars_for_the_next_fault() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let (mut learning, mut leaving_out) = (FleetGate::new(1.0), FleetGate::new(1.0));
        let members = HashSet::from(["s0"]);
        let mut second = (false, false);
        for pane in 0..POOL_MINUTES + 40 {
            let mut evidence = minute(&mut rng, 2_000);
            let mut set = |i: usize, level: f64| {
                evidence[i].level = level;
                evidence[i].anomalous = true;
            };
            // A first fault, a while above the two-minute bar but within twice it, then a
            // slow second fault at a lower level, two minutes running.
            let first = (POOL_MINUTES..POOL_MINUTES + 15).contains(&pane);
            if first {
                set(0, 1.8);
            }
            if pane >= POOL_MINUTES + 30 {
                set(1, 1.5);
            }
            let unlearned = if first {
                members.clone()
            } else {
                HashSet::new()
            };
            let learned = learning.alarming(pane, &evidence, &HashSet::new());
            let left_out = leaving_out.alarming(pane, &evidence, &unlearned);
            second.0 |= learned.contains("s1");
            second.1 |= left_out.contains("s1");
        }
        assert_eq!(
            second,
            (false, true),
            "learned, the first fault's levels lift the two-minute bar above the second's"
        );
    }

    #[test]
    fn a_fault_far_above_or_two_high_minutes_in_a_row_reach_the_bars() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut gate = FleetGate::new(1.0);
        let mut off = FleetGate::new(0.0);
        let first = minute(&mut rng, 16);
        let flagged: BTreeSet<String> = first
            .iter()
            .filter(|e| e.anomalous)
            .map(|e| e.service.clone())
            .collect();
        assert_eq!(
            gate.alarming(0, &first, &HashSet::new()),
            flagged,
            "the row threshold until fitted"
        );
        for pane in 1..POOL_MINUTES {
            let evidence = minute(&mut rng, 2_000);
            gate.alarming(pane, &evidence, &HashSet::new());
            let flagged = evidence.iter().filter(|e| e.anomalous).count();
            assert_eq!(
                off.alarming(pane, &evidence, &HashSet::new()).len(),
                flagged,
                "0 turns it off"
            );
        }
        let mut with = |pane: Pane, level: f64| {
            let mut evidence = minute(&mut rng, 2_000);
            evidence[0].level = level;
            evidence[0].anomalous = true;
            gate.alarming(pane, &evidence, &HashSet::new())
                .contains("s0")
        };
        assert!(with(POOL_MINUTES, 50.0), "a fault far above");
        assert!(!with(POOL_MINUTES + 1, 0.1), "and gone");
        // A slow fault: 1.6 (z 8) is within one minute's healthy tail at 2,000 services, but
        // not twice in a row.
        assert!(!with(POOL_MINUTES + 2, 1.6));
        assert!(with(POOL_MINUTES + 3, 1.6), "two minutes in a row");
    }
}
