//! The window-neighbour detector on ASD against InterFusion's published point-adjusted F1
//! (above 0.94), and against this project's earlier best online figures. Needs the public
//! data (`AIOPS_DATA_ROOT`, else `../shared/data` beside the project); without it the test
//! says so and checks nothing.

use std::path::PathBuf;

use aiops_engine::eval::asd;

fn machines() -> Option<Vec<asd::Machine>> {
    let root = std::env::var_os("AIOPS_DATA_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
        .join("asd");
    if !root.join("omi-1_train.csv").exists() {
        eprintln!("ASD data not found (set AIOPS_DATA_ROOT): nothing checked");
        return None;
    }
    let load = |i: usize| asd::load_machine(&root, &format!("omi-{i}")).expect("machine");
    Some((1..=6).map(load).collect())
}

#[test]
fn window_neighbours_beat_interfusion_and_the_earlier_online_rows() {
    let Some(machines) = machines() else {
        return;
    };
    let figures: Vec<asd::Figures> = machines
        .iter()
        .map(|m| asd::figures(&asd::neighbours(m).expect("fits"), &m.labels))
        .collect();
    let mean = |f: fn(&asd::Figures) -> f64| figures.iter().map(f).sum::<f64>() / 6.0;
    let best_adjusted = mean(|f| f.best_adjusted_f1);
    assert!(best_adjusted > 0.94, "best PA-F1 {best_adjusted:.3}");
    // The multi-scale context detector's online PA-F1 (0.864) and the best online
    // point-wise F1 before (multi-scale + seasonal, 0.272).
    let online_adjusted = mean(|f| f.adjusted.f1);
    assert!(online_adjusted > 0.864, "online PA-F1 {online_adjusted:.3}");
    let online_point = mean(|f| f.point.f1);
    assert!(online_point > 0.272, "online F1 {online_point:.3}");
}
