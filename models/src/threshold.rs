//! How a trained model's alert threshold is chosen from the scores of its training data.
//!
//! A contamination share flags that share of rows whatever the data: 1 % of the rows of 16
//! services is about ten alerts an hour on a healthy fleet. Measured on the simulator, the
//! LSTM's forecast errors under faults lie far beyond its training errors' 99th percentile,
//! so that threshold only adds false alarms. A tail fit ([`crate::spot`]) instead asks for the
//! error a normal row exceeds with a small probability, which a quantile of a few thousand
//! training rows cannot estimate, and extrapolates it from the training tail.

use crate::error::FitError;
use crate::service_model::quantile;

/// Peaks are the training scores above this quantile (SPOT's usual initial level).
pub const TAIL_LEVEL: f64 = 0.98;

/// False alarms an hour a healthy fleet may raise by default (`aiops train
/// --alarms-per-hour`). The job scores one row per service and minute, so the risk per row is
/// this over 60 × services ([`ThresholdRule::for_alarm_budget`]): 1.04e-3 for 16 services,
/// where the simulator measured 0.96 false alarms an hour at risk 1e-3, against 8.5 with the
/// 99th percentile, at nearly the same fault recall (see the README).
pub const DEFAULT_ALARMS_PER_HOUR: f64 = 1.0;

/// Rows a fleet of `services` scores in an hour: one per service and minute.
fn rows_per_hour(services: usize) -> f64 {
    60.0 * services.max(1) as f64
}

/// The false alarms an hour a healthy fleet of `services` raises at `risk` per row: the
/// inverse of [`ThresholdRule::for_alarm_budget`].
pub fn alarms_per_hour(risk: f64, services: usize) -> f64 {
    risk * rows_per_hour(services)
}

/// The rule that turns training scores into a threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdRule {
    /// The (1 − share) quantile of the training scores: that share of them is flagged.
    Contamination(f64),
    /// The score a normal row exceeds with probability `risk`, from a generalized Pareto fit
    /// of the training scores above their [`TAIL_LEVEL`] quantile. With too few distinct
    /// peaks to fit (fewer than 10), the `fallback` contamination quantile.
    Tail {
        /// Probability of a normal row exceeding the threshold.
        risk: f64,
        /// Contamination share used when the tail cannot be fitted.
        fallback: f64,
    },
}

/// A chosen threshold and the rule that actually set it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chosen {
    /// The threshold.
    pub threshold: f64,
    /// Whether it came from the tail fit (false: a contamination quantile).
    pub from_tail: bool,
}

impl ThresholdRule {
    /// The tail rule whose risk per row allows `alarms_per_hour` false alarms an hour on a
    /// healthy fleet of `services` services scored once a minute each.
    pub fn for_alarm_budget(alarms_per_hour: f64, services: usize, fallback: f64) -> Self {
        ThresholdRule::Tail {
            risk: alarms_per_hour / rows_per_hour(services),
            fallback,
        }
    }

    /// Checks the rule's numbers; the message names the bad one.
    pub fn validate(&self) -> Result<(), FitError> {
        let share_ok = |share: f64| (0.0..0.5).contains(&share);
        let message = match *self {
            ThresholdRule::Contamination(share) if !share_ok(share) => {
                format!("contamination {share} is not in [0, 0.5)")
            }
            ThresholdRule::Tail { risk, .. } if !(risk > 0.0 && risk < 1.0 - TAIL_LEVEL) => {
                format!("risk {risk} is not in (0, {:.2})", 1.0 - TAIL_LEVEL)
            }
            ThresholdRule::Tail { fallback, .. } if !share_ok(fallback) => {
                format!("contamination {fallback} is not in [0, 0.5)")
            }
            _ => return Ok(()),
        };
        Err(FitError::Config(message))
    }

    /// The threshold for training scores `sorted` (ascending, finite, not empty).
    pub fn choose(&self, sorted: &[f64]) -> Chosen {
        let by_share = |share: f64| Chosen {
            threshold: quantile(sorted, 1.0 - share),
            from_tail: false,
        };
        match *self {
            ThresholdRule::Contamination(share) => by_share(share),
            ThresholdRule::Tail { risk, fallback } => {
                match crate::spot::Spot::calibrate(sorted, TAIL_LEVEL, risk) {
                    Some(spot) if spot.threshold.is_finite() => Chosen {
                        threshold: spot.threshold,
                        from_tail: true,
                    },
                    _ => by_share(fallback),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn exponential(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut scores: Vec<f64> = (0..n).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
        scores.sort_by(f64::total_cmp);
        scores
    }

    #[test]
    fn a_tail_threshold_extrapolates_beyond_the_largest_training_score() {
        // 3,000 rows, like three hours of a 16-service fleet: the 1e-4 quantile of an
        // exponential is ln(1e4) = 9.2, beyond what 3,000 samples show (about ln 3000 = 8).
        let scores = exponential(3_000, 5);
        let rule = ThresholdRule::Tail {
            risk: 1e-4,
            fallback: 0.01,
        };
        let chosen = rule.choose(&scores);
        assert!(chosen.from_tail);
        assert!(
            (chosen.threshold - 1e4f64.ln()).abs() < 1.5,
            "{}",
            chosen.threshold
        );
        let by_share = ThresholdRule::Contamination(0.01).choose(&scores);
        assert!((by_share.threshold - 100f64.ln()).abs() < 0.5);
        assert!(chosen.threshold > 1.5 * by_share.threshold);
    }

    #[test]
    fn too_few_peaks_fall_back_to_the_share_and_bad_numbers_are_named() {
        let flat = vec![1.0; 200];
        let rule = ThresholdRule::Tail {
            risk: 1e-4,
            fallback: 0.01,
        };
        assert_eq!(
            rule.choose(&flat),
            Chosen {
                threshold: 1.0,
                from_tail: false
            }
        );
        assert!(ThresholdRule::Tail {
            risk: 0.5,
            fallback: 0.01
        }
        .validate()
        .is_err_and(|e| e.to_string().contains("risk 0.5")));
        assert!(ThresholdRule::Contamination(0.7)
            .validate()
            .is_err_and(|e| e.to_string().contains("contamination 0.7")));
        assert!(rule.validate().is_ok());
    }

    #[test]
    fn an_alarm_budget_is_shared_by_the_fleet_minutes() {
        let rule = ThresholdRule::for_alarm_budget(1.0, 16, 0.01);
        let ThresholdRule::Tail { risk, fallback } = rule else {
            panic!("{rule:?}");
        };
        assert!((risk - 1.0 / 960.0).abs() < 1e-15);
        assert_eq!(fallback, 0.01);
        // Ten times the fleet: a tenth of the risk per row, the same alarms an hour.
        let ThresholdRule::Tail { risk: larger, .. } =
            ThresholdRule::for_alarm_budget(1.0, 160, 0.01)
        else {
            panic!("tail");
        };
        assert!((larger * 10.0 - risk).abs() < 1e-15);
        // Two alarms an hour from one service asks for more than the tail fit can estimate.
        assert!(ThresholdRule::for_alarm_budget(2.0, 1, 0.01)
            .validate()
            .is_err_and(|e| e.to_string().contains("risk 0.033")));
    }
}
