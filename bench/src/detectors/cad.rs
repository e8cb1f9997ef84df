//! The Contextual Anomaly Detector: a point is anomalous when the contexts it completes are
//! ones the series has not shown before.
//!
//! [`super::context`] counts runs of grid cells. This module implements the algorithm of the
//! Contextual Anomaly Detector, open-source edition (CAD OSE, Mikhail Smirnov, 2016), which
//! scored 69.9 on NAB's standard profile, so that the engine can be compared with it on equal
//! terms. Its memory is richer than run counts:
//!
//! - A value becomes a few *facts*: the bits of its cell number on a grid of `2^bits` cells
//!   (fact `2·i + bit` for the i-th bit).
//! - A *context* pairs a left set of facts (the previous point's facts plus the contexts that
//!   were active then, as "neuron" facts) with a right set (the current point's facts). Every
//!   step stores the full pair as a zero-level context and, while that pair is new, also the
//!   partial pairs where stored contexts overlap the input.
//! - A stored context is *selected* when its whole left side was present at the previous step
//!   and *active* when its right side is present now too.
//!
//! A point's score is `(1 − active/selected + added/candidates) / 2`: high when what usually
//! follows did not come and the memory had to grow. After a score of at least the threshold,
//! scores are reported as 0 for a rest period (one event, one report).
//!
//! The value grid needs a range. NAB hands every detector its file's minimum and maximum
//! ([`ValueRange::Given`]), and CAD OSE's published score uses them; a job cannot know the
//! future, so [`ValueRange::WarmUp`] fixes the range from the first points instead.
//!
//! Two details are our choices: ties among active contexts (only the 15 most used become
//! neuron facts) go to the newest context rather than to Python's tuple hash order, and
//! context number 0 takes part like any other (the original skips it by comparing its number
//! with `False`).

use std::collections::VecDeque;

/// Maps keyed by facts and numbers, hashed by foldhash with a fixed seed: the memory is
/// looked up several times per fact per step, and SipHash was a tenth of the cost. Nothing
/// iterates these maps, so the seed cannot change a result.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::FixedState>;

/// Neuron facts are numbered from here, above any sensor fact.
const NEURON_BASE: u64 = 1 << 31;
/// The most recent values a widening grid learns again ([`ValueRange::Expanding`]): the
/// bound on its memory and on the cost of one widening.
pub const RELEARN_LIMIT: usize = 20_000;
/// The fact of a cell number below the grid (online range only).
const NEGATIVE_FACT: u64 = NEURON_BASE - 1;

/// Where the value grid's range comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRange {
    /// A known minimum and maximum (NAB gives each detector its file's).
    Given {
        /// Lowest value.
        min: f64,
        /// Highest value.
        max: f64,
    },
    /// The range of the first this-many points, which are learned but scored 0.
    WarmUp(usize),
    /// Starts as [`ValueRange::WarmUp`] and grows with the series: a value outside the grid
    /// widens it to the range of everything seen, plus `margin` times that range on the side
    /// the value left by, and the last [`RELEARN_LIMIT`] values are learned again on the new
    /// grid before the value is scored. Still online: a score depends only on the past.
    Expanding {
        /// Points whose range sets the first grid (learned, scored 0).
        warm_up: usize,
        /// Headroom added on a widening, as a share of the range seen.
        margin: f64,
    },
}

impl ValueRange {
    /// The range from the lowest to the highest of `values` (NAB's file range).
    pub fn spanning(values: &[f64]) -> Self {
        let (min, max) = span(values);
        ValueRange::Given { min, max }
    }
}

/// The lowest and highest of `values`.
pub(crate) fn span(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
            (low.min(*v), high.max(*v))
        })
}

/// Settings of a [`Cad`] detector; the defaults are CAD OSE's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CadConfig {
    /// The value range of the grid.
    pub range: ValueRange,
    /// Bits of the cell number (the grid has `2^bits` cells).
    pub bits: u32,
    /// Raw scores at or above this start a rest.
    pub threshold: f64,
    /// Points a score is suppressed for after a raw score reached the threshold.
    pub rest: usize,
    /// Partial contexts are stored only when their left part has at most this many facts.
    pub max_left_facts: usize,
    /// At most this many active contexts become facts of the next step.
    pub max_neurons: usize,
}

impl Default for CadConfig {
    fn default() -> Self {
        Self {
            range: ValueRange::WarmUp(150),
            bits: 3,
            threshold: 0.75,
            rest: 30,
            max_left_facts: 7,
            max_neurons: 15,
        }
    }
}

/// A stored set of facts on one side of contexts.
#[derive(Debug, Clone, Default)]
struct SemiContext {
    /// The facts, sorted.
    facts: Vec<u64>,
    /// Left sides only: (right side, context) pairs in the order they were stored.
    contexts: Vec<(usize, usize)>,
    /// Left sides only: the context stored for each right side.
    context_of: HashMap<usize, usize>,
}

/// All semi-contexts of one side, indexed by their facts and by each fact, and how many of
/// each one's facts the last input held.
#[derive(Debug, Clone, Default)]
struct Side {
    ids: HashMap<Vec<u64>, usize>,
    semis: Vec<SemiContext>,
    holding: HashMap<u64, Vec<usize>>,
    /// The facts of the last crossing, sorted.
    input: Vec<u64>,
    /// Per semi-context, how many of its facts the last crossing held (0 for one stored
    /// since).
    crossed_count: Vec<u32>,
    /// Semi-contexts with at least one crossed fact, by number.
    crossed: Vec<usize>,
}

impl Side {
    /// The number of the semi-context with exactly `facts` (sorted), stored if new.
    fn intern(&mut self, facts: &[u64]) -> usize {
        if let Some(id) = self.ids.get(facts) {
            return *id;
        }
        let id = self.semis.len();
        self.ids.insert(facts.to_vec(), id);
        self.semis.push(SemiContext {
            facts: facts.to_vec(),
            ..SemiContext::default()
        });
        self.crossed_count.push(0);
        for fact in facts {
            self.holding.entry(*fact).or_default().push(id);
        }
        id
    }

    /// Counts, for every semi-context, how many of `facts` (sorted) it holds. Only counts
    /// are kept: which facts they were is worked out for the few semi-contexts that propose
    /// a candidate ([`Self::crossed_facts`]), since nearly every one shares a fact with the
    /// input and a list per semi-context per step dominated the cost.
    fn cross(&mut self, facts: &[u64]) {
        for id in self.crossed.drain(..) {
            self.crossed_count[id] = 0;
        }
        for fact in facts {
            for id in self.holding.get(fact).into_iter().flatten() {
                self.crossed_count[*id] += 1;
            }
        }
        // In number order, as the original walks them.
        self.crossed.extend(
            self.crossed_count
                .iter()
                .enumerate()
                .filter(|(_, count)| **count > 0)
                .map(|(id, _)| id),
        );
        self.input.clear();
        self.input.extend_from_slice(facts);
    }

    /// How many of semi-context `id`'s facts the last input held.
    fn crossed(&self, id: usize) -> usize {
        self.crossed_count[id] as usize
    }

    /// Whether the last input held all of semi-context `id`'s facts.
    fn fully_crossed(&self, id: usize) -> bool {
        self.crossed(id) == self.semis[id].facts.len()
    }

    /// The facts of semi-context `id` the last input held, sorted.
    fn crossed_facts(&self, id: usize) -> Vec<u64> {
        let facts = &self.semis[id].facts;
        let mut shared = Vec::with_capacity(self.crossed(id));
        let (mut i, mut j) = (0, 0);
        while i < facts.len() && j < self.input.len() {
            match facts[i].cmp(&self.input[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    shared.push(facts[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        shared
    }
}

/// A stored context: how often it was active, and whether it was ever a whole step's pair.
#[derive(Debug, Clone, Copy)]
struct Context {
    uses: u64,
    zero_level: bool,
}

/// A candidate context: left facts and right facts.
type Pair = (Vec<u64>, Vec<u64>);

/// The contexts met by one step's input.
struct Activation {
    /// Active contexts.
    active: Vec<usize>,
    /// Contexts whose left side was fully present.
    selected: usize,
    /// Overlaps of stored zero-level contexts with the input, to store.
    candidates: Vec<Pair>,
}

/// The context memory.
#[derive(Debug, Clone, Default)]
struct Memory {
    left: Side,
    right: Side,
    contexts: Vec<Context>,
    max_left_facts: usize,
}

impl Memory {
    /// Stores the context `left → right` if new; returns its number and whether it was new.
    /// A context stored or met as a whole step's pair is marked zero-level.
    fn store(&mut self, left: &[u64], right: &[u64], zero_level: bool) -> (usize, bool) {
        let left_id = self.left.intern(left);
        let right_id = self.right.intern(right);
        let semi = &mut self.left.semis[left_id];
        if let Some(id) = semi.context_of.get(&right_id) {
            self.contexts[*id].zero_level |= zero_level;
            return (*id, false);
        }
        let id = self.contexts.len();
        semi.context_of.insert(right_id, id);
        semi.contexts.push((right_id, id));
        self.contexts.push(Context {
            uses: 0,
            zero_level,
        });
        (id, true)
    }

    /// Walks the contexts whose left side was crossed at the previous step against the right
    /// side crossed now. `fresh` is the zero-level context stored this step, if it was new;
    /// it takes no part, and only then are overlaps proposed as candidates.
    fn activate(&mut self, fresh: Option<usize>) -> Activation {
        let mut activation = Activation {
            active: Vec::new(),
            selected: 0,
            candidates: Vec::new(),
        };
        for left_id in &self.left.crossed {
            let left_full = self.left.fully_crossed(*left_id);
            let may_propose = fresh.is_some() && self.left.crossed(*left_id) <= self.max_left_facts;
            // A partly present left side can only propose candidates.
            if !left_full && !may_propose {
                continue;
            }
            let mut left_shared: Option<Vec<u64>> = None;
            for (right_id, id) in &self.left.semis[*left_id].contexts {
                if Some(*id) == fresh {
                    continue;
                }
                let right_crossed = self.right.crossed(*right_id);
                let context = &mut self.contexts[*id];
                if left_full {
                    activation.selected += 1;
                    if right_crossed == 0 {
                        continue;
                    }
                    if self.right.fully_crossed(*right_id) {
                        context.uses += 1;
                        activation.active.push(*id);
                        continue;
                    }
                }
                if context.zero_level && may_propose && right_crossed > 0 {
                    let left_shared =
                        left_shared.get_or_insert_with(|| self.left.crossed_facts(*left_id));
                    activation
                        .candidates
                        .push((left_shared.clone(), self.right.crossed_facts(*right_id)));
                }
            }
        }
        activation
    }
}

/// The streaming detector for one series.
#[derive(Debug, Clone)]
pub struct Cad {
    config: CadConfig,
    /// The grid, once known.
    grid: Option<Grid>,
    warm_up: Vec<f64>,
    /// The values a widening grid learns again (expanding range only), oldest first.
    history: VecDeque<f64>,
    memory: Memory,
    /// The previous step's facts and neuron facts.
    left_facts: Vec<u64>,
    /// The last `rest` raw scores.
    recent: VecDeque<f64>,
}

impl Cad {
    /// A detector that has seen nothing.
    pub fn new(config: CadConfig) -> Self {
        let config = CadConfig {
            bits: config.bits.clamp(1, 16),
            ..config
        };
        let grid = match config.range {
            ValueRange::Given { min, max } => Some(Grid::new(min, max, config.bits, 1.0)),
            ValueRange::WarmUp(_) | ValueRange::Expanding { .. } => None,
        };
        Self {
            config,
            grid,
            warm_up: Vec::new(),
            history: VecDeque::new(),
            memory: Memory {
                max_left_facts: config.max_left_facts,
                ..Memory::default()
            },
            left_facts: Vec::new(),
            // As in CAD OSE, the history starts with a full score: the first `rest` points
            // rest.
            recent: VecDeque::from([1.0]),
        }
    }

    /// The score of `value` in 0..1 given everything before it, after which `value` is
    /// learned. Values that are not finite score 0 and are skipped.
    pub fn score(&mut self, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let Some(grid) = self.grid else {
            self.warm(value);
            return 0.0;
        };
        let grid = match self.config.range {
            ValueRange::Expanding { margin, .. } if !grid.covers(value) => {
                self.widen(grid, value, margin)
            }
            _ => grid,
        };
        self.remember(value);
        let raw = self.step(grid.facts(value, self.config.bits));
        self.report(raw)
    }

    /// Buffers a warm-up value; at the end of the warm-up fixes the grid and learns them.
    fn warm(&mut self, value: f64) {
        self.warm_up.push(value);
        let length = match self.config.range {
            ValueRange::WarmUp(length)
            | ValueRange::Expanding {
                warm_up: length, ..
            } => length,
            ValueRange::Given { .. } => return,
        };
        if self.warm_up.len() < length.max(1) {
            return;
        }
        let (low, high) = span(&self.warm_up);
        // A flat warm-up: cells of 1 % of its level, so later noise is not new every time.
        let grid = Grid::new(low, high, self.config.bits, (low.abs() * 0.01).max(1e-9));
        self.grid = Some(grid);
        for value in std::mem::take(&mut self.warm_up) {
            self.remember(value);
            let raw = self.step(grid.facts(value, self.config.bits));
            self.report(raw);
        }
    }

    /// Keeps `value` for relearning when the range can widen.
    fn remember(&mut self, value: f64) {
        if !matches!(self.config.range, ValueRange::Expanding { .. }) {
            return;
        }
        if self.history.len() >= RELEARN_LIMIT {
            self.history.pop_front();
        }
        self.history.push_back(value);
    }

    /// A grid that also covers `value`, with `margin` headroom on the side it left by, and a
    /// memory relearned on it from the kept history (rest periods included), as if the grid
    /// had been this wide from the start.
    fn widen(&mut self, grid: Grid, value: f64, margin: f64) -> Grid {
        let (seen_low, seen_high) = span(self.history.make_contiguous());
        let (low, high) = (seen_low.min(value), seen_high.max(value));
        let headroom = margin.max(0.0) * (high - low);
        let low = if value < grid.low {
            low - headroom
        } else {
            grid.low
        };
        let high = if value > grid.high {
            high + headroom
        } else {
            grid.high
        };
        let mut relearned = Cad::new(CadConfig {
            range: ValueRange::Given {
                min: low,
                max: high,
            },
            ..self.config
        });
        for past in &self.history {
            relearned.score(*past);
        }
        self.memory = relearned.memory;
        self.left_facts = relearned.left_facts;
        self.recent = relearned.recent;
        let widened = relearned.grid.unwrap_or(grid);
        self.grid = Some(widened);
        widened
    }

    /// Applies the rest period and remembers `raw`.
    fn report(&mut self, raw: f64) -> f64 {
        let resting = self.recent.iter().any(|s| *s >= self.config.threshold);
        self.recent.push_back(raw);
        while self.recent.len() > self.config.rest {
            self.recent.pop_front();
        }
        if resting {
            0.0
        } else {
            raw
        }
    }

    /// One step of the context memory on the current point's facts; the raw score.
    fn step(&mut self, facts: Vec<u64>) -> f64 {
        let fresh = if self.left_facts.is_empty() {
            None
        } else {
            let (id, new) = self.memory.store(&self.left_facts, &facts, true);
            new.then_some(id)
        };
        self.memory.right.cross(&facts);
        let activation = self.memory.activate(fresh);
        let active_share = if activation.selected > 0 {
            activation.active.len() as f64 / activation.selected as f64
        } else {
            0.0
        };
        // Only a step whose whole pair is new proposes candidates.
        let added_share = match fresh {
            Some(_) => self.store_candidates(&facts, &activation.candidates),
            None => 0.0,
        };
        self.left_facts = self.next_left_facts(facts, activation.active);
        self.memory.left.cross(&self.left_facts);
        (1.0 - active_share + added_share) / 2.0
    }

    /// Stores the candidates of a step whose whole pair (`self.left_facts` → `facts`) was
    /// new; the share of the distinct proposals, that pair included, that were new.
    fn store_candidates(&mut self, facts: &[u64], candidates: &[Pair]) -> f64 {
        let distinct = candidates
            .iter()
            .map(|(left, right)| (left.as_slice(), right.as_slice()))
            .chain(std::iter::once((self.left_facts.as_slice(), facts)))
            .collect::<HashSet<_>>()
            .len();
        let stored = candidates
            .iter()
            .filter(|(left, right)| self.memory.store(left, right, false).1)
            .count();
        (stored + 1) as f64 / distinct as f64
    }

    /// The current facts plus the most used active contexts as neuron facts, sorted.
    fn next_left_facts(&self, mut facts: Vec<u64>, mut active: Vec<usize>) -> Vec<u64> {
        // Only which contexts are kept matters (the facts are sorted after), so a selection
        // suffices: most used first, ties to the newest.
        let keep = self.config.max_neurons.min(active.len());
        if keep > 0 && keep < active.len() {
            active.select_nth_unstable_by_key(keep - 1, |id| {
                std::cmp::Reverse((self.memory.contexts[*id].uses, *id))
            });
        }
        facts.extend(active[..keep].iter().map(|id| NEURON_BASE + *id as u64));
        facts.sort_unstable();
        facts.dedup();
        facts
    }

    /// Contexts stored so far (the memory grows with novelty, not with time).
    pub fn contexts(&self) -> usize {
        self.memory.contexts.len()
    }
}

/// The value grid: `2^bits − 1` cells across the range, the top value in a cell of its own,
/// as in CAD OSE.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Grid {
    low: f64,
    high: f64,
    width: f64,
}

impl Grid {
    /// The grid of `low..=high`; cells of `flat_width` when the range is empty.
    fn new(low: f64, high: f64, bits: u32, flat_width: f64) -> Self {
        let cells = f64::from((1u32 << bits) - 1);
        let range = high - low;
        let width = if range > 0.0 && range.is_finite() {
            range / cells
        } else {
            flat_width
        };
        // Never below `high`, which rounding could make `low + width · cells`.
        Grid {
            low,
            high: (low + width * cells).max(high),
            width,
        }
    }

    /// Whether `value` lies on the grid.
    fn covers(&self, value: f64) -> bool {
        (self.low..=self.high).contains(&value)
    }

    /// The facts of `value` on this grid.
    fn facts(&self, value: f64, bits: u32) -> Vec<u64> {
        facts_of(value, self.low, self.width, bits)
    }
}

/// The facts of a value: the bits of its cell number, each as `2·position + bit`, sorted.
/// Cells above the grid have more bits; cells below it add [`NEGATIVE_FACT`].
fn facts_of(value: f64, low: f64, width: f64, bits: u32) -> Vec<u64> {
    let cell = ((value - low) / width).floor().clamp(-1e12, 1e12) as i64;
    let mut number = cell.unsigned_abs();
    let mut facts = Vec::with_capacity(4);
    let mut position = 0u64;
    while number > 0 || position < u64::from(bits) {
        facts.push(2 * position + (number & 1));
        number >>= 1;
        position += 1;
    }
    if cell < 0 {
        facts.push(NEGATIVE_FACT);
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{repeated, top};
    use super::*;
    use crate::detectors::score_series;

    /// A cycle of period 8 over the whole grid, `cycles` times.
    fn cycle(cycles: usize) -> Vec<f64> {
        repeated(&[0.0, 1.0, 3.0, 5.0, 7.0, 6.0, 4.0, 2.0], cycles)
    }

    fn given(rest: usize) -> CadConfig {
        CadConfig {
            range: ValueRange::Given { min: 0.0, max: 7.0 },
            rest,
            ..CadConfig::default()
        }
    }

    #[test]
    fn a_value_is_the_bits_of_its_cell() {
        assert_eq!(facts_of(0.0, 0.0, 1.0, 3), vec![0, 2, 4]);
        // 5 = 0b101: bit 0 set, bit 1 clear, bit 2 set.
        assert_eq!(facts_of(5.5, 0.0, 1.0, 3), vec![1, 2, 5]);
        // Above the grid the cell number needs a fourth bit.
        assert_eq!(facts_of(8.0, 0.0, 1.0, 3), vec![0, 2, 4, 7]);
        assert_eq!(facts_of(-1.5, 0.0, 1.0, 3), vec![0, 3, 4, NEGATIVE_FACT]);
        // CAD OSE's grid: 7 cells across the range, the maximum alone in the eighth.
        let grid = Grid::new(10.0, 24.0, 3, 1.0);
        assert_eq!((grid.low, grid.width), (10.0, 2.0));
        assert_eq!(facts_of(24.0, 10.0, 2.0, 3), vec![1, 3, 5]);
    }

    #[test]
    fn a_learned_cycle_is_quiet_and_a_break_in_it_scores_highest() {
        let mut values = cycle(60);
        // Every value is one the cycle has; only the order is new.
        values[400] = 7.0;
        let scores = score_series(Cad::new(given(16)), &values);
        assert_eq!(top(&scores), 400, "{:?}", &scores[390..410]);
        assert!(scores[400] >= 0.75, "{}", scores[400]);
        assert!(
            scores[200..400].iter().all(|s| *s < 0.5),
            "{:?}",
            &scores[200..400]
        );
    }

    #[test]
    fn an_alert_rests_and_a_repeated_new_pattern_becomes_normal() {
        let mut values = cycle(60);
        // From 240 on the cycle runs backwards: new transitions, then a new normal.
        values[240..].reverse();
        let scores = score_series(Cad::new(given(16)), &values);
        let alert = (230..260).find(|t| scores[*t] >= 0.75).expect("an alert");
        assert!(scores[alert + 1..alert + 17].iter().all(|s| *s == 0.0));
        assert!(
            scores[400..].iter().all(|s| *s < 0.5),
            "{:?}",
            &scores[400..]
        );
    }

    #[test]
    fn online_scores_use_only_the_past() {
        let config = CadConfig {
            range: ValueRange::WarmUp(80),
            rest: 16,
            ..CadConfig::default()
        };
        let values = cycle(40);
        let mut changed = values.clone();
        changed[200] = 99.0;
        let (scores, later) = (
            score_series(Cad::new(config), &values),
            score_series(Cad::new(config), &changed),
        );
        assert_eq!(scores[..200], later[..200]);
        assert!(scores[..80].iter().all(|s| *s == 0.0), "warm-up scores 0");
        assert!(later[200] >= 0.75, "a value far above the warm-up is new");

        let mut with_gap = values.clone();
        with_gap.insert(150, f64::NAN);
        let gapped = score_series(Cad::new(config), &with_gap);
        assert_eq!(gapped[150], 0.0);
        assert_eq!(gapped[151..], scores[150..]);
    }

    fn expanding(warm_up: usize) -> CadConfig {
        CadConfig {
            range: ValueRange::Expanding {
                warm_up,
                margin: 0.25,
            },
            rest: 16,
            ..CadConfig::default()
        }
    }

    #[test]
    fn a_widened_grid_scores_as_if_it_had_been_that_wide_from_the_start() {
        let mut values = cycle(60);
        // The warm-up spans 0..=7; 15 leaves it, so the grid becomes 0..=15 + 0.25 · 15.
        values[300] = 15.0;
        let widening = score_series(Cad::new(expanding(80)), &values);
        assert!(widening[300] >= 0.75, "the value that left the grid is new");
        let from_the_start = score_series(
            Cad::new(CadConfig {
                range: ValueRange::Given {
                    min: 0.0,
                    max: 18.75,
                },
                ..expanding(80)
            }),
            &values,
        );
        assert_eq!(widening[300..], from_the_start[300..]);
        assert!(widening[..80].iter().all(|s| *s == 0.0), "warm-up scores 0");
    }

    #[test]
    fn a_widening_grid_stays_online_and_relearns_only_its_limit() {
        let values = cycle(40);
        let mut changed = values.clone();
        changed[200] = -50.0;
        let (scores, later) = (
            score_series(Cad::new(expanding(80)), &values),
            score_series(Cad::new(expanding(80)), &changed),
        );
        assert_eq!(scores[..200], later[..200]);
        assert!(later[200] >= 0.75, "a value far below the grid is new");

        let mut detector = Cad::new(expanding(10));
        for value in (0..RELEARN_LIMIT + 50).map(|t| (t % 8) as f64) {
            detector.score(value);
        }
        detector.score(100.0);
        assert_eq!(detector.history.len(), RELEARN_LIMIT);
        let grid = detector.grid.expect("a grid after the warm-up");
        assert!(grid.covers(100.0) && grid.covers(0.0), "{grid:?}");
    }

    #[test]
    fn memory_grows_with_novelty_not_with_time() {
        let mut detector = Cad::new(given(16));
        for value in cycle(50) {
            detector.score(value);
        }
        let learned = detector.contexts();
        for value in cycle(50) {
            detector.score(value);
        }
        assert_eq!(
            detector.contexts(),
            learned,
            "a known cycle adds no contexts"
        );
    }
}
