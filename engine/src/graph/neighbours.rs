//! Each feature row's callers and callees in its minute.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Capability, InputCapability, Operator};
use timely::dataflow::StreamVec;

use super::EdgeWindow;
use crate::features::{service_hash, FeatureRow};
use crate::time::Pane;

/// One end's view of an edge.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Neighbour {
    pane: Pane,
    service: String,
    other: String,
    /// `other` calls `service` (else `service` calls `other`).
    upstream: bool,
}

/// Callers and callees of one service in one minute.
#[derive(Default)]
struct Lists {
    upstream: BTreeSet<String>,
    downstream: BTreeSet<String>,
}

type Pending = (Capability<Pane>, Vec<FeatureRow>, HashMap<String, Lists>);

fn stash<'a>(
    pending: &'a mut BTreeMap<Pane, Pending>,
    capability: &InputCapability<Pane>,
) -> Option<&'a mut Pending> {
    let time = *capability.least()?;
    Some(
        pending
            .entry(time)
            .or_insert_with(|| (capability.delayed(&time, 0), Vec::new(), HashMap::new())),
    )
}

/// Extension trait: attach the dependency graph to feature rows.
pub trait WithNeighbours<'scope> {
    /// Sets `upstream_services`, `downstream_services` (sorted) and `dependency_count`
    /// (distinct neighbours) of every row from the edges of the row's minute; a service without
    /// edges gets empty lists. Rows must be partitioned by `service_hash` (as `feature_windows`
    /// emits them); edges are routed to both ends. A row leaves once both frontiers have
    /// passed its minute, in the order it came.
    fn with_neighbours(
        self,
        edges: StreamVec<'scope, Pane, EdgeWindow>,
    ) -> StreamVec<'scope, Pane, FeatureRow>;
}

impl<'scope> WithNeighbours<'scope> for StreamVec<'scope, Pane, FeatureRow> {
    fn with_neighbours(
        self,
        edges: StreamVec<'scope, Pane, EdgeWindow>,
    ) -> StreamVec<'scope, Pane, FeatureRow> {
        let ends = edges.flat_map(|edge| {
            let down = Neighbour {
                pane: edge.pane,
                service: edge.caller.clone(),
                other: edge.callee.clone(),
                upstream: false,
            };
            let up = Neighbour {
                pane: edge.pane,
                service: edge.callee,
                other: edge.caller,
                upstream: true,
            };
            [down, up]
        });
        let exchange = Exchange::new(|n: &Neighbour| service_hash(&n.service));
        self.binary_frontier::<_, CapacityContainerBuilder<Vec<FeatureRow>>, _, _, _, _>(
            ends,
            Pipeline,
            exchange,
            "WithNeighbours",
            |_capability, _info| {
                let mut pending: BTreeMap<Pane, Pending> = BTreeMap::new();
                move |(rows, row_frontier), (ends, end_frontier), output| {
                    rows.for_each(|capability, data| {
                        if let Some(entry) = stash(&mut pending, &capability) {
                            entry.1.append(data);
                        }
                    });
                    ends.for_each(|capability, data| {
                        if let Some(entry) = stash(&mut pending, &capability) {
                            for end in data.drain(..) {
                                let lists = entry.2.entry(end.service).or_default();
                                match end.upstream {
                                    true => lists.upstream.insert(end.other),
                                    false => lists.downstream.insert(end.other),
                                };
                            }
                        }
                    });
                    while let Some(entry) = pending.first_entry() {
                        let pane = *entry.key();
                        if row_frontier.less_equal(&pane) || end_frontier.less_equal(&pane) {
                            break;
                        }
                        let (capability, mut rows, mut lists) = entry.remove();
                        for row in &mut rows {
                            attach(row, lists.remove(&row.service_name).unwrap_or_default());
                        }
                        output.session(&capability).give_iterator(rows.into_iter());
                    }
                }
            },
        )
    }
}

fn attach(row: &mut FeatureRow, lists: Lists) {
    let distinct = lists.upstream.union(&lists.downstream).count();
    row.dependency_count = Some(distinct as i32);
    row.upstream_services = Some(lists.upstream.into_iter().collect());
    row.downstream_services = Some(lists.downstream.into_iter().collect());
}
