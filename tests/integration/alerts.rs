//! Incidents to people: a job on the simulator with injected faults sends its incidents to the
//! real Alertmanager (Debian's package, started with deploy/alertmanager.yml as the compose
//! stack mounts it) and to a webhook. Alertmanager groups them by incident and inhibits the
//! symptoms by the root cause, as configured; they resolve after the incident ends.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{aiops, free_port};
use crate::graph::json_lines;
use crate::published::{api, Running};

fn start_alertmanager(dir: &std::path::Path, addr: &str) -> Running {
    let binary = std::env::var("AIOPS_TEST_ALERTMANAGER").unwrap_or_else(|_| {
        panic!("AIOPS_TEST_ALERTMANAGER is not set: run the tests with `bash tests/run.sh`")
    });
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/alertmanager.yml");
    let child = Command::new(binary)
        .args([
            &format!("--config.file={config}"),
            &format!("--storage.path={}", dir.display()),
            &format!("--web.listen-address={addr}"),
            "--cluster.listen-address=",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("alertmanager.log")).unwrap())
        .spawn()
        .unwrap();
    Running(child)
}

/// A webhook receiver: every POSTed JSON body, in arrival order.
fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            if let Ok(value) = serde_json::from_slice(&body) {
                received.lock().unwrap().push(value);
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (format!("http://{addr}"), bodies)
}

/// The alerts Alertmanager holds (active or suppressed; resolved ones are not listed).
fn alerts(addr: &str) -> Vec<Value> {
    api(addr, "/api/v2/alerts")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn label<'a>(alert: &'a Value, name: &str) -> &'a str {
    alert["labels"][name].as_str().unwrap_or_default()
}

#[test]
fn incidents_reach_alertmanager_grouped_inhibited_and_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let manager = format!("127.0.0.1:{}", free_port());
    let _alertmanager = start_alertmanager(dir.path(), &manager);
    let (hook, messages) = webhook();
    let data = dir.path().join("data");
    let mut job = Running(
        aiops()
            .args([
                "run",
                "--services",
                "8",
                "--duration",
                "60m",
                "--speed",
                "60",
                "--seed",
                "4",
                "--fault-every",
                "15",
                "--data-dir",
                &data.display().to_string(),
                "-q",
            ])
            .env(
                "AIOPS_ALERTS__ALERTMANAGER_URL",
                format!("http://{manager}"),
            )
            .env("AIOPS_ALERTS__WEBHOOK_URL", &hook)
            .env("AIOPS_ALERTS__RESEND_S", "1")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // While an incident is active: one group per incident, its root-cause alert active, every
    // symptom alert of the incident suppressed by it. Checked at every poll while the job runs.
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    let started = Instant::now();
    while job.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the job never ended"
        );
        std::thread::sleep(Duration::from_millis(200));
        let groups = api(&manager, "/api/v2/alerts/groups");
        for group in groups.as_array().into_iter().flatten() {
            let grouped: Vec<&Value> = group["alerts"].as_array().unwrap().iter().collect();
            let Some(root) = grouped
                .iter()
                .find(|a| label(a, "alertname") == "AiopsRootCause")
            else {
                continue;
            };
            check_group(group, &grouped, root);
            seen.insert(label(root, "incident_id").to_string(), (*root).clone());
        }
    }
    assert!(job.0.wait().unwrap().success());
    assert!(!seen.is_empty(), "no root-cause alert reached Alertmanager");

    // The job's incident file names the same incidents and root causes.
    let updates = json_lines(&data.join("incidents"));
    for (incident, root) in &seen {
        let causes: BTreeSet<&str> = updates
            .iter()
            .filter(|u| u["incident_id"] == incident.as_str())
            .filter_map(|u| u["root_cause"].as_str())
            .collect();
        assert!(
            causes.contains(label(root, "service")),
            "{incident}: {causes:?}"
        );
    }

    // Incidents that ended while the job ran are resolved: announced, and no longer held.
    let ended: Vec<String> = messages
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "resolved")
        .filter_map(|m| m["incident_id"].as_str().map(String::from))
        .filter(|id| seen.contains_key(id))
        .collect();
    assert!(
        !ended.is_empty(),
        "an incident seen active ended during the run: {seen:?}"
    );
    let held = alerts(&manager);
    for incident in &ended {
        assert!(
            !held.iter().any(|a| label(a, "incident_id") == incident),
            "{incident} is resolved in Alertmanager"
        );
    }
    let messages = messages.lock().unwrap().clone();
    for incident in &ended {
        let statuses: Vec<&str> = messages
            .iter()
            .filter(|m| m["incident_id"] == incident.as_str())
            .map(|m| m["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses.first(), Some(&"firing"), "{messages:?}");
        assert_eq!(statuses.last(), Some(&"resolved"), "{messages:?}");
    }
    assert!(messages.iter().all(|m| m["text"]
        .as_str()
        .unwrap()
        .contains(m["incident_id"].as_str().unwrap())));
}

/// One incident's group as configured: root cause active, its symptoms inhibited by it.
fn check_group(group: &Value, grouped: &[&Value], root: &Value) {
    assert_eq!(root["status"]["state"], "active", "{root}");
    let incident = label(root, "incident_id");
    assert!(
        grouped.iter().all(|a| label(a, "incident_id") == incident),
        "{group}"
    );
    for alert in grouped
        .iter()
        .filter(|a| label(a, "alertname") == "AiopsAnomaly")
    {
        assert_eq!(alert["status"]["state"], "suppressed", "{alert}");
        assert!(!alert["status"]["inhibitedBy"]
            .as_array()
            .unwrap()
            .is_empty());
        assert_eq!(label(alert, "root_cause"), label(root, "service"));
    }
    let severity = label(root, "severity");
    assert!(severity == "warning" || severity == "critical", "{root}");
    let candidates = root["annotations"]["candidates"].as_str().unwrap();
    assert!(candidates.starts_with(&format!("1. {}", label(root, "service"))));
}

#[test]
fn an_unreachable_alertmanager_costs_retries_not_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let output = aiops()
        .args([
            "run",
            "--services",
            "8",
            "--duration",
            "40m",
            "--speed",
            "0",
            "--seed",
            "4",
            "--fault-every",
            "15",
            "--data-dir",
            &dir.path().display().to_string(),
            "-q",
        ])
        .env("AIOPS_ALERTS__ALERTMANAGER_URL", &nowhere)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Alertmanager unreachable; alerts kept and retried"),
        "{stderr}"
    );
    assert!(stderr.contains(&nowhere), "the receiver is named: {stderr}");
}
