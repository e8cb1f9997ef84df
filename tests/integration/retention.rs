//! Retention never destroys what the job just wrote: rows before the horizon are refused and
//! counted, a restarted (replaying) job leaves the same table as an undisturbed one, and what
//! a retention run drops is logged with its row count.

use postgres::Client;

use crate::common::{aiops, fresh_database, run_ok, summary_value};

const DAY_US: i64 = 86_400_000_000;

/// Simulated telemetry that straddles the one-day retention horizon: from 30 minutes before
/// it to 30 minutes after.
fn straddling_run(url: &str, data: &str, retention_days: &str) -> std::process::Output {
    let now = chrono::Utc::now().timestamp_micros();
    let horizon = (now - DAY_US).div_euclid(DAY_US) * DAY_US;
    let start = chrono::DateTime::from_timestamp_micros(horizon - 30 * 60_000_000)
        .unwrap()
        .to_rfc3339();
    aiops()
        .args([
            "run",
            "--start",
            &start,
            "--duration",
            "60m",
            "--speed",
            "0",
            "--services",
            "4",
            "--seed",
            "3",
            "--database-url",
            url,
            "--data-dir",
            data,
            "-q",
        ])
        .env("AIOPS_POSTGRES__RETENTION_DAYS", retention_days)
        .env("RUST_LOG", "warn")
        .env("AIOPS_LOG_FORMAT", "json")
        .output()
        .unwrap()
}

/// (service, minute) of every stored row, and the oldest minute.
fn stored(url: &str) -> (Vec<(String, i64)>, i64) {
    let mut client = Client::connect(url, postgres::NoTls).unwrap();
    let rows: Vec<(String, i64)> = client
        .query(
            "SELECT service_name, extract(epoch FROM time)::bigint FROM otlp_ai_features \
             ORDER BY 1, 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let oldest = rows.iter().map(|r| r.1).min().unwrap_or(i64::MAX);
    (rows, oldest)
}

/// (caller, callee, minute) of a stored edge.
type Edge = (String, String, i64);

/// Every stored edge, and the incident updates as (id, minute).
fn graph(url: &str) -> (Vec<Edge>, Vec<(String, i64)>) {
    let mut client = Client::connect(url, postgres::NoTls).unwrap();
    let edges = client
        .query(
            "SELECT caller, callee, extract(epoch FROM time)::bigint FROM service_edges \
             ORDER BY 1, 2, 3",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let incidents = client
        .query(
            "SELECT incident_id, extract(epoch FROM time)::bigint FROM incidents ORDER BY 1, 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    (edges, incidents)
}

fn summary(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_restart_past_the_horizon_leaves_the_table_of_an_undisturbed_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let url = fresh_database("retention_replay");
    run_ok(&["migrate", "--database-url", &url]);

    let first = summary(&straddling_run(&url, &data, "1"));
    let (rows, oldest) = stored(&url);
    let horizon_s = (chrono::Utc::now().timestamp_micros() - DAY_US).div_euclid(DAY_US) * 86_400;
    assert!(oldest >= horizon_s, "no row before the horizon is written");
    assert_eq!(
        summary_value(&first, "feature rows"),
        rows.len() as u64,
        "the summary counts rows committed and still there: {first}"
    );
    let expired = summary_value(&first, "expired rows");
    assert!(
        expired >= 4 * 25 && !rows.is_empty(),
        "about half the hour is past the horizon: {expired} expired, {} kept",
        rows.len()
    );

    let (edges, incidents) = graph(&url);
    assert!(
        !edges.is_empty() && edges.iter().all(|e| e.2 >= horizon_s),
        "edges are written from the horizon on only"
    );
    assert!(incidents.iter().all(|i| i.1 >= horizon_s));

    // A restart replays the same telemetry: retention at start drops nothing of it.
    let again = straddling_run(&url, &data, "1");
    let stderr = String::from_utf8_lossy(&again.stderr).into_owned();
    let again = summary(&again);
    assert_eq!(stored(&url).0, rows, "the same table after the restart");
    assert_eq!(summary_value(&again, "expired rows"), expired);
    assert!(!stderr.contains("retention dropped"), "{stderr}");

    // Rows that an earlier job kept (a longer retention then) are dropped at start, and the
    // drop is logged with what it held; the table ends as the undisturbed run's.
    let other = fresh_database("retention_shortened");
    run_ok(&["migrate", "--database-url", &other]);
    summary(&straddling_run(&other, &data, "36500"));
    let (all, _) = stored(&other);
    assert_eq!(all.len() as u64, rows.len() as u64 + expired);
    let shortened = straddling_run(&other, &data, "1");
    let stderr = String::from_utf8_lossy(&shortened.stderr).into_owned();
    summary(&shortened);
    assert_eq!(
        stored(&other).0,
        rows,
        "as if retention had been 1 day all along"
    );
    assert_eq!(graph(&other).0, edges, "edges past the horizon are deleted");
    let logged: u64 = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| {
            line["message"] == "retention dropped rows past the horizon"
                && line["from"]
                    .as_str()
                    .is_some_and(|f| f.starts_with("otlp_ai_features"))
        })
        .map(|line| line["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(
        logged, expired,
        "each dropped partition is logged with its rows: {stderr}"
    );
}
