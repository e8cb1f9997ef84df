//! The default run as a user meets it: output queryable early, Ctrl-C leaves complete files
//! and a summary, `aiops query` answers in every format.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{aiops, parquet_files, read_batches, run_ok, simulate, summary_value};

#[test]
fn default_run_is_queryable_early_and_stops_cleanly_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    // The default command, in its own directory: simulator at 60x, output under ./data.
    let child = aiops()
        .arg("run")
        .current_dir(dir.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let data = dir.path().join("data");
    let started = Instant::now();
    while parquet_files(&data).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no Parquet file within 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let count = run_ok(&[
        "query",
        "SELECT count(*) AS n FROM features",
        "--data-dir",
        &data.display().to_string(),
        "--format",
        "csv",
    ]);
    let early_rows: u64 = count.lines().nth(1).unwrap().parse().unwrap();
    assert!(early_rows > 0, "{count}");

    let interrupted = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        interrupted.elapsed() < Duration::from_secs(15),
        "Ctrl-C took {:?}",
        interrupted.elapsed()
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let reported = summary_value(&stdout, "feature rows");
    let rows: usize = read_batches(&data).iter().map(|b| b.num_rows()).sum();
    assert_eq!(
        rows as u64, reported,
        "every reported row is in a complete, readable file"
    );
    let leftovers: Vec<_> = std::fs::read_dir(data.join("features"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert!(data.join("ground_truth.csv").exists());
}

#[test]
fn query_prints_table_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    simulate(&data, "3m", "4", &[]);
    let sql = "SELECT service_name, time, request_rate_1m FROM features WHERE service_name = 'frontend' ORDER BY time";
    let table = run_ok(&["query", sql, "--data-dir", &data]);
    assert!(
        table.contains("| service_name |")
            && table.contains("| frontend     | 2026-01-05T09:00:00Z |"),
        "{table}"
    );
    let csv = run_ok(&["query", sql, "--data-dir", &data, "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "service_name,time,request_rate_1m");
    assert_eq!(lines.len(), 4, "three minutes of frontend: {csv}");
    let json = run_ok(&["query", sql, "--data-dir", &data, "--format", "json"]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["service_name"], "frontend");
    assert!(first["request_rate_1m"].as_f64().unwrap() > 0.0);
}
