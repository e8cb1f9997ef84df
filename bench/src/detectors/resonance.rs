//! Adaptive-resonance novelty: does the recent shape of the series resonate with a category
//! it has learned?
//!
//! The context detectors ([`super::context`], [`super::cad`]) remember exact symbol runs;
//! a shape seen before but a little wider or shifted is new to them. This detector clusters
//! shapes instead, with a dual-vigilance fuzzy ART network (Carpenter, Grossberg and Rosen's
//! fuzzy ART with the two vigilance levels of da Silva, Elnabarawy and Wunsch, 2019), as
//! ARTime did on NAB (Mark Hampton, 2021, published standard score 74.9). The pipeline is
//! ARTime's as published; the code is ours:
//!
//! - The series is reduced to blocks of `probation / (window · windows_per_probation)` points;
//!   a block keeps its extreme when that lies 10 % off its mean (so spikes survive), else
//!   its mean.
//! - A block value is placed on the value range, quantised to `levels` steps, and pulled to
//!   the running median when within `snap` of it (small wobble around the usual level is
//!   not a shape).
//! - The last `window` block values, stretched to 0..1, and their Haar wavelet coefficients
//!   form a point's features, complement-coded for fuzzy ART.
//! - A block that matches no category at the lower vigilance starts a new cluster: that is
//!   an anomaly, scored by how far its best match fell below the vigilance levels and by how
//!   unlike the level of the current value was. Two vigilance levels adapt to the series:
//!   the upper follows the mean match, the lower rises towards the recent worst match and
//!   falls after repeated mismatches, then never below the mean match of past anomalies.
//! - After a new cluster the detector stays quiet unless a later match is clearly worse,
//!   until enough blocks have matched again, so one event reports once.
//!
//! The value range: NAB hands every detector its file's minimum and maximum (ARTime's
//! published score used them); a job cannot know them. [`ValueRange::Expanding`] starts from
//! the probation period and, when a block leaves the range, widens it and rebuilds the
//! network from the kept blocks, as [`super::cad`] does, so a score depends only on the past.
//! A widened range holds the block that widened it, and the rebuilt network may take that
//! block for ordinary; [`ResonanceConfig::record_margin`] adds the one rule that is not
//! ARTime's: a block beyond every earlier point scores 1.

use super::cad::{span, ValueRange};
use super::record::Record;
use std::collections::VecDeque;

/// The most block values kept for a rebuild on a wider range: with NAB's block lengths,
/// over a hundred thousand points. Beyond it a rebuild learns from the oldest kept block on.
pub const KEEP_LIMIT: usize = 20_000;

/// Settings of a [`Resonance`] detector; the defaults are ARTime's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResonanceConfig {
    /// Where the value range comes from.
    pub range: ValueRange,
    /// Points learned before scoring; the vigilance is fitted on their blocks.
    pub probation: usize,
    /// Block values per shape.
    pub window: usize,
    /// Shapes per probation period: sets the block length.
    pub windows_per_probation: usize,
    /// Quantisation steps across the range.
    pub levels: u32,
    /// Block values within this (on the 0..1 range) of the running median become the median.
    pub snap: f64,
    /// Vigilance of the network that fits the first vigilance level.
    pub initial_vigilance: f64,
    /// A range learned from a warm-up is widened by this share of itself on each side, as
    /// if later, wider values were expected (the file range ARTime was given had them).
    pub headroom: f64,
    /// When set, a block reaching beyond every point seen before it by more than this share
    /// of their span scores 1 after the probation, whatever the network matched: online, a
    /// widened range holds the new extreme and the rebuilt network can take it for ordinary
    /// ([`super::record`]). Not ARTime's: off by default.
    pub record_margin: Option<f64>,
}

impl Default for ResonanceConfig {
    fn default() -> Self {
        Self {
            range: ValueRange::WarmUp(750),
            probation: 750,
            window: 8,
            windows_per_probation: 13,
            levels: 80,
            snap: 0.075,
            initial_vigilance: 0.8,
            headroom: 0.0,
            record_margin: None,
        }
    }
}

impl ResonanceConfig {
    /// Points per block.
    fn block_length(&self) -> usize {
        (self.probation / (self.window * self.windows_per_probation).max(1)).max(1)
    }

    /// Blocks in the probation period.
    fn probation_blocks(&self) -> usize {
        (self.probation / self.block_length()).max(self.window + 2)
    }
}

/// Reduces the series to one value per block of points, keeping spikes.
#[derive(Debug, Clone)]
struct Blocks {
    length: usize,
    current: Vec<f64>,
    /// Halves towards each block mean: the level a spike is measured from.
    moving_average: Option<f64>,
}

/// One block: its representative value and the span of its points.
#[derive(Debug, Clone, Copy)]
struct Block {
    value: f64,
    low: f64,
    high: f64,
}

impl Blocks {
    fn push(&mut self, value: f64) -> Option<Block> {
        self.current.push(value);
        if self.current.len() < self.length {
            return None;
        }
        let mean = self.current.iter().sum::<f64>() / self.current.len() as f64;
        let (low, high) = span(&self.current);
        self.current.clear();
        let average = (self.moving_average.unwrap_or(mean) + mean) / 2.0;
        self.moving_average = Some(average);
        let extreme = if (high - average).abs() < (low - average).abs() {
            low
        } else {
            high
        };
        let value = if (extreme - mean).abs() < 0.1 * mean.abs() {
            mean
        } else {
            extreme
        };
        Some(Block { value, low, high })
    }
}

/// ARTime's running median of quantised levels: a level and the counts below and above it,
/// stepped one occupied level at a time when either side outgrows half the count. Not
/// exactly the median, but kept as ARTime had it.
#[derive(Debug, Clone)]
struct LevelMedian {
    counts: Vec<u64>,
    level: usize,
    below: u64,
    above: u64,
    total: u64,
}

impl LevelMedian {
    fn new(levels: u32) -> Self {
        Self {
            counts: vec![0; levels as usize + 1],
            level: 0,
            below: 0,
            above: 0,
            total: 0,
        }
    }

    fn push(&mut self, level: usize) {
        self.counts[level] += 1;
        self.total += 1;
        if self.total == 1 {
            self.level = level;
        }
        if self.level > level {
            self.below += 1;
        } else if self.level < level {
            self.above += 1;
        }
        let half = self.total / 2;
        if half < self.above {
            self.below += self.counts[self.level];
            self.level += 1;
            while self.level + 1 < self.counts.len() && self.counts[self.level] == 0 {
                self.level += 1;
            }
            self.above = self.above.saturating_sub(self.counts[self.level]);
        } else if half < self.below {
            self.above += self.counts[self.level];
            self.level = self.level.saturating_sub(1);
            while self.level > 0 && self.counts[self.level] == 0 {
                self.level -= 1;
            }
            self.below = self.below.saturating_sub(self.counts[self.level]);
        }
    }

    fn median(&self) -> usize {
        self.level
    }
}

/// In-place Haar transform, all levels, orthonormal: the overall average first, then the
/// details from coarsest to finest. `values.len()` must be a power of two.
fn haar(values: &mut [f64]) {
    let mut scratch = values.to_vec();
    let mut length = values.len();
    while length > 1 {
        let half = length / 2;
        for i in 0..half {
            let (a, b) = (values[2 * i], values[2 * i + 1]);
            scratch[i] = (a + b) / std::f64::consts::SQRT_2;
            scratch[half + i] = (b - a) / std::f64::consts::SQRT_2;
        }
        values[..length].copy_from_slice(&scratch[..length]);
        length = half;
    }
}

/// Shifts and scales `values` onto 0..1 (left as shifted when all are equal).
fn stretch(values: &mut [f64]) {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    values.iter_mut().for_each(|v| *v -= low);
    let high = values.iter().copied().fold(0.0, f64::max);
    if high > 0.0 {
        values.iter_mut().for_each(|v| *v /= high);
    }
}

/// How well an input matches a category.
#[derive(Debug, Clone, Copy, Default)]
struct Match {
    /// Feature similarity cubed times energy similarity squared (ARTime's activation).
    activation: f64,
    /// Similarity of the current value's level alone.
    energy: f64,
}

/// A dual-vigilance fuzzy ART network over complement-coded inputs.
#[derive(Debug, Clone)]
struct Network {
    /// Category weights, each `2 · dim` long.
    weights: Vec<Vec<f64>>,
    dim: usize,
    /// A match at or above this learns into the category.
    upper: f64,
    /// A best match below this starts a new cluster.
    lower: f64,
}

impl Network {
    /// An empty network at one vigilance; its first input only sets it up (see
    /// [`Network::present`]).
    fn new(dim: usize, vigilance: f64) -> Self {
        Self {
            weights: Vec::new(),
            dim,
            upper: vigilance,
            lower: vigilance,
        }
    }

    fn matching(&self, input: &[f64], weights: &[f64]) -> Match {
        let (mut shared, mut size) = (0.0, 0.0);
        for (x, w) in input.iter().zip(weights) {
            shared += x.min(*w);
            size += w;
        }
        let features = shared / if size == 0.0 { 0.001 } else { size };
        // The current value is the last feature; its complement is the last input.
        let (value, complement) = (self.dim - 1, 2 * self.dim - 1);
        let energy_size = weights[value] + weights[complement];
        // A category that has generalised over the whole range matches any level.
        let energy = if energy_size == 0.0 {
            1.0
        } else {
            (input[value].min(weights[value]) + input[complement].min(weights[complement]))
                / energy_size
        };
        Match {
            activation: features.powi(3) * energy.powi(2),
            energy,
        }
    }

    /// Presents `features`; with `learn`, every category matching at the upper vigilance
    /// learns it, else a best match at the lower vigilance adds a category to its cluster,
    /// else a new cluster starts. Returns the best match and whether a cluster started.
    fn present(&mut self, features: &[f64], learn: bool) -> (Match, bool) {
        if self.weights.is_empty() {
            // As ARTime: the first input only adds the all-ones category, which matches any
            // input weakly (0.5³ · 0.5²) and so never learns, and itself matches nothing.
            self.weights.push(vec![1.0; 2 * self.dim]);
            return (Match::default(), true);
        }
        let input: Vec<f64> = features
            .iter()
            .copied()
            .chain(features.iter().map(|f| 1.0 - f))
            .collect();
        let matches: Vec<Match> = self
            .weights
            .iter()
            .map(|w| self.matching(&input, w))
            .collect();
        let best = matches
            .iter()
            .copied()
            .max_by(|a, b| a.activation.total_cmp(&b.activation))
            .unwrap_or_default();
        if !learn {
            return (best, true);
        }
        let mut resonated = false;
        for (weights, found) in self.weights.iter_mut().zip(&matches) {
            if found.activation >= self.upper {
                weights
                    .iter_mut()
                    .zip(&input)
                    .for_each(|(w, x)| *w = w.min(*x));
                resonated = true;
            }
        }
        if resonated {
            return (best, false);
        }
        self.weights.push(input);
        (best, best.activation < self.lower)
    }

    /// The vigilance ARTime starts from: the mean best match over the later half of the
    /// probation's shapes, presented least typical first to a network at `vigilance`.
    fn fitted_vigilance(shapes: &[Vec<f64>], dim: usize, vigilance: f64, skip: usize) -> f64 {
        let typicality: Vec<f64> = shapes
            .iter()
            .map(|a| shapes.iter().map(|b| cosine(a, b)).sum())
            .collect();
        let mut order: Vec<usize> = (0..shapes.len()).collect();
        order.sort_by(|a, b| typicality[*a].total_cmp(&typicality[*b]));
        let mut network = Network::new(dim, vigilance);
        let best: Vec<f64> = order
            .iter()
            .map(|i| network.present(&shapes[*i], true).0.activation)
            .collect();
        let later = best.get(skip.min(best.len())..).unwrap_or_default();
        if later.is_empty() {
            vigilance
        } else {
            later.iter().sum::<f64>() / later.len() as f64
        }
    }
}

/// Cosine similarity; against a zero vector, one minus the other's norm (ARTime's rule).
fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (norm_a, norm_b) = (norm(a), norm(b));
    if norm_a == 0.0 {
        return 1.0 - norm_b;
    }
    if norm_b == 0.0 {
        return 1.0 - norm_a;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (norm_a * norm_b)
}

/// The detector state over block values for one value range.
#[derive(Debug, Clone)]
struct Core {
    config: ResonanceConfig,
    low: f64,
    width: f64,
    median: LevelMedian,
    /// The last `window` snapped block values.
    shape: VecDeque<f64>,
    network: Network,
    /// Blocks presented so far (ARTime's 1-based index).
    index: usize,
    /// Blocks after an anomaly during which only a clearly worse match reports.
    mask: usize,
    last_anomaly: usize,
    last_anomaly_match: f64,
    last_vigilance_update: usize,
    /// Quiet after a new cluster until `mask` blocks have matched again.
    quiet_after_cluster: bool,
    matched_since_cluster: usize,
    match_sum: f64,
    /// Best matches of the last half probation (for the lower vigilance to rise to).
    recent_matches: VecDeque<f64>,
    /// Upper vigilance minus the best match, over the last probation.
    shortfalls: VecDeque<f64>,
    anomaly_matches: Vec<f64>,
    /// Probation shapes, presented together once the vigilance is fitted.
    pending: Vec<Vec<f64>>,
}

impl Core {
    fn new(config: ResonanceConfig, low: f64, high: f64) -> Self {
        let probation_blocks = config.probation_blocks();
        let range = high - low;
        Self {
            config,
            low,
            width: if range > 0.0 && range.is_finite() {
                range
            } else {
                (low.abs() * 0.01).max(1e-9)
            },
            median: LevelMedian::new(config.levels),
            shape: VecDeque::from(vec![0.0; config.window]),
            network: Network::new(2 * config.window, config.initial_vigilance),
            index: 0,
            mask: config.window * 3 / 2,
            last_anomaly: 0,
            last_anomaly_match: 0.0,
            last_vigilance_update: 0,
            quiet_after_cluster: false,
            matched_since_cluster: 0,
            match_sum: 0.0,
            recent_matches: VecDeque::from(vec![1.0; probation_blocks / 2 + 1]),
            shortfalls: VecDeque::from(vec![0.0; probation_blocks + 1]),
            anomaly_matches: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The block value placed, quantised and snapped onto 0..1.
    fn level(&mut self, value: f64) -> f64 {
        let levels = f64::from(self.config.levels);
        let placed = ((value - self.low) / self.width).clamp(0.0, 1.0);
        let level = (placed * levels).round() as usize;
        self.median.push(level);
        let quantised = level as f64 / levels;
        let median = self.median.median() as f64 / levels;
        if (quantised - median).abs() < self.config.snap {
            median
        } else {
            quantised
        }
    }

    /// The features of the current shape: its stretched values' Haar coefficients, stretched,
    /// then the shape itself; zeros until a whole shape has been seen.
    fn features(&self) -> Vec<f64> {
        let window = self.config.window;
        if self.index < window {
            return vec![0.0; 2 * window];
        }
        let shape: Vec<f64> = self.shape.iter().copied().collect();
        let mut coefficients = shape.clone();
        stretch(&mut coefficients);
        haar(&mut coefficients);
        stretch(&mut coefficients);
        coefficients.extend(shape);
        coefficients
    }

    /// Takes one block value; returns its anomaly score (0 during probation).
    fn push(&mut self, value: f64) -> f64 {
        self.index += 1;
        let level = self.level(value);
        self.shape.pop_front();
        self.shape.push_back(level);
        let features = self.features();
        let probation_blocks = self.config.probation_blocks();
        if self.index < probation_blocks {
            self.pending.push(features);
            return 0.0;
        }
        if self.index > probation_blocks {
            return self.detect(&features, self.index);
        }
        self.pending.push(features);
        let shapes = std::mem::take(&mut self.pending);
        let window = self.config.window;
        let vigilance = Network::fitted_vigilance(
            &shapes[window - 1..],
            2 * window,
            self.config.initial_vigilance,
            probation_blocks / 2 - 1,
        );
        self.network.upper = vigilance;
        self.network.lower = vigilance;
        for (i, shape) in shapes.iter().enumerate() {
            self.detect(shape, i + 1);
        }
        0.0
    }

    /// ARTime's step for block `index`: present, decide, adapt the vigilance levels.
    fn detect(&mut self, features: &[f64], index: usize) -> f64 {
        let probation_blocks = self.config.probation_blocks();
        let since_anomaly = index - self.last_anomaly;
        let update_after_anomaly = since_anomaly == self.mask;
        let update_for_trend = index - self.last_vigilance_update >= probation_blocks / 2;
        let after_anomaly = since_anomaly <= self.mask;
        if index > probation_blocks + self.mask
            && self.quiet_after_cluster
            && self.matched_since_cluster >= self.mask
        {
            self.quiet_after_cluster = false;
        }
        let (best, new_cluster) = self.network.present(features, index >= self.config.window);
        self.matched_since_cluster = if new_cluster {
            0
        } else {
            self.matched_since_cluster + 1
        };
        self.match_sum += best.activation;
        self.recent_matches.pop_front();
        self.recent_matches.push_back(best.activation);
        self.shortfalls.pop_front();
        self.shortfalls
            .push_back(self.network.upper - best.activation);
        if since_anomaly < self.mask {
            if let Some(last) = self.anomaly_matches.last_mut() {
                *last = last.min(best.activation);
            }
        }
        let quiet = self.quiet_after_cluster || after_anomaly;
        let worse_by = if after_anomaly { 0.9 } else { 0.7 };
        let clearly_worse = best.activation < self.last_anomaly_match * worse_by;
        let mut score = 0.0;
        if index > probation_blocks && new_cluster && (!quiet || clearly_worse) {
            score = self.confidence(best);
            self.anomaly_matches.push(best.activation);
            self.last_anomaly_match = best.activation;
            self.last_anomaly = index;
        }
        self.quiet_after_cluster |= new_cluster;
        if index > probation_blocks && (update_after_anomaly || update_for_trend) {
            self.adapt_vigilance(index);
        }
        score
    }

    /// How far the best match fell below the vigilance levels, plus how unlike the current
    /// level was (ARTime's confidence), capped at 1.
    fn confidence(&self, best: Match) -> f64 {
        let similarity = best.activation.min(0.999);
        let missing = 1.0 - similarity;
        let upper = (missing - (1.0 - self.network.upper)) / missing;
        let lower = (missing - (1.0 - self.network.lower)) / missing;
        (0.35 * upper + 0.65 * lower + 1.5 * (1.0 - best.energy)).min(1.0)
    }

    /// The upper vigilance follows the mean match (at most 0.97); the lower rises a fifth of
    /// the way to the recent worst match, or falls by half the recent shortfall (never below
    /// the mean match of past anomalies).
    fn adapt_vigilance(&mut self, index: usize) {
        let probation_blocks = self.config.probation_blocks();
        let worst_recent = self
            .recent_matches
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let upper = (self.match_sum / index as f64).min(0.97);
        let previous = self.network.lower;
        let mut lower = if previous <= worst_recent {
            previous + (worst_recent - previous) * 0.19
        } else {
            let mut decrease = 0.0;
            if index > 2 * probation_blocks {
                let large: Vec<f64> = self
                    .shortfalls
                    .iter()
                    .filter(|s| **s > 0.05)
                    .map(|s| s.min(0.37))
                    .collect();
                if !large.is_empty() {
                    decrease = large.iter().sum::<f64>() / large.len() as f64;
                }
            }
            let lowered = previous - decrease.max(0.01) / 2.0;
            if self.anomaly_matches.is_empty() {
                lowered
            } else {
                let mean =
                    self.anomaly_matches.iter().sum::<f64>() / self.anomaly_matches.len() as f64;
                lowered.max(mean)
            }
        };
        lower = lower.min(upper);
        self.network.upper = upper;
        self.network.lower = lower;
        self.last_vigilance_update = index;
        self.quiet_after_cluster = true;
    }
}

/// The streaming detector for one series.
#[derive(Debug, Clone)]
pub struct Resonance {
    config: ResonanceConfig,
    blocks: Blocks,
    /// Block values not yet given to a network (before the range is known), or kept for a
    /// rebuild on a wider range (expanding range), oldest first.
    kept: VecDeque<f64>,
    /// Points before the range is known.
    warm_up: Vec<f64>,
    range: Option<(f64, f64)>,
    core: Option<Core>,
    record: Record,
    /// Finite points seen (to keep the probation quiet).
    points: usize,
}

impl Resonance {
    /// A detector that has seen nothing.
    pub fn new(config: ResonanceConfig) -> Self {
        let config = ResonanceConfig {
            window: config.window.next_power_of_two().max(2),
            levels: config.levels.max(1),
            ..config
        };
        let range = match config.range {
            ValueRange::Given { min, max } => Some((min, max)),
            ValueRange::WarmUp(_) | ValueRange::Expanding { .. } => None,
        };
        Self {
            config,
            blocks: Blocks {
                length: config.block_length(),
                current: Vec::new(),
                moving_average: None,
            },
            kept: VecDeque::new(),
            warm_up: Vec::new(),
            range,
            core: range.map(|(low, high)| Core::new(config, low, high)),
            record: Record::default(),
            points: 0,
        }
    }

    /// The score of `value` in 0..1 given everything before it; nonzero only at the last
    /// point of a block that starts a new cluster outside the quiet periods, or (with
    /// [`ResonanceConfig::record_margin`]) of a block beyond every earlier point. Values that
    /// are not finite score 0 and are skipped.
    pub fn score(&mut self, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        self.points += 1;
        if self.range.is_none() {
            self.learn_range(value);
        }
        let Some(block) = self.blocks.push(value) else {
            return 0.0;
        };
        // Every block goes into the record, probation included, so the span is the past's.
        let beyond = self
            .config
            .record_margin
            .is_some_and(|margin| self.record.beyond(block.low, block.high, margin));
        let score = self.score_block(block);
        if beyond && self.points > self.config.probation {
            1.0
        } else {
            score
        }
    }

    /// The network's score of a finished block, keeping it for a rebuild where the range
    /// may still widen.
    fn score_block(&mut self, block: Block) -> f64 {
        let expanding = matches!(self.config.range, ValueRange::Expanding { .. });
        if expanding || self.range.is_none() {
            if self.kept.len() >= KEEP_LIMIT {
                self.kept.pop_front();
            }
            self.kept.push_back(block.value);
        }
        let Some((low, high)) = self.range else {
            return 0.0;
        };
        match self.config.range {
            ValueRange::Expanding { margin, .. }
                if self.core.is_none() || block.low < low || block.high > high =>
            {
                self.rebuild(block, margin)
            }
            _ => self.core_for(low, high).push(block.value),
        }
    }

    /// Collects warm-up points; at the end of the warm-up fixes the range from them, with
    /// [`ResonanceConfig::headroom`] on each side.
    fn learn_range(&mut self, value: f64) {
        let length = match self.config.range {
            ValueRange::WarmUp(length)
            | ValueRange::Expanding {
                warm_up: length, ..
            } => length,
            ValueRange::Given { .. } => return,
        };
        self.warm_up.push(value);
        if self.warm_up.len() >= length.max(1) {
            let (low, high) = span(&std::mem::take(&mut self.warm_up));
            let headroom = self.config.headroom * (high - low);
            self.range = Some((low - headroom, high + headroom));
        }
    }

    /// The network for a fixed range, built from the blocks seen before the range was known.
    fn core_for(&mut self, low: f64, high: f64) -> &mut Core {
        let (config, kept) = (self.config, &mut self.kept);
        self.core.get_or_insert_with(|| {
            let mut core = Core::new(config, low, high);
            for value in kept.drain(..) {
                core.push(value);
            }
            core
        })
    }

    /// Widens the range to cover `block` (with `margin` times the range seen on the side it
    /// left by), rebuilds the network from the kept blocks before it, as if the range had
    /// been this wide from the start, and scores the block.
    fn rebuild(&mut self, block: Block, margin: f64) -> f64 {
        let (mut low, mut high) = self.range.unwrap_or((block.low, block.high));
        let headroom = margin * (high.max(block.high) - low.min(block.low));
        if block.low < low {
            low = block.low - headroom;
        }
        if block.high > high {
            high = block.high + headroom;
        }
        self.range = Some((low, high));
        let mut core = Core::new(self.config, low, high);
        let before = self.kept.len().saturating_sub(1);
        for value in self.kept.iter().take(before) {
            core.push(*value);
        }
        let score = core.push(block.value);
        self.core = Some(core);
        score
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::top;
    use super::*;
    use crate::detectors::score_series;

    #[test]
    fn the_haar_transform_puts_a_step_in_its_coarsest_detail() {
        let mut values = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        haar(&mut values);
        let root2 = std::f64::consts::SQRT_2;
        let expected = [root2, -root2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        for (got, want) in values.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{values:?}");
        }
        // Orthonormal: the energy is kept.
        assert!((values.iter().map(|v| v * v).sum::<f64>() - 4.0).abs() < 1e-12);
    }

    #[test]
    fn the_level_median_steps_towards_the_middle_level() {
        let mut median = LevelMedian::new(10);
        for level in [3, 7, 5] {
            median.push(level);
        }
        assert_eq!(median.median(), 5);
        // 1 1 3 5 7: the middle is 3; with two more 1s it is 1.
        median.push(1);
        median.push(1);
        assert_eq!(median.median(), 3);
        median.push(1);
        median.push(1);
        assert_eq!(median.median(), 1);
    }

    #[test]
    fn a_block_keeps_its_spike_and_otherwise_its_mean() {
        let mut blocks = Blocks {
            length: 4,
            current: Vec::new(),
            moving_average: None,
        };
        let pushed: Vec<Option<f64>> = [10.0, 10.0, 10.0, 30.0, 10.0, 10.0, 10.0, 10.5]
            .into_iter()
            .map(|v| blocks.push(v).map(|b| b.value))
            .collect();
        assert_eq!(pushed[..3], [None, None, None]);
        assert_eq!(pushed[3], Some(30.0));
        // 10.5 is within 10 % of the block mean 10.125: the mean stands for the block.
        assert_eq!(pushed[7], Some(10.125));
    }

    /// A rise and fall of period 40 with a little deterministic wobble.
    fn cycle(length: usize) -> Vec<f64> {
        (0..length)
            .map(|i| {
                let phase = (i % 40) as f64;
                let wave = if phase < 20.0 { phase } else { 40.0 - phase };
                10.0 + wave + ((i * 7919) % 13) as f64 * 0.05
            })
            .collect()
    }

    fn config(range: ValueRange) -> ResonanceConfig {
        ResonanceConfig {
            range,
            probation: 600,
            headroom: 0.25,
            ..ResonanceConfig::default()
        }
    }

    #[test]
    fn a_learned_cycle_is_quiet_and_a_flat_stretch_is_flagged() {
        let mut values = cycle(4000);
        values[3000..3200].iter_mut().for_each(|v| *v = 20.0);
        let scores = score_series(
            Resonance::new(config(ValueRange::spanning(&values))),
            &values,
        );
        assert!(scores[..600].iter().all(|s| *s == 0.0), "probation scores");
        let flagged = top(&scores);
        assert!((3000..3100).contains(&flagged), "top score at {flagged}");
        assert!(scores[flagged] > 0.3, "{}", scores[flagged]);
        let quiet = scores[1500..3000].iter().filter(|s| **s > 0.0).count();
        assert_eq!(quiet, 0, "alerts on the learned cycle");
    }

    #[test]
    fn a_flat_series_is_quiet_and_values_that_are_not_numbers_are_skipped() {
        let expanding = ValueRange::Expanding {
            warm_up: 600,
            margin: 0.1,
        };
        let mut values = vec![5.0; 3000];
        values[1000] = f64::NAN;
        values[2000] = f64::INFINITY;
        let scores = score_series(Resonance::new(config(expanding)), &values);
        assert!(scores.iter().all(|s| *s == 0.0));
        // A step after the flat warm-up leaves its (zero-width) range and is flagged.
        values[2500..].iter_mut().for_each(|v| *v = 9.0);
        let scores = score_series(Resonance::new(config(expanding)), &values);
        assert!(scores[2500..2520].iter().any(|s| *s > 0.3), "step missed");
    }

    #[test]
    fn a_new_extreme_scores_one_online_but_not_in_the_probation() {
        let online = |record_margin| ResonanceConfig {
            range: ValueRange::Expanding {
                warm_up: 600,
                margin: 0.1,
            },
            headroom: 0.5,
            record_margin,
            ..config(ValueRange::WarmUp(600))
        };
        // The cycle spans about 10..31; 34 is beyond it by a seventh of that, inside the
        // headroom, so the network's range does not widen.
        let mut values = cycle(4000);
        values[300] = 34.0;
        values[2500] = 34.0;
        values[3000] = 36.0;
        let plain = score_series(Resonance::new(online(None)), &values);
        assert!(plain[2504] < 1.0, "the network alone: {}", plain[2504]);
        let scores = score_series(Resonance::new(online(Some(0.03))), &values);
        assert!(scores[..600].iter().all(|s| *s == 0.0), "probation scores");
        // 34 was seen in the probation: not a record at 2500; 36 is.
        assert_eq!(scores[2504], plain[2504]);
        assert_eq!(scores[3004], 1.0);
        assert!(plain[3004] < 1.0, "the network alone: {}", plain[3004]);
        for (i, (with, without)) in scores.iter().zip(&plain).enumerate() {
            if i != 3004 {
                assert_eq!(with, without, "at {i}");
            }
        }
        // No look-ahead: a later, higher record leaves earlier scores alone.
        let mut later = values.clone();
        later[3600] = 50.0;
        let later = score_series(Resonance::new(online(Some(0.03))), &later);
        assert!(
            later[..3600] == scores[..3600],
            "a later value changed a score"
        );
        assert_eq!(later[3604], 1.0);
    }

    #[test]
    fn online_scores_use_only_the_past_and_a_widening_rebuilds_as_if_known() {
        let expanding = ValueRange::Expanding {
            warm_up: 600,
            margin: 0.1,
        };
        let mut values = cycle(4000);
        values[2500] = 80.0;
        values[3000..3200].iter_mut().for_each(|v| *v = 20.0);
        let scores = score_series(Resonance::new(config(expanding)), &values);
        // The spike's block ends at 2504.
        assert!(scores[2504] > 0.3, "spike missed: {}", scores[2504]);
        assert!(
            scores[3000..3100].iter().any(|s| *s > 0.3),
            "flat stretch missed"
        );
        // No look-ahead: a later change leaves earlier scores alone.
        let mut changed = values.clone();
        changed[3600] = -50.0;
        let changed = score_series(Resonance::new(config(expanding)), &changed);
        assert!(
            changed[..3595] == scores[..3595],
            "a later value changed a score"
        );
        // The warm-up range (about 10..31) widened by a quarter on each side; the spike
        // widens the top to 80 plus a tenth of the new span. From the spike's block on, the
        // scores are those of a detector given that range from the start.
        let (low, high) = span(&values[..600]);
        let low = low - 0.25 * (high - low);
        let given = ValueRange::Given {
            min: low,
            max: 80.0 + 0.1 * (80.0 - low),
        };
        let from_start = score_series(Resonance::new(config(given)), &values);
        assert!(
            scores[2504..] == from_start[2504..],
            "scores after the widening differ"
        );
    }
}
