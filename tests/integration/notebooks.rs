//! The notebooks of `notebooks/` run green (nbclient, in the test virtualenv) on data a
//! simulated run writes here, to files and to PostgreSQL: every assert cell holds, so a
//! notebook that drifts from the engine fails this test.

use std::path::Path;
use std::process::Command;

use crate::common::{fresh_database, run_ok};

/// A two-hour run with a fault every 40 minutes: twenty fault-free minutes to train on.
const SIMULATION: [&str; 12] = [
    "--services",
    "8",
    "--duration",
    "120m",
    "--speed",
    "0",
    "--seed",
    "4",
    "--fault-every",
    "40",
    "--start",
    "2026-01-05T09:00:00Z",
];

fn simulate(data: &Path, extra: &[&str]) {
    let mut args = vec![
        "run",
        "--data-dir",
        data.to_str().unwrap(),
        "--ui",
        "",
        "-q",
    ];
    args.extend(SIMULATION);
    args.extend(extra);
    run_ok(&args);
}

#[test]
fn every_notebook_runs_green_on_a_simulated_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    simulate(&data, &[]);
    let url = fresh_database("notebooks");
    run_ok(&["migrate", "--database-url", &url]);
    simulate(&dir.path().join("side"), &["--database-url", &url]);

    let python = std::env::var("AIOPS_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("AIOPS_TEST_PYTHON is not set: run `bash tests/run.sh` (pandas, nbclient)")
    });
    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("../notebooks/execute.py");
    let out = match std::env::var("AIOPS_TEST_ARTIFACTS") {
        Ok(dir) => Path::new(&dir).join("notebooks"),
        Err(_) => dir.path().join("executed"),
    };
    let output = Command::new(python)
        .arg(runner)
        .arg("--out")
        .arg(&out)
        .env("AIOPS_DATA", &data)
        .env("AIOPS_BIN", env!("CARGO_BIN_EXE_aiops"))
        .env("AIOPS_DATABASE_URL", &url)
        .env(
            "AIOPS_SIM_ARGS",
            serde_json::to_string(&SIMULATION).unwrap(),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches(": ok in").count(), 4, "{stdout}");
    // The PostgreSQL comparison ran, not its skip.
    let explored = std::fs::read_to_string(out.join("01_explore_features.ipynb")).unwrap();
    assert!(
        explored.contains("rows equal in Parquet and PostgreSQL"),
        "{explored}"
    );
}
