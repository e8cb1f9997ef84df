//! An alert bar that follows the live score stream instead of the training data's.
//!
//! A model's threshold comes from the scores of its training rows. Scored on new data (other
//! machines, next week, a fleet ten times larger) the same healthy rows can score higher, and
//! that threshold flags them all: measured on held-out ASD machines, the window-neighbour
//! model flagged every test row of one. The bar here is refitted at every step on the recent
//! live scores, in units of the trained threshold (levels: 1 at the trained threshold), as the
//! level a healthy one exceeds with a given risk, by a SPOT tail fit ([`Spot`]). It never drops
//! below 1: it only removes alarms, so a detector keeps what its training chose unless the
//! live stream shows that choice to be too low.
//!
//! Which levels are learned decides whether the bar holds. Levels far beyond the bar (a
//! fault's, twice the bar) stay out of the pool, or one fault would lift the bar above the
//! next; but not levels just above it, or the pool loses the tail it is fitted on and each fit
//! lowers the bar further. State: the levels of the last `steps` steps.

use std::collections::VecDeque;

use crate::spot::Spot;

/// The pool's quantile above which levels are the tail's peaks. Lower than SPOT's usual 0.98
/// because a pool may hold only a few hundred levels: 0.95 gives 46 peaks in 928 (16
/// services for 58 minutes), 0.98 would give 18.
pub const TAIL_LEVEL: f64 = 0.95;

/// Levels above this many times the bar stay out of the pool: a fault's. Not the bar itself:
/// a pool cut at the bar loses the tail it is fitted on, and each fit then lowers the bar
/// further (measured on exponential levels: 1.33 falling to 1.0 within two hours, true 1.37).
const UNLEARNED_FACTOR: f64 = 2.0;

/// Until the first fit, levels at or above this are not learned: a fault in the first pool
/// would otherwise lift the bar above the next faults for a whole pool's time (measured, 300
/// simulated services: a first fault at level 35 hid an error burst at level 10; the healthy
/// rows' largest level was 1.19). Three times the trained threshold is far beyond a healthy
/// tail and short of what a fault does.
pub const WARM_UP_CUT: f64 = 3.0;

/// The recent levels and the bar they set: 1 while the pool's levels reached 1 no more often
/// than the budget allows.
#[derive(Debug, Clone)]
pub struct LiveBar {
    steps: u64,
    pool: VecDeque<(u64, Vec<f64>)>,
}

impl LiveBar {
    /// A bar fitted on the levels of the last `steps` steps.
    pub fn new(steps: u64) -> Self {
        LiveBar {
            steps,
            pool: VecDeque::new(),
        }
    }

    /// The bar for step `step` (at least 1) such that a step's healthy levels reach it about
    /// `alarms_per_step` times a step, fitted on the steps before it; then pools `levels`
    /// (non-finite ones are skipped). Steps must come in increasing order. `None` for
    /// `alarms_per_step` turns the bar off (always 1).
    pub fn next(&mut self, step: u64, levels: &[f64], alarms_per_step: Option<f64>) -> f64 {
        let oldest = step.saturating_sub(self.steps);
        while self.pool.front().is_some_and(|(s, _)| *s < oldest) {
            self.pool.pop_front();
        }
        let fitted = alarms_per_step.and_then(|alarms| self.fitted(alarms));
        let cut = fitted.map_or(WARM_UP_CUT, |(_, cut)| cut);
        let learned = levels
            .iter()
            .copied()
            .filter(|level| level.is_finite() && *level < cut)
            .collect();
        self.pool.push_back((step, learned));
        fitted.map_or(1.0, |(bar, _)| bar.max(1.0))
    }

    /// The bar and the level above which levels are not learned, if the pool has peaks
    /// enough to fit. The bar is SPOT's, capped by the pool's largest level: on the lumpy tail
    /// of a large fleet's levels (many services, few distinct small counts) the moment fit
    /// extrapolates far too high (measured at 2,000 services: 20, where an hour's healthy
    /// maximum was 4.2 and faults reached 3.4 to 28). The pool holds about the budget's
    /// worth of healthy exceedances by design, so its maximum is that level, measured.
    fn fitted(&self, alarms_per_step: f64) -> Option<(f64, f64)> {
        if alarms_per_step <= 0.0 || self.pool.is_empty() {
            return None;
        }
        let levels: Vec<f64> = self
            .pool
            .iter()
            .flat_map(|(_, l)| l.iter().copied())
            .collect();
        // Within the budget at the trained threshold already: nothing to remove (measured on
        // 20 simulated services: a bar fitted anyway hid 10 of 36 faults from an ensemble whose
        // rows raised 0.6 false alarms an hour).
        let over = levels.iter().filter(|level| **level >= 1.0).count();
        if over as f64 <= alarms_per_step * self.pool.len() as f64 {
            return Some((1.0, UNLEARNED_FACTOR));
        }
        let per_step = levels.len() as f64 / self.pool.len() as f64;
        // SPOT extrapolates beyond its initial level only: a budget so large it asks for more
        // is met at the trained threshold.
        let risk = (alarms_per_step / per_step.max(1.0)).min((1.0 - TAIL_LEVEL) / 2.0);
        let spot = Spot::calibrate(&levels, TAIL_LEVEL, risk)?;
        let largest = levels.iter().copied().fold(f64::MIN, f64::max);
        let bar = spot.threshold.min(largest);
        bar.is_finite()
            .then_some((bar, UNLEARNED_FACTOR * bar.max(1.0)))
    }
}
