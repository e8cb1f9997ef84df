//! The PostgreSQL sink against the real server that tests/run.sh starts: migrations, the
//! native partitioning fallback, idempotent upserts, all-or-nothing row transactions, stored
//! resume offsets, the rollup, retention, operation rows, and clear errors.

use aiops_engine::config::JobConfig;
use aiops_engine::features::row::{ColumnKind, COLUMNS};
use aiops_engine::features::structure::CallShape;
use aiops_engine::features::FeatureRow;
use aiops_engine::features::SpanPane;
use aiops_engine::sink::postgres::{
    Dropped, OffsetStore, PaneStore, PostgresSink, ResumeOffset, Storage,
};
use aiops_engine::time::pane_of;
use postgres::Client;

use std::path::Path;

use crate::common::{
    aiops, fresh_database, fresh_database_on, number, read_operation_rows, read_rows, run_ok,
    simulate,
};

/// The single integer `sql` returns.
fn count(client: &mut Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

/// The type name information_schema reports.
fn pg_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Timestamp => "timestamp with time zone",
        ColumnKind::Text => "text",
        ColumnKind::Float64 => "double precision",
        ColumnKind::Int32 => "integer",
        ColumnKind::Bool => "boolean",
        ColumnKind::TextList => "ARRAY",
    }
}

#[test]
fn migrate_is_idempotent_and_creates_the_native_fallback() {
    let url = fresh_database("migrate");
    let first = run_ok(&["migrate", "--database-url", &url]);
    assert!(
        first.contains("storage: native")
            && first.contains("applied 0001_feature_table.sql, 0002_storage.native.sql"),
        "{first}"
    );
    let second = run_ok(&["migrate", "--database-url", &url]);
    assert!(second.contains("schema up to date"), "{second}");

    let mut client = Client::connect(&url, postgres::NoTls).unwrap();
    let columns: Vec<(String, String, bool)> = client
        .query(
            "SELECT column_name::text, data_type::text, is_nullable = 'YES' \
             FROM information_schema.columns WHERE table_name = 'otlp_ai_features' \
             ORDER BY ordinal_position",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let expected: Vec<(String, String, bool)> = COLUMNS
        .iter()
        .map(|c| (c.name.to_string(), pg_type(c.kind).to_string(), c.nullable))
        .collect();
    assert_eq!(columns, expected, "the table follows FeatureRow's columns");
    let partitioned = count(
        &mut client,
        "SELECT count(*) FROM pg_partitioned_table \
         WHERE partrelid = 'otlp_ai_features'::regclass",
    );
    assert_eq!(partitioned, 1);
    let rollup: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'otlp_features_1h'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rollup, 1);
}

#[test]
fn timescaledb_path_when_a_server_is_given() {
    let Ok(server) = std::env::var("AIOPS_TEST_TIMESCALE_URL") else {
        eprintln!(
            "AIOPS_TEST_TIMESCALE_URL not set: the TimescaleDB path is not exercised in this run"
        );
        return;
    };
    let url = fresh_database_on(&server, "timescale");
    let output = run_ok(&["migrate", "--database-url", &url]);
    assert!(output.contains("storage: timescaledb"), "{output}");
    let mut client = Client::connect(&url, postgres::NoTls).unwrap();
    let hypertables = count(
        &mut client,
        "SELECT count(*) FROM timescaledb_information.hypertables \
         WHERE hypertable_name = 'otlp_ai_features'",
    );
    assert_eq!(hypertables, 1);
    let aggregates = count(
        &mut client,
        "SELECT count(*) FROM timescaledb_information.continuous_aggregates \
         WHERE view_name = 'otlp_features_1h'",
    );
    assert_eq!(aggregates, 1);
    let policies: Vec<String> = client
        .query(
            "SELECT proc_name::text FROM timescaledb_information.jobs \
             WHERE hypertable_name IN ('otlp_ai_features', 'otlp_features_1h') ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        policies,
        [
            "policy_compression",
            "policy_refresh_continuous_aggregate",
            "policy_retention"
        ]
    );

    // Rows written through the hypertable roll up in the continuous aggregate.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    simulate(&data, "75m", "4", &["--seed", "9", "--database-url", &url]);
    client
        .batch_execute("CALL refresh_continuous_aggregate('otlp_features_1h', NULL, NULL)")
        .unwrap();
    assert_eq!(
        rollup_mismatches(&mut client),
        (0, 4 * 2),
        "4 services over 09:00-10:15"
    );
}

/// The columns the comparison reads back from PostgreSQL.
type StoredRow = (
    String,
    String,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<String>,
    bool,
);

fn run_into(url: &str, data: &str) -> String {
    simulate(data, "75m", "6", &["--seed", "9", "--database-url", url])
}

#[test]
fn rows_match_parquet_reruns_change_nothing_and_the_rollup_follows() {
    let url = fresh_database("rows");
    run_ok(&["migrate", "--database-url", &url]);
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("parquet");
    simulate(&parquet.display().to_string(), "75m", "6", &["--seed", "9"]);
    let expected = read_rows(&parquet);
    let data = dir.path().display().to_string();
    let summary = run_into(&url, &data);
    assert!(
        summary.contains("otlp_ai_features on 127.0.0.1"),
        "{summary}"
    );

    let mut client = Client::connect(&url, postgres::NoTls).unwrap();
    let columns = "service_name, \
        to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), request_rate_1m, \
        request_rate_1h, error_rate_5m, p99_latency_5m, cpu_usage, network_out, operation, \
        is_peak_hour";
    let read = |client: &mut Client| -> Vec<StoredRow> {
        client
            .query(
                &format!("SELECT {columns} FROM otlp_ai_features ORDER BY 1, 2"),
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                    r.get(8),
                    r.get(9),
                )
            })
            .collect()
    };
    let stored = read(&mut client);
    assert_eq!(stored.len(), expected.len());
    for (row, parquet_row) in stored.iter().zip(&expected) {
        assert_eq!(
            (&row.0, &row.1),
            (&parquet_row["service_name"], &parquet_row["time"])
        );
        assert_eq!(row.2, number(parquet_row, "request_rate_1m"));
        assert_eq!(row.3, number(parquet_row, "request_rate_1h"));
        assert_eq!(row.4, number(parquet_row, "error_rate_5m"));
        assert_eq!(row.5, number(parquet_row, "p99_latency_5m"));
        assert_eq!(row.6, number(parquet_row, "cpu_usage"));
        assert_eq!(row.7, number(parquet_row, "network_out"));
        assert_eq!(row.8.as_deref().unwrap_or(""), parquet_row["operation"]);
    }

    let operations = stored_operations(&mut client);
    assert_eq!(operations, parquet_operations(&parquet));
    assert!(
        operations.len() > stored.len(),
        "services serve several operations"
    );

    run_into(&url, &data);
    assert_eq!(
        read(&mut client),
        stored,
        "re-writing the same windows is an idempotent upsert"
    );
    assert_eq!(stored_operations(&mut client), operations);

    let (mismatches, buckets) = rollup_mismatches(&mut client);
    assert_eq!(
        mismatches, 0,
        "rollup averages and p99 maxima equal the base table's (up to float summation order)"
    );
    assert_eq!(
        buckets,
        6 * 2,
        "6 services over 09:00-10:15 touch two hours"
    );
}

/// An operation row as compared: key, then calls, errors, p50/p95/p99 and merged operations.
type OperationValues = (String, String, String, [String; 6]);

/// `operation_features`, sorted by service, operation, time; numbers as Parquet displays them.
fn stored_operations(client: &mut Client) -> Vec<OperationValues> {
    let sql = "SELECT service_name, operation, \
        to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
        calls, errors, p50_ms, p95_ms, p99_ms, merged_operations \
        FROM operation_features ORDER BY 1, 2, 3";
    let rows = client.query(sql, &[]).unwrap();
    rows.iter()
        .map(|r| {
            let float = |i: usize| r.get::<_, f64>(i).to_string();
            let numbers = [float(3), float(4), float(5), float(6), float(7), {
                r.get::<_, i32>(8).to_string()
            }];
            (r.get(0), r.get(1), r.get(2), numbers)
        })
        .collect()
}

/// The operation rows a Parquet run wrote, as [`stored_operations`] reads the table.
fn parquet_operations(data: &Path) -> Vec<OperationValues> {
    let columns = [
        "calls",
        "errors",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "merged_operations",
    ];
    read_operation_rows(data)
        .iter()
        .map(|row| {
            let value = |c: &str| number(row, c).unwrap().to_string();
            let key = |c: &str| row[c].clone();
            (
                key("service_name"),
                key("operation"),
                key("time"),
                columns.map(value),
            )
        })
        .collect()
}

/// Hourly rollup rows whose averages differ from the base table's, and all rollup rows.
fn rollup_mismatches(client: &mut Client) -> (i64, i64) {
    let mismatches: i64 = client
        .query_one(
            "SELECT count(*) FROM otlp_features_1h r JOIN (SELECT date_trunc('hour', time) AS bucket, \
               service_name, environment, avg(request_rate_1m) AS rate, avg(cpu_usage) AS cpu, \
               max(p99_latency_1m) AS p99 \
             FROM otlp_ai_features GROUP BY 1, 2, 3) b USING (bucket, service_name, environment) \
             WHERE abs(r.avg_request_rate - b.rate) > 1e-9 * b.rate \
                OR r.max_p99_latency IS DISTINCT FROM b.p99 \
                OR abs(r.avg_cpu_usage - b.cpu) > 1e-9 * b.cpu \
                OR (r.avg_request_rate IS NULL) <> (b.rate IS NULL)",
            &[],
        )
        .unwrap()
        .get(0);
    let buckets: i64 = client
        .query_one("SELECT count(*) FROM otlp_features_1h", &[])
        .unwrap()
        .get(0);
    (mismatches, buckets)
}

fn sink(url: &str) -> PostgresSink {
    let mut config = JobConfig::load(None, Vec::new()).unwrap().postgres;
    config.url = Some(url.to_string());
    PostgresSink::connect(&config).unwrap()
}

fn row(service: &str, time_us: i64, error_rate: f64) -> FeatureRow {
    FeatureRow {
        service_name: service.into(),
        time_us,
        request_rate_1m: Some(1.0),
        error_rate_1m: Some(error_rate),
        ..Default::default()
    }
}

#[test]
fn a_failing_window_writes_nothing_and_offsets_round_trip() {
    let url = fresh_database("offsets");
    run_ok(&["migrate", "--database-url", &url]);
    let mut sink = sink(&url);
    assert_eq!(sink.storage(), Storage::Native);
    let t0 = 1_767_603_600_000_000; // 2026-01-05 09:00 UTC
    sink.write_transaction(&[row("cart", t0, 0.1)]).unwrap();
    // A window that violates the rate CHECK fails whole: none of its rows land.
    let error = sink
        .write_transaction(&[
            row("cart", t0 + 60_000_000, 0.2),
            row("pay", t0 + 60_000_000, 2.0),
        ])
        .unwrap_err();
    assert!(
        error.to_string().contains("otlp_ai_features_rates_valid"),
        "{error}"
    );
    let mut client = Client::connect(&url, postgres::NoTls).unwrap();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM otlp_ai_features", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);

    let mut config = JobConfig::load(None, Vec::new()).unwrap().postgres;
    config.url = Some(url.clone());
    let mut store = OffsetStore::connect(&config).unwrap();
    assert_eq!(store.load().unwrap(), Default::default());
    let offset = |partition, offset| ResumeOffset {
        topic: "otlp_spans".into(),
        partition,
        offset,
    };
    let pane = pane_of(t0 as u64 * 1_000);
    let mut panes = PaneStore::connect(&config).unwrap();
    let span_pane = |service: &str, pane| SpanPane {
        service: service.into(),
        pane,
        requests: 7.5,
        errors: 1.0,
        latency: Default::default(),
        operation: Some("GET /".into()),
        http_status: Some(200),
        version: None,
        region: None,
        users: Some(3),
        shape: CallShape {
            operations: vec![("GET /".into(), 7), ("SELECT cart".into(), 14)],
            calls: vec![(0, 1, 14)],
            untracked: 0,
        },
    };
    panes
        .write(&[span_pane("cart", pane - 1), span_pane("cart", pane + 1)])
        .unwrap();
    store
        .store(&[offset(0, 42), offset(1, 7)], pane, 0)
        .unwrap();
    store.store(&[offset(0, 50)], pane + 3, pane).unwrap();
    let kept = panes.load(0, u64::MAX).unwrap();
    assert_eq!(
        kept.iter()
            .map(|p| (p.pane, p.requests, p.errors))
            .collect::<Vec<_>>(),
        vec![(pane + 1, 7.5, 1.0)],
        "span panes round-trip, and those before the state horizon are deleted"
    );
    assert_eq!(
        kept[0].shape,
        span_pane("cart", pane).shape,
        "with their call shape"
    );
    let progress = store.load().unwrap();
    assert_eq!(progress.offsets.len(), 2);
    assert_eq!(progress.offsets[&("otlp_spans".to_string(), 0)], 50);
    assert_eq!(progress.offsets[&("otlp_spans".to_string(), 1)], 7);
    assert_eq!(
        progress.durable_before,
        Some(pane + 3),
        "the furthest durable point any partition recorded"
    );
}

#[test]
fn retention_drops_only_expired_partitions() {
    let url = fresh_database("retention");
    run_ok(&["migrate", "--database-url", &url]);
    let mut sink = sink(&url);
    let day = 86_400_000_000i64;
    let now = 1_767_603_600_000_000; // 2026-01-05 09:00 UTC
    sink.write_transaction(&[row("old", now - 100 * day, 0.0), row("new", now, 0.0)])
        .unwrap();
    let dropped = sink.apply_retention(now).unwrap();
    assert_eq!(
        dropped,
        vec![Dropped {
            name: "otlp_ai_features_p20250927".to_string(),
            rows: 1
        }],
        "the partition, with the rows it held"
    );
    let mut client = Client::connect(&url, postgres::NoTls).unwrap();
    let services: Vec<String> = client
        .query("SELECT service_name FROM otlp_ai_features", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(services, vec!["new".to_string()]);
}

#[test]
fn database_problems_are_clear_errors() {
    let unreachable = aiops()
        .args([
            "migrate",
            "--database-url",
            "postgres://postgres@127.0.0.1:1/none",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        !unreachable.status.success() && stderr.contains("connecting to 127.0.0.1:1"),
        "{stderr}"
    );

    // The job retries an unreachable database at start, says so, then gives up with the
    // server named and the password left out.
    let dir = tempfile::tempdir().unwrap();
    let output = aiops()
        .args([
            "run",
            "--database-url",
            "postgres://aiops:s3cret@127.0.0.1:1/none",
            "--data-dir",
            &dir.path().display().to_string(),
            "--duration",
            "1m",
            "--speed",
            "0",
            "-q",
        ])
        .env("AIOPS_POSTGRES__CONNECT_RETRY_S", "2")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("PostgreSQL unreachable; retrying"),
        "{stderr}"
    );
    assert!(stderr.contains("connecting to 127.0.0.1:1"), "{stderr}");
    assert!(
        !stderr.contains("s3cret"),
        "the password is never printed: {stderr}"
    );

    let url = fresh_database("unmigrated");
    let output = aiops()
        .args([
            "run",
            "--database-url",
            &url,
            "--data-dir",
            &dir.path().display().to_string(),
            "--duration",
            "1m",
            "--speed",
            "0",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("run `aiops migrate"),
        "{stderr}"
    );
}

#[test]
fn the_p99_rollup_migration_recomputes_hours_already_rolled_up() {
    let url = fresh_database("rollup_migration");
    run_ok(&["migrate", "--database-url", &url]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    simulate(&data, "75m", "4", &["--seed", "9", "--database-url", &url]);
    // Put the table back as migration 0005 left it: averaged p99s, 0006 not applied.
    let mut client = Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "ALTER TABLE otlp_features_1h RENAME COLUMN max_p99_latency TO avg_p99_latency; \
             UPDATE otlp_features_1h r SET avg_p99_latency = h.p99 FROM \
               (SELECT date_trunc('hour', time) AS bucket, service_name, avg(p99_latency_1m) AS p99 \
                FROM otlp_ai_features GROUP BY 1, 2) h \
             WHERE h.bucket = r.bucket AND h.service_name = r.service_name; \
             DELETE FROM aiops_schema_migrations WHERE name LIKE '0006%'",
        )
        .unwrap();
    let output = run_ok(&["migrate", "--database-url", &url]);
    assert!(
        output.contains("applied 0006_storage_hygiene.native.sql"),
        "{output}"
    );
    assert_eq!(
        rollup_mismatches(&mut client),
        (0, 4 * 2),
        "every filled hour holds its largest minute p99 after the migration"
    );
}

/// The columns of `table`'s primary key, in order.
fn primary_key(client: &mut Client, table: &str) -> Vec<String> {
    client
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1::text::regclass AND i.indisprimary ORDER BY k.n",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn the_environment_migration_keeps_rows_and_keys_them_by_environment() {
    let url = fresh_database("environment_migration");
    run_ok(&["migrate", "--database-url", &url]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    simulate(&data, "20m", "4", &["--seed", "5", "--database-url", &url]);
    // Put the tables back as migration 0007 left them, rows and all: no environments.
    let mut client = Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "ALTER TABLE otlp_ai_features DROP CONSTRAINT otlp_ai_features_pkey; \
             ALTER TABLE otlp_ai_features DROP COLUMN environment; \
             ALTER TABLE otlp_ai_features ADD PRIMARY KEY (service_name, time); \
             ALTER TABLE otlp_features_1h DROP CONSTRAINT otlp_features_1h_pkey; \
             ALTER TABLE otlp_features_1h DROP COLUMN environment; \
             ALTER TABLE otlp_features_1h ADD PRIMARY KEY (service_name, bucket); \
             ALTER TABLE service_edges DROP CONSTRAINT service_edges_pkey; \
             ALTER TABLE service_edges DROP COLUMN environment, DROP COLUMN callee_environment; \
             ALTER TABLE service_edges ADD PRIMARY KEY (caller, callee, time); \
             ALTER TABLE service_dependencies DROP CONSTRAINT service_dependencies_pkey; \
             ALTER TABLE service_dependencies DROP COLUMN environment, \
               DROP COLUMN callee_environment; \
             ALTER TABLE service_dependencies ADD PRIMARY KEY (caller, callee, valid_from); \
             ALTER TABLE incidents DROP COLUMN environment; \
             DELETE FROM aiops_schema_migrations WHERE name LIKE '0008%'",
        )
        .unwrap();
    let before = count(&mut client, "SELECT count(*) FROM otlp_ai_features");
    let edges = count(&mut client, "SELECT count(*) FROM service_edges");
    assert!(
        before >= 4 * 19 && edges > 0,
        "{before} rows, {edges} edges"
    );
    let output = run_ok(&["migrate", "--database-url", &url]);
    assert!(
        output.contains("applied 0008_environment.native.sql, 0008_environment.sql"),
        "{output}"
    );
    // Every row is still there, with no environment, under the new keys.
    let unset = "SELECT count(*) FROM otlp_ai_features WHERE environment = ''";
    assert_eq!(count(&mut client, unset), before);
    let edges_unset = "SELECT count(*) FROM service_edges WHERE environment = ''";
    assert_eq!(count(&mut client, edges_unset), edges);
    for (table, key) in [
        ("otlp_ai_features", "service_name environment time"),
        ("otlp_features_1h", "service_name environment bucket"),
        (
            "service_edges",
            "environment caller callee_environment callee time",
        ),
        (
            "service_dependencies",
            "environment caller callee_environment callee valid_from",
        ),
    ] {
        assert_eq!(primary_key(&mut client, table).join(" "), key, "{table}");
    }
    // The same minutes again, now in "production": a second series beside the first, and
    // the rollup keeps them apart.
    simulate(&data, "20m", "4", &["--seed", "5", "--database-url", &url]);
    let production = "SELECT count(*) FROM otlp_ai_features WHERE environment = 'production'";
    assert_eq!(count(&mut client, production), before);
    assert_eq!(count(&mut client, unset), before);
    let production_edges = "SELECT count(*) FROM service_edges WHERE environment = 'production'";
    assert_eq!(count(&mut client, production_edges), edges);
    let hours = "SELECT count(DISTINCT environment) FROM otlp_features_1h";
    assert_eq!(count(&mut client, hours), 2);
    assert_eq!(rollup_mismatches(&mut client).0, 0);
    let incidents = "SELECT count(*) FROM incidents WHERE environment NOT IN ('', 'production')";
    assert_eq!(count(&mut client, incidents), 0);
}
