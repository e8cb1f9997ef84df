//! The call graph of one window, as the ranking methods see it: services as nodes, call
//! edges caller → callee with their traffic. Backed by petgraph so the walks and
//! neighbourhood queries use a maintained graph library.

use std::collections::{HashMap, HashSet, VecDeque};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde::{Deserialize, Serialize};

/// Calls from one service to another in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEdge {
    /// Calling service.
    pub caller: String,
    /// Called service (or a virtual node: a database, a queue, an uninstrumented peer).
    pub callee: String,
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// 95th percentile call latency, ms.
    pub p95_ms: Option<f64>,
}

impl CallEdge {
    /// An edge with its figures.
    pub fn new(caller: &str, callee: &str, calls: u64, errors: u64, p95_ms: Option<f64>) -> Self {
        CallEdge {
            caller: caller.to_string(),
            callee: callee.to_string(),
            calls,
            errors,
            p95_ms,
        }
    }
}

/// A directed call graph; parallel edges are merged.
#[derive(Debug, Clone, Default)]
pub struct CallGraph {
    graph: DiGraph<String, u64>,
    index: HashMap<String, NodeIndex>,
}

impl CallGraph {
    /// The graph of `edges`, plus `services` as nodes even when they have no edge (a
    /// metrics-only service is still a candidate). Self-calls are left out.
    pub fn new<'a>(edges: &[CallEdge], services: impl IntoIterator<Item = &'a str>) -> Self {
        let mut graph = CallGraph::default();
        for service in services {
            graph.node(service);
        }
        for edge in edges.iter().filter(|e| e.caller != e.callee) {
            let (caller, callee) = (graph.node(&edge.caller), graph.node(&edge.callee));
            match graph.graph.find_edge(caller, callee) {
                Some(existing) => graph.graph[existing] += edge.calls,
                None => {
                    graph.graph.add_edge(caller, callee, edge.calls);
                }
            }
        }
        graph
    }

    /// A copy of `graph` with `services` added as nodes where missing.
    pub fn extended<'a>(graph: &CallGraph, services: impl IntoIterator<Item = &'a str>) -> Self {
        let mut extended = graph.clone();
        for service in services {
            extended.node(service);
        }
        extended
    }

    fn node(&mut self, service: &str) -> NodeIndex {
        if let Some(index) = self.index.get(service) {
            return *index;
        }
        let index = self.graph.add_node(service.to_string());
        self.index.insert(service.to_string(), index);
        index
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether there are no services.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Number of distinct caller → callee edges.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Service names, in node order.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.graph.node_weights().map(String::as_str)
    }

    /// The node of a service.
    pub(crate) fn index_of(&self, service: &str) -> Option<usize> {
        self.index.get(service).map(|i| i.index())
    }

    /// The service of node `node`.
    pub(crate) fn name(&self, node: usize) -> &str {
        &self.graph[NodeIndex::new(node)]
    }

    /// Callees of node `node` with call counts.
    pub(crate) fn callees(&self, node: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.neighbours(node, Direction::Outgoing)
    }

    /// Callers of node `node` with call counts.
    pub(crate) fn callers(&self, node: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.neighbours(node, Direction::Incoming)
    }

    fn neighbours(
        &self,
        node: usize,
        direction: Direction,
    ) -> impl Iterator<Item = (usize, u64)> + '_ {
        use petgraph::visit::EdgeRef;
        self.graph
            .edges_directed(NodeIndex::new(node), direction)
            .map(move |e| {
                let other = match direction {
                    Direction::Outgoing => e.target(),
                    Direction::Incoming => e.source(),
                };
                (other.index(), *e.weight())
            })
    }

    /// The edges a symptom at `node` travelled along to reach its callers: the call edges
    /// from callers flagged in `anomalous` into `node`, then theirs, breadth first, at most
    /// `limit`, as `caller → callee` strings.
    pub fn symptom_edges(&self, node: usize, anomalous: &[bool], limit: usize) -> Vec<String> {
        let mut edges = Vec::new();
        let mut seen = HashSet::from([node]);
        let mut queue = VecDeque::from([node]);
        while let Some(current) = queue.pop_front() {
            for (caller, _) in self.callers(current) {
                if !anomalous.get(caller).copied().unwrap_or(false) {
                    continue;
                }
                if edges.len() == limit {
                    return edges;
                }
                edges.push(format!("{} → {}", self.name(caller), self.name(current)));
                if seen.insert(caller) {
                    queue.push_back(caller);
                }
            }
        }
        edges
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::graph;
    use super::*;

    #[test]
    fn parallel_edges_merge_and_self_calls_are_dropped() {
        let edges = [
            CallEdge::new("a", "b", 3, 0, None),
            CallEdge::new("a", "b", 4, 1, None),
            CallEdge::new("b", "b", 9, 0, None),
        ];
        let graph = CallGraph::new(&edges, ["c"]);
        assert_eq!(graph.len(), 3);
        assert_eq!(graph.edge_count(), 1);
        let a = graph.index_of("a").expect("a");
        let b = graph.index_of("b").expect("b");
        assert_eq!(graph.callees(a).collect::<Vec<_>>(), vec![(b, 7)]);
        assert_eq!(graph.callers(b).collect::<Vec<_>>(), vec![(a, 7)]);
    }

    #[test]
    fn symptom_edges_follow_anomalous_callers_only() {
        let graph = graph(&[("front", "mid"), ("mid", "db"), ("other", "db")]);
        let mut anomalous = vec![false; graph.len()];
        for service in ["front", "mid", "db"] {
            anomalous[graph.index_of(service).expect("node")] = true;
        }
        let db = graph.index_of("db").expect("db");
        assert_eq!(
            graph.symptom_edges(db, &anomalous, 10),
            vec!["mid → db".to_string(), "front → mid".to_string()]
        );
        assert_eq!(graph.symptom_edges(db, &anomalous, 1).len(), 1);
    }
}
