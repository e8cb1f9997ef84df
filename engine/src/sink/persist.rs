//! The `persist_closed` operator: the records of closed minutes into a store, holding back
//! the durable frontier until they are there. Span pane state and the dependency graph's
//! tables use it; rows have their own operator because they batch across minutes.

use std::collections::BTreeMap;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;

use crate::error::Result;
use crate::retry::Backoff;
use crate::time::Pane;

/// A store that takes the records of one or more closed minutes in one transaction.
pub trait ClosedStore<T>: 'static {
    /// What is stored, for log lines ("span panes").
    const WHAT: &'static str;

    /// Writes `records` (of the minutes `panes`, ascending) atomically and idempotently: a
    /// replay may write the same records again.
    fn write(&mut self, panes: &[Pane], records: &[T]) -> Result<()>;
}

/// Extension trait: persist the records of closed minutes.
pub trait PersistClosed<'scope, T> {
    /// Writes each minute's records through `store` once the input frontier has passed the
    /// minute (all of them are in), one transaction per activation, minutes without records
    /// included; failures are retried with backoff, never skipped.
    ///
    /// Progress guarantee: the returned stream carries no data and its frontier stays at or
    /// before every minute whose records are not yet stored, so a probe on it can gate the
    /// Kafka resume offsets together with the rows' durability.
    fn persist_closed<S: ClosedStore<T>>(self, store: S) -> StreamVec<'scope, Pane, ()>;
}

impl<'scope, T: Clone + 'static> PersistClosed<'scope, T> for StreamVec<'scope, Pane, T> {
    fn persist_closed<S: ClosedStore<T>>(self, mut store: S) -> StreamVec<'scope, Pane, ()> {
        let scope = self.scope();
        self.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
            Pipeline,
            "PersistClosed",
            move |_capability, info| {
                let activator = scope.activator_for(info.address);
                let mut pending: BTreeMap<Pane, (Capability<Pane>, Vec<T>)> = BTreeMap::new();
                let mut backoff = Backoff::for_writes();
                move |(input, frontier), _output| {
                    input.for_each(|capability, records| {
                        let Some(time) = capability.least().copied() else {
                            return;
                        };
                        pending
                            .entry(time)
                            .or_insert_with(|| (capability.delayed(&time, 0), Vec::new()))
                            .1
                            .append(records);
                    });
                    if backoff.waiting() {
                        return;
                    }
                    let closed: Vec<Pane> = pending
                        .keys()
                        .copied()
                        .filter(|pane| !frontier.less_equal(pane))
                        .collect();
                    if closed.is_empty() {
                        return;
                    }
                    let records: Vec<T> = closed
                        .iter()
                        .flat_map(|pane| pending[pane].1.iter().cloned())
                        .collect();
                    match store.write(&closed, &records) {
                        Ok(()) => {
                            for pane in closed {
                                pending.remove(&pane);
                            }
                            backoff.succeeded();
                        }
                        Err(error) => {
                            let wait = backoff.failed();
                            tracing::warn!(%error, retry_in = ?wait, "{} not stored; retrying", S::WHAT);
                            activator.activate_after(wait);
                        }
                    }
                }
            },
        )
    }
}
