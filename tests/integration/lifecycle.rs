//! The default run as a user meets it: output queryable early, Ctrl-C leaves complete files
//! and a summary, `aiops query` answers in every format.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{
    aiops, free_port, parquet_files, read_batches, run_ok, simulate, summary_value,
};

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

/// A Parquet file written before the log columns existed reads beside a new one: its rows have
/// nulls there.
#[test]
fn query_reads_files_of_an_older_row_beside_new_ones() {
    use datafusion::parquet::arrow::ArrowWriter;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    simulate(&data, "2m", "3", &[]);
    let features = dir.path().join("features");
    let batches = crate::common::read_batches(dir.path());
    let schema = batches[0].schema();
    let added = ["log_rate", "error_log_rate", "new_template_rate"];
    let old: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| !added.contains(&schema.field(i).name().as_str()))
        .collect();
    assert_eq!(old.len(), schema.fields().len() - 3);
    let old_batch = batches[0].project(&old).unwrap();
    let file = std::fs::File::create(features.join("old-format.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, old_batch.schema(), None).unwrap();
    writer.write(&old_batch).unwrap();
    writer.close().unwrap();
    let sql = "SELECT count(*) AS all_rows, count(log_rate) AS with_logs FROM features";
    let json = run_ok(&["query", sql, "--data-dir", &data, "--format", "json"]);
    let counts: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let new_rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(
        counts["all_rows"],
        (new_rows + old_batch.num_rows()) as u64,
        "{json}"
    );
    assert!(counts["with_logs"].as_u64().unwrap() > 0, "{json}");
    assert!(
        counts["with_logs"].as_u64().unwrap() <= new_rows as u64,
        "{json}"
    );
}

/// A reader that closes the pipe early (`| head`) stops the command quietly, not with a panic.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    simulate(&data, "2m", "3", &[]);
    let sql = "SELECT f.service_name, f.time FROM features f CROSS JOIN features g";
    for format in ["table", "csv", "json"] {
        let mut child = crate::common::aiops()
            .args(["query", sql, "--data-dir", &data, "--format", format])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{format}: {stderr}");
        assert!(output.status.success(), "{format}: {stderr}");
    }
}

/// The metric names in the README's table of the job's own metrics (labels left out).
fn readme_metrics() -> std::collections::BTreeSet<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme.split("### The job's own metrics").nth(1).unwrap();
    let table = section.split("\n\n").nth(2).unwrap();
    table
        .lines()
        .filter_map(|row| row.split('|').nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .map(|name| name.split('{').next().unwrap().to_string())
        .collect()
}

/// The metric families a scrape announces (`# TYPE name kind`).
fn scraped_families(scrape: &str) -> std::collections::BTreeSet<String> {
    scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// `GET path` on the metrics endpoint: the status code and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    crate::common::http_get(addr, path, "")
}

#[test]
fn sigterm_stops_the_job_as_ctrl_c_does_and_the_health_checks_answer() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let child = aiops()
        .args(["run", "--metrics-addr", &addr, "-q"])
        .current_dir(dir.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while get(&addr, "/readyz").0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never ready: {:?}",
            get(&addr, "/readyz")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(&addr, "/healthz"), (200, "ok\n".to_string()));
    let (status, metrics) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("aiops_duplicate_records_total 0\n"),
        "{metrics}"
    );
    assert_eq!(
        readme_metrics(),
        scraped_families(&metrics),
        "README's metric table vs a scrape"
    );
    assert_eq!(get(&addr, "/favicon.ico").0, 404);
    let data = dir.path().join("data");
    while parquet_files(&data).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no Parquet file"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rows: usize = read_batches(&data).iter().map(|b| b.num_rows()).sum();
    assert_eq!(
        rows as u64,
        summary_value(&stdout, "feature rows"),
        "complete files after SIGTERM"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let output = aiops()
        .args([
            "run",
            "--duration",
            "2m",
            "--speed",
            "0",
            "-q",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .args(["--data-dir", &data])
        .env("RUST_LOG", "info")
        .env("AIOPS_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string()),
        "{stderr}"
    );
    assert!(lines.iter().any(|l| l["message"]
        .as_str()
        .is_some_and(|m| m.contains("metrics at"))));
}
