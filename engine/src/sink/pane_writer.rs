//! The `persist_span_panes` operator: closed span panes into PostgreSQL, holding back the
//! durable frontier until they are there.

use std::collections::BTreeMap;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;

use super::postgres::PaneStore;
use crate::features::SpanPane;
use crate::retry::Backoff;
use crate::time::Pane;

/// Extension trait: persist span panes.
pub trait PersistSpanPanes<'scope> {
    /// Writes each pane's span panes through `store` once the input frontier has passed the
    /// pane (all of them are in), one transaction per activation; failures are retried with
    /// backoff, never skipped.
    ///
    /// Progress guarantee: the returned stream carries no data and its frontier stays at or
    /// before every pane whose span panes are not yet stored, so a probe on it can gate the
    /// Kafka resume offsets together with the rows' durability.
    fn persist_span_panes(self, store: PaneStore) -> StreamVec<'scope, Pane, ()>;
}

impl<'scope> PersistSpanPanes<'scope> for StreamVec<'scope, Pane, SpanPane> {
    fn persist_span_panes(self, mut store: PaneStore) -> StreamVec<'scope, Pane, ()> {
        let scope = self.scope();
        self.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
            Pipeline,
            "PersistSpanPanes",
            move |_capability, info| {
                let activator = scope.activator_for(info.address);
                let mut pending: BTreeMap<Pane, (Capability<Pane>, Vec<SpanPane>)> =
                    BTreeMap::new();
                let mut backoff = Backoff::for_writes();
                move |(input, frontier), _output| {
                    input.for_each(|capability, panes| {
                        let Some(time) = capability.least().copied() else {
                            return;
                        };
                        pending
                            .entry(time)
                            .or_insert_with(|| (capability.delayed(&time, 0), Vec::new()))
                            .1
                            .append(panes);
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
                    let panes: Vec<SpanPane> = closed
                        .iter()
                        .flat_map(|pane| pending[pane].1.iter().cloned())
                        .collect();
                    match store.write(&panes) {
                        Ok(()) => {
                            for pane in closed {
                                pending.remove(&pane);
                            }
                            backoff.succeeded();
                        }
                        Err(error) => {
                            let wait = backoff.failed();
                            tracing::warn!(%error, retry_in = ?wait, "span panes not stored; retrying");
                            activator.activate_after(wait);
                        }
                    }
                }
            },
        )
    }
}
