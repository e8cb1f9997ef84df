//! Where each service goes on a map: a layered drawing, callers left of their callees, with
//! few crossing edges, so a graph of 200 services stays readable.
//!
//! The layout is `rust-sugiyama`'s (Sugiyama's method: cycles broken by a feedback arc set,
//! layers by network-simplex ranking, crossings reduced by barycenters and transposition,
//! coordinates by Brandes–Köpf) rather than our own: it is the well-known algorithm, kept by
//! someone else. It lays layers top to bottom; a service map reads better left to right (names
//! are wide), so boxes go in as their height and the axes are swapped on the way out.
//! Unconnected parts are laid out one below the other.

use rust_sugiyama::configure::{Config, CrossingMinimization, RankingType};

/// A node's box on the map, px.
pub const NODE_WIDTH: f64 = 170.0;
/// See [`NODE_WIDTH`].
pub const NODE_HEIGHT: f64 = 30.0;

/// Space between layers (columns) beyond the boxes' width, px.
const LAYER_GAP: f64 = 90.0;
/// Space around the drawing and between unconnected parts, px.
const MARGIN: f64 = 20.0;

/// Node positions (top-left corners of their boxes) and the drawing's size, px.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Position of node `i`.
    pub positions: Vec<(f64, f64)>,
    /// Width of the drawing.
    pub width: f64,
    /// Height of the drawing.
    pub height: f64,
}

/// Lays out `nodes` nodes joined by `edges` (caller index, callee index); self-calls are
/// ignored, and every node gets a place, connected or not.
pub fn layered(nodes: usize, edges: &[(usize, usize)]) -> Layout {
    let vertices: Vec<(u32, (f64, f64))> = (0..nodes as u32)
        .map(|v| (v, (NODE_HEIGHT, NODE_WIDTH)))
        .collect();
    let mut links: Vec<(u32, u32)> = edges
        .iter()
        .filter(|(a, b)| a != b && *a < nodes && *b < nodes)
        .map(|&(a, b)| (a as u32, b as u32))
        .collect();
    links.sort_unstable();
    links.dedup();
    let config = Config {
        minimum_length: 1,
        vertex_spacing: 12.0,
        dummy_vertices: true,
        dummy_size: 0.5,
        ranking_type: RankingType::MinimizeEdgeLength,
        c_minimization: CrossingMinimization::Barycenter,
        transpose: true,
    };
    let mut parts = rust_sugiyama::from_vertices_and_edges(&vertices, &links, &config);
    // The parts in a stable order (by their smallest node), whatever order they came in.
    parts.sort_by_key(|(placed, _, _)| placed.iter().map(|(v, _)| *v).min());
    let mut positions = vec![(MARGIN, MARGIN); nodes];
    let (mut top, mut width) = (MARGIN, 0.0_f64);
    for (placed, _, _) in parts {
        let layers = Bounds::of(placed.iter().map(|(_, (x, y))| (*y, *x)));
        let column = NODE_WIDTH + LAYER_GAP;
        let layer_height = layers.layer_step().max(1.0);
        for (v, (x, y)) in &placed {
            let layer = ((y - layers.min_x) / layer_height).round();
            positions[*v] = (MARGIN + layer * column, top + (x - layers.min_y));
        }
        let columns = ((layers.max_x - layers.min_x) / layer_height).round() + 1.0;
        width = width.max(columns * column - LAYER_GAP);
        top += layers.max_y - layers.min_y + NODE_HEIGHT + MARGIN;
    }
    Layout {
        positions,
        width: width + 2.0 * MARGIN,
        height: top.max(NODE_HEIGHT + 2.0 * MARGIN),
    }
}

/// The extent of a part's coordinates as (layer axis, within-layer axis).
struct Bounds {
    min_x: f64,
    max_x: f64,
    min_y: f64,
    max_y: f64,
    /// The smallest distance between two layers.
    step: f64,
}

impl Bounds {
    fn of(points: impl Iterator<Item = (f64, f64)>) -> Bounds {
        let points: Vec<(f64, f64)> = points.collect();
        let fold = |f: fn(f64, f64) -> f64, start: f64, axis: fn(&(f64, f64)) -> f64| {
            points.iter().map(axis).fold(start, f)
        };
        let mut layers: Vec<f64> = points.iter().map(|p| p.0).collect();
        layers.sort_by(f64::total_cmp);
        layers.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
        let step = layers
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(f64::INFINITY, f64::min);
        Bounds {
            min_x: fold(f64::min, f64::INFINITY, |p| p.0),
            max_x: fold(f64::max, f64::NEG_INFINITY, |p| p.0),
            min_y: fold(f64::min, f64::INFINITY, |p| p.1),
            max_y: fold(f64::max, f64::NEG_INFINITY, |p| p.1),
            step,
        }
    }

    /// The distance between neighbouring layers (1 for a part of one layer).
    fn layer_step(&self) -> f64 {
        if self.step.is_finite() {
            self.step
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaps(layout: &Layout) -> usize {
        let p = &layout.positions;
        let mut count = 0;
        for i in 0..p.len() {
            for j in i + 1..p.len() {
                let apart_x = (p[i].0 - p[j].0).abs() >= NODE_WIDTH;
                let apart_y = (p[i].1 - p[j].1).abs() >= NODE_HEIGHT;
                count += usize::from(!apart_x && !apart_y);
            }
        }
        count
    }

    #[test]
    fn callers_stand_left_of_their_callees_and_no_boxes_overlap() {
        // frontend → cart → redis, frontend → catalog, and an unconnected pair.
        let edges = [(0, 1), (1, 2), (0, 3), (4, 5)];
        let layout = layered(6, &edges);
        let x = |i: usize| layout.positions[i].0;
        assert!(x(0) < x(1) && x(1) < x(2) && x(0) < x(3));
        assert!(x(4) < x(5));
        assert_eq!(overlaps(&layout), 0);
        for &(px, py) in &layout.positions {
            assert!(
                px >= 0.0 && px + NODE_WIDTH <= layout.width + 1e-6,
                "{layout:?}"
            );
            assert!(
                py >= 0.0 && py + NODE_HEIGHT <= layout.height + 1e-6,
                "{layout:?}"
            );
        }
    }

    #[test]
    fn two_hundred_services_with_cycles_and_loners_get_places_apart() {
        // A layered fleet: each service calls two of the next tier, some call back.
        let mut edges = Vec::new();
        for i in 0..190 {
            edges.push((i, (i * 7 + 11) % 190));
            edges.push((i, (i * 13 + 5) % 190));
        }
        edges.push((3, 3));
        let layout = layered(200, &edges);
        assert_eq!(layout.positions.len(), 200);
        assert_eq!(overlaps(&layout), 0);
        assert!(layout
            .positions
            .iter()
            .all(|p| p.0.is_finite() && p.1.is_finite()));
    }
}
