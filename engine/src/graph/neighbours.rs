//! Each feature row's callers and callees in its minute.

use std::collections::{BTreeSet, HashMap};

use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::vec::Map;
use timely::dataflow::StreamVec;

use super::EdgeWindow;
use crate::features::{service_hash, FeatureRow};
use crate::record::label_within;
use crate::time::{Pane, PaneJoin};

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
        self.pane_join(
            ends,
            (Pipeline, exchange),
            "WithNeighbours",
            |_pane, mut rows, ends| {
                let mut lists: HashMap<String, Lists> = HashMap::new();
                for end in ends {
                    let entry = lists.entry(end.service).or_default();
                    match end.upstream {
                        true => entry.upstream.insert(end.other),
                        false => entry.downstream.insert(end.other),
                    };
                }
                for row in &mut rows {
                    let key = row.service_key();
                    attach(row, lists.remove(&key).unwrap_or_default());
                }
                rows
            },
        )
    }
}

fn attach(row: &mut FeatureRow, lists: Lists) {
    let distinct = lists.upstream.union(&lists.downstream).count();
    row.dependency_count = Some(distinct as i32);
    // Neighbours in the row's environment by name; others by `name@environment`.
    let labels = |keys: BTreeSet<String>| {
        let labels: BTreeSet<String> = keys
            .iter()
            .map(|key| label_within(key, &row.environment).into_owned())
            .collect();
        Some(labels.into_iter().collect())
    };
    row.upstream_services = labels(lists.upstream);
    row.downstream_services = labels(lists.downstream);
}
