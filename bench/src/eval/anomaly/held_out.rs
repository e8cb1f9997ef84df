//! Thresholds judged on machines whose data chose nothing.
//!
//! A detector's best-threshold figure uses the test labels; its online figure uses the
//! threshold its training part chose, but the settings around it (which threshold rule, which
//! risk) were still chosen by looking at these machines. Here every threshold setting is
//! chosen leave-one-machine-out: for each machine, the setting with the best mean online
//! PA-F1 on the other machines, scored on that one. The settings are the trained threshold
//! alone, and the live bar ([`LiveBar`], the job's fleet gate applied to one machine's score
//! stream) over a window of rows at a risk per row.

use aiops_models::live_bar::LiveBar;
use serde::Serialize;

use crate::detectors::multivariate::Scored;
use crate::scoring::f1::{self, mean, Figures};

/// The detectors judged leave-one-machine-out: the job's models and the best bench-only ones.
pub const HELD_OUT_DETECTORS: [&str; 7] = [
    "robust",
    "isolation-forest",
    "lstm",
    "ensemble",
    "neighbours",
    "lstm + context",
    "context multi-scale",
];

/// A threshold setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Setting {
    /// The threshold the training part chose.
    Trained,
    /// The trained threshold, raised where the live bar over the last `rows` rows at `risk`
    /// per row is higher.
    Live {
        /// Rows the bar is fitted on.
        rows: u64,
        /// Risk per row.
        risk: f64,
    },
}

/// The settings chosen among: two days and four days of ASD's 5-minute rows, at the risk the
/// ASD table's SPOT rows use (1e-2) and a tenth of it, and the trained threshold alone. On
/// ties the earlier wins: the live bar is what the job ships (its fleet gate), the trained
/// threshold alone only where the other machines show it to be better.
pub const SETTINGS: [Setting; 5] = [
    Setting::Live {
        rows: 576,
        risk: 1e-3,
    },
    Setting::Live {
        rows: 576,
        risk: 1e-2,
    },
    Setting::Live {
        rows: 1152,
        risk: 1e-3,
    },
    Setting::Live {
        rows: 1152,
        risk: 1e-2,
    },
    Setting::Trained,
];

/// Where [`SETTINGS`] holds the trained threshold alone.
const TRAINED: usize = SETTINGS.len() - 1;

impl Setting {
    fn name(&self) -> String {
        match self {
            Setting::Trained => "trained".into(),
            Setting::Live { rows, risk } => format!("live {rows} rows, risk {risk:e}"),
        }
    }

    /// The flags of `scored` under this setting.
    fn flags(&self, scored: &Scored) -> Vec<bool> {
        let Setting::Live { rows, risk } = *self else {
            return scored.flags.clone();
        };
        if scored.alert.is_nan() || scored.alert <= 0.0 {
            return scored.flags.clone();
        }
        let mut bar = LiveBar::new(rows);
        let steps = scored.scores.iter().zip(&scored.flags).enumerate();
        steps
            .map(|(step, (score, flag))| {
                let level = score / scored.alert;
                *flag && level >= bar.next(step as u64, &[level], Some(risk))
            })
            .collect()
    }
}

/// One detector on one machine: its figures under every setting.
struct Run {
    machine: String,
    detector: String,
    figures: Vec<Figures>,
}

/// The runs of an ASD evaluation, for the held-out choice.
#[derive(Default)]
pub struct LiveRuns {
    runs: Vec<Run>,
}

/// One detector judged leave-one-machine-out.
#[derive(Debug, Clone, Serialize)]
pub struct HeldOut {
    /// Detector.
    pub detector: String,
    /// Per machine, the setting the other machines chose.
    pub chosen: Vec<(String, String)>,
    /// Mean over machines of the figures under the chosen settings.
    pub figures: Figures,
    /// Mean over machines with the trained threshold alone.
    pub trained: Figures,
    /// Each setting's name and mean figures over every machine (not held out: what the
    /// choice saw).
    pub per_setting: Vec<(String, Figures)>,
}

impl LiveRuns {
    /// Adds one detector's scores on one machine (only the [`HELD_OUT_DETECTORS`]).
    pub fn add(&mut self, machine: &str, detector: &str, scored: &Scored, labels: &[bool]) {
        if !HELD_OUT_DETECTORS.contains(&detector) {
            return;
        }
        let figures = SETTINGS
            .iter()
            .map(|setting| {
                let flagged = Scored {
                    flags: setting.flags(scored),
                    ..scored.clone()
                };
                f1::figures(&flagged, labels)
            })
            .collect();
        self.runs.push(Run {
            machine: machine.to_string(),
            detector: detector.to_string(),
            figures,
        });
    }

    /// Every detector judged leave-one-machine-out.
    pub fn leave_one_machine_out(&self) -> Vec<HeldOut> {
        HELD_OUT_DETECTORS
            .iter()
            .map(|detector| self.held_out(detector))
            .collect()
    }

    /// Each setting's name and mean figures over every machine of `detector`.
    pub fn per_setting(&self, detector: &str) -> Vec<(String, Figures)> {
        let runs: Vec<&Run> = self
            .runs
            .iter()
            .filter(|r| r.detector == detector)
            .collect();
        SETTINGS
            .iter()
            .enumerate()
            .map(|(i, setting)| {
                let all: Vec<Figures> = runs.iter().map(|r| r.figures[i].clone()).collect();
                (setting.name(), mean(&all))
            })
            .collect()
    }

    fn held_out(&self, detector: &str) -> HeldOut {
        let runs: Vec<&Run> = self
            .runs
            .iter()
            .filter(|r| r.detector == detector)
            .collect();
        let mut chosen = Vec::new();
        let (mut figures, mut trained) = (Vec::new(), Vec::new());
        for run in &runs {
            let others = runs.iter().filter(|r| r.machine != run.machine);
            let best = best_setting(&others.collect::<Vec<_>>());
            chosen.push((run.machine.clone(), SETTINGS[best].name()));
            figures.push(run.figures[best].clone());
            trained.push(run.figures[TRAINED].clone());
        }
        let per_setting = self.per_setting(detector);
        HeldOut {
            detector: detector.to_string(),
            chosen,
            figures: mean(&figures),
            trained: mean(&trained),
            per_setting,
        }
    }
}

/// The setting with the best mean online PA-F1 over `runs` (the first on ties).
fn best_setting(runs: &[&&Run]) -> usize {
    let score = |i: usize| runs.iter().map(|r| r.figures[i].adjusted.f1).sum::<f64>();
    (0..SETTINGS.len()).fold(0, |best, i| match score(i) > score(best) + 1e-12 {
        true => i,
        false => best,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::f1::F1;

    fn run(machine: &str, adjusted: [f64; 5]) -> Run {
        Run {
            machine: machine.into(),
            detector: "neighbours".into(),
            figures: adjusted
                .iter()
                .map(|f1| Figures {
                    adjusted: F1 {
                        f1: *f1,
                        ..Default::default()
                    },
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn each_machine_is_scored_with_the_setting_the_others_chose() {
        // Online PA-F1 per setting, in the order of SETTINGS (trained last).
        let runs = LiveRuns {
            runs: vec![
                run("a", [0.1, 0.1, 0.1, 0.1, 0.9]),
                run("b", [0.8, 0.1, 0.1, 0.1, 0.2]),
                run("c", [0.8, 0.1, 0.1, 0.1, 0.1]),
            ],
        };
        let held = runs.held_out("neighbours");
        // a: b and c prefer the first live setting (1.6 against 0.3); b: a and c the trained
        // threshold (1.0 against 0.9); c: a and b too (1.1 against 0.9).
        let settings: Vec<&str> = held.chosen.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(
            settings,
            [SETTINGS[0].name().as_str(), "trained", "trained"]
        );
        assert!((held.figures.adjusted.f1 - (0.1 + 0.2 + 0.1) / 3.0).abs() < 1e-12);
        assert!((held.trained.adjusted.f1 - 0.4).abs() < 1e-12);
    }

    #[test]
    fn the_live_bar_removes_alarms_only_where_the_stream_sits_above_training() {
        // Healthy scores uniform in 2..3 times the trained threshold for a week, then a spike.
        let golden = (5f64.sqrt() - 1.0) / 2.0;
        let mut scores: Vec<f64> = (0..2_000)
            .map(|i| 2.0 + (i as f64 * golden).fract())
            .collect();
        scores.push(40.0);
        let scored = Scored::at_threshold(scores, 1.0);
        let live = Setting::Live {
            rows: 576,
            risk: 1e-2,
        };
        let flags = live.flags(&scored);
        assert!(
            scored.flags.iter().all(|f| *f),
            "the trained threshold flags everything"
        );
        // The bar needs about 200 rows (10 peaks above the 95th percentile) to be fitted.
        let late = flags[1_000..2_000].iter().filter(|f| **f).count();
        // Risk 1e-2: about 10 of 1,000 healthy rows reach the bar.
        assert!(late < 30, "{late} of the last 1,000 healthy rows flagged");
        assert!(flags[2_000], "the spike still is");
    }
}
