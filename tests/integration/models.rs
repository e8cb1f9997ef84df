//! Learned models end to end: `aiops train` from Parquet and from PostgreSQL, model files,
//! `aiops run --models` scoring rows, hot reload of a newer version, and a corrupt version
//! that is reported while the job keeps its model.

use std::io::Read;
use std::path::Path;

use crate::common::{fresh_database, read_rows, run_ok, simulate, spawn, START};

fn metadata(models: &Path, version: u64) -> serde_json::Value {
    let path = models.join(format!("isolation-forest-v{version}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn train(from: &str, models: &Path, extra: &[&str]) -> String {
    let out = models.display().to_string();
    let mut args = vec!["train", "--from", from, "--out", &out, "-q", "--seed", "5"];
    args.extend_from_slice(extra);
    run_ok(&args)
}

/// With enough training rows, the LSTM's threshold is a tail fit beyond the errors' 99th
/// percentile, and the summary turns its risk into false alarms an hour for the fleet.
#[test]
fn an_lstm_trained_on_hours_of_rows_sets_its_threshold_by_a_tail_fit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    simulate(&data, "150m", "6", &["--seed", "8"]);
    let models = dir.path().join("models");
    let lstm = [
        "--model", "lstm", "--epochs", "2", "--window", "20", "--hidden", "8",
    ];
    let summary = train(&data, &models, &lstm);
    // One false alarm an hour over 6 services × 60 rows: a risk of 1/360 per row.
    assert!(
        summary.contains(
            "(tail fit, risk 2.78e-3: about 1.0 false alarms an hour on these 6 services)"
        ),
        "{summary}"
    );
    let path = models.join("lstm-v1.json");
    let lstm: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(lstm["evaluation"]["threshold_from_tail"], 1.0);
    let (threshold, p99) = (
        lstm["threshold"].as_f64().unwrap(),
        lstm["evaluation"]["training_error_p99"].as_f64().unwrap(),
    );
    assert!(threshold > p99, "{threshold} vs {p99}");

    // Ten alarms an hour from six services is a risk of 0.028 per row, beyond what a fit above
    // the 98th percentile can estimate: refused, naming the budget, before any training.
    let out = models.display().to_string();
    let output = crate::common::aiops()
        .args(["train", "--model", "lstm", "--from", &data, "--out", &out])
        .args(["--alarms-per-hour", "10", "-q"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--alarms-per-hour 10 over 6 services: risk 0.0277"),
        "{stderr}"
    );
    assert!(!models.join("lstm-v2.json").exists());
}

#[test]
fn training_twice_gives_the_same_model_and_the_job_scores_warm_up_rows_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("train").display().to_string();
    simulate(&data, "40m", "6", &["--seed", "4"]);
    let models = dir.path().join("models");
    let summary = train(&data, &models, &[]);
    let stored = read_rows(Path::new(&data)).len();
    assert!(
        summary.contains(&format!("v1 on {stored} rows of 6 services")),
        "{summary}"
    );
    train(&data, &models, &[]);
    let (first, second) = (metadata(&models, 1), metadata(&models, 2));
    assert_eq!(first["version"], 1);
    assert_eq!(second["version"], 2);
    for field in ["threshold", "weights_xxh3", "features", "scalers"] {
        assert_eq!(
            first[field], second[field],
            "{field} differs between seeded fits"
        );
    }
    assert_eq!(
        first["training"]["data_hash"],
        second["training"]["data_hash"]
    );
    // The scored features (aiops_engine::score::inputs): spans, metrics and two of logs.
    assert_eq!(first["features"].as_array().unwrap().len(), 13);
    assert_eq!(first["scalers"].as_object().unwrap().len(), 6);
    assert_eq!(first["training"]["from"], "2026-01-05T09:00:00+00:00");

    // Without the model, the first 10 minutes of each service are unjudged (robust warm-up);
    // with it, the model scores them.
    let plain = dir.path().join("plain").display().to_string();
    let scored = dir.path().join("scored").display().to_string();
    simulate(&plain, "20m", "6", &["--seed", "4"]);
    let models_arg = models.display().to_string();
    let summary = simulate(
        &scored,
        "20m",
        "6",
        &["--seed", "4", "--models", &models_arg],
    );
    assert!(
        summary.contains("models              isolation-forest v2"),
        "{summary}"
    );
    let early = |rows: &[std::collections::BTreeMap<String, String>]| {
        rows.iter()
            .filter(|r| r["time"].as_str() < "2026-01-05T09:05")
            .filter(|r| !r["anomaly_score"].is_empty())
            .count()
    };
    assert_eq!(early(&read_rows(Path::new(&plain))), 0);
    assert_eq!(early(&read_rows(Path::new(&scored))), 5 * 6);

    // An LSTM beside the forest: both score, and the summary names both.
    let lstm = [
        "--model", "lstm", "--epochs", "3", "--window", "20", "--hidden", "16",
    ];
    let summary = train(&data, &models, &lstm);
    assert!(summary.contains("trained lstm v1"), "{summary}");
    // 40 minutes of 6 services leave about 4 errors above the 98th percentile, too few to fit
    // a tail: the summary says the threshold fell back to the contamination quantile.
    assert!(
        summary.contains("(99th percentile: too few distinct training errors"),
        "{summary}"
    );
    let both = dir.path().join("both").display().to_string();
    let summary = simulate(&both, "20m", "6", &["--seed", "4", "--models", &models_arg]);
    assert!(
        summary.contains("isolation-forest v2, lstm v1"),
        "{summary}"
    );
    let lstm_metadata: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models.join("lstm-v1.json")).unwrap())
            .unwrap();
    assert_eq!(lstm_metadata["params"]["hidden"], 16.0);
    let risk = lstm_metadata["params"]["risk"].as_f64().unwrap();
    assert!((risk - 1.0 / 360.0).abs() < 1e-12, "{risk}");
    assert_eq!(lstm_metadata["evaluation"]["threshold_from_tail"], 0.0);
    assert!(models.join("lstm-v1.safetensors").exists());

    // --if-drifted on the same data: no drift, no new version.
    let summary = train(&data, &models, &["--if-drifted"]);
    assert!(summary.contains("no drift"), "{summary}");
    assert!(!models.join("isolation-forest-v3.json").exists());
}

/// The window-neighbour model trains like the others, the same file from the same rows (it
/// has no randomness), and scores a service's rows in the job from its second minute on: the
/// first has no predecessor to make a window with.
#[test]
fn a_window_neighbour_model_trains_reproducibly_and_scores_in_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("train").display().to_string();
    simulate(&data, "40m", "6", &["--seed", "4"]);
    let models = dir.path().join("models");
    let neighbours = ["--model", "neighbours"];
    let summary = train(&data, &models, &neighbours);
    assert!(summary.contains("trained neighbours v1"), "{summary}");
    // 40 minutes of 6 services are too few rows for a tail fit at one false alarm an hour.
    assert!(
        summary.contains("(99th percentile: too few distinct"),
        "{summary}"
    );
    train(&data, &models, &neighbours);
    let read = |version: u64| -> serde_json::Value {
        let path = models.join(format!("neighbours-v{version}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (first, second) = (read(1), read(2));
    for field in ["threshold", "weights_xxh3", "scalers"] {
        assert_eq!(first[field], second[field], "{field} differs between fits");
    }
    assert_eq!(first["params"]["window"], 2.0);
    assert_eq!(first["evaluation"]["services"], 6.0);

    let scored = dir.path().join("scored").display().to_string();
    let models_arg = models.display().to_string();
    let summary = simulate(
        &scored,
        "20m",
        "6",
        &["--seed", "4", "--models", &models_arg],
    );
    assert!(
        summary.contains("models              neighbours v2"),
        "{summary}"
    );
    let rows = read_rows(Path::new(&scored));
    let early = |minute: &str| {
        rows.iter()
            .filter(|r| r["time"].as_str().starts_with(minute))
            .filter(|r| !r["anomaly_score"].is_empty())
            .count()
    };
    assert_eq!(early("2026-01-05T09:00"), 0, "a first minute has no window");
    assert_eq!(early("2026-01-05T09:01"), 6);
}

#[test]
fn a_newer_model_is_picked_up_while_running_and_a_corrupt_one_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("train").display().to_string();
    simulate(&data, "30m", "4", &["--seed", "4"]);
    let models = dir.path().join("models");
    train(&data, &models, &[]);
    let config = dir.path().join("reload.toml");
    std::fs::write(&config, "[models]\nreload_seconds = 1\n").unwrap();
    let run_dir = dir.path().join("run").display().to_string();
    let args: Vec<String> = [
        "run",
        "--data-dir",
        &run_dir,
        "--start",
        START,
        "--duration",
        "40m",
        "--speed",
        "120",
        "--services",
        "4",
        "--seed",
        "4",
        "-q",
        "--models",
        &models.display().to_string(),
        "-c",
        &config.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let mut job = spawn(&args);
    // The first Parquet file means rows have been scored, so v1 is loaded; on a loaded
    // machine that can take a while, and the steps below are timed from it.
    let features = Path::new(&run_dir).join("features");
    let started = std::time::Instant::now();
    while crate::common::parquet_files(Path::new(&run_dir)).is_empty() {
        assert!(
            started.elapsed().as_secs() < 60,
            "no rows in {}",
            features.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // v2: metadata whose weights are damaged. The job must report it and keep v1.
    let weights = std::fs::read(models.join("isolation-forest-v1.safetensors")).unwrap();
    let mut damaged = weights.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    std::fs::write(models.join("isolation-forest-v2.safetensors"), &damaged).unwrap();
    let v2 = std::fs::read_to_string(models.join("isolation-forest-v1.json"))
        .unwrap()
        .replace(
            "isolation-forest-v1.safetensors",
            "isolation-forest-v2.safetensors",
        );
    std::fs::write(models.join("isolation-forest-v2.json"), v2).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    // v3: a good model, trained while the job runs.
    train(&data, &models, &[]);
    let status = job.wait().unwrap();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    job.stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    job.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("isolation-forest model not loaded, keeping v1"),
        "{stderr}"
    );
    assert!(stderr.contains("checksum"), "{stderr}");
    assert!(stdout.contains("isolation-forest v3"), "{stdout}");
    assert!(stdout.contains("1 versions failed to load"), "{stdout}");
}

#[test]
fn a_missing_model_directory_and_gnn_training_without_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere").display().to_string();
    let output = crate::common::aiops()
        .args([
            "run",
            "--duration",
            "1m",
            "--speed",
            "0",
            "-q",
            "--models",
            &missing,
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is not a directory") && stderr.contains("nowhere"),
        "{stderr}"
    );
    let output = crate::common::aiops()
        .args(["train", "--model", "gnn", "--from", &missing])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("has no rca_inputs/") && stderr.contains("--simulate"),
        "{stderr}"
    );
}

#[test]
fn training_from_postgres_reads_the_same_rows_as_from_parquet() {
    let url = fresh_database("train_from_pg");
    run_ok(&["migrate", "--database-url", &url]);
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("parquet").display().to_string();
    let into_db = dir.path().join("db").display().to_string();
    simulate(&parquet, "30m", "4", &["--seed", "6"]);
    simulate(
        &into_db,
        "30m",
        "4",
        &["--seed", "6", "--database-url", &url],
    );
    let range = "2026-01-05T09:05:00Z..2026-01-05T09:25:00Z";
    let (from_files, from_db) = (dir.path().join("m1"), dir.path().join("m2"));
    train(&parquet, &from_files, &["--range", range]);
    let summary = train(&url, &from_db, &["--range", range]);
    assert!(summary.contains("on 80 rows of 4 services"), "{summary}");
    let (a, b) = (metadata(&from_files, 1), metadata(&from_db, 1));
    assert_eq!(a["training"]["data_hash"], b["training"]["data_hash"]);
    assert_eq!(a["weights_xxh3"], b["weights_xxh3"]);
    assert!(!b["training"]["source"]
        .as_str()
        .unwrap()
        .contains("password"));
}

#[test]
fn a_gnn_trained_on_recorded_incidents_ranks_in_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.toml");
    std::fs::write(&record, "[rca]\nrecord_inputs = true\n").unwrap();
    let record = record.display().to_string();
    let data = dir.path().join("recorded").display().to_string();
    simulate(
        &data,
        "70m",
        "8",
        &["--seed", "11", "--fault-every", "12", "-c", &record],
    );
    let models = dir.path().join("models");
    let out = models.display().to_string();
    let summary = run_ok(&[
        "train",
        "--model",
        "gnn",
        "--from",
        &data,
        "--out",
        &out,
        "--gnn-epochs",
        "20",
        "-q",
    ]);
    assert!(summary.contains("trained gnn on"), "{summary}");
    let metadata = metadata_of(&models.join("gnn-v1.json"));
    assert!(
        metadata["training"]["rows"].as_u64().unwrap() >= 4,
        "{metadata}"
    );
    assert_eq!(metadata["features"].as_array().unwrap().len(), 13);

    // rca.method = "gnn": the job ranks with it first and keeps the other methods beside it.
    let use_gnn = dir.path().join("gnn.toml");
    std::fs::write(&use_gnn, "[rca]\nmethod = \"gnn\"\n").unwrap();
    let run = dir.path().join("run");
    let run_arg = run.display().to_string();
    let (summary, incidents) = gnn_job(&run, &models, &use_gnn);
    assert!(summary.contains("gnn v1"), "{summary}");
    for incident in &incidents {
        assert_eq!(incident["method"], "gnn");
        assert!(incident["rankings"]["gnn"].is_array() && incident["rankings"]["baro"].is_array());
        assert_eq!(incident["root_cause"], incident["rankings"]["gnn"][0]);
    }

    // Without a gnn model yet, the gnn method ranks as the combined rules (a first network
    // may arrive while the job runs) ...
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (summary, incidents) = gnn_job(&dir.path().join("waiting"), &empty, &use_gnn);
    assert!(!summary.contains("gnn v"), "{summary}");
    for incident in &incidents {
        assert_eq!(incident["method"], "gnn");
        assert_eq!(
            incident["rankings"]["gnn"],
            incident["rankings"]["combined"]
        );
    }

    // ... but with no models.dir to watch, rca.method = "gnn" is a configuration error
    // naming the fix.
    let output = crate::common::aiops()
        .args([
            "run",
            "--duration",
            "1m",
            "--speed",
            "0",
            "-q",
            "--data-dir",
            &run_arg,
        ])
        .args(["-c", &use_gnn.display().to_string()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs models.dir") && stderr.contains("aiops train --model gnn"),
        "{stderr}"
    );
}

/// Runs the simulated job with `rca.method = "gnn"` (the `config` file) and the models of
/// `models` into `data`; its summary and (at least one) incident updates.
fn gnn_job(data: &Path, models: &Path, config: &Path) -> (String, Vec<serde_json::Value>) {
    let summary = simulate(
        &data.display().to_string(),
        "40m",
        "8",
        &[
            "--seed",
            "12",
            "--fault-every",
            "12",
            "--models",
            &models.display().to_string(),
            "-c",
            &config.display().to_string(),
        ],
    );
    let incidents: Vec<serde_json::Value> =
        aiops_engine::sink::read_json_lines(&data.join("incidents")).unwrap();
    assert!(!incidents.is_empty(), "{summary}");
    (summary, incidents)
}

fn metadata_of(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
