//! `aiops backfill`: a time range recomputed from archived files equals the same range of a
//! full run, writes nothing outside it, and a re-run changes nothing; a range past the
//! retention horizon is refused unless asked for, and then nothing past it is written.

use crate::common::{aiops, fresh_database, generate, run_ok, run_ok_with_env, summary_value};
use crate::kafka::{migrate, table};

/// The arguments of a backfill of 10:00-10:20.
fn backfill_args<'a>(input: &'a str, url: &'a str, data: &'a str) -> [&'a str; 12] {
    [
        "backfill",
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
    ]
}

fn backfill(input: &str, url: &str, data: &str) -> String {
    run_ok(&backfill_args(input, url, data))
}

#[test]
fn a_backfilled_range_equals_the_full_run_and_reruns_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), &["--duration", "90m"]);
    let input = input.display().to_string();
    let data = dir.path().join("data").display().to_string();
    let full = fresh_database("backfill_full");
    migrate(&full);
    run_ok(&[
        "run",
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
    let summary = backfill(&input, &url, &data);
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
    backfill(&input, &url, &data);
    assert_eq!(table(&url), expected, "a re-run changes nothing");
}

#[test]
fn a_range_past_the_retention_horizon_is_refused_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), &["--duration", "90m"]);
    let input = input.display().to_string();
    let data = dir.path().join("data").display().to_string();
    let url = fresh_database("backfill_expired");
    migrate(&url);
    let args = backfill_args(&input, &url, &data);
    let refused = aiops()
        .args(args)
        .env("AIOPS_POSTGRES__RETENTION_DAYS", "90")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("before the retention horizon") && stderr.contains("--past-retention"),
        "{stderr}"
    );

    let forced: Vec<&str> = args.iter().copied().chain(["--past-retention"]).collect();
    let summary = run_ok_with_env(&forced, &[("AIOPS_POSTGRES__RETENTION_DAYS", "90")]);
    assert_eq!(summary_value(&summary, "feature rows"), 0, "{summary}");
    assert_eq!(
        summary_value(&summary, "expired rows"),
        8 * 20,
        "eight services, twenty minutes, all older than 90 days: {summary}"
    );
    assert!(
        table(&url).is_empty(),
        "nothing past the horizon is written"
    );
}
