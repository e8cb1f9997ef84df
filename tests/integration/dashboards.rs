//! The Grafana dashboards of deploy/grafana/dashboards/, checked without a Grafana server:
//! every panel query is pulled out of the JSON and run against the real Prometheus (scraping a
//! running job) or the real PostgreSQL (the job's tables), with Grafana's variables and macros
//! expanded as Grafana would, and each must return data.

use std::path::Path;
use std::time::{Duration, Instant};

use postgres::Client;
use serde_json::Value;

use crate::common::{free_port, fresh_database, run_ok, spawn};
use crate::published::{api, prometheus_config, query, start_prometheus, Running};

/// The service the per-service panels are checked for: the simulated shop's entry, a caller.
const SERVICE: &str = "frontend";

/// Every panel target of every dashboard: (dashboard file, panel title, datasource type, query).
fn panel_queries() -> Vec<(String, String, String, String)> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana/dashboards"
    ));
    let mut queries = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let kind = target["datasource"]["type"].as_str().unwrap().to_string();
                let text = target["expr"]
                    .as_str()
                    .or(target["rawSql"].as_str())
                    .unwrap();
                let title = panel["title"].as_str().unwrap().to_string();
                queries.push((file.clone(), title, kind, text.to_string()));
            }
        }
    }
    assert!(queries.len() >= 15, "{queries:?}");
    queries
}

/// Grafana's variables and macros, expanded as Grafana does for the whole time range.
fn expand(query: &str, incident: &str) -> String {
    query
        .replace("$__rate_interval", "30s")
        .replace("$service", SERVICE)
        .replace("$incident_id", incident)
        .replace(
            "$__timeFilter(time)",
            "time BETWEEN '2000-01-01T00:00:00Z' AND '2100-01-01T00:00:00Z'",
        )
}

/// The PromQL panels that return no series at the latest scrape.
fn empty_promql(prometheus: &str, queries: &[(String, String, String, String)]) -> Vec<String> {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1e3;
    let Some((_, scraped)) = query(prometheus, "timestamp(aiops_build_info)", now).pop() else {
        return vec!["no scrape yet".into()];
    };
    queries
        .iter()
        .filter(|q| q.2 == "prometheus")
        .filter(|q| query(prometheus, &expand(&q.3, ""), scraped).is_empty())
        .map(|q| format!("{} / {}: {}", q.0, q.1, q.3))
        .collect()
}

#[test]
fn every_dashboard_panel_query_returns_data() {
    let queries = panel_queries();
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database("dashboards");
    run_ok(&["migrate", "--database-url", &url]);
    let (job, prometheus) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let config = prometheus_config(dir.path(), &job, "127.0.0.1:9", &prometheus);
    let _prometheus = start_prometheus(dir.path(), &config, &prometheus);
    let data = dir.path().join("data").display().to_string();
    let args: Vec<String> = [
        "run",
        "--services",
        "6",
        "--duration",
        "30m",
        "--speed",
        "60",
        "--seed",
        "5",
        "--fault-every",
        "10",
        "--metrics-addr",
        &job,
        "--database-url",
        &url,
        "--data-dir",
        &data,
        "-q",
    ]
    .map(String::from)
    .to_vec();
    let mut aiops = Running(spawn(&args));

    let started = Instant::now();
    let mut empty = empty_promql(&prometheus, &queries);
    while !empty.is_empty() && aiops.0.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(90), "{empty:?}");
        std::thread::sleep(Duration::from_millis(500));
        empty = empty_promql(&prometheus, &queries);
    }
    assert!(empty.is_empty(), "PromQL panels without data: {empty:?}");
    let services = api(
        &prometheus,
        "/api/v1/label/service/values?match[]=aiops_service_request_rate",
    );
    let services = services["data"].as_array().unwrap();
    assert!(
        services.iter().any(|s| s == SERVICE),
        "the $service variable offers {SERVICE}: {services:?}"
    );
    assert!(aiops.0.wait().unwrap().success());

    let mut client = Client::connect(&url, postgres::NoTls).unwrap();
    let incidents = client
        .query(
            "SELECT DISTINCT incident_id FROM incidents ORDER BY 1 DESC LIMIT 200",
            &[],
        )
        .unwrap();
    assert!(
        !incidents.is_empty(),
        "the $incident_id variable offers incidents"
    );
    let incident: String = incidents[0].get(0);
    for (file, title, _, sql) in queries.iter().filter(|q| q.2 != "prometheus") {
        let rows = client
            .query(expand(sql, &incident).as_str(), &[])
            .unwrap_or_else(|e| panic!("{file} / {title}: {e}\n{sql}"));
        assert!(!rows.is_empty(), "{file} / {title} returns no rows:\n{sql}");
    }
}
