//! The `pane_join` operator: two streams met minute by minute.
//!
//! Several stages need "everything of minute `m` from both inputs, once both are complete":
//! the span/metric join, rows with their neighbours, evidence with edges, rows with their
//! incident. This operator holds each input's records per minute under a retained capability
//! and hands both batches to a function once both frontiers have passed the minute, minutes
//! in increasing order.

use std::collections::BTreeMap;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::ParallelizationContract;
use timely::dataflow::operators::{Capability, InputCapability, Operator};
use timely::dataflow::StreamVec;

use super::Pane;

/// One minute's records of both inputs, under a capability for the minute.
type Pending<A, B> = (Capability<Pane>, Vec<A>, Vec<B>);

/// The pending entry for the time of `capability`, created with a retained capability.
fn stash<'a, A, B>(
    pending: &'a mut BTreeMap<Pane, Pending<A, B>>,
    capability: &InputCapability<Pane>,
) -> Option<&'a mut Pending<A, B>> {
    let time = *capability.least()?;
    Some(
        pending
            .entry(time)
            .or_insert_with(|| (capability.delayed(&time, 0), Vec::new(), Vec::new())),
    )
}

/// Extension trait: join two streams by minute.
pub trait PaneJoin<'scope, A> {
    /// Calls `logic(minute, a, b)` with all records of the minute from `self` (`a`) and
    /// `other` (`b`), in arrival order, once both input frontiers have passed the minute, and
    /// emits what it returns at that minute. Minutes come in increasing order, each once
    /// (minutes without records are skipped). `pacts` route the two inputs.
    fn pane_join<B, O, PA, PB, L>(
        self,
        other: StreamVec<'scope, Pane, B>,
        pacts: (PA, PB),
        name: &str,
        logic: L,
    ) -> StreamVec<'scope, Pane, O>
    where
        B: Clone + 'static,
        O: Clone + 'static,
        PA: ParallelizationContract<Pane, Vec<A>>,
        PB: ParallelizationContract<Pane, Vec<B>>,
        L: FnMut(Pane, Vec<A>, Vec<B>) -> Vec<O> + 'static;
}

impl<'scope, A: Clone + 'static> PaneJoin<'scope, A> for StreamVec<'scope, Pane, A> {
    fn pane_join<B, O, PA, PB, L>(
        self,
        other: StreamVec<'scope, Pane, B>,
        (pact_a, pact_b): (PA, PB),
        name: &str,
        mut logic: L,
    ) -> StreamVec<'scope, Pane, O>
    where
        B: Clone + 'static,
        O: Clone + 'static,
        PA: ParallelizationContract<Pane, Vec<A>>,
        PB: ParallelizationContract<Pane, Vec<B>>,
        L: FnMut(Pane, Vec<A>, Vec<B>) -> Vec<O> + 'static,
    {
        self.binary_frontier::<_, CapacityContainerBuilder<Vec<O>>, _, _, _, _>(
            other,
            pact_a,
            pact_b,
            name,
            move |_capability, _info| {
                let mut pending: BTreeMap<Pane, Pending<A, B>> = BTreeMap::new();
                move |(left, left_frontier), (right, right_frontier), output| {
                    left.for_each(|capability, data| {
                        if let Some(entry) = stash(&mut pending, &capability) {
                            entry.1.append(data);
                        }
                    });
                    right.for_each(|capability, data| {
                        if let Some(entry) = stash(&mut pending, &capability) {
                            entry.2.append(data);
                        }
                    });
                    while let Some(entry) = pending.first_entry() {
                        let pane = *entry.key();
                        if left_frontier.less_equal(&pane) || right_frontier.less_equal(&pane) {
                            break;
                        }
                        let (capability, a, b) = entry.remove();
                        let out = logic(pane, a, b);
                        if !out.is_empty() {
                            output.session(&capability).give_iterator(out.into_iter());
                        }
                    }
                }
            },
        )
    }
}
