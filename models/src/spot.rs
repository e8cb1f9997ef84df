//! SPOT: a threshold from extreme-value theory instead of a fixed contamination share
//! (Siffer et al., "Anomaly Detection in Streams with Extreme Value Theory", KDD 2017).
//!
//! A contamination of 1 % flags 1 % of rows whatever the data; SPOT instead asks how likely a
//! score is. Scores above a high initial quantile (the peaks) follow a generalized Pareto
//! distribution whatever the scores' own distribution (Pickands–Balkema–de Haan); fitting it
//! gives the score exceeded with probability `risk`, which becomes the threshold. Streaming,
//! each new peak below the threshold refits the tail, so the threshold follows slow change
//! while anomalies (above it) are not learned. The tail is fitted by the method of moments,
//! which needs no optimiser and is stable on the few hundred peaks a calibration gives.

use serde::{Deserialize, Serialize};

/// A fitted SPOT threshold with its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spot {
    /// The initial threshold t (the calibration scores' `level` quantile).
    pub initial: f64,
    /// Excesses over `initial` seen so far (peaks).
    peaks: Vec<f64>,
    /// Scores seen so far (calibration and stream).
    seen: usize,
    /// Target probability of a normal score exceeding the threshold.
    pub risk: f64,
    /// The current threshold.
    pub threshold: f64,
}

/// Generalized Pareto (shape γ, scale σ) of `excesses`, by the method of moments.
fn fit_gpd(excesses: &[f64]) -> (f64, f64) {
    let n = excesses.len() as f64;
    let mean = excesses.iter().sum::<f64>() / n;
    let variance = excesses.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n;
    if variance <= 0.0 || mean <= 0.0 {
        return (0.0, mean.max(f64::MIN_POSITIVE));
    }
    let ratio = mean * mean / variance;
    (0.5 * (1.0 - ratio), 0.5 * mean * (ratio + 1.0))
}

impl Spot {
    /// Calibrates on `scores`: the initial threshold is their `level` quantile (e.g. 0.98),
    /// the threshold the score exceeded with probability `risk` (e.g. 1e-3). `None` with
    /// fewer than 10 peaks (too few scores or too few distinct high ones).
    pub fn calibrate(scores: &[f64], level: f64, risk: f64) -> Option<Self> {
        let mut sorted: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let initial = *sorted.get(((sorted.len() as f64 - 1.0) * level) as usize)?;
        let peaks: Vec<f64> = sorted
            .iter()
            .filter(|s| **s > initial)
            .map(|s| s - initial)
            .collect();
        if peaks.len() < 10 {
            return None;
        }
        let mut spot = Spot {
            initial,
            peaks,
            seen: sorted.len(),
            risk,
            threshold: initial,
        };
        spot.refit();
        Some(spot)
    }

    fn refit(&mut self) {
        self.threshold = self.threshold_at(self.risk);
    }

    /// The score a normal one exceeds with probability `risk` under the fitted tail (the
    /// threshold is this at [`Spot::risk`]).
    fn threshold_at(&self, risk: f64) -> f64 {
        let (gamma, sigma) = fit_gpd(&self.peaks);
        let ratio = risk * self.seen as f64 / self.peaks.len() as f64;
        if gamma.abs() < 1e-9 {
            self.initial - sigma * ratio.ln()
        } else {
            self.initial + sigma / gamma * (ratio.powf(-gamma) - 1.0)
        }
    }

    /// Judges one streamed score: `true` when it reaches the threshold (not learned from);
    /// a peak below the threshold refits the tail.
    pub fn update(&mut self, score: f64) -> bool {
        if score >= self.threshold {
            return true;
        }
        self.seen += 1;
        if score > self.initial {
            self.peaks.push(score - self.initial);
            self.refit();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Exponential(1) samples: their tail is GPD with γ = 0, so the `risk` threshold is
    /// −ln(risk).
    fn exponential(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect()
    }

    #[test]
    fn the_threshold_matches_the_exponential_tail_quantile() {
        let scores = exponential(50_000, 1);
        let spot = Spot::calibrate(&scores, 0.98, 1e-4).expect("peaks");
        let exact = -(1e-4f64).ln(); // 9.21
                                     // Moment estimates of the tail shape are noisy: within about 10 %.
        assert!(
            (spot.threshold - exact).abs() < 1.0,
            "{} vs {exact}",
            spot.threshold
        );
        let exceed = exponential(50_000, 2)
            .iter()
            .filter(|s| **s >= spot.threshold)
            .count();
        assert!(exceed <= 15, "about 5 expected, {exceed} exceeded");
    }

    #[test]
    fn streaming_flags_extremes_without_learning_them() {
        let mut spot = Spot::calibrate(&exponential(5_000, 3), 0.98, 1e-3).expect("peaks");
        let before = spot.threshold;
        assert!(spot.update(before + 5.0));
        assert_eq!(
            spot.threshold, before,
            "an anomaly does not move the threshold"
        );
        assert!(!spot.update(spot.initial + 0.1));
        assert_ne!(
            spot.threshold, before,
            "a peak below the threshold refits the tail"
        );
        assert!(Spot::calibrate(&[1.0; 100], 0.98, 1e-3).is_none());
    }
}
