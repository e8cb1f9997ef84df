//! Contextual novelty: has the series' recent shape been seen before?
//!
//! Distance detectors (the robust z-score, the forest) ask how far a value is from the usual
//! ones; they miss an anomaly made of ordinary values in an unusual order (a daily peak that
//! comes at night, a sawtooth that stops resetting) and keep alerting on a new level until
//! their history fills with it. This detector asks instead whether the last few values, as a
//! sequence, are new. Values are quantised on a grid fixed from a warm-up; for each order
//! `k` up to [`ContextConfig::max_order`], the detector counts how often each run of `k`
//! symbols has occurred and how often its first `k − 1` symbols were followed by anything.
//! A point's raw score is the mean of two parts over the orders: how unexpected its symbol
//! was after the preceding context (one minus the estimated transition probability), and
//! whether the run was never seen at all. Repeated patterns therefore stop scoring after a
//! few occurrences: the detector learns a new normal without retraining.
//!
//! The idea of scoring context novelty follows the Contextual Anomaly Detector that scored
//! 69.9 on NAB; the encoding and counting here are ours and simpler (n-gram counts instead
//! of its context sets).
//!
//! It is online: the score at `t` is computed from points before `t`, then `t` is learned.

use std::collections::{HashMap, VecDeque};

/// Settings of a [`ContextDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContextConfig {
    /// Points seen before scoring starts; their range fixes the quantisation grid.
    pub warm_up: usize,
    /// Grid cells across the warm-up's range (values outside fall in further cells).
    pub levels: u32,
    /// Longest run of symbols counted.
    pub max_order: usize,
    /// After a raw score of at least `alert_level`, scores are reported as 0 for this many
    /// points, so one event reports once.
    pub rest: usize,
    /// See `rest`.
    pub alert_level: f64,
}

impl Default for ContextConfig {
    fn default() -> Self {
        Self {
            warm_up: 150,
            levels: 4,
            max_order: 3,
            rest: 30,
            alert_level: 0.75,
        }
    }
}

/// The quantisation grid: cell `i` holds values in `low + i·width .. low + (i+1)·width`.
#[derive(Debug, Clone, Copy)]
struct Grid {
    low: f64,
    width: f64,
}

impl Grid {
    fn fit(values: &[f64], levels: u32) -> Self {
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // A flat warm-up has no range: 1 % of its level (or an absolute floor) per cell, so
        // the first real move is novel but small noise later is not a new symbol each time.
        let floor = (low.abs() * 0.01).max(1e-9);
        let width = ((high - low) / f64::from(levels)).max(floor);
        Self { low, width }
    }

    fn symbol(&self, value: f64) -> i64 {
        let cell = ((value - self.low) / self.width).floor();
        // Clamped so a wild value cannot overflow; anything this far out is novel anyway.
        cell.clamp(-1e9, 1e9) as i64
    }
}

/// Run counts of the series quantised on one grid.
#[derive(Debug, Clone)]
struct Counts {
    grid: Grid,
    max_order: usize,
    /// The last `max_order − 1` symbols, oldest first.
    recent: VecDeque<i64>,
    /// Occurrences of each run of symbols (key: the symbols hashed with the run's length).
    runs: HashMap<u64, u32>,
    /// Times each run was followed by another symbol.
    followed: HashMap<u64, u32>,
}

impl Counts {
    fn new(grid: Grid, max_order: usize) -> Self {
        Self {
            grid,
            max_order,
            recent: VecDeque::new(),
            runs: HashMap::new(),
            followed: HashMap::new(),
        }
    }

    /// Scores `value` after the recent run, then counts it: the mean over orders of
    /// (unexpectedness + novelty) / 2. Each order's counts are read before they are raised,
    /// and orders never share a key, so the score is that of the counts before `value`.
    fn observe(&mut self, value: f64) -> f64 {
        let symbol = self.grid.symbol(value);
        let orders = self.recent.len() + 1;
        let mut total = 0.0;
        for context in 0..orders {
            let prefix = run_key(self.recent.range(context..), None);
            let run = run_key(self.recent.range(context..), Some(symbol));
            let after = self.followed.entry(prefix).or_insert(0);
            let seen = self.runs.entry(run).or_insert(0);
            let unexpected = if *after == 0 {
                1.0
            } else {
                1.0 - f64::from(*seen) / f64::from(*after)
            };
            let novel = if *seen == 0 { 1.0 } else { 0.0 };
            total += (unexpected + novel) / 2.0;
            *after += 1;
            *seen += 1;
        }
        self.recent.push_back(symbol);
        if self.recent.len() >= self.max_order {
            self.recent.pop_front();
        }
        total / orders as f64
    }
}

/// The streaming detector for one series.
#[derive(Debug, Clone)]
pub struct ContextDetector {
    config: ContextConfig,
    warm_up: Vec<f64>,
    /// The run counts, from the end of the warm-up.
    counts: Option<Counts>,
    /// Points since the last raw score at the alert level (`None`: no alert yet).
    alert_age: Option<usize>,
}

impl ContextDetector {
    /// A detector that has seen nothing.
    pub fn new(config: ContextConfig) -> Self {
        Self {
            config: ContextConfig {
                max_order: config.max_order.max(1),
                levels: config.levels.max(1),
                ..config
            },
            warm_up: Vec::new(),
            counts: None,
            alert_age: None,
        }
    }

    /// The score of `value` in 0..1 given everything before it, after which `value` is
    /// learned. Scores are 0 during the warm-up and for `rest` points after an alert.
    pub fn score(&mut self, value: f64) -> f64 {
        match self.raw(value) {
            Some(raw) => self.report(raw),
            None => 0.0,
        }
    }

    /// The raw score of `value` (no rest period), or `None` during the warm-up or for a
    /// value that is not finite; `value` is then learned.
    fn raw(&mut self, value: f64) -> Option<f64> {
        if !value.is_finite() {
            return None;
        }
        if let Some(counts) = self.counts.as_mut() {
            return Some(counts.observe(value));
        }
        self.warm_up.push(value);
        if self.warm_up.len() >= self.config.warm_up.max(1) {
            self.finish_warm_up();
        }
        None
    }

    /// Fixes the grid and learns the warm-up's sequence.
    fn finish_warm_up(&mut self) {
        let grid = Grid::fit(&self.warm_up, self.config.levels);
        let mut counts = Counts::new(grid, self.config.max_order);
        for value in std::mem::take(&mut self.warm_up) {
            counts.observe(value);
        }
        self.counts = Some(counts);
    }

    /// Applies the rest period: a raw score is reported only when none of the previous
    /// `rest` raw scores reached the alert level.
    fn report(&mut self, raw: f64) -> f64 {
        self.alert_age = self.alert_age.map(|age| age.saturating_add(1));
        let resting = self.alert_age.is_some_and(|age| age <= self.config.rest);
        if raw >= self.config.alert_level {
            self.alert_age = Some(0);
        }
        if resting {
            0.0
        } else {
            raw
        }
    }
}

/// A 64-bit key of a run of symbols, optionally followed by one more (FNV-1a over the
/// symbols, with the run's length mixed in so runs of different orders get different keys).
fn run_key<'a>(symbols: impl Iterator<Item = &'a i64>, next: Option<i64>) -> u64 {
    const PRIME: u64 = 0x100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut length = 0u64;
    for symbol in symbols.copied().chain(next) {
        for byte in symbol.to_le_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        length += 1;
    }
    hash ^ length.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{repeated, top};
    use super::*;
    use crate::detectors::score_series;

    /// A daily-like cycle of period 8 on four levels, `cycles` times.
    fn cycle(cycles: usize) -> Vec<f64> {
        repeated(&[0.0, 1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 0.0], cycles)
    }

    fn config() -> ContextConfig {
        ContextConfig {
            warm_up: 80,
            rest: 16,
            ..ContextConfig::default()
        }
    }

    #[test]
    fn ordinary_values_in_an_unusual_order_score_highest() {
        let mut values = cycle(40);
        // The peak comes early: 3 where the cycle has 1. Every value is one it has seen.
        values[200 + 1] = 3.0;
        let scores = score_series(ContextDetector::new(config()), &values);
        assert_eq!(top(&scores), 201);
        assert!(scores[201] >= 0.75, "{}", scores[201]);
        // A learned cycle stays below the alert level.
        assert!(scores[100..200].iter().all(|s| *s < 0.75), "{scores:?}");
    }

    #[test]
    fn an_alert_rests_then_a_repeated_new_normal_stops_scoring() {
        let mut values = cycle(40);
        for value in &mut values[200..] {
            *value += 10.0;
        }
        let scores = score_series(ContextDetector::new(config()), &values);
        assert!(scores[200] >= 0.75);
        assert!(scores[201..217].iter().all(|s| *s == 0.0), "rests");
        // After a few cycles at the new level the series is predictable again.
        assert!(
            scores[280..].iter().all(|s| *s < 0.5),
            "{:?}",
            &scores[280..]
        );
    }

    #[test]
    fn scores_use_only_the_past_and_skip_values_that_are_not_finite() {
        let values = cycle(30);
        let mut changed = values.clone();
        changed[200] = 99.0;
        let (scores, later) = (
            score_series(ContextDetector::new(config()), &values),
            score_series(ContextDetector::new(config()), &changed),
        );
        assert_eq!(scores[..200], later[..200]);
        assert!(scores[..80].iter().all(|s| *s == 0.0), "warm-up scores 0");

        let mut with_gap = values.clone();
        with_gap.insert(150, f64::NAN);
        let gapped = score_series(ContextDetector::new(config()), &with_gap);
        assert_eq!(gapped[150], 0.0);
        assert_eq!(gapped[151..], scores[150..]);
    }

    #[test]
    fn a_flat_warm_up_still_gives_a_usable_grid() {
        let mut values = vec![5.0; 200];
        values[150] = 5.2;
        let scores = score_series(ContextDetector::new(config()), &values);
        assert_eq!(top(&scores), 150);
        assert!(scores[150] >= 0.75);
    }
}
