//! Outages of the systems around the job, against private servers the tests stop and start:
//! PostgreSQL going away mid-run, the broker killed and restarted mid-run. Each ends with the
//! same table as an undisturbed run on the same input.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, fresh_database, run_ok, spawn};
use crate::kafka::{kafka_config_at, migrate, produce, run_args_at, table};

fn tool(variable: &str) -> PathBuf {
    PathBuf::from(std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: run the tests with `bash tests/run.sh`")
    }))
}

/// Runs a command as the `postgres` user when we are root (initdb refuses root).
fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A PostgreSQL server of one test's own.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn start_new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let bin = tool("AIOPS_TEST_PG_BIN");
        let data = dir.path().join("data");
        let status = as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb");
        let server = PrivatePostgres {
            dir,
            bin,
            port: free_port(),
        };
        server.start();
        server
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let status = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args([
                "-l",
                &self.dir.path().join("log").display().to_string(),
                "-o",
                &options,
            ])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {args:?}");
    }

    fn start(&self) {
        self.pg_ctl(&["-w", "start"]);
    }

    fn stop(&self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A tansu broker of one test's own, with its SQLite storage in its own directory.
struct PrivateBroker {
    dir: tempfile::TempDir,
    port: u16,
    process: Option<Child>,
}

impl PrivateBroker {
    fn start_new() -> Self {
        let mut broker = PrivateBroker {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            process: None,
        };
        broker.start();
        broker
    }

    fn start(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tool("AIOPS_TEST_TANSU"))
            .current_dir(self.dir.path())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://broker.db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "broker did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn scrape(port: u16) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

#[test]
fn postgres_stopped_mid_run_is_retried_and_the_table_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let brokers = std::env::var("AIOPS_TEST_KAFKA_BROKERS").unwrap();
    let (config, _) = kafka_config_at(dir.path(), "pgdown", 3, &brokers);
    let produced = produce(&config, "150m", "8");
    // "wrote N trace, M metric and L log records ..."
    let words: Vec<&str> = produced.split_whitespace().collect();
    let total: u64 = [1, 3, 6]
        .iter()
        .map(|&i| words[i].parse::<u64>().unwrap())
        .sum();
    let data = dir.path().join("data").display().to_string();
    let reference = fresh_database("outage_pg_ref");
    migrate(&reference);
    let started = Instant::now();
    run_ok(&as_str(&run_args_at(&config, &reference, &data, &brokers)));
    let undisturbed = started.elapsed();

    let server = PrivatePostgres::start_new();
    migrate(&server.url());
    let metrics_port = free_port();
    let mut args = run_args_at(&config, &server.url(), &data, &brokers);
    args.extend([
        "--metrics-addr".to_string(),
        format!("127.0.0.1:{metrics_port}"),
    ]);
    let mut job = spawn(&args);
    std::thread::sleep(undisturbed.mul_f64(0.3));
    assert!(
        job.try_wait().unwrap().is_none(),
        "still running at the outage"
    );
    server.stop();
    // Consumption pauses once the job is an hour of panes ahead of what is durable: two
    // scrapes a second apart then read the same record count, short of all records. Reading
    // that hour takes at most the undisturbed run's time (a loaded machine reads slower).
    let deadline = Instant::now() + undisturbed + Duration::from_secs(30);
    let mut during = scrape(metrics_port);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let next = scrape(metrics_port);
        let read = records_read(&next);
        let paused = read == records_read(&during) && read > 0 && read < total;
        during = next;
        if paused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "consumption never paused: {during}"
        );
    }
    server.start();
    let output = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("retrying"),
        "the outage is reported: {stderr}"
    );
    assert!(
        during.contains("aiops_sink_up 0") && during.contains("aiops_kafka_records_total{topic="),
        "metrics during the outage: {during}"
    );
    assert_eq!(table(&server.url()), table(&reference));
}

#[test]
fn broker_killed_and_restarted_mid_run_and_the_table_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = PrivateBroker::start_new();
    let (config, _) = kafka_config_at(dir.path(), "brokerdown", 3, &broker.brokers());
    produce(&config, "150m", "8");
    let data = dir.path().join("data").display().to_string();
    let reference = fresh_database("outage_broker_ref");
    migrate(&reference);
    let started = Instant::now();
    run_ok(&as_str(&run_args_at(
        &config,
        &reference,
        &data,
        &broker.brokers(),
    )));
    let undisturbed = started.elapsed();

    let url = fresh_database("outage_broker");
    migrate(&url);
    let mut job = spawn(&run_args_at(&config, &url, &data, &broker.brokers()));
    std::thread::sleep(undisturbed.mul_f64(0.3));
    assert!(
        job.try_wait().unwrap().is_none(),
        "still running at the outage"
    );
    broker.kill();
    std::thread::sleep(Duration::from_secs(3));
    broker.start();
    let output = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(table(&url), table(&reference));
}

/// A metric's value summed over its label sets.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn records_read(text: &str) -> u64 {
    metric_sum(text, "aiops_records_read_total") as u64
}

fn as_str(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
