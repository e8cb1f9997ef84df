//! Versioned, idempotent schema migrations, and the choice of storage path.
//!
//! The migrations are the numbered files of `sql/migrations/`, embedded in the binary.
//! `NNNN_name.sql` applies everywhere; `NNNN_name.timescale.sql` and `NNNN_name.native.sql`
//! apply only on their storage path. `${name}` placeholders take values from `[postgres]`.
//! Applied versions are recorded in `aiops_schema_migrations`, so running `aiops migrate`
//! again applies only what is new. The storage path is decided once, at the first migration:
//! TimescaleDB when its extension can be created, else native partitioning — and logged.

use postgres::Client;

use super::db_error;
use crate::config::PostgresConfig;
use crate::error::{Error, Result};

/// The migration files, in order.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_feature_table.sql",
        include_str!("../../../../sql/migrations/0001_feature_table.sql"),
    ),
    (
        "0002_storage.native.sql",
        include_str!("../../../../sql/migrations/0002_storage.native.sql"),
    ),
    (
        "0002_storage.timescale.sql",
        include_str!("../../../../sql/migrations/0002_storage.timescale.sql"),
    ),
    (
        "0003_kafka_progress.sql",
        include_str!("../../../../sql/migrations/0003_kafka_progress.sql"),
    ),
    (
        "0004_span_pane_state.sql",
        include_str!("../../../../sql/migrations/0004_span_pane_state.sql"),
    ),
    (
        "0005_dependency_graph.sql",
        include_str!("../../../../sql/migrations/0005_dependency_graph.sql"),
    ),
    (
        "0006_storage_hygiene.native.sql",
        include_str!("../../../../sql/migrations/0006_storage_hygiene.native.sql"),
    ),
    (
        "0006_storage_hygiene.timescale.sql",
        include_str!("../../../../sql/migrations/0006_storage_hygiene.timescale.sql"),
    ),
    (
        "0007_logs.sql",
        include_str!("../../../../sql/migrations/0007_logs.sql"),
    ),
    (
        "0008_environment.native.sql",
        include_str!("../../../../sql/migrations/0008_environment.native.sql"),
    ),
    (
        "0008_environment.sql",
        include_str!("../../../../sql/migrations/0008_environment.sql"),
    ),
    (
        "0008_environment.timescale.sql",
        include_str!("../../../../sql/migrations/0008_environment.timescale.sql"),
    ),
    (
        "0009_end_users.sql",
        include_str!("../../../../sql/migrations/0009_end_users.sql"),
    ),
    (
        "0010_moved_templates.sql",
        include_str!("../../../../sql/migrations/0010_moved_templates.sql"),
    ),
    (
        "0011_operation_features.sql",
        include_str!("../../../../sql/migrations/0011_operation_features.sql"),
    ),
    (
        "0012_partial_minutes.sql",
        include_str!("../../../../sql/migrations/0012_partial_minutes.sql"),
    ),
    (
        "0013_incident_state.sql",
        include_str!("../../../../sql/migrations/0013_incident_state.sql"),
    ),
    (
        "0014_template_shift.sql",
        include_str!("../../../../sql/migrations/0014_template_shift.sql"),
    ),
    (
        "0015_structure_shift.sql",
        include_str!("../../../../sql/migrations/0015_structure_shift.sql"),
    ),
];

/// The migrations that rebuild the continuous aggregate: after each, outside a transaction
/// (TimescaleDB refuses to fill one inside), [`REFILL_AGGREGATE`] recomputes its history.
const REBUILD_AGGREGATE: [&str; 2] = [
    "0006_storage_hygiene.timescale.sql",
    "0008_environment.timescale.sql",
];

/// See [`REBUILD_AGGREGATE`].
const REFILL_AGGREGATE: &str = "CALL refresh_continuous_aggregate('otlp_features_1h', NULL, NULL)";

/// How the feature table is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// TimescaleDB hypertable, continuous aggregate, compression and retention policies.
    Timescale,
    /// Native range partitions by day, a rollup table the job maintains, retention by
    /// dropping partitions.
    Native,
}

impl Storage {
    /// The name recorded in `aiops_schema_migrations`.
    pub fn name(self) -> &'static str {
        match self {
            Storage::Timescale => "timescaledb",
            Storage::Native => "native",
        }
    }
}

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The storage path.
    pub storage: Storage,
    /// Why that path (extension found, or why not).
    pub reason: String,
    /// Files applied by this run (empty when up to date).
    pub applied: Vec<String>,
}

fn db(context: &str, server: &str) -> impl Fn(postgres::Error) -> Error {
    let context = format!("{context} on {server}");
    move |e| db_error(context.clone(), &e)
}

/// Chooses TimescaleDB when the extension exists and can be created here.
fn detect(client: &mut Client, server: &str) -> Result<(Storage, String)> {
    let available = client
        .query_opt(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'",
            &[],
        )
        .map_err(db("looking for timescaledb", server))?;
    if available.is_none() {
        return Ok((
            Storage::Native,
            "the timescaledb extension is not installed on the server".into(),
        ));
    }
    // Creating the extension without the library preloaded ends the session (FATAL), so that
    // is checked first; trying is then the only reliable test (permissions, versions).
    let preload: String = client
        .query_one("SELECT current_setting('shared_preload_libraries')", &[])
        .map_err(db("reading shared_preload_libraries", server))?
        .get(0);
    if !preload
        .split(',')
        .any(|library| library.trim() == "timescaledb")
    {
        return Ok((
            Storage::Native,
            "timescaledb is installed but not in shared_preload_libraries (add it and restart \
             the server to use the TimescaleDB path)"
                .into(),
        ));
    }
    let mut transaction = client.transaction().map_err(db("begin", server))?;
    match transaction.batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb") {
        Ok(()) => {
            transaction.commit().map_err(db("commit", server))?;
            Ok((Storage::Timescale, "timescaledb extension available".into()))
        }
        Err(error) => Ok((
            Storage::Native,
            format!("timescaledb is installed but cannot be created: {error}"),
        )),
    }
}

/// The storage path of an already migrated database.
pub fn current_storage(client: &mut Client, server: &str) -> Result<Storage> {
    let row = client
        .query_opt(
            "SELECT storage FROM aiops_schema_migrations ORDER BY version LIMIT 1",
            &[],
        )
        .map_err(|e| match e.code() {
            Some(code) if *code == postgres::error::SqlState::UNDEFINED_TABLE => {
                Error::Config(format!(
                    "{server} has no aiops schema: run `aiops migrate --database-url ...` first"
                ))
            }
            _ => db_error(format!("reading aiops_schema_migrations on {server}"), &e),
        })?;
    match row.map(|r| r.get::<_, String>(0)).as_deref() {
        Some("timescaledb") => Ok(Storage::Timescale),
        Some(_) => Ok(Storage::Native),
        None => Err(Error::Config(format!(
            "{server} has no aiops schema: run `aiops migrate` first"
        ))),
    }
}

fn render(sql: &str, storage: Storage, config: &PostgresConfig) -> String {
    let partitioning = match storage {
        Storage::Native => "PARTITION BY RANGE (time)",
        Storage::Timescale => "",
    };
    sql.replace("${partitioning}", partitioning)
        .replace("${chunk_interval}", &config.chunk_interval)
        .replace("${compress_after}", &config.compress_after)
        .replace("${retain_for}", &format!("{} days", config.retention_days))
}

/// Applies the migrations not yet applied; safe to run any number of times.
pub fn migrate(
    client: &mut Client,
    config: &PostgresConfig,
    server: &str,
) -> Result<MigrationReport> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS aiops_schema_migrations (version INTEGER NOT NULL, name TEXT PRIMARY KEY, \
             storage TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .map_err(db("creating aiops_schema_migrations", server))?;
    let applied: Vec<String> = client
        .query("SELECT name FROM aiops_schema_migrations", &[])
        .map_err(db("reading aiops_schema_migrations", server))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (storage, reason) = if applied.is_empty() {
        detect(client, server)?
    } else {
        (
            current_storage(client, server)?,
            "recorded by an earlier migration".to_string(),
        )
    };
    tracing::info!(
        storage = storage.name(),
        reason = reason.as_str(),
        "feature storage path"
    );
    let mut report = MigrationReport {
        storage,
        reason,
        applied: Vec::new(),
    };
    for (name, sql) in MIGRATIONS {
        let only = match (
            name.ends_with(".timescale.sql"),
            name.ends_with(".native.sql"),
        ) {
            (true, _) => Some(Storage::Timescale),
            (_, true) => Some(Storage::Native),
            _ => None,
        };
        if only.is_some_and(|path| path != storage) || applied.iter().any(|a| a == name) {
            continue;
        }
        let version: i32 = name[..4]
            .parse()
            .map_err(|_| Error::Schema(format!("migration {name} lacks a number")))?;
        let mut transaction = client.transaction().map_err(db("begin", server))?;
        transaction
            .batch_execute(&render(sql, storage, config))
            .map_err(db(&format!("applying {name}"), server))?;
        transaction
            .execute(
                "INSERT INTO aiops_schema_migrations (version, name, storage) VALUES ($1, $2, $3)",
                &[&version, name, &storage.name()],
            )
            .map_err(db("recording a migration", server))?;
        transaction
            .commit()
            .map_err(db(&format!("committing {name}"), server))?;
        if REBUILD_AGGREGATE.contains(name) {
            client
                .batch_execute(REFILL_AGGREGATE)
                .map_err(db("refreshing otlp_features_1h", server))?;
        }
        report.applied.push(name.to_string());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(files, embedded);
    }

    #[test]
    fn placeholders_are_filled_per_path() {
        let config = PostgresConfig {
            url: None,
            chunk_interval: "2 hours".into(),
            compress_after: "3 days".into(),
            retention_days: 30,
            partitions_ahead_days: 1,
            consumer: "x".into(),
            connect_retry_s: 0,
        };
        let native = render(MIGRATIONS[0].1, Storage::Native, &config);
        assert!(native.contains(") PARTITION BY RANGE (time);"));
        let timescale = render(MIGRATIONS[2].1, Storage::Timescale, &config);
        assert!(
            timescale.contains("INTERVAL '2 hours'") && timescale.contains("INTERVAL '30 days'")
        );
        assert!(!timescale.contains("${"));
    }
}
