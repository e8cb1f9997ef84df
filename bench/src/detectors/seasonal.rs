//! Seasonal residuals: is this value unusual for this time of day or week?
//!
//! The context detectors judge the last few values as a sequence, so they miss an anomaly
//! that is ordinary as a shape but wrong for its slot of a strong daily or weekly cycle: a
//! holiday's quiet Monday, a marathon's midnight traffic. This detector compares each value
//! with the median of the same slot in the last few seasons and scores the residual as a
//! robust z (median and MAD of the recent residuals). It is meant for series whose cycle
//! explains most of their variance, which [`strength`] measures, and says nothing useful on
//! series without one.
//!
//! It is online: the score at `t` uses values before `t` and the value itself.

use std::collections::VecDeque;

use aiops_models::detect::{median_and_sigma, median_in_place as median};

/// Settings of a [`Seasonal`] detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeasonalConfig {
    /// Points per season (a day or a week of samples).
    pub period: usize,
    /// Past seasons whose same slot forms the expected value (their median).
    pub seasons: usize,
    /// Recent residuals the median and MAD come from.
    pub history: usize,
    /// Residuals before the first score.
    pub min_residuals: usize,
    /// The median and MAD are recomputed every this many points (each costs a selection over
    /// `history` residuals; between refreshes the last ones are used).
    pub refresh: usize,
}

impl SeasonalConfig {
    /// A season of `period` points with the defaults: the median of the last 2 seasons, robust
    /// statistics over the last 1,000 residuals, refreshed every 20 points, from the 50th.
    pub fn with_period(period: usize) -> Self {
        SeasonalConfig {
            period: period.max(1),
            seasons: 2,
            history: 1000,
            min_residuals: 50,
            refresh: 20,
        }
    }
}

/// The online seasonal-residual detector. Its residuals are judged like
/// [`aiops_models::detect::RobustSeries`] judges values (median and MAD of a rolling window), but
/// with the median and MAD refreshed every [`SeasonalConfig::refresh`] points instead of at
/// every one: over 1,000 residuals that is most of the cost.
#[derive(Debug, Clone)]
pub struct Seasonal {
    config: SeasonalConfig,
    /// The last `period × seasons` values.
    past: VecDeque<f64>,
    residuals: VecDeque<f64>,
    /// Median and scaled MAD of the residuals, once computed.
    spread: Option<(f64, f64)>,
    since_refresh: usize,
    scratch: Vec<f64>,
}

/// `value` minus the median of the finite `slots` (`scratch` holds them); `None` when
/// `value` is missing or every slot is.
fn slot_residual(
    value: f64,
    slots: impl Iterator<Item = f64>,
    scratch: &mut Vec<f64>,
) -> Option<f64> {
    scratch.clear();
    scratch.extend(slots.filter(|slot| slot.is_finite()));
    (value.is_finite() && !scratch.is_empty()).then(|| value - median(scratch))
}

impl Seasonal {
    /// A detector that has seen nothing.
    pub fn new(config: SeasonalConfig) -> Self {
        Seasonal {
            config,
            past: VecDeque::with_capacity(config.period * config.seasons + 1),
            residuals: VecDeque::with_capacity(config.history + 1),
            spread: None,
            since_refresh: 0,
            scratch: Vec::new(),
        }
    }

    /// The value minus the median of its slot in the last seasons (those slots that held a
    /// finite value); `None` until that many seasons were seen, or when every slot was
    /// missing. A missing (non-finite) value keeps its place, so later slots stay aligned.
    fn residual(&mut self, value: f64) -> Option<f64> {
        let (period, seasons) = (self.config.period, self.config.seasons);
        let span = period * seasons;
        let mut residual = None;
        if self.past.len() == span {
            let past = &self.past;
            let slots = (1..=seasons).map(|k| past[span - k * period]);
            residual = slot_residual(value, slots, &mut self.scratch);
            self.past.pop_front();
        }
        self.past.push_back(value);
        residual
    }

    /// Recomputes the residuals' median and scaled MAD when due.
    fn refresh_spread(&mut self) {
        if self.spread.is_some() && self.since_refresh < self.config.refresh {
            return;
        }
        self.since_refresh = 0;
        self.scratch.clear();
        self.scratch.extend(self.residuals.iter().copied());
        let (center, sigma) = median_and_sigma(&mut self.scratch);
        self.spread = Some((center, sigma.max(f64::MIN_POSITIVE)));
    }

    /// Scores `value` (the robust |z| of its seasonal residual; 0 while warming up or for a
    /// missing value) and learns it.
    pub fn score(&mut self, value: f64) -> f64 {
        let Some(residual) = self.residual(value) else {
            return 0.0;
        };
        let mut z = 0.0;
        if self.residuals.len() >= self.config.min_residuals.max(1) {
            self.refresh_spread();
            if let Some((center, spread)) = self.spread {
                z = ((residual - center) / spread).abs();
            }
        }
        self.since_refresh += 1;
        if self.residuals.len() == self.config.history {
            self.residuals.pop_front();
        }
        self.residuals.push_back(residual);
        z
    }
}

/// How much of `values`' variance a cycle of `period` points explains: one minus the
/// variance of the seasonal residuals (against the median of the last `seasons` seasons)
/// over the variance of the values they are computed for. Near 1 for a strong cycle, near or
/// below 0 without one; 0 when fewer than `seasons + 1` seasons are given. Points that are
/// missing, or whose slots all are, are left out.
pub fn strength(values: &[f64], period: usize, seasons: usize) -> f64 {
    let period = period.max(1);
    let span = period * seasons;
    let mut scratch = Vec::with_capacity(seasons);
    let (mut kept, mut residuals) = (Vec::new(), Vec::new());
    for t in span..values.len() {
        let slots = (1..=seasons).map(|k| values[t - k * period]);
        if let Some(residual) = slot_residual(values[t], slots, &mut scratch) {
            kept.push(values[t]);
            residuals.push(residual);
        }
    }
    if kept.is_empty() {
        return 0.0;
    }
    let variance = |series: &[f64]| {
        let mean = series.iter().sum::<f64>() / series.len() as f64;
        series.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / series.len() as f64
    };
    let total = variance(&kept);
    if total <= 0.0 {
        return 0.0;
    }
    1.0 - variance(&residuals) / total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::score_series;
    use rand::{Rng, SeedableRng};

    /// Six "weeks" of 7 "days" of 24 points: busy days, quiet weekends, noise.
    fn weeks(seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..6 * 168)
            .map(|t| {
                let (day, hour) = ((t / 24) % 7, t % 24);
                let daily = (std::f64::consts::PI * hour as f64 / 24.0).sin() * 100.0;
                let level = if day < 5 { 1.0 } else { 0.4 };
                level * daily + 10.0 + rng.random_range(-3.0..3.0)
            })
            .collect()
    }

    #[test]
    fn a_quiet_weekday_in_a_weekly_cycle_scores_highest_without_looking_ahead() {
        let mut values = weeks(1);
        // A holiday: the Monday of the fifth week runs like a weekend day.
        let holiday = 4 * 168..4 * 168 + 24;
        for t in holiday.clone() {
            let hour = t % 24;
            values[t] = 0.4 * (std::f64::consts::PI * hour as f64 / 24.0).sin() * 100.0 + 10.0;
        }
        let scores = score_series(Seasonal::new(SeasonalConfig::with_period(168)), &values);
        let top = (0..scores.len())
            .max_by(|a, b| scores[*a].total_cmp(&scores[*b]))
            .expect("scores");
        assert!(holiday.contains(&top), "highest score at {top}");
        assert!(scores[top] > 10.0, "{}", scores[top]);
        // Ordinary weeks stay quiet: the noise alone is a few robust z at most.
        let ordinary = scores[2 * 168 + 50..4 * 168]
            .iter()
            .copied()
            .fold(0.0, f64::max);
        assert!(ordinary < 5.0, "{ordinary}");
        // Online: a score does not change when later values do.
        let mut changed = values.clone();
        changed[5 * 168] = 1e6;
        let rescored = score_series(Seasonal::new(SeasonalConfig::with_period(168)), &changed);
        assert_eq!(rescored[..5 * 168], scores[..5 * 168]);
        assert_eq!(scores[..2 * 168], vec![0.0; 2 * 168][..], "warming up");
    }

    #[test]
    fn a_missing_value_scores_zero_and_keeps_the_slots_aligned() {
        let values = weeks(4);
        let mut gappy = values.clone();
        gappy[3 * 168 + 7] = f64::NAN;
        let (whole, gaps) = (
            score_series(Seasonal::new(SeasonalConfig::with_period(168)), &values),
            score_series(Seasonal::new(SeasonalConfig::with_period(168)), &gappy),
        );
        assert_eq!(gaps[3 * 168 + 7], 0.0);
        // A week later the missing slot is left out of that slot's median; elsewhere the
        // expected values are the same, so the residuals are (the spread differs by one
        // residual, hence the tolerance).
        let later = 4 * 168 + 30;
        assert!(
            (whole[later] - gaps[later]).abs() < 0.2,
            "{} vs {}",
            whole[later],
            gaps[later]
        );
        assert!(gaps.iter().all(|z| z.is_finite()));
    }

    #[test]
    fn strength_separates_a_cycle_from_noise() {
        let cycle = weeks(2);
        assert!(
            strength(&cycle, 168, 2) > 0.9,
            "{}",
            strength(&cycle, 168, 2)
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let noise: Vec<f64> = (0..1000).map(|_| rng.random_range(0.0..1.0)).collect();
        assert!(
            strength(&noise, 168, 2) < 0.0,
            "{}",
            strength(&noise, 168, 2)
        );
        assert_eq!(strength(&noise[..300], 168, 2), 0.0, "too short");
        let mut gappy = cycle.clone();
        gappy[400] = f64::NAN;
        let with_gap = strength(&gappy, 168, 2);
        assert!(
            (with_gap - strength(&cycle, 168, 2)).abs() < 0.01,
            "{with_gap}"
        );
    }
}
