//! Trace structure: which calls each of a service's operations makes per execution, and how
//! far a minute's calls moved from the service's recent minutes.
//!
//! A method that throws or returns early skips what it would have called next: a child span
//! vanishes (the query, the call to another service), or a new one appears (the framework's
//! error handler). Latency and call counts barely move, so this is evidence that only the
//! shape of the traces holds. Per (service, minute) the `span_panes` operator pairs each span
//! with its parent *in the same service* (`ShapeBuilder`; a client span is the child that
//! stands for a call to another service) and counts, per parent operation, its executions and
//! its children by operation ([`CallShape`]). The feature windows compare the minute with the
//! service's last [`SHAPE_PANES`] minutes ([`structure_shift`]).
//!
//! Constants, each a stated rule, not fitted to a dataset: the baseline is the median of the
//! last quarter hour (the template baselines' length) so a few faulty minutes do not move it;
//! a call needs [`MIN_BASELINE_PANES`] minutes with its parent before it is judged; the spread
//! and the bar for a moved call are the template mix's ([`super::templates::mix_shift`]: a
//! Poisson spread widened by a tenth of the expected count, a move of 3); bounds below keep a
//! service's state small.

use serde::{Deserialize, Serialize};

use super::templates::{widened_deviation, MOVED_KEPT, MOVED_SCORE};
use crate::record::Span;

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// Minutes a call's fan-out is compared with.
pub const SHAPE_PANES: usize = 15;
/// Minutes with the parent operation a call needs before it is judged.
pub const MIN_BASELINE_PANES: usize = 3;
/// Spans paired per (service, minute); later spans of the minute are left out of its shape
/// (and counted), so only a service above this many spans a minute depends on arrival order.
pub const MAX_TRACKED_SPANS: usize = 1 << 20;
/// Distinct operation names per (service, minute) a shape keeps.
pub const MAX_SHAPE_OPERATIONS: usize = 64;
/// (parent, child) calls per (service, minute) a shape keeps, the busiest.
pub const MAX_SHAPE_CALLS: usize = 256;

/// What one service's spans of one minute say about its call structure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallShape {
    /// Operation names with their spans this minute, sorted by name.
    pub operations: Vec<(String, u32)>,
    /// `(parent, child, calls)`: indices into `operations`, sorted.
    pub calls: Vec<(u16, u16, u32)>,
    /// Spans left out: past [`MAX_TRACKED_SPANS`], or of operations past the name bound.
    pub untracked: u32,
}

/// Pairs a service's spans of one minute with their parents.
#[derive(Default)]
pub(super) struct ShapeBuilder {
    names: FastMap<String, u32>,
    spans: Vec<u32>,
    ids: FastMap<[u8; 8], u32>,
    children: Vec<([u8; 8], u32)>,
    untracked: u32,
}

impl ShapeBuilder {
    /// Notes a span of the service.
    pub(super) fn add(&mut self, span: &Span) {
        if self.ids.len() >= MAX_TRACKED_SPANS {
            self.untracked += 1;
            return;
        }
        let next = self.names.len() as u32;
        let index = match self.names.get(span.name.as_str()) {
            Some(&index) => index,
            None => {
                self.names.insert(span.name.clone(), next);
                self.spans.push(0);
                next
            }
        };
        self.spans[index as usize] += 1;
        self.ids.insert(span.span_id, index);
        if let Some(parent) = span.parent_span_id {
            self.children.push((parent, index));
        }
    }

    /// The minute's shape: children whose parent is a span of the same service and minute,
    /// counted per (parent operation, child operation); names sorted, so arrival order does
    /// not matter.
    pub(super) fn finish(self) -> CallShape {
        let mut pairs: FastMap<(u32, u32), u32> = FastMap::default();
        for (parent, child) in &self.children {
            if let Some(&parent) = self.ids.get(parent) {
                *pairs.entry((parent, *child)).or_default() += 1;
            }
        }
        let mut names: Vec<(String, u32)> = self.names.into_iter().collect();
        names.sort_unstable_by(|a, b| {
            self.spans[b.1 as usize]
                .cmp(&self.spans[a.1 as usize])
                .then(a.0.cmp(&b.0))
        });
        let mut untracked = self.untracked;
        for (_, index) in names.iter().skip(MAX_SHAPE_OPERATIONS) {
            untracked += self.spans[*index as usize];
        }
        names.truncate(MAX_SHAPE_OPERATIONS);
        names.sort_unstable();
        // Old index → position in the sorted names.
        let mut position = vec![u16::MAX; self.spans.len()];
        for (at, (_, index)) in names.iter().enumerate() {
            position[*index as usize] = at as u16;
        }
        let mut calls: Vec<(u16, u16, u32)> = pairs
            .into_iter()
            .map(|((p, c), n)| (position[p as usize], position[c as usize], n))
            .filter(|(p, c, _)| *p != u16::MAX && *c != u16::MAX)
            .collect();
        calls.sort_unstable_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        calls.truncate(MAX_SHAPE_CALLS);
        calls.sort_unstable();
        CallShape {
            operations: names
                .into_iter()
                .map(|(name, index)| (name, self.spans[index as usize]))
                .collect(),
            calls,
            untracked,
        }
    }
}

impl CallShape {
    /// The index of the operation `name` (the names are sorted).
    fn index_of(&self, name: &str) -> Option<u16> {
        let found = self
            .operations
            .binary_search_by(|(n, _)| n.as_str().cmp(name));
        found.ok().map(|i| i as u16)
    }

    /// Executions of the operation `name` this minute (0 when it did not run).
    fn executions(&self, name: &str) -> u32 {
        self.index_of(name)
            .map_or(0, |i| self.operations[i as usize].1)
    }

    /// Calls of `call` (parent, child) this minute.
    fn calls_of(&self, (parent, child): (&str, &str)) -> u32 {
        let (Some(p), Some(c)) = (self.index_of(parent), self.index_of(child)) else {
            return 0;
        };
        let found = self
            .calls
            .binary_search_by(|&(cp, cc, _)| (cp, cc).cmp(&(p, c)));
        found.map_or(0, |i| self.calls[i].2)
    }

    /// Every (parent, child) call by name.
    fn call_names(&self) -> impl Iterator<Item = (&str, &str)> {
        let name = |i: u16| self.operations[i as usize].0.as_str();
        self.calls.iter().map(move |&(p, c, _)| (name(p), name(c)))
    }

    /// Calls of `call` per execution of its parent; `None` when the parent did not run.
    fn per_execution(&self, call: (&str, &str)) -> Option<f64> {
        let runs = self.executions(call.0);
        (runs > 0).then(|| f64::from(self.calls_of(call)) / f64::from(runs))
    }
}

/// The median of `past`'s calls per execution of `call`; `None` with fewer than
/// [`MIN_BASELINE_PANES`] minutes that executed its parent.
fn baseline(past: &[&CallShape], call: (&str, &str)) -> Option<f64> {
    let mut rates: Vec<f64> = past.iter().filter_map(|c| c.per_execution(call)).collect();
    if rates.len() < MIN_BASELINE_PANES {
        return None;
    }
    rates.sort_by(f64::total_cmp);
    Some(rates[rates.len() / 2])
}

/// A call whose count moved against its baseline: root-cause evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct MovedCall {
    /// The calling operation.
    pub parent: String,
    /// The operation called.
    pub child: String,
    /// Calls this minute.
    pub count: u32,
    /// Calls expected: the baseline's calls per execution times this minute's executions.
    pub expected: f64,
}

impl MovedCall {
    /// How a person reads it: `"parent → child" (n calls, e expected)`.
    pub fn describe(&self) -> String {
        format!(
            "\"{} → {}\" ({} calls, {:.1} expected)",
            self.parent, self.child, self.count, self.expected
        )
    }
}

/// How far `now`'s calls moved from the `history` minutes' (oldest first, at most
/// [`SHAPE_PANES`] are read, the newest): the largest `|n - e| / sqrt(e + 1 + (e / 10)²)`
/// over the (parent, child) calls of the parent operations executed this minute, where `n` is
/// the minute's calls and `e` the median calls per parent execution over the history minutes
/// that executed the parent (a minute without the call counts 0) times this minute's
/// executions. So more load is no move, a call that vanishes or appears is. Returns the shift
/// (`None` with fewer than [`MIN_BASELINE_PANES`] history minutes; 0 when no call has as many
/// minutes with its parent, so a service that never called anything has a baseline when its
/// first error handler appears) and the calls that moved at least 3 deviations, largest first,
/// at most 3.
pub fn structure_shift(history: &[&CallShape], now: &CallShape) -> (Option<f64>, Vec<MovedCall>) {
    if history.len() < MIN_BASELINE_PANES {
        return (None, Vec::new());
    }
    let past = &history[history.len().saturating_sub(SHAPE_PANES)..];
    let mut keys: Vec<(&str, &str)> = now.call_names().collect();
    for shape in past {
        keys.extend(
            shape
                .call_names()
                .filter(|(parent, _)| now.executions(parent) > 0),
        );
    }
    keys.sort_unstable();
    keys.dedup();
    let mut shift: f64 = 0.0;
    let mut moved: Vec<(f64, MovedCall)> = Vec::new();
    for (parent, child) in keys {
        let Some(rate) = baseline(past, (parent, child)) else {
            continue;
        };
        let expected = rate * f64::from(now.executions(parent));
        let count = now.calls_of((parent, child));
        let score = widened_deviation(f64::from(count), expected);
        shift = shift.max(score);
        if score >= MOVED_SCORE {
            let call = MovedCall {
                parent: parent.to_string(),
                child: child.to_string(),
                count,
                expected,
            };
            moved.push((score, call));
        }
    }
    moved.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then((&a.1.parent, &a.1.child).cmp(&(&b.1.parent, &b.1.child)))
    });
    (
        Some(shift),
        moved.into_iter().take(MOVED_KEPT).map(|(_, m)| m).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_span;

    fn span(name: &str, id: u64, parent: Option<u64>) -> Span {
        Span {
            span_id: id.to_be_bytes(),
            parent_span_id: parent.map(u64::to_be_bytes),
            ..test_span(name)
        }
    }

    /// A minute of `requests` executions of `GET /trips`, each calling `SELECT` `selects`
    /// times and, when `failing`, the error handler once; spans in the given order.
    fn minute(requests: u64, selects: u64, failing: bool, reversed: bool) -> CallShape {
        let mut spans = Vec::new();
        for r in 0..requests {
            let root = r * 100 + 1;
            // The request's parent is in another service: not paired.
            spans.push(span("GET /trips", root, Some(9_999_999)));
            for s in 0..selects {
                spans.push(span("SELECT trip", root + 1 + s, Some(root)));
            }
            if failing {
                spans.push(span("ErrorController.error", root + 50, Some(root)));
            }
        }
        if reversed {
            spans.reverse();
        }
        let mut builder = ShapeBuilder::default();
        spans.iter().for_each(|s| builder.add(s));
        builder.finish()
    }

    #[test]
    fn a_minute_counts_calls_per_parent_operation_whatever_the_order() {
        let shape = minute(3, 2, false, false);
        assert_eq!(shape, minute(3, 2, false, true));
        let names: Vec<&str> = shape.operations.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["GET /trips", "SELECT trip"]);
        assert_eq!(shape.operations[0].1, 3);
        assert_eq!(shape.operations[1].1, 6);
        assert_eq!(shape.calls, vec![(0, 1, 6)]);
    }

    #[test]
    fn more_load_is_no_shift_a_vanished_or_new_call_is() {
        let history: Vec<CallShape> = (0..5).map(|i| minute(20 + i, 2, false, false)).collect();
        let history: Vec<&CallShape> = history.iter().collect();
        let (busier, moved) = structure_shift(&history, &minute(60, 2, false, false));
        assert!(busier.unwrap() < 1.0, "{busier:?}");
        assert!(moved.is_empty());
        let (skipped, moved) = structure_shift(&history, &minute(20, 0, false, false));
        assert!(skipped.unwrap() > 5.0, "{skipped:?}");
        assert_eq!(moved[0].child, "SELECT trip");
        assert_eq!((moved[0].count, moved[0].expected), (0, 40.0));
        let (failing, moved) = structure_shift(&history, &minute(20, 2, true, false));
        assert!(failing.unwrap() >= 20.0, "{failing:?}");
        assert_eq!(
            moved[0].describe(),
            "\"GET /trips → ErrorController.error\" (20 calls, 0.0 expected)"
        );
    }

    #[test]
    fn a_call_needs_minutes_of_baseline_and_a_few_odd_minutes_do_not_move_it() {
        let short: Vec<CallShape> = (0..2).map(|_| minute(20, 2, false, false)).collect();
        let short: Vec<&CallShape> = short.iter().collect();
        assert_eq!(
            structure_shift(&short, &minute(20, 0, false, false)).0,
            None
        );
        // Two failing minutes among five leave the median where it was.
        let mut history: Vec<CallShape> = (0..3).map(|_| minute(20, 2, false, false)).collect();
        history.extend((0..2).map(|_| minute(20, 2, true, false)));
        let history: Vec<&CallShape> = history.iter().collect();
        let (shift, moved) = structure_shift(&history, &minute(20, 2, true, false));
        assert!(shift.unwrap() >= 20.0);
        assert_eq!(moved[0].expected, 0.0);
    }

    #[test]
    fn a_service_that_never_called_anything_has_a_zero_shift_until_its_handler_appears() {
        let quiet: Vec<CallShape> = (0..4).map(|_| minute(20, 0, false, false)).collect();
        let quiet: Vec<&CallShape> = quiet.iter().collect();
        assert_eq!(
            structure_shift(&quiet, &minute(30, 0, false, false)).0,
            Some(0.0)
        );
        let (shift, moved) = structure_shift(&quiet, &minute(30, 0, true, false));
        assert_eq!(shift, Some(30.0));
        assert_eq!(moved[0].child, "ErrorController.error");
    }

    #[test]
    fn past_the_name_bound_operations_are_left_out_and_counted() {
        let mut builder = ShapeBuilder::default();
        for i in 0..(MAX_SHAPE_OPERATIONS as u64 + 6) {
            builder.add(&span(&format!("op{i:03}"), i + 1, None));
        }
        builder.add(&span("op000", 500, Some(1)));
        let shape = builder.finish();
        assert_eq!(shape.operations.len(), MAX_SHAPE_OPERATIONS);
        // op000 is the busiest (two spans) and kept; ties keep the smaller names.
        assert_eq!(shape.operations[0], ("op000".to_string(), 2));
        assert_eq!(shape.untracked, 6);
        assert_eq!(shape.calls, vec![(0, 0, 1)]);
    }
}
