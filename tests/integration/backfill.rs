//! `aiops backfill`: a time range recomputed from archived files equals the same range of a
//! full run, writes nothing outside it, and a re-run changes nothing.

use std::path::Path;

use crate::common::{fresh_database, generate, run_ok};
use crate::kafka::{migrate, table};

fn backfill(config: &str, input: &str, url: &str, data: &str) -> String {
    run_ok(&[
        "backfill",
        "-c",
        config,
        "--input",
        input,
        "--from",
        "2026-01-05T10:00:00Z",
        "--to",
        "2026-01-05T10:20:00Z",
        "--database-url",
        url,
        "--data-dir",
        data,
        "-q",
    ])
}

/// A configuration that keeps the simulated January rows (older than the default retention).
fn keep_old_rows(dir: &Path) -> String {
    let file = dir.join("retention.toml");
    std::fs::write(&file, "[postgres]\nretention_days = 36500\n").unwrap();
    file.display().to_string()
}

#[test]
fn a_backfilled_range_equals_the_full_run_and_reruns_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), &["--duration", "90m"]);
    let input = input.display().to_string();
    let data = dir.path().join("data").display().to_string();
    let config = keep_old_rows(dir.path());
    let full = fresh_database("backfill_full");
    migrate(&full);
    run_ok(&[
        "run",
        "-c",
        &config,
        "--input",
        &input,
        "--database-url",
        &full,
        "--data-dir",
        &data,
        "-q",
    ]);

    let url = fresh_database("backfill");
    migrate(&url);
    let summary = backfill(&config, &input, &url, &data);
    assert!(summary.contains("feature rows"), "{summary}");
    let expected: Vec<String> = table(&full)
        .into_iter()
        .filter(|row| {
            row.contains("\"time\":\"2026-01-05T10:0") || row.contains("\"time\":\"2026-01-05T10:1")
        })
        .collect();
    assert_eq!(expected.len(), 8 * 20, "eight services, twenty minutes");
    let backfilled = table(&url);
    assert_eq!(
        backfilled, expected,
        "rows of 10:00-10:20 only, equal to the full run's"
    );
    backfill(&config, &input, &url, &data);
    assert_eq!(table(&url), expected, "a re-run changes nothing");
}
