//! Merging the workers' partial call counts into one figure per edge and minute.

use std::collections::{BTreeMap, HashMap};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;

use super::{edge_hash, EdgePartial, EdgeWindow};
use crate::time::Pane;

/// Extension trait: merge partial edge counts.
pub trait EdgeWindows<'scope> {
    /// Routes partials by edge and emits one [`EdgeWindow`] per edge and minute, at that
    /// minute, once the input frontier has passed it; output within a minute is sorted by
    /// (caller, callee). State: the partials of minutes not yet passed.
    fn edge_windows(self) -> StreamVec<'scope, Pane, EdgeWindow>;
}

impl<'scope> EdgeWindows<'scope> for StreamVec<'scope, Pane, EdgePartial> {
    fn edge_windows(self) -> StreamVec<'scope, Pane, EdgeWindow> {
        let exchange = Exchange::new(|p: &EdgePartial| edge_hash(&p.caller, &p.callee));
        self.unary_frontier::<CapacityContainerBuilder<Vec<EdgeWindow>>, _, _, _>(
            exchange,
            "EdgeWindows",
            |_capability, _info| {
                type Merged = HashMap<(String, String), EdgePartial>;
                let mut open: BTreeMap<Pane, (Capability<Pane>, Merged)> = BTreeMap::new();
                move |(input, frontier), output| {
                    input.for_each(|capability, partials| {
                        for partial in partials.drain(..) {
                            let pane = partial.pane;
                            let (_, merged) = open
                                .entry(pane)
                                .or_insert_with(|| (capability.delayed(&pane, 0), HashMap::new()));
                            let key = (partial.caller.clone(), partial.callee.clone());
                            match merged.get_mut(&key) {
                                Some(existing) => {
                                    existing.calls += partial.calls;
                                    existing.errors += partial.errors;
                                    existing.latency.merge(&partial.latency);
                                    existing.gap.merge(&partial.gap);
                                }
                                None => {
                                    merged.insert(key, partial);
                                }
                            }
                        }
                    });
                    while let Some(entry) = open.first_entry() {
                        if frontier.less_equal(entry.key()) {
                            break;
                        }
                        let (capability, merged) = entry.remove();
                        let mut windows: Vec<EdgeWindow> =
                            merged.into_values().map(window_of).collect();
                        windows.sort_by(|a, b| (&a.caller, &a.callee).cmp(&(&b.caller, &b.callee)));
                        output
                            .session(&capability)
                            .give_iterator(windows.into_iter());
                    }
                }
            },
        )
    }
}

fn window_of(partial: EdgePartial) -> EdgeWindow {
    let [p50_ms, p95_ms, p99_ms] = [0.5, 0.95, 0.99].map(|q| partial.latency.quantile(q));
    EdgeWindow {
        pane: partial.pane,
        caller: partial.caller,
        callee: partial.callee,
        virtual_callee: partial.virtual_callee,
        calls: partial.calls.round() as u64,
        errors: partial.errors.round() as u64,
        p50_ms,
        p95_ms,
        p99_ms,
        gap_p50_ms: partial.gap.quantile(0.5),
    }
}
