//! Our detectors on multivariate machines (ASD): each trained on a machine's training part,
//! then run over its test part, with an online threshold chosen without the test labels.

use aiops_models::detect::{Direction, RobustSeries, SeriesSpec};
use aiops_models::fit::{fit, Fitted, ModelSpec, TrainingSet};
use aiops_models::iforest::IsolationForestConfig;
use aiops_models::lstm::LstmConfig;
use aiops_models::model_file::TrainingInfo;
use aiops_models::neighbours::{mean_of, NeighbourConfig, Neighbours};
use aiops_models::scaler::StandardScaler;
use aiops_models::service_model::{ServiceModel, TrainingRow};
use aiops_models::spot::Spot;
use aiops_models::threshold::ThresholdRule;

use super::context::{ContextConfig, ContextDetector};
use super::score_series;
use super::seasonal::{self, SeasonalConfig};
use crate::datasets::asd::Machine;
use crate::error::{Error, Result};

/// Scores of one detector on one machine's test part, and its online flags (from a threshold
/// chosen on the training part).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// One score per test row.
    pub scores: Vec<f64>,
    /// One flag per test row.
    pub flags: Vec<bool>,
    /// The score the detector alerted at when its threshold was chosen (SPOT's threshold
    /// moves online after that): what [`Scored::either`] scales by.
    pub alert: f64,
}

impl Scored {
    /// Flags where the score reaches `threshold`.
    pub fn at_threshold(scores: Vec<f64>, threshold: f64) -> Self {
        let flags = scores.iter().map(|s| *s >= threshold).collect();
        Scored {
            scores,
            flags,
            alert: threshold,
        }
    }

    /// Either detector flags: flags are or-ed, and a row's score is the larger of the two
    /// scores, each divided by its alert level (so both alert at 1).
    pub fn either(&self, other: &Scored) -> Scored {
        let scores = self
            .scores
            .iter()
            .zip(&other.scores)
            .map(|(a, b)| (a / self.alert).max(b / other.alert))
            .collect();
        let flags = self
            .flags
            .iter()
            .zip(&other.flags)
            .map(|(a, b)| *a || *b)
            .collect();
        Scored {
            scores,
            flags,
            alert: 1.0,
        }
    }
}

/// The forest's scores with a SPOT threshold: calibrated on the training part's scores
/// (initial level 0.98, `risk`), then streamed over the test part.
pub fn forest_spot(machine: &Machine, seed: u64, risk: f64) -> Result<Scored> {
    let (model, scores) = forest_model(machine, seed)?;
    let mut scratch = Vec::new();
    let training: Vec<f64> = machine
        .train
        .iter()
        .filter_map(|v| {
            model
                .score(&machine.name, v, &mut scratch)
                .map(|s| s.normalized)
        })
        .collect();
    spot_flagged(&machine.name, &training, scores, risk)
}

/// `scores` flagged by SPOT (initial level 0.98, `risk`) calibrated on `calibration` and
/// updated online.
fn spot_flagged(machine: &str, calibration: &[f64], scores: Vec<f64>, risk: f64) -> Result<Scored> {
    let mut spot = Spot::calibrate(calibration, 0.98, risk).ok_or_else(|| {
        Error::Data(format!(
            "{machine}: too few distinct high calibration scores for SPOT"
        ))
    })?;
    let alert = spot.threshold;
    let flags = scores.iter().map(|s| spot.update(*s)).collect();
    Ok(Scored {
        scores,
        flags,
        alert,
    })
}

/// The job's IsolationForest model (per-source standard scaling, contamination threshold),
/// trained on the training part; each test row is scored on its own.
pub fn forest(machine: &Machine, seed: u64) -> Result<Scored> {
    let (_, scores) = forest_model(machine, seed)?;
    Ok(Scored::at_threshold(scores, 0.5))
}

fn forest_model(machine: &Machine, seed: u64) -> Result<(ServiceModel, Vec<f64>)> {
    let config = IsolationForestConfig {
        seed,
        ..Default::default()
    };
    let fitted = fit_on(machine, &ModelSpec::IsolationForest(config))?;
    let model = fitted.into_forest().ok_or_else(|| wrong_kind(machine))?;
    let mut scratch = Vec::new();
    let scores = machine
        .test
        .iter()
        .map(|values| {
            model
                .score(&machine.name, values, &mut scratch)
                .map_or(0.0, |s| s.normalized)
        })
        .collect();
    Ok((model, scores))
}

/// The job's LSTM forecaster (per-machine scaling, forecast-error threshold from the training
/// part), its state warmed on the last `window` training rows, then streamed over the test part.
/// The threshold is the training errors' 99th percentile, not the job's tail fit: ASD's
/// training parts hold unlabelled anomalies that make the error tail heavy, and the tail fit
/// at the job's risk (1e-3) cut the average F1 from 0.146 to 0.061 here.
pub fn lstm(machine: &Machine, seed: u64) -> Result<Scored> {
    let config = LstmConfig {
        seed,
        ..Default::default()
    };
    let spec = ModelSpec::Lstm(config, ThresholdRule::Contamination(0.01));
    let model = fit_on(machine, &spec)?
        .into_lstm()
        .ok_or_else(|| wrong_kind(machine))?;
    let (mut state, mut scratch) = (model.start(), Vec::new());
    // Rows are steps: the test part continues the training part. The state reaches back less
    // than one reset period, so that much training data warms it up.
    let train = machine.train.len();
    let warm = train.saturating_sub(model.reset_period());
    for (step, values) in machine.train.iter().enumerate().skip(warm) {
        model.score(&mut state, &machine.name, step as i64, values, &mut scratch);
    }
    let scores = machine
        .test
        .iter()
        .enumerate()
        .map(|(row, values)| {
            let step = (train + row) as i64;
            model
                .score(&mut state, &machine.name, step, values, &mut scratch)
                .map_or(0.0, |s| s.normalized)
        })
        .collect();
    Ok(Scored::at_threshold(scores, 0.5))
}

/// The training part as model input: features m0.., rows of one "service" (the machine),
/// spread floors of 1 % (metrics are min-max normalised to 0..1).
fn training_set(machine: &Machine) -> (Vec<String>, Vec<TrainingRow>, Vec<f64>, TrainingInfo) {
    let features: Vec<String> = (0..machine.train[0].len())
        .map(|i| format!("m{i}"))
        .collect();
    let rows = machine
        .train
        .iter()
        .enumerate()
        .map(|(step, values)| TrainingRow {
            service: machine.name.clone(),
            step: step as i64,
            values: values.clone(),
        })
        .collect();
    let floors = vec![0.01; features.len()];
    let info = TrainingInfo::new(machine.name.clone(), "train", "train");
    (features, rows, floors, info)
}

/// Fits `spec` on the machine's training part (see [`training_set`]).
fn fit_on(machine: &Machine, spec: &ModelSpec) -> Result<Fitted> {
    let (features, rows, floors, info) = training_set(machine);
    let set = TrainingSet {
        inputs: &features,
        floors: &floors,
        rows: &rows,
    };
    fit(spec, set, info, |_| {}).map_err(|e| Error::Data(format!("{}: {e}", machine.name)))
}

fn wrong_kind(machine: &Machine) -> Error {
    Error::Data(format!(
        "{}: the fit returned another kind of model",
        machine.name
    ))
}

/// The contextual novelty detector per metric, warmed up on the training part (which fixes
/// each metric's grid); a row scores its most novel metric and is flagged at the detector's
/// alert level. A rest of `rest` rows follows an alert.
pub fn context(machine: &Machine, rest: usize) -> Scored {
    let config = ContextConfig::default();
    let scores = context_scores(
        &machine.train,
        &machine.test,
        config.levels,
        rest,
        |novelty| novelty.iter().copied().fold(0.0, f64::max),
    );
    Scored::at_threshold(scores, config.alert_level)
}

/// Grid resolutions of [`context_multiscale`]: octaves, so no one resolution is chosen.
pub const MULTISCALE_LEVELS: [u32; 3] = [4, 8, 16];

/// The context detector at several grid resolutions ([`MULTISCALE_LEVELS`]), each judging a
/// row by its most novel metric plus the mean novelty of all metrics, averaged over the
/// resolutions. Why: ASD's anomalies move most of a machine's metrics at once (its
/// interpretation labels name 4 to 16 of 19), while noise moves one, so the mean separates
/// them where the maximum alone cannot; and a coarse grid misses small shifts that a fine grid
/// sees, while a fine grid finds novelty in noise.
///
/// The online threshold is SPOT's (initial level 0.98, `risk`), calibrated on scores of
/// normal data the detector has not learned: detectors warmed up on the first
/// [`CALIBRATION_WARM_UP`] of the training part score the rest of it. The summed score has no
/// natural alert level, and its spread differs by machine.
pub fn context_multiscale(machine: &Machine, rest: usize, risk: f64) -> Result<Scored> {
    let scores = multiscale_scores(&machine.train, &machine.test, rest);
    // The remainder of the training part, unlabelled, is taken as normal.
    let cut = (machine.train.len() as f64 * CALIBRATION_WARM_UP) as usize;
    let (learned, held_out) = machine.train.split_at(cut);
    let calibration = multiscale_scores(learned, held_out, rest);
    spot_flagged(&machine.name, &calibration, scores, risk)
}

/// Share of the training part a calibration run learns before it scores the remainder.
pub const CALIBRATION_WARM_UP: f64 = 0.6;

/// [`context_multiscale`]'s scores of the `test` rows, detectors warmed up on `train`.
fn multiscale_scores(train: &[Vec<f64>], test: &[Vec<f64>], rest: usize) -> Vec<f64> {
    let levels = MULTISCALE_LEVELS.len() as f64;
    let mut total = vec![0.0; test.len()];
    for grid in MULTISCALE_LEVELS {
        let scores = context_scores(train, test, grid, rest, |novelty| {
            let strongest = novelty.iter().copied().fold(0.0, f64::max);
            strongest + novelty.iter().sum::<f64>() / novelty.len().max(1) as f64
        });
        total
            .iter_mut()
            .zip(scores)
            .for_each(|(t, s)| *t += s / levels);
    }
    total
}

/// Per `test` row, `aggregate` of the metrics' context scores (one detector per metric on a
/// grid of `levels` cells, warmed up on `train`).
fn context_scores(
    train: &[Vec<f64>],
    test: &[Vec<f64>],
    levels: u32,
    rest: usize,
    aggregate: impl Fn(&[f64]) -> f64,
) -> Vec<f64> {
    let config = ContextConfig {
        warm_up: train.len().max(1),
        levels,
        rest,
        ..ContextConfig::default()
    };
    let metrics = train.first().map_or(0, Vec::len);
    let mut detectors = vec![ContextDetector::new(config); metrics];
    let mut novelty = vec![0.0; metrics];
    let mut score_row = |row: &[f64]| {
        for ((detector, value), n) in detectors.iter_mut().zip(row).zip(novelty.iter_mut()) {
            *n = detector.score(*value);
        }
        aggregate(&novelty)
    };
    train.iter().for_each(|row| {
        score_row(row);
    });
    test.iter().map(|row| score_row(row)).collect()
}

/// Rows in a window of [`neighbours`]: (previous value, value), a metric's level and step.
pub const NEIGHBOUR_WINDOW: usize = 2;

/// [`neighbours`]' result: scores and flags, and what explains each row.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighbourScored {
    /// Row scores and flags.
    pub scored: Scored,
    /// Per test row, each metric's score (its window's distance over its reference).
    pub metric_scores: Vec<Vec<Option<f64>>>,
}

/// The window-neighbour detector ([`aiops_models::neighbours`]) with its default settings:
/// fitted on the training part, each test row's window of [`NEIGHBOUR_WINDOW`] rows per
/// metric judged by its distance to the 5th nearest training window over that distance's
/// 99th percentile in training, a row scoring the mean over its metrics. The threshold is the
/// 99th percentile of the training rows' own scores (each row against the others: the 1 %
/// contamination default of the forest), so no training data is held back.
pub fn neighbours(machine: &Machine) -> Result<NeighbourScored> {
    let model = Neighbours::<NEIGHBOUR_WINDOW>::fit(&machine.train, NeighbourConfig::default())
        .map_err(|e| Error::Data(format!("{}: {e}", machine.name)))?;
    let metric_scores = model.metric_series(&machine.train, &machine.test);
    let scores: Vec<f64> = metric_scores.iter().map(|m| mean_of(m)).collect();
    let flags = scores.iter().map(|s| model.is_anomalous(*s)).collect();
    let scored = Scored {
        scores,
        flags,
        alert: model.threshold(),
    };
    Ok(NeighbourScored {
        scored,
        metric_scores,
    })
}

/// Per test row, each metric's |z| against its training mean and standard deviation (floored
/// at 1e-3): the plain baseline for which metrics explain a row.
pub fn deviations(machine: &Machine) -> Vec<Vec<Option<f64>>> {
    let width = machine.train.first().map_or(0, Vec::len);
    let scaler = StandardScaler::fit(machine.train.iter().map(Vec::as_slice), &vec![1e-3; width]);
    let mut z = vec![0.0; width];
    machine
        .test
        .iter()
        .map(|row| {
            scaler.transform_into(row, &mut z);
            // The scaler maps a missing value to 0; here it has no |z| at all.
            row.iter()
                .zip(&z)
                .map(|(value, z)| value.is_finite().then(|| z.abs()))
                .collect()
        })
        .collect()
}

/// Rows per day on ASD (5-minute steps): the cycle the seasonal detector compares against.
pub const ASD_DAY: usize = 288;

/// The seasonal-residual detector per metric ([`super::seasonal`], each value against
/// the median of its slot on the last 2 days) for the metrics whose daily cycle explains at
/// least [`super::univariate::SEASONAL_STRENGTH`] of their variance on the training part; a
/// row scores its largest robust |z|. It runs online through the training part into the test
/// part; the threshold is SPOT's (`risk`), calibrated on its training-part scores and updated
/// online. A machine without such a metric scores 0 and flags nothing.
pub fn seasonal_residuals(machine: &Machine, risk: f64) -> Result<Scored> {
    let metrics = machine.train.first().map_or(0, Vec::len);
    let column = |rows: &[Vec<f64>], metric: usize| -> Vec<f64> {
        rows.iter().map(|row| row[metric]).collect()
    };
    let config = SeasonalConfig::with_period(ASD_DAY);
    let rows = machine.train.len() + machine.test.len();
    let mut largest = vec![0.0f64; rows];
    let mut judged = 0;
    for metric in 0..metrics {
        let train = column(&machine.train, metric);
        let strength = seasonal::strength(&train, config.period, config.seasons);
        if strength < super::univariate::SEASONAL_STRENGTH {
            continue;
        }
        judged += 1;
        let mut series = train;
        series.extend(column(&machine.test, metric));
        for (top, z) in largest
            .iter_mut()
            .zip(score_series(seasonal::Seasonal::new(config), &series))
        {
            *top = top.max(z);
        }
    }
    let test = largest.split_off(machine.train.len());
    if judged == 0 {
        return Ok(Scored::at_threshold(test, f64::INFINITY));
    }
    // The training rows past the detector's warm-up (two days and its first residuals).
    let warmed = (2 * ASD_DAY + config.min_residuals).min(largest.len());
    spot_flagged(&machine.name, &largest[warmed..], test, risk)
}

/// The job's robust detector per metric (median/MAD over the last `history` points, training
/// tail included), the row's score the largest |z| squashed to 0.5 at `z_threshold`.
pub fn robust(machine: &Machine, history: usize, z_threshold: f64) -> Scored {
    const SPEC: SeriesSpec = SeriesSpec {
        direction: Direction::Both,
        min_spread: 0.01,
        relative_spread: 0.0,
    };
    let metrics = machine.train[0].len();
    let mut series = vec![RobustSeries::default(); metrics];
    let tail = machine.train.len().saturating_sub(history);
    for row in &machine.train[tail..] {
        for (s, v) in series.iter_mut().zip(row) {
            s.push(*v, history);
        }
    }
    let scores = machine
        .test
        .iter()
        .map(|row| {
            let mut strongest: f64 = 0.0;
            for (s, v) in series.iter_mut().zip(row) {
                let z = s.score(*v, &SPEC, 10).unwrap_or(0.0);
                strongest = strongest.max(z.abs());
                s.push(*v, history);
            }
            super::univariate::squash(strongest, z_threshold)
        })
        .collect();
    Scored::at_threshold(scores, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::f1::figures;

    /// Six metrics following a noisy cycle (seeded); from test row 400 to 429 all of them
    /// sit at a level the training part never showed.
    fn machine_with_a_shift() -> Machine {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut row = |t: usize, shifted: bool| -> Vec<f64> {
            (0..6)
                .map(|m| {
                    let phase = ((t + 5 * m) % 40) as f64 / 40.0 * std::f64::consts::TAU;
                    let level = if shifted { 4.0 } else { 0.0 };
                    level + phase.sin() + rng.random_range(-0.2..0.2)
                })
                .collect()
        };
        let train = (0..2000).map(|t| row(t, false)).collect();
        let shifted = |t: usize| (400..430).contains(&t);
        let test = (0..600).map(|t| row(t, shifted(t))).collect();
        synthetic(train, test, shifted)
    }

    /// A machine of `train` and `test` rows whose anomalous test rows are those `anomalous`
    /// says.
    fn synthetic(
        train: Vec<Vec<f64>>,
        test: Vec<Vec<f64>>,
        anomalous: impl Fn(usize) -> bool,
    ) -> Machine {
        let labels = (0..test.len()).map(anomalous).collect();
        Machine {
            name: "synthetic".into(),
            train,
            test,
            labels,
        }
    }

    #[test]
    fn multi_scale_context_flags_a_shift_of_all_metrics_and_not_the_usual_cycle() {
        let machine = machine_with_a_shift();
        let scored = context_multiscale(&machine, 30, 1e-2).expect("calibrates");
        assert!(
            scored.flags[400..430].iter().any(|f| *f),
            "the shift is flagged"
        );
        let quiet = scored.flags[..400].iter().filter(|f| **f).count();
        assert!(quiet <= 4, "{quiet} of 400 normal rows flagged");
        let figures = figures(&scored, &machine.labels);
        assert_eq!(figures.adjusted.recall, 1.0);
    }

    #[test]
    fn neighbours_flag_a_shift_of_all_metrics_and_not_the_usual_cycle() {
        let machine = machine_with_a_shift();
        let scored = neighbours(&machine).expect("fits").scored;
        assert!(
            scored.flags[400..430].iter().all(|f| *f),
            "every shifted row is flagged"
        );
        let quiet = scored.flags[..400].iter().filter(|f| **f).count();
        assert!(quiet <= 8, "{quiet} of 400 normal rows flagged");
        let shifted = scored.scores[400..430]
            .iter()
            .copied()
            .fold(f64::MAX, f64::min);
        let usual = scored.scores[..400].iter().copied().fold(0.0, f64::max);
        assert!(
            shifted > usual,
            "every shifted row outscores every usual row"
        );
    }

    /// Three metrics with a daily cycle (ASD's 288 rows a day) and one of noise, 6 days of
    /// training; from test row 300 to 329 the cyclic ones run half a day out of phase: values
    /// they take every day, at the wrong time of day.
    fn machine_out_of_phase() -> Machine {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let mut row = |t: usize, shifted: bool| -> Vec<f64> {
            let slot = if shifted { t + ASD_DAY / 2 } else { t };
            let phase = (slot % ASD_DAY) as f64 / ASD_DAY as f64 * std::f64::consts::TAU;
            let mut values: Vec<f64> = (0..3)
                .map(|m| (m + 1) as f64 * phase.sin() + rng.random_range(-0.05..0.05))
                .collect();
            values.push(rng.random_range(0.0..1.0));
            values
        };
        let train_rows = 6 * ASD_DAY;
        let train = (0..train_rows).map(|t| row(t, false)).collect();
        let wrong = |t: usize| (300..330).contains(&t);
        let test = (0..2 * ASD_DAY)
            .map(|t| row(train_rows + t, wrong(t)))
            .collect();
        synthetic(train, test, wrong)
    }

    #[test]
    fn seasonal_residuals_flag_values_at_the_wrong_time_of_day() {
        let machine = machine_out_of_phase();
        let scored = seasonal_residuals(&machine, 1e-2).expect("calibrates");
        let flagged = |rows: std::ops::Range<usize>| rows.filter(|t| scored.flags[*t]).count();
        assert!(
            flagged(300..330) >= 20,
            "{} of 30 out-of-phase rows",
            flagged(300..330)
        );
        let quiet = flagged(0..300) + flagged(330..2 * ASD_DAY);
        assert!(quiet <= 10, "{quiet} of 546 normal rows flagged");
        // The noise metric has no cycle and is not judged: alone, it scores nothing.
        let noise_only = Machine {
            train: machine.train.iter().map(|r| vec![r[3]]).collect(),
            test: machine.test.iter().map(|r| vec![r[3]]).collect(),
            ..machine
        };
        let scored = seasonal_residuals(&noise_only, 1e-2).expect("no cycle, no error");
        assert!(scored.scores.iter().all(|s| *s == 0.0) && !scored.flags.contains(&true));
    }

    #[test]
    fn either_ors_the_flags_and_scales_each_score_by_its_alert_level() {
        let a = Scored::at_threshold(vec![0.1, 0.6, 0.2], 0.5);
        let b = Scored {
            scores: vec![30.0, 1.0, 5.0],
            flags: vec![true, false, false],
            alert: 10.0,
        };
        let both = a.either(&b);
        assert_eq!(both.flags, vec![true, true, false]);
        assert_eq!(both.scores, vec![3.0, 1.2, 0.5]);
    }
}
