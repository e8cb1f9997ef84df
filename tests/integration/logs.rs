//! Logs, the third signal: the simulator's log lines replayed from files and counted by hand
//! give the rows' log features; templates flag what is new.

use std::collections::BTreeMap;
use std::path::Path;

use aiops_engine::otlp::{decode_logs, Decoding};
use aiops_engine::record::{Encoding, LogRecord};

use crate::common::{generate, number, read_rows, replay, replay_with_env, summary_value, Row};

/// Every log record of the `logs-*` files under `dir`, decoded independently of the job.
fn logs_of(dir: &Path) -> Vec<LogRecord> {
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("logs-") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let mut at = 0;
        while at + 4 <= bytes.len() {
            let length = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let record = &bytes[at + 4..at + 4 + length];
            let rejected =
                decode_logs(record, Encoding::OtlpProto, &Decoding::default(), &mut logs)
                    .expect("a log record the simulator wrote decodes");
            assert!(rejected.is_empty(), "{rejected:?}");
            at += 4 + length;
        }
    }
    logs
}

#[test]
fn log_features_equal_the_records_counted_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let otlp = generate(dir.path(), &["--duration", "25m"]);
    let logs = logs_of(&otlp);
    assert!(
        logs.len() > 1000,
        "the simulator writes a line per request: {}",
        logs.len()
    );
    let mut expected: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for log in &logs {
        let minute = log.time_ns / 60_000_000_000 * 60;
        let time = chrono::DateTime::from_timestamp(minute as i64, 0).unwrap();
        let key = (
            aiops_engine::record::key_parts(log.service()).0.to_string(),
            time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        let counts = expected.entry(key).or_default();
        counts.0 += 1;
        counts.1 += u64::from(log.error);
    }
    assert!(
        expected.values().any(|(_, errors)| *errors > 0),
        "some lines are errors"
    );
    let data = dir.path().join("data");
    let summary = replay(&otlp, &data);
    assert_eq!(
        summary_value(&summary, "log records"),
        logs.len() as u64,
        "{summary}"
    );
    let rows = read_rows(&data);
    let mut seen = 0;
    for row in &rows {
        let key = (row["service_name"].clone(), row["time"].clone());
        let Some((lines, errors)) = expected.get(&key) else {
            assert_eq!(
                number(row, "log_rate"),
                None,
                "{key:?}: no lines, no log rate"
            );
            continue;
        };
        seen += 1;
        assert_eq!(
            number(row, "log_rate"),
            Some(*lines as f64 / 60.0),
            "{key:?}"
        );
        assert_eq!(
            number(row, "error_log_rate"),
            Some(*errors as f64 / 60.0),
            "{key:?}"
        );
        let new = number(row, "new_template_rate").expect("mined");
        assert!(
            (0.0..=*lines as f64 / 60.0).contains(&new),
            "{key:?}: {new}"
        );
    }
    assert_eq!(
        seen,
        expected.len(),
        "every (service, minute) with lines has a row"
    );

    // The simulator's one fault (latency on cart from 09:10, ground_truth.csv) makes cart write
    // a line it never wrote before; its templates flag it, and no other service's more.
    let truth = std::fs::read_to_string(otlp.join("ground_truth.csv")).unwrap();
    assert!(
        truth.contains("latency,cart,2026-01-05T09:10:00Z"),
        "{truth}"
    );
    let new_lines = |service: &str| -> f64 {
        rows.iter()
            .filter(|r| r["service_name"] == service)
            .filter(|r| ("2026-01-05T09:10".."2026-01-05T09:15").contains(&r["time"].as_str()))
            .filter_map(|r| number(r, "new_template_rate"))
            .sum()
    };
    let cart = new_lines("cart");
    assert!(cart > 0.0, "the fault's first lines are new");
    for row in rows.iter().filter(|r| r["service_name"] != "cart") {
        assert!(
            new_lines(&row["service_name"]) < cart,
            "{}",
            row["service_name"]
        );
    }
    // Its mix of log statements moves too (the records name their statements), by more than
    // any other service's does in those minutes or cart's did before.
    assert!(
        logs.iter().all(|l| l
            .code
            .as_deref()
            .is_some_and(|c| c.starts_with("RequestHandler.serve#"))),
        "the simulator's records carry code attributes"
    );
    let largest_shift = |service: &str, minutes: std::ops::Range<&str>| -> f64 {
        rows.iter()
            .filter(|r| r["service_name"] == service && minutes.contains(&r["time"].as_str()))
            .filter_map(|r| number(r, "template_shift"))
            .fold(0.0, f64::max)
    };
    let fault = "2026-01-05T09:10".."2026-01-05T09:15";
    let cart_shift = largest_shift("cart", fault.clone());
    assert!(cart_shift >= 5.0, "{cart_shift}");
    assert!(largest_shift("cart", "2026-01-05T08:00".."2026-01-05T09:10") < cart_shift);
    for row in rows.iter().filter(|r| r["service_name"] != "cart") {
        let other = largest_shift(&row["service_name"], fault.clone());
        assert!(other < cart_shift, "{}: {other}", row["service_name"]);
    }

    // `source.logs = false` (eval's --without-logs): the same rows, less the log columns.
    let without = dir.path().join("without-logs");
    replay_with_env(&otlp, &without, &[("AIOPS_SOURCE__LOGS", "false")]);
    let log_columns = [
        "log_rate",
        "error_log_rate",
        "new_template_rate",
        "moved_templates",
        "template_shift",
    ];
    // Scoring reads the log features, so what it writes may differ too.
    let scored = [
        "is_anomaly",
        "anomaly_type",
        "anomaly_score",
        "root_cause",
        "incident_id",
    ];
    // Rows come sorted by key; only the log and scoring columns may differ.
    let strip = |rows: Vec<Row>| -> Vec<Row> {
        let kept = |column: &String| {
            !log_columns.contains(&column.as_str()) && !scored.contains(&column.as_str())
        };
        let strip_row = |mut row: Row| {
            row.retain(|column, _| kept(column));
            row
        };
        rows.into_iter().map(strip_row).collect()
    };
    let rows_without = read_rows(&without);
    for row in &rows_without {
        for column in log_columns {
            assert_eq!(number(row, column), None, "{column} without logs: {row:?}");
        }
    }
    assert_eq!(
        strip(rows_without),
        strip(rows),
        "spans and metrics as before"
    );
}
