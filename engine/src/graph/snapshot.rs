//! The live graph at a point in time, from stored per-minute edges.
//!
//! An edge is live at minute `T` when it was seen in some minute `w <= T` with
//! `T < w + 1 + expiry`: it enters when seen and leaves after `expiry` minutes unseen. This is
//! the rule `service_dependencies` encodes in SQL; here it serves `aiops graph` over Parquet
//! and PostgreSQL alike. Each live edge carries the figures of the last minute it was seen.

use std::collections::BTreeMap;

use super::EdgeWindow;
use crate::time::Pane;

/// The edges live at minute `at`, sorted by (caller, callee).
pub fn live_at(
    edges: impl IntoIterator<Item = EdgeWindow>,
    at: Pane,
    expiry: Pane,
) -> Vec<EdgeWindow> {
    let mut latest: BTreeMap<(String, String), EdgeWindow> = BTreeMap::new();
    for edge in edges {
        if edge.pane > at || edge.pane + 1 + expiry <= at {
            continue;
        }
        let key = (edge.caller.clone(), edge.callee.clone());
        match latest.get(&key) {
            Some(seen) if seen.pane >= edge.pane => {}
            _ => {
                latest.insert(key, edge);
            }
        }
    }
    latest.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(pane: Pane, caller: &str, callee: &str, calls: u64) -> EdgeWindow {
        EdgeWindow::calls(pane, caller, callee, calls)
    }

    #[test]
    fn edges_enter_when_seen_and_expire_after_the_expiry_unseen() {
        let edges = vec![
            edge(10, "a", "b", 5),
            edge(12, "a", "b", 7),
            edge(11, "b", "c", 1),
        ];
        let names = |at| -> Vec<(String, u64)> {
            live_at(edges.clone(), at, 2)
                .into_iter()
                .map(|e| (format!("{}>{}", e.caller, e.callee), e.calls))
                .collect()
        };
        assert!(names(9).is_empty(), "not yet seen");
        assert_eq!(names(10), [("a>b".to_string(), 5)]);
        assert_eq!(names(12), [("a>b".to_string(), 7), ("b>c".to_string(), 1)]);
        assert_eq!(names(13), [("a>b".to_string(), 7), ("b>c".to_string(), 1)]);
        assert_eq!(
            names(14),
            [("a>b".to_string(), 7)],
            "b>c unseen for 2 minutes after 11"
        );
        assert!(names(15).is_empty());
    }
}
