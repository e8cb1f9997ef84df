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

#[test]
fn bench_over_files_times_the_spans_the_job_reads_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("otlp");
    let input_text = input.display().to_string();
    run_ok(&[
        "generate",
        "--out",
        &input_text,
        "--services",
        "8",
        "--traces-per-second",
        "4",
        "--duration",
        "2m",
        "--start",
        crate::common::START,
        "--shards",
        "2",
    ]);
    let out = run_ok(&["bench", "--input", &input_text, "--repeat", "1", "-q"]);
    let benched = out
        .lines()
        .find_map(|l| l.trim().split_once(" spans in "))
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| panic!("no span count in\n{out}"));
    let data = dir.path().join("data").display().to_string();
    let summary = run_ok(&["run", "--input", &input_text, "--data-dir", &data, "-q"]);
    let read = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("spans"))
        .map(|n| n.trim().to_string())
        .unwrap_or_else(|| panic!("no spans in the summary\n{summary}"));
    assert_eq!(benched, read, "bench:\n{out}\nrun:\n{summary}");
    for stage in ["decode", "+ features", "+ graph", "whole job, -w 1"] {
        assert_eq!(row(&out, stage).len(), 5, "{stage}\n{out}");
    }
}
