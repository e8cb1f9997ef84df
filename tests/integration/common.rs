//! Helpers: running the CLI and reading its Parquet output back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use postgres::Client;

/// The path of the binary under test.
///
/// The tests replay telemetry of January 2026, older than the default 90-day retention, whose
/// rows a database sink would refuse as expired; so every test keeps rows for a century unless
/// it sets `AIOPS_POSTGRES__RETENTION_DAYS` itself (the retention test does).
pub fn aiops() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aiops"));
    command.env("AIOPS_POSTGRES__RETENTION_DAYS", KEEP_FOR_A_CENTURY);
    command
}

/// A loopback port nothing listens on now, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `postgres.retention_days` of the tests: longer than any replayed telemetry is old.
pub const KEEP_FOR_A_CENTURY: &str = "36500";

/// Starts the CLI in the background with its output captured (`RUST_LOG=warn`).
pub fn spawn(args: &[String]) -> std::process::Child {
    aiops()
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("aiops starts")
}

/// Runs the CLI, asserting success, and returns its stdout.
pub fn run_ok(args: &[&str]) -> String {
    run_ok_with_env(args, &[])
}

/// [`run_ok`] with extra environment variables (`AIOPS_*` settings).
pub fn run_ok_with_env(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = aiops()
        .args(args)
        .env("RUST_LOG", "error")
        .envs(env.iter().copied())
        .output()
        .expect("aiops starts");
    assert_ok(&output, args);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Replays the OTLP files of `input` through `aiops run` into `data`; returns the summary.
pub fn replay(input: &Path, data: &Path) -> String {
    replay_with_env(input, data, &[])
}

/// [`replay`] with extra environment variables (`AIOPS_*` settings).
pub fn replay_with_env(input: &Path, data: &Path, env: &[(&str, &str)]) -> String {
    let args = [
        "run",
        "--input",
        &input.display().to_string(),
        "--data-dir",
        &data.display().to_string(),
        "-q",
    ];
    run_ok_with_env(&args, env)
}

/// Asserts a finished command succeeded, showing its output otherwise.
pub fn assert_ok(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "aiops {} failed: {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A number printed on a summary line, e.g. `summary_value(out, "late records")`.
pub fn summary_value(stdout: &str, label: &str) -> u64 {
    stdout
        .lines()
        .find(|line| line.trim_start().starts_with(label))
        .and_then(|line| {
            line[line.find(label).unwrap_or(0) + label.len()..]
                .split_whitespace()
                .next()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in summary:\n{stdout}"))
}

/// Every Parquet file of a data directory's feature table.
pub fn parquet_files(data_dir: &Path) -> Vec<PathBuf> {
    table_files(&data_dir.join("features"))
}

/// Every Parquet file of one table's directory.
fn table_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "parquet"));
    files.sort();
    files
}

/// Reads all record batches of the feature table.
pub fn read_batches(data_dir: &Path) -> Vec<RecordBatch> {
    table_batches(&parquet_files(data_dir))
}

fn table_batches(files: &[PathBuf]) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for path in files {
        let file = std::fs::File::open(path).expect("open parquet");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet footer")
            .build()
            .expect("reader");
        batches.extend(reader.map(|b| b.expect("batch")));
    }
    batches
}

/// One feature row as column name → displayed value ("" for null), `created_at` left out
/// because it is wall-clock time.
pub type Row = BTreeMap<String, String>;

/// All rows, sorted by (service, time).
pub fn read_rows(data_dir: &Path) -> Vec<Row> {
    let mut rows = batch_rows(read_batches(data_dir));
    let key = |r: &Row| {
        (
            r["service_name"].clone(),
            r["environment"].clone(),
            r["time"].clone(),
        )
    };
    rows.sort_by_key(key);
    rows
}

/// All operation rows (`<data_dir>/operations/`), sorted by (service, operation, time).
pub fn read_operation_rows(data_dir: &Path) -> Vec<Row> {
    let files = table_files(&data_dir.join("operations"));
    let mut rows = batch_rows(table_batches(&files));
    let key = |r: &Row| {
        let column = |name: &str| r[name].clone();
        let names = ["service_name", "environment", "operation", "time"];
        names.map(column)
    };
    rows.sort_by_key(key);
    rows
}

fn batch_rows(batches: Vec<RecordBatch>) -> Vec<Row> {
    let mut rows = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        for i in 0..batch.num_rows() {
            let mut row = Row::new();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                if field.name() == "created_at" {
                    continue;
                }
                let text = if column.is_null(i) {
                    String::new()
                } else {
                    array_value_to_string(column, i).expect("display")
                };
                row.insert(field.name().clone(), text);
            }
            rows.push(row);
        }
    }
    rows
}

/// A numeric column of a row (None for null).
pub fn number(row: &Row, column: &str) -> Option<f64> {
    let text = row
        .get(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    (!text.is_empty()).then(|| {
        text.parse()
            .unwrap_or_else(|_| panic!("{column} = {text:?} is not a number"))
    })
}

/// Writes a simulated data set with `aiops generate` and returns its directory.
pub fn generate(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("otlp");
    let out_text = out.display().to_string();
    let mut args = vec![
        "generate",
        "--out",
        &out_text,
        "--start",
        START,
        "--seed",
        "11",
        "--services",
        "8",
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
    out
}

/// Runs the simulator from [`START`] for `duration` with `services` services, as fast as
/// possible, into `data`, plus `extra` flags; returns the summary.
pub fn simulate(data: &str, duration: &str, services: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "run",
        "--data-dir",
        data,
        "--start",
        START,
        "--duration",
        duration,
        "--speed",
        "0",
        "--services",
        services,
        "-q",
    ];
    args.extend_from_slice(extra);
    run_ok(&args)
}

/// The simulated start time the tests use: a Monday, 09:00 UTC.
pub const START: &str = "2026-01-05T09:00:00Z";

/// The server URL from the test script, or a failure that says how to get one.
pub fn server_url() -> String {
    std::env::var("AIOPS_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("AIOPS_TEST_DATABASE_URL is not set: run the tests with `bash tests/run.sh`, which starts PostgreSQL")
    })
}

/// A fresh database of its own for one test; returns its URL.
pub fn fresh_database(name: &str) -> String {
    fresh_database_on(&server_url(), name)
}

/// A fresh database on the server of `base` (a URL); returns its URL.
pub fn fresh_database_on(base: &str, name: &str) -> String {
    let mut admin = Client::connect(base, postgres::NoTls).expect("test PostgreSQL reachable");
    let database = format!("aiops_test_{name}");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{database}")
}

/// `GET path` over HTTP/1.0 (the answer is the body until the connection closes, never
/// chunked) with extra header lines: the status (0 when unreachable) and the body.
pub fn http_get(addr: &str, path: &str, headers: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}
