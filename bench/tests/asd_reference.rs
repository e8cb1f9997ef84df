//! The window-neighbour detector on ASD against InterFusion's published point-adjusted F1
//! (above 0.94) and interpretation score (0.87), and against this project's earlier best
//! online figures. Needs the public
//! data (`AIOPS_DATA_ROOT`, else `../shared/data` beside the project); without it the test
//! says so and checks nothing.

use std::path::PathBuf;

use aiops_bench::datasets::asd;
use aiops_bench::detectors::multivariate::{self, NeighbourScored};
use aiops_bench::scoring::f1::{self, Figures};
use aiops_bench::scoring::interpretation;

/// The machines and their interpretation labels, or `None` (saying so) without the data.
fn machines() -> Option<Vec<(asd::Machine, Vec<asd::Explained>)>> {
    let root = std::env::var_os("AIOPS_DATA_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
        .join("asd");
    if !root.join("omi-1_train.csv").exists() {
        eprintln!("ASD data not found (set AIOPS_DATA_ROOT): nothing checked");
        return None;
    }
    let load = |i: usize| {
        let name = format!("omi-{i}");
        let machine = asd::load_machine(&root, &name).expect("machine");
        (
            machine,
            asd::load_interpretation(&root, &name).expect("labels"),
        )
    };
    Some((1..=6).map(load).collect())
}

#[test]
fn window_neighbours_beat_interfusion_and_the_earlier_online_rows_and_name_the_metrics() {
    let Some(machines) = machines() else {
        return;
    };
    let scored: Vec<NeighbourScored> = machines
        .iter()
        .map(|(m, _)| multivariate::neighbours(m).expect("fits"))
        .collect();
    let figures: Vec<Figures> = machines
        .iter()
        .zip(&scored)
        .map(|((m, _), s)| f1::figures(&s.scored, &m.labels))
        .collect();
    let mean = |f: fn(&Figures) -> f64| figures.iter().map(f).sum::<f64>() / 6.0;
    let best_adjusted = mean(|f| f.best_adjusted_f1);
    assert!(best_adjusted > 0.94, "best PA-F1 {best_adjusted:.3}");
    // The multi-scale context detector's online PA-F1 (0.864) and the best online
    // point-wise F1 before (multi-scale + seasonal, 0.272).
    let online_adjusted = mean(|f| f.adjusted.f1);
    assert!(online_adjusted > 0.864, "online PA-F1 {online_adjusted:.3}");
    let online_point = mean(|f| f.point.f1);
    assert!(online_point > 0.272, "online F1 {online_point:.3}");
    // At the rows it flags, the metrics it blames most are the ones ASD's labels name: above
    // InterFusion's published interpretation score (0.87), as HitRate@150%.
    let hit_rate = machines
        .iter()
        .zip(&scored)
        .map(|((_, explained), s)| {
            interpretation::hit_rates(&s.metric_scores, explained, |row| s.scored.flags[row]).at_150
        })
        .sum::<f64>()
        / 6.0;
    assert!(hit_rate > 0.87, "HitRate@150% {hit_rate:.3}");
}
