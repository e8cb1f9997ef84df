//! The web console: its JSON API over HTTP (errors, the bearer token), and its pages in a real
//! browser (headless Chromium through WebDriver, driven by `tests/browser/console.py`) against
//! a job running on the simulator with injected faults, live and over the stored output.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{aiops, free_port, fresh_database, http_get, run_ok};

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` with an optional bearer token: the status and the JSON body (null if none).
fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let (status, body) = http_get(addr, path, &auth);
    (status, serde_json::from_str(&body).unwrap_or_default())
}

fn wait_for(addr: &str, token: Option<&str>) {
    let started = Instant::now();
    while get(addr, "/api/summary", token).0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no console at {addr}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn console(data: &Path, addr: &str, extra: &[&str]) -> Running {
    let mut args = vec!["ui", "--data-dir", data.to_str().unwrap(), "--addr", addr];
    args.extend(extra);
    Running(aiops().args(&args).stdout(Stdio::null()).spawn().unwrap())
}

fn simulate_with(data: &Path, speed: &str, extra: &[&str]) -> Running {
    let mut args = vec![
        "run",
        "--services",
        "8",
        "--duration",
        "40m",
        "--speed",
        speed,
        "--seed",
        "4",
        "--fault-every",
        "15",
        "--start",
        "2026-01-05T09:00:00Z",
        "--data-dir",
        data.to_str().unwrap(),
        "-q",
    ];
    args.extend(extra);
    let mut job = aiops();
    job.args(&args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null());
    Running(job.spawn().unwrap())
}

fn simulate(data: &Path, speed: &str, ui: &str) -> Running {
    simulate_with(data, speed, &["--ui", ui])
}

/// Runs a phase of the browser check; its output is the test's on failure.
fn browser(args: &[&str]) {
    let python = std::env::var("AIOPS_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("AIOPS_TEST_PYTHON is not set: run `bash tests/run.sh` (selenium, Chromium)")
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/console.py");
    let output = Command::new(python)
        .arg(script)
        .args(args)
        .env("AIOPS_TEST_BIN", env!("CARGO_BIN_EXE_aiops"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser check {args:?} failed:\n{text}"
    );
    println!("{text}");
}

#[test]
fn the_console_shows_the_live_job_and_its_stored_output_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let live = format!("127.0.0.1:{}", free_port());
    let mut job = simulate(&data, "30", &live);
    wait_for(&live, None);
    browser(&["live", &format!("http://{live}")]);
    assert!(job.0.wait().unwrap().success());

    let stored = format!("127.0.0.1:{}", free_port());
    let _console = console(&data, &stored, &[]);
    wait_for(&stored, None);
    let shots = std::env::var("AIOPS_TEST_ARTIFACTS")
        .map(|dir| Path::new(&dir).join("console"))
        .unwrap_or_else(|_| dir.path().join("screenshots"));
    let (data, shots) = (data.to_str().unwrap(), shots.to_str().unwrap());
    browser(&["stored", &format!("http://{stored}"), data, shots]);
    for page in [
        "console-map.png",
        "console-incident.png",
        "console-service.png",
    ] {
        let size = std::fs::metadata(Path::new(shots).join(page))
            .unwrap()
            .len();
        assert!(size > 10_000, "{page}: {size} bytes");
    }
}

#[test]
fn the_api_answers_errors_plainly_and_asks_for_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(simulate(&data, "0", "").0.wait().unwrap().success());
    let addr = format!("127.0.0.1:{}", free_port());
    let _console = console(&data, &addr, &["--token", "s3cret"]);
    wait_for(&addr, Some("s3cret"));

    let (status, body) = get(&addr, "/api/summary", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("a bearer token is required"))
    );
    assert_eq!(get(&addr, "/api/summary", Some("wrong")).0, 401);
    let token = Some("s3cret");
    let (status, page) = {
        let (status, _) = get(&addr, "/", None);
        (status, get(&addr, "/api", token).1)
    };
    assert_eq!(status, 200, "pages need no token, their data does");
    assert_eq!(page.as_array().map(Vec::len), Some(7), "{page}");

    let (status, body) = get(&addr, "/api/graph?at=yesterday", token);
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("RFC 3339"),
        "{body}"
    );
    assert_eq!(get(&addr, "/api/incidents/INC-nope", token).0, 404);
    assert_eq!(get(&addr, "/api/services/nope", token).0, 404);
    let (status, body) = get(&addr, "/api/services/email?columns=service_name", token);
    assert_eq!(status, 400, "only numeric feature columns chart: {body}");
    let (status, body) = get(&addr, "/api/services/email?columns=p95_latency_1m", token);
    assert_eq!(status, 200, "{body}");
    let series = body["series"].as_object().unwrap();
    assert_eq!(series.keys().collect::<Vec<_>>(), ["p95_latency_1m"]);

    // The answers agree with one another: every incident's root cause is a node of the map
    // at its last minute, marked as the root cause.
    let (status, incidents) = get(&addr, "/api/incidents", token);
    assert_eq!(status, 200);
    let incidents = incidents.as_array().unwrap().clone();
    assert!(incidents.len() >= 2, "{incidents:?}");
    for incident in &incidents {
        let at = incident["last_minute"].as_str().unwrap();
        let graph = get(&addr, &format!("/api/graph?at={at}"), token).1;
        let cause = incident["root_cause"].as_str().unwrap();
        let node = graph["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == cause)
            .unwrap_or_else(|| panic!("{cause} on the map at {at}: {graph}"));
        assert_eq!(node["root_cause"], true, "{node}");
        // Its operations when it opened, the most changed first, against their baseline.
        let opened = incident["opened"].as_str().unwrap();
        let path = format!("/api/services/{cause}/operations?at={opened}");
        let (status, operations) = get(&addr, &path, token);
        assert_eq!(status, 200, "{operations}");
        let list = operations["operations"].as_array().unwrap();
        assert!(!list.is_empty(), "{operations}");
        let changes: Vec<f64> = list.iter().map(|o| o["change"].as_f64().unwrap()).collect();
        assert!(changes.windows(2).all(|w| w[0] >= w[1]), "{changes:?}");
        let id = incident["incident_id"].as_str().unwrap();
        let detail = get(&addr, &format!("/api/incidents/{id}"), token).1;
        assert_eq!(detail["latest"]["root_cause"], cause);
        assert_eq!(
            detail["timeline"].as_array().map(Vec::len),
            incident["updates"].as_u64().map(|n| n as usize)
        );
    }
}

#[test]
fn the_console_over_postgresql_answers_as_over_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    assert!(simulate(&files, "0", "").0.wait().unwrap().success());
    let url = fresh_database("console");
    run_ok(&["migrate", "--database-url", &url]);
    let side = dir.path().join("side");
    let mut into_database = simulate_with(&side, "0", &["--ui", "", "--database-url", &url]);
    assert!(into_database.0.wait().unwrap().success());

    let from_files = format!("127.0.0.1:{}", free_port());
    let from_database = format!("127.0.0.1:{}", free_port());
    let _files = console(&files, &from_files, &[]);
    let _database = console(&files, &from_database, &["--database-url", &url]);
    wait_for(&from_files, None);
    wait_for(&from_database, None);
    let incidents = get(&from_files, "/api/incidents", None).1;
    assert!(
        incidents.as_array().is_some_and(|i| i.len() >= 2),
        "{incidents}"
    );
    assert_eq!(get(&from_database, "/api/incidents", None).1, incidents);
    for incident in incidents.as_array().unwrap() {
        let id = incident["incident_id"].as_str().unwrap();
        let path = format!("/api/incidents/{id}");
        let (mut a, mut b) = (
            get(&from_files, &path, None).1,
            get(&from_database, &path, None).1,
        );
        // The edge count of a ranking is in the files only.
        a["latest"]["edges"] = 0.into();
        b["latest"]["edges"] = 0.into();
        assert_eq!(a, b, "{id}");
        let minute = incident["last_minute"].as_str().unwrap();
        let graph = format!("/api/graph?at={minute}");
        assert_eq!(
            get(&from_files, &graph, None).1,
            get(&from_database, &graph, None).1
        );
        let service = incident["root_cause"].as_str().unwrap();
        let features = format!("/api/services/{service}?to={minute}");
        let answer = get(&from_files, &features, None).1;
        assert!(
            answer["times"].as_array().is_some_and(|t| t.len() > 10),
            "{answer}"
        );
        assert_eq!(answer, get(&from_database, &features, None).1);
        let operations = format!("/api/services/{service}/operations?at={minute}");
        let answer = get(&from_files, &operations, None).1;
        let listed = answer["operations"].as_array();
        assert!(listed.is_some_and(|o| !o.is_empty()), "{answer}");
        assert_eq!(answer, get(&from_database, &operations, None).1);
    }
}
