//! `aiops bench` times every stage over the workload it reports, and the whole job reads it all.

use crate::common::run_ok;

/// The table's row for `stage`: wall s, CPU s, spans/s and spans per CPU-s (in millions).
fn row(out: &str, stage: &str) -> Vec<f64> {
    let line = out
        .lines()
        .find(|l| l.starts_with(stage))
        .unwrap_or_else(|| panic!("no {stage} row in\n{out}"));
    line[stage.len()..]
        .split_whitespace()
        .filter_map(|word| word.parse::<f64>().ok())
        .collect()
}

#[test]
fn bench_reports_every_stage_and_the_whole_job_over_its_workload() {
    let out = run_ok(&[
        "bench",
        "--services",
        "12",
        "--traces-per-second",
        "5",
        "--duration",
        "3m",
        "--repeat",
        "1",
        "-w",
        "2",
        "-q",
    ]);
    let spans: f64 = out
        .lines()
        .find_map(|l| l.trim().split_once(" spans in "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no span count in\n{out}"));
    assert!(spans > 1_000.0, "{out}");
    for stage in ["decode", "+ features", "+ graph", "whole job, -w 2"] {
        let figures = row(&out, stage);
        // wall s, CPU s, spans/s (M), spans per CPU-s (M), CPU µs a span: all measured. The
        // command itself fails if a stage or the job saw fewer spans than the workload holds.
        assert_eq!(figures.len(), 5, "{stage}: {figures:?}");
        assert!(figures.iter().all(|f| *f >= 0.0), "{stage}: {figures:?}");
        assert!(figures[4] > 0.0, "{stage}: {figures:?}");
    }
}
