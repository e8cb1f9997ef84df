//! The dependency graph and root-cause analysis end to end: simulated faults are blamed on
//! the right service, the graph is the same through every output, and the PostgreSQL tables
//! answer "the graph at time T".

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use postgres::Client;

use crate::common::{fresh_database, read_rows, run_ok, simulate};

/// (fault, service, start µs) of every fault in a run's ground truth.
fn ground_truth(data: &Path) -> Vec<(String, String, i64)> {
    let text = std::fs::read_to_string(data.join("ground_truth.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let start = chrono::DateTime::parse_from_rfc3339(fields[2]).unwrap();
            (
                fields[0].to_string(),
                fields[1].to_string(),
                start.timestamp_micros(),
            )
        })
        .collect()
}

/// Every JSON line under `dir`.
pub fn json_lines(dir: &Path) -> Vec<serde_json::Value> {
    let mut values = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        values.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    values.sort_by_key(|v| v["time_us"].as_i64().or(v["pane"].as_i64()));
    values
}

#[test]
fn simulated_faults_are_blamed_on_their_service_and_marked_on_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    // Faults every 12 minutes rotate through latency, error burst, CPU hog, memory leak and
    // network delay.
    simulate(&data, "70m", "10", &["--seed", "11", "--fault-every", "12"]);
    let faults = ground_truth(dir.path());
    let kinds: BTreeSet<&str> = faults.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(kinds.len(), 5, "every fault type is injected: {faults:?}");
    let incidents = json_lines(&dir.path().join("incidents"));
    let rows = read_rows(dir.path());
    let first_minute = chrono::DateTime::parse_from_rfc3339(&rows[0]["time"]).unwrap();
    let faults_start = rows
        .iter()
        .map(|r| chrono::DateTime::parse_from_rfc3339(&r["time"]).unwrap())
        .fold(first_minute, |a, b| a.min(b))
        .timestamp_micros();
    let mut named_faults = 0;
    for (fault, service, start) in &faults {
        let first = incidents
            .iter()
            .find(|i| {
                let time = i["time_us"].as_i64().unwrap();
                time >= start - start % 60_000_000 && time < start + 5 * 60_000_000
            })
            .unwrap_or_else(|| panic!("no incident for {fault} on {service}"));
        assert_eq!(first["root_cause"], service.as_str(), "{fault}: {first}");
        let id = first["incident_id"].as_str().unwrap();
        let time =
            chrono::DateTime::from_timestamp_micros(first["time_us"].as_i64().unwrap()).unwrap();
        let marked = rows.iter().find(|r| {
            r["service_name"] == *service
                && r["time"] == time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        });
        let marked = marked.unwrap_or_else(|| panic!("no row of {service} at {time}"));
        assert_eq!(marked["incident_id"], id);
        assert_eq!(marked["root_cause"], *service);
        let candidates = first["candidates"].as_array().unwrap();
        let evidence = candidates[0]["evidence"].as_array().unwrap();
        assert!(!evidence.is_empty(), "evidence for {fault}");
        // The simulator's faults (but network delay, which is outside the service) make the
        // service write a line it never wrote: the evidence names its template. Not in the
        // service's first 10 minutes of logs, its warm-up, where no line is new yet.
        let warm_up_end = faults_start + 10 * 60_000_000;
        if *start < warm_up_end {
            continue;
        }
        let line = match fault.as_str() {
            "latency" => "slow database query",
            "error_burst" => "connection reset by peer",
            "cpu_hog" => "worker pool saturated",
            "memory_leak" => "GC pause",
            _ => continue,
        };
        let named = |e: &serde_json::Value| {
            e.as_str()
                .is_some_and(|e| e.starts_with("log: \"") && e.contains(line))
        };
        assert!(evidence.iter().any(named), "{fault}: {evidence:?}");
        let moved = &marked["moved_templates"];
        assert!(
            moved.contains(line),
            "{fault}: the row's moved templates {moved}"
        );
        named_faults += 1;
    }
    assert!(
        named_faults >= 3,
        "most faults are after the warm-up: {faults:?}"
    );
}

/// The distinct incidents of a run: (id, root cause, the first candidate's evidence).
fn opened(data: &Path) -> Vec<(String, String, Vec<String>)> {
    let mut seen = BTreeMap::new();
    for incident in json_lines(&data.join("incidents")) {
        let id = incident["incident_id"].as_str().unwrap().to_string();
        seen.entry(id.clone()).or_insert_with(|| {
            let evidence = incident["candidates"][0]["evidence"].as_array().unwrap();
            let evidence = evidence.iter().map(|e| e.as_str().unwrap().to_string());
            (
                id,
                incident["root_cause"].as_str().unwrap().to_string(),
                evidence.collect(),
            )
        });
    }
    seen.into_values().collect()
}

#[test]
fn an_operation_that_throws_or_returns_early_is_found_from_its_traces_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("no-logs.toml");
    std::fs::write(&config, "[simulator]\nlogs = false\n").unwrap();
    let data = dir.path().join("data").display().to_string();
    let config = config.display().to_string();
    let kinds = [
        "--fault-kinds",
        "exception,early-return",
        "--fault-every",
        "12",
    ];
    let mut args = vec!["-c", config.as_str(), "--seed", "11"];
    args.extend(kinds);
    simulate(&data, "70m", "10", &args);
    let data = Path::new(&data);
    let faults: Vec<(String, String)> = ground_truth(data)
        .into_iter()
        .map(|(kind, service, _)| (kind, service))
        .collect();
    let pairs: Vec<(&str, &str)> = faults
        .iter()
        .map(|(k, s)| (k.as_str(), s.as_str()))
        .collect();
    // The seed's schedule, which the assertions below are about.
    let expected = [
        ("exception", "cart"),
        ("early_return", "payment"),
        ("exception", "ad"),
        ("early_return", "cart"),
        ("exception", "email"),
        ("early_return", "recommendation"),
    ];
    assert_eq!(pairs, expected);
    // No log line says what happened: the calls do. Cart's first exception falls in the
    // detector's first 10 minutes (rows not judged yet); payment's first operation calls
    // nothing, so returning early changes no call. Every other fault opens one incident that
    // blames its service first, by the call that moved, and nothing else opens one.
    let incidents = opened(data);
    let blamed: Vec<&str> = incidents
        .iter()
        .map(|(_, cause, _)| cause.as_str())
        .collect();
    assert_eq!(
        blamed,
        ["ad", "cart", "email", "recommendation"],
        "{incidents:?}"
    );
    for (id, cause, evidence) in &incidents {
        let call = format!("call: \"GET /{cause} → ");
        assert!(
            evidence.iter().any(|e| e.starts_with(&call)),
            "{id}: {evidence:?}"
        );
        assert!(
            evidence[0].starts_with("structure_shift z=+"),
            "{id}: {evidence:?}"
        );
    }
    // The exceptions reach the error handler, a call the rows name, warm-up or not.
    let rows = read_rows(data);
    for service in ["cart", "ad", "email"] {
        let handled = rows.iter().any(|r| {
            r["service_name"] == service
                && r["moved_calls"].contains(&format!("GET /{service} → ErrorHandler.handle"))
        });
        assert!(handled, "{service}: no row names its error handler");
    }
}

#[test]
fn the_graph_command_agrees_with_the_rows_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    simulate(&data, "20m", "8", &["--seed", "3", "--fault-every", "0"]);
    let at = "2026-01-05T09:12:00Z";
    let json = run_ok(&["graph", "--at", at, "--format", "json", "--data-dir", &data]);
    let graph: serde_json::Value = serde_json::from_str(&json).unwrap();
    let edges = graph["edges"].as_array().unwrap();
    assert!(edges.len() >= 7, "{json}");
    let rows = read_rows(dir.path());
    let downstream: BTreeMap<String, String> = rows
        .iter()
        .filter(|r| r["time"] == at)
        .map(|r| (r["service_name"].clone(), r["downstream_services"].clone()))
        .collect();
    for edge in edges
        .iter()
        .filter(|e| e["last_seen_minute"].as_u64() == Some(29_460_072))
    {
        let (caller, callee) = (
            edge["caller"].as_str().unwrap(),
            edge["callee"].as_str().unwrap(),
        );
        assert!(
            downstream[caller].contains(callee),
            "{caller} -> {callee} at {at} but the row lists {}",
            downstream[caller]
        );
        assert!(edge["calls"].as_u64().unwrap() > 0);
    }
    let dot = run_ok(&["graph", "--at", at, "--format", "dot", "--data-dir", &data]);
    assert_eq!(dot.matches(" -> ").count(), edges.len(), "{dot}");
    let svg = dir.path().join("graph.svg");
    run_ok(&[
        "graph",
        "--at",
        at,
        "--format",
        "svg",
        "--data-dir",
        &data,
        "--out",
        &svg.display().to_string(),
    ]);
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(
        picture.starts_with("<svg")
            && picture.matches("<rect").count() == graph["nodes"].as_array().unwrap().len()
    );
}

/// The (caller, callee) pairs of `aiops graph --at` against PostgreSQL.
fn graph_edges(url: &str, at: &str) -> BTreeSet<(String, String)> {
    let json = run_ok(&[
        "graph",
        "--at",
        at,
        "--format",
        "json",
        "--database-url",
        url,
    ]);
    let graph: serde_json::Value = serde_json::from_str(&json).unwrap();
    graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["caller"].as_str().unwrap().into(),
                e["callee"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn postgres_graph_tables_answer_the_graph_at_a_time_and_reruns_change_nothing() {
    let url = fresh_database("graph_tables");
    run_ok(&["migrate", "--database-url", &url]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let args = ["--seed", "4", "--fault-every", "15", "--database-url", &url];
    simulate(&data, "40m", "8", &args);
    let mut client = Client::connect(&url, postgres::NoTls).unwrap();
    let edge_rows: i64 = client
        .query_one("SELECT count(*) FROM service_edges", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        edge_rows as usize,
        json_lines(&dir.path().join("edges")).len()
    );
    let live = |client: &mut Client, at: &str| -> BTreeSet<(String, String)> {
        client
            .query(
                "SELECT caller, callee FROM service_dependencies WHERE valid_from <= $1::text::timestamptz \
                 AND $1::text::timestamptz < valid_to",
                &[&at],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    };
    for at in [
        "2026-01-05T09:05:00Z",
        "2026-01-05T09:30:00Z",
        "2026-01-05T09:43:00Z",
    ] {
        let from_table = live(&mut client, at);
        assert!(!from_table.is_empty(), "{at}");
        assert_eq!(
            from_table,
            graph_edges(&url, at),
            "the table and `aiops graph` at {at}"
        );
    }
    assert!(
        live(&mut client, "2026-01-05T09:50:00Z").is_empty(),
        "all edges expired 5 minutes after the end"
    );
    let intervals = |client: &mut Client| -> Vec<String> {
        client
            .query("SELECT row_to_json(d)::text FROM service_dependencies d ORDER BY caller, callee, valid_from", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let before = intervals(&mut client);
    let incidents: i64 = client
        .query_one("SELECT count(*) FROM incidents", &[])
        .unwrap()
        .get(0);
    assert!(incidents > 0);
    let fault_service = &ground_truth(dir.path())[0].1;
    let blamed: i64 = client
        .query_one(
            "SELECT count(*) FROM incidents WHERE root_cause = $1",
            &[fault_service],
        )
        .unwrap()
        .get(0);
    assert!(
        blamed > 0,
        "the first fault's service is blamed in some incident"
    );

    // The same run again rewrites every minute: nothing changes.
    simulate(&data, "40m", "8", &args);
    assert_eq!(intervals(&mut client), before);
    let again: i64 = client
        .query_one("SELECT count(*) FROM incidents", &[])
        .unwrap()
        .get(0);
    assert_eq!(again, incidents);
}
