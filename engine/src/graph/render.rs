//! Rendering a graph snapshot for people and tools: Graphviz DOT, JSON, and a self-contained
//! SVG (callers left of callees, crossings reduced: see [`super::layout`]) for machines without
//! Graphviz.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::layout::{layered, NODE_HEIGHT, NODE_WIDTH};
use super::EdgeWindow;
use crate::record::{key_parts, label_within, service_label};

/// The edges as people read them: those whose caller is in `environment` when one is given,
/// their services named within it; without one, within the one environment all callers
/// share, else every service as `name@environment`.
pub fn for_people(edges: Vec<EdgeWindow>, environment: Option<&str>) -> Vec<EdgeWindow> {
    let edges: Vec<EdgeWindow> = match environment {
        Some(wanted) => edges
            .into_iter()
            .filter(|e| key_parts(&e.caller).1 == wanted)
            .collect(),
        None => edges,
    };
    let callers: BTreeSet<&str> = edges.iter().map(|e| key_parts(&e.caller).1).collect();
    let within = match (environment, callers.len()) {
        (Some(wanted), _) => Some(wanted.to_string()),
        (None, 1) => callers.first().map(|e| e.to_string()),
        (None, _) => None,
    };
    let name = |key: &str| match &within {
        Some(environment) => label_within(key, environment).into_owned(),
        None => service_label(key).into_owned(),
    };
    edges
        .into_iter()
        .map(|e| EdgeWindow {
            caller: name(&e.caller),
            callee: name(&e.callee),
            ..e
        })
        .collect()
}

fn label(edge: &EdgeWindow) -> String {
    let p95 = edge.p95_ms.map_or("-".into(), |p| format!("{p:.1} ms"));
    format!(
        "{} calls, {:.1}% err, p95 {p95}",
        edge.calls,
        edge.error_rate() * 100.0
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Graphviz DOT; virtual nodes (databases, uninstrumented peers) are drawn as cylinders.
pub fn dot(edges: &[EdgeWindow], title: &str) -> String {
    let mut out = format!(
        "digraph services {{\n  label=\"{}\";\n  rankdir=LR;\n  node [shape=box];\n",
        title.replace('"', "'")
    );
    let virtual_nodes: BTreeSet<&str> = edges
        .iter()
        .filter(|e| e.virtual_callee)
        .map(|e| e.callee.as_str())
        .collect();
    for node in virtual_nodes {
        let _ = writeln!(out, "  \"{node}\" [shape=cylinder];");
    }
    for edge in edges {
        let color = if edge.error_rate() >= 0.05 {
            ", color=red"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\"{color}];",
            edge.caller,
            edge.callee,
            label(edge)
        );
    }
    out + "}\n"
}

/// A JSON document with `nodes` and `edges`.
pub fn json(edges: &[EdgeWindow], at: &str) -> serde_json::Value {
    let nodes: BTreeSet<&str> = edges
        .iter()
        .flat_map(|e| [e.caller.as_str(), e.callee.as_str()])
        .collect();
    serde_json::json!({
        "at": at,
        "nodes": nodes,
        "edges": edges.iter().map(|e| serde_json::json!({
            "caller": e.caller, "callee": e.callee, "virtual_callee": e.virtual_callee,
            "calls": e.calls, "errors": e.errors, "error_rate": e.error_rate(),
            "p50_ms": e.p50_ms, "p95_ms": e.p95_ms, "p99_ms": e.p99_ms,
            "last_seen_minute": e.pane,
        })).collect::<Vec<_>>(),
    })
}

/// A standalone SVG: callers left of their callees in the [`layered`] layout, edges labelled
/// with calls, error rate and p95.
pub fn svg(edges: &[EdgeWindow], title: &str) -> String {
    let names: Vec<&str> = edges
        .iter()
        .flat_map(|e| [e.caller.as_str(), e.callee.as_str()])
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .collect();
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let links: Vec<(usize, usize)> = edges
        .iter()
        .map(|e| (index[e.caller.as_str()], index[e.callee.as_str()]))
        .collect();
    let layout = layered(names.len(), &links);
    // Below the title.
    let at = |name: &str| {
        let (x, y) = layout.positions[index[name]];
        (x as usize, y as usize + 40)
    };
    let (width, height) = (layout.width as usize, layout.height as usize + 40);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 \
         z\"/></marker></defs>\n\
         <text x=\"20\" y=\"24\" font-size=\"14\">{}</text>\n",
        escape(title)
    );
    for edge in edges {
        let (x1, y1) = at(&edge.caller);
        let (x2, y2) = at(&edge.callee);
        let color = if edge.error_rate() >= 0.05 {
            "#c0392b"
        } else {
            "#555"
        };
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{x2}\" y2=\"{}\" stroke=\"{color}\" \
             marker-end=\"url(#arrow)\"><title>{} → {}: {}</title></line>",
            x1 + NODE_WIDTH as usize,
            y1 + 15,
            y2 + 15,
            escape(&edge.caller),
            escape(&edge.callee),
            escape(&label(edge))
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\" font-size=\"9\">{}</text>",
            (x1 + NODE_WIDTH as usize + x2) / 2,
            (y1 + y2) / 2 + 10,
            escape(&label(edge))
        );
    }
    for node in &names {
        let (x, y) = at(node);
        let _ = writeln!(
            out,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{NODE_WIDTH}\" height=\"{NODE_HEIGHT}\" rx=\"6\" \
             fill=\"#eef3fb\" \
             stroke=\"#345\"/><text x=\"{}\" y=\"{}\">{}</text>",
            x + 8,
            y + 19,
            escape(node)
        );
    }
    out + "</svg>\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::service_key;

    fn edge(caller: &str, callee: &str, errors: u64) -> EdgeWindow {
        EdgeWindow {
            virtual_callee: callee == "mysql",
            errors,
            p50_ms: Some(3.0),
            p95_ms: Some(12.5),
            p99_ms: Some(20.0),
            ..EdgeWindow::calls(1, caller, callee, 100)
        }
    }

    #[test]
    fn dot_names_every_edge_with_its_figures_and_marks_errors_and_databases() {
        let text = dot(&[edge("front", "api", 0), edge("api", "mysql", 10)], "t");
        assert!(
            text.contains("\"front\" -> \"api\" [label=\"100 calls, 0.0% err, p95 12.5 ms\"];"),
            "{text}"
        );
        assert!(
            text.contains(
                "\"api\" -> \"mysql\" [label=\"100 calls, 10.0% err, p95 12.5 ms\", color=red];"
            ),
            "{text}"
        );
        assert!(text.contains("\"mysql\" [shape=cylinder];"), "{text}");
    }

    #[test]
    fn people_read_names_within_one_environment_and_labels_across_several() {
        let prod = |name: &str| service_key(name, "prod");
        let edges = vec![
            edge(&prod("web"), &prod("cart"), 0),
            edge(&service_key("web", "staging"), "mysql", 0),
        ];
        let names = |edges: Vec<EdgeWindow>| -> Vec<(String, String)> {
            edges.into_iter().map(|e| (e.caller, e.callee)).collect()
        };
        assert_eq!(
            names(for_people(edges.clone(), Some("prod"))),
            [("web".to_string(), "cart".to_string())]
        );
        assert_eq!(
            names(for_people(edges.clone(), None)),
            [
                ("web@prod".to_string(), "cart@prod".to_string()),
                ("web@staging".to_string(), "mysql".to_string())
            ]
        );
        let staging = for_people(edges, Some("staging"));
        assert_eq!(names(staging), [("web".to_string(), "mysql".to_string())]);
    }

    #[test]
    fn svg_places_callees_right_of_their_callers() {
        let edges = [
            edge("front", "api", 0),
            edge("api", "mysql", 0),
            edge("front", "mysql", 0),
        ];
        let text = svg(&edges, "a <title>");
        // The x of the box drawn just before each name.
        let x_of = |name: &str| -> f64 {
            let before = &text[..text.find(&format!(">{name}</text>")).unwrap()];
            let rect = &before[before.rfind("<rect x=\"").unwrap() + 9..];
            rect[..rect.find('"').unwrap()].parse().unwrap()
        };
        assert!(x_of("front") < x_of("api") && x_of("api") < x_of("mysql"));
        assert_eq!(text.matches("<rect").count(), 3);
        assert!(text.contains("a &lt;title&gt;"));
    }

    #[test]
    fn json_lists_nodes_and_edges() {
        let value = json(&[edge("front", "api", 5)], "2026-01-05T09:10:00Z");
        assert_eq!(value["nodes"], serde_json::json!(["api", "front"]));
        assert_eq!(value["edges"][0]["error_rate"], serde_json::json!(0.05));
    }
}
