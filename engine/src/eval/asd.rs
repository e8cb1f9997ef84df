//! The ASD multivariate benchmark (InterFusion's application-server machines): loading, our
//! detectors trained on each machine's training part, and the usual figures.
//!
//! Figures per machine: point-wise precision/recall/F1 and point-adjusted F1 (a labelled
//! segment counts as found when any of its points is flagged) at the threshold chosen on
//! training data only, the best F1 of each kind over all thresholds (what papers usually
//! report, and only attainable with the test labels), and average precision (threshold-free).

use std::io::{BufRead, BufReader};
use std::path::Path;

use aiops_models::context::{ContextConfig, ContextDetector};
use aiops_models::detect::{Direction, RobustSeries, SeriesSpec};
use aiops_models::iforest::IsolationForestConfig;
use aiops_models::lstm::LstmConfig;
use aiops_models::model_file::TrainingInfo;
use aiops_models::neighbours::{mean_of, NeighbourConfig, Neighbours};
use aiops_models::scaler::StandardScaler;
use aiops_models::seasonal::{self, SeasonalConfig};
use aiops_models::sequence_model::SequenceModel;
use aiops_models::service_model::{ServiceModel, TrainingRow};
use aiops_models::spot::Spot;
use aiops_models::threshold::ThresholdRule;
use serde::Serialize;

use crate::error::{Error, Result};

/// One machine's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// `omi-N`.
    pub name: String,
    /// Training rows (19 metrics each).
    pub train: Vec<Vec<f64>>,
    /// Test rows.
    pub test: Vec<Vec<f64>>,
    /// Test labels (true = anomalous).
    pub labels: Vec<bool>,
}

fn read_csv(path: &Path, labelled: bool) -> Result<(Vec<Vec<f64>>, Vec<bool>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for (number, line) in BufReader::new(file).lines().enumerate().skip(1) {
        let line = line.map_err(|e| Error::io(path, e))?;
        let mut fields = line
            .split(',')
            .skip(1)
            .map(|f| f.trim().parse::<f64>())
            .collect::<std::result::Result<Vec<f64>, _>>()
            .map_err(|e| Error::Config(format!("{}:{}: {e}", path.display(), number + 1)))?;
        if labelled {
            let label = fields.pop().unwrap_or(0.0);
            labels.push(label > 0.5);
        }
        rows.push(fields);
    }
    Ok((rows, labels))
}

/// Reads machine `name` (e.g. `omi-1`) from the `asd` folder.
pub fn load_machine(root: &Path, name: &str) -> Result<Machine> {
    let (train, _) = read_csv(&root.join(format!("{name}_train.csv")), false)?;
    let (test, labels) = read_csv(&root.join(format!("{name}_test.csv")), true)?;
    let width = train.first().map_or(0, Vec::len);
    if width == 0 || test.is_empty() {
        return Err(Error::Config(format!(
            "{name}: the training and test parts need rows with metrics"
        )));
    }
    if let Some(row) = train.iter().chain(&test).position(|r| r.len() != width) {
        return Err(Error::Config(format!(
            "{name}: row {row} (training rows first) has a different number of metrics than the first ({width})"
        )));
    }
    Ok(Machine {
        name: name.to_string(),
        train,
        test,
        labels,
    })
}

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
        Error::Config(format!(
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
    let (features, rows, floors, info) = training_set(machine);
    let config = IsolationForestConfig {
        seed,
        ..Default::default()
    };
    let model = ServiceModel::train(features, &floors, &rows, &config, info, |_| {})
        .map_err(|e| Error::Config(format!("{}: {e}", machine.name)))?;
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
    let (features, rows, floors, info) = training_set(machine);
    let config = LstmConfig {
        seed,
        ..Default::default()
    };
    let model = SequenceModel::train(
        features,
        &floors,
        &rows,
        &config,
        ThresholdRule::Contamination(0.01),
        info,
        |_, _| {},
    )
    .map_err(|e| Error::Config(format!("{}: {e}", machine.name)))?;
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
    let info = TrainingInfo {
        source: machine.name.clone(),
        from: "train".into(),
        to: "train".into(),
        rows: 0,
        data_hash: String::new(),
    };
    (features, rows, floors, info)
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
        .map_err(|e| Error::Config(format!("{}: {e}", machine.name)))?;
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

/// The seasonal-residual detector per metric ([`aiops_models::seasonal`], each value against
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
            .zip(seasonal::score_series(&series, config))
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

/// Precision, recall and F1 of flags against labels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct F1 {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

fn f1_of(flags: &[bool], labels: &[bool]) -> F1 {
    let tp = flags.iter().zip(labels).filter(|(f, l)| **f && **l).count() as f64;
    let flagged = flags.iter().filter(|f| **f).count() as f64;
    let positive = labels.iter().filter(|l| **l).count() as f64;
    let precision = if flagged > 0.0 { tp / flagged } else { 0.0 };
    let recall = if positive > 0.0 { tp / positive } else { 0.0 };
    let f1 = if tp > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    F1 {
        precision,
        recall,
        f1,
    }
}

/// Point adjustment: every point of a labelled segment is flagged when any of them is.
pub fn point_adjust(flags: &[bool], labels: &[bool]) -> Vec<bool> {
    let segments = segment_of(labels);
    let mut touched = vec![false; segment_count(&segments)];
    for (segment, flag) in segments.iter().zip(flags) {
        if let (Some(segment), true) = (segment, flag) {
            touched[*segment] = true;
        }
    }
    segments
        .iter()
        .zip(flags)
        .map(|(segment, flag)| *flag || segment.is_some_and(|s| touched[s]))
        .collect()
}

/// Average precision of scores against labels (area under the precision-recall steps).
pub fn average_precision(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let positive = labels.iter().filter(|l| **l).count() as f64;
    let (mut tp, mut ap) = (0.0, 0.0);
    for (rank, i) in order.iter().enumerate() {
        if labels[*i] {
            tp += 1.0;
            ap += tp / (rank + 1) as f64;
        }
    }
    if positive > 0.0 {
        ap / positive
    } else {
        0.0
    }
}

/// A detector's figures on one machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Point-wise, at the training-chosen threshold.
    pub point: F1,
    /// Point-adjusted, at the training-chosen threshold.
    pub adjusted: F1,
    /// Best point-wise F1 over all thresholds (uses the labels).
    pub best_point_f1: f64,
    /// Best point-adjusted F1 over all thresholds (uses the labels).
    pub best_adjusted_f1: f64,
    /// Average precision.
    pub average_precision: f64,
}

/// All figures of `scored` against `labels`; the best F1s are over every threshold.
pub fn figures(scored: &Scored, labels: &[bool]) -> Figures {
    let flags = &scored.flags;
    let best = best_f1(&scored.scores, labels);
    Figures {
        point: f1_of(flags, labels),
        adjusted: f1_of(&point_adjust(flags, labels), labels),
        best_point_f1: best.point,
        best_adjusted_f1: best.adjusted,
        average_precision: average_precision(&scored.scores, labels),
    }
}

/// The best point-wise and point-adjusted F1 over all thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BestF1 {
    /// Point-wise.
    pub point: f64,
    /// Point-adjusted.
    pub adjusted: f64,
}

/// The best F1s of flags `score >= t` over every threshold `t` among the scores, in one sweep
/// from the highest score down: each point passed adds a true or false positive, and the
/// first point of a labelled segment adds the whole segment to the adjusted true positives.
/// Published "best F1" figures search all thresholds; a coarser grid would miss the highest
/// ones, where point adjustment usually peaks. O(n log n).
pub fn best_f1(scores: &[f64], labels: &[bool]) -> BestF1 {
    let segments = segment_of(labels);
    let mut segment_length = vec![0usize; segment_count(&segments)];
    segments
        .iter()
        .flatten()
        .for_each(|s| segment_length[*s] += 1);
    let mut touched = vec![false; segment_length.len()];
    let positive = labels.iter().filter(|l| **l).count() as f64;
    let f1 = |tp: f64, fp: f64| 2.0 * tp / (2.0 * tp + fp + (positive - tp)).max(f64::MIN_POSITIVE);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let (mut tp, mut adjusted_tp, mut fp) = (0.0, 0.0, 0.0);
    let mut best = BestF1::default();
    for (position, &i) in order.iter().enumerate() {
        match segments[i] {
            Some(segment) => {
                tp += 1.0;
                if !touched[segment] {
                    touched[segment] = true;
                    adjusted_tp += segment_length[segment] as f64;
                }
            }
            None => fp += 1.0,
        }
        // Points with equal scores are flagged together: judge only after the last of them.
        let tie_follows = order
            .get(position + 1)
            .is_some_and(|&next| scores[next].total_cmp(&scores[i]).is_eq());
        if !tie_follows {
            best.point = best.point.max(f1(tp, fp));
            best.adjusted = best.adjusted.max(f1(adjusted_tp, fp));
        }
    }
    best
}

/// Segments in the output of [`segment_of`].
fn segment_count(segments: &[Option<usize>]) -> usize {
    segments.iter().flatten().max().map_or(0, |last| last + 1)
}

/// The index of each labelled point's segment (a maximal run of labelled points).
fn segment_of(labels: &[bool]) -> Vec<Option<usize>> {
    let mut next = 0;
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            if !label {
                return None;
            }
            if i > 0 && labels[i - 1] {
                return Some(next - 1);
            }
            next += 1;
            Some(next - 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn point_adjustment_fills_a_touched_segment_only() {
        let labels = [false, true, true, true, false, true, true];
        let flags = [true, false, true, false, false, false, false];
        let adjusted = point_adjust(&flags, &labels);
        assert_eq!(adjusted, [true, true, true, true, false, false, false]);
        let point = f1_of(&flags, &labels);
        assert!((point.precision - 0.5).abs() < 1e-12 && (point.recall - 0.2).abs() < 1e-12);
        let pa = f1_of(&adjusted, &labels);
        assert!((pa.recall - 0.6).abs() < 1e-12 && (pa.precision - 0.75).abs() < 1e-12);
    }

    #[test]
    fn average_precision_is_one_for_a_perfect_ranking_and_lower_otherwise() {
        let labels = [true, false, true, false];
        assert_eq!(average_precision(&[0.9, 0.1, 0.8, 0.2], &labels), 1.0);
        // Ranking: F(0.9) T(0.8) F(0.7) T(0.6): (1/2 + 2/4) / 2.
        let ap = average_precision(&[0.8, 0.9, 0.6, 0.7], &labels);
        assert!((ap - 0.5).abs() < 1e-12, "{ap}");
    }

    #[test]
    fn the_best_f1_sweep_matches_trying_every_threshold() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20 {
            let n = rng.random_range(5..60);
            let labels: Vec<bool> = (0..n).map(|_| rng.random_bool(0.3)).collect();
            // Few distinct values, so ties are common.
            let scores: Vec<f64> = (0..n)
                .map(|i| f64::from(rng.random_range(0..8u8)) + f64::from(u8::from(labels[i])))
                .collect();
            let mut brute = BestF1::default();
            for t in &scores {
                let flags: Vec<bool> = scores.iter().map(|s| s >= t).collect();
                brute.point = brute.point.max(f1_of(&flags, &labels).f1);
                let adjusted = point_adjust(&flags, &labels);
                brute.adjusted = brute.adjusted.max(f1_of(&adjusted, &labels).f1);
            }
            let swept = best_f1(&scores, &labels);
            assert!(
                (swept.point - brute.point).abs() < 1e-12,
                "{swept:?} {brute:?}"
            );
            assert!(
                (swept.adjusted - brute.adjusted).abs() < 1e-12,
                "{swept:?} {brute:?}"
            );
        }
    }

    #[test]
    fn one_top_scored_point_per_segment_gives_a_perfect_adjusted_f1() {
        let labels = [false, true, true, true, false, false, true, true, false];
        let scores = [0.1, 0.2, 0.9, 0.1, 0.3, 0.2, 0.1, 0.8, 0.4];
        let best = best_f1(&scores, &labels);
        assert_eq!(best.adjusted, 1.0);
        assert!(best.point < 0.75, "{best:?}");
    }
}
