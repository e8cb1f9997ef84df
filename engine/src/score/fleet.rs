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
//! beyond the bar, are not learned), by a SPOT tail fit ([`LiveBar`]): no labels,
//! no training data, and a model trained last week that scores higher on today's data than on
//! its training rows gets a bar that follows today's scores. The bar never drops below the
//! row threshold (level 1): the gate only removes alarms. Until the pool holds enough rows to
//! fit the tail, the bar is the row threshold.
//!
//! State: the levels of the last [`POOL_MINUTES`] minutes.

use aiops_models::live_bar::LiveBar;
use aiops_models::rca::ServiceEvidence;

use crate::time::Pane;

/// Minutes of levels the bar is fitted on. Below the hour a restarted job replays (the
/// feature history), so a restart rebuilds the same pool; at 16 services it holds 928 rows.
pub const POOL_MINUTES: u64 = 58;

/// The fleet's recent levels and the bar they set.
#[derive(Debug, Clone)]
pub struct FleetGate {
    alarms_per_hour: f64,
    bar: LiveBar,
}

impl FleetGate {
    /// A gate for `alarms_per_hour` false incidents an hour across the fleet; 0 or less
    /// disables it (the bar stays at the row threshold).
    pub fn new(alarms_per_hour: f64) -> Self {
        FleetGate {
            alarms_per_hour,
            bar: LiveBar::new(POOL_MINUTES),
        }
    }

    /// The bar for minute `pane` (at least 1), fitted on the minutes before it; then pools
    /// the minute's scored levels. Minutes must come in increasing order.
    pub fn bar(&mut self, pane: Pane, evidence: &[ServiceEvidence]) -> f64 {
        let levels: Vec<f64> = evidence
            .iter()
            .filter(|e| !e.deviations.is_empty())
            .map(|e| e.level)
            .collect();
        let alarms_a_minute = (self.alarms_per_hour > 0.0).then_some(self.alarms_per_hour / 60.0);
        self.bar.next(pane, &levels, alarms_a_minute)
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

    /// Minutes in `hours` after the pool filled whose rows reach the bar.
    fn alarmed_minutes(services: usize, hours: usize, seed: u64) -> (usize, usize) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut gate = FleetGate::new(1.0);
        let (mut row_alarms, mut fleet_alarms) = (0, 0);
        for pane in 0..POOL_MINUTES + 60 * hours as Pane {
            let evidence = minute(&mut rng, services);
            let bar = gate.bar(pane, &evidence);
            if pane % 30 == 0 {
                eprintln!("{services} {pane} {bar}");
            }
            if pane >= POOL_MINUTES {
                row_alarms += usize::from(evidence.iter().any(|e| e.level >= 1.0));
                fleet_alarms += usize::from(evidence.iter().any(|e| e.level >= bar));
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
        // 16 services: the row threshold already meets the budget; the bar stays near it.
        let (rows, fleet) = alarmed_minutes(16, 5, 2);
        assert!(
            rows >= 20,
            "{rows}: 0.7 % of 960 rows an hour is about 6.5 an hour"
        );
        assert!(fleet <= 12 && fleet <= rows, "{fleet} of {rows}");
    }

    #[test]
    fn the_bar_is_the_row_threshold_until_the_pool_fills_and_a_fault_is_not_learned() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut gate = FleetGate::new(1.0);
        assert_eq!(gate.bar(0, &minute(&mut rng, 16)), 1.0);
        for pane in 1..POOL_MINUTES {
            gate.bar(pane, &minute(&mut rng, 2_000));
        }
        let mut faulty = minute(&mut rng, 2_000);
        faulty[0].level = 50.0;
        let bar = gate.bar(POOL_MINUTES, &faulty);
        assert!(bar > 1.2 && bar < 50.0, "{bar}");
        let next = gate.bar(POOL_MINUTES + 1, &minute(&mut rng, 2_000));
        assert!(
            (next - bar).abs() < 0.2 * bar,
            "the fault did not lift the bar: {next}"
        );
        let mut off = FleetGate::new(0.0);
        for pane in 0..POOL_MINUTES {
            assert_eq!(
                off.bar(pane, &minute(&mut rng, 2_000)),
                1.0,
                "0 disables the gate"
            );
        }
    }
}
