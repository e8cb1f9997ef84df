//! `aiops migrate`: create or upgrade the PostgreSQL / TimescaleDB schema.

use aiops_engine::sink::postgres::{connect, migrate, server_of};
use anyhow::{bail, Context};
use clap::Args;

use super::settings::SimArgs;

/// Options of `aiops migrate`.
#[derive(Args, Debug)]
#[command(
    after_help = "Applies the numbered migrations of sql/migrations/ that the database lacks (idempotent). \
On the first run it chooses the storage path: TimescaleDB (hypertable, continuous aggregate otlp_features_1h, \
compression, retention) when the extension can be created, otherwise native daily partitions and a rollup table."
)]
pub struct MigrateArgs {
    /// PostgreSQL URL, e.g. postgres://user:password@localhost:5432/aiops (or `url` in `[postgres]`, or AIOPS_POSTGRES__URL).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Configuration file (for the intervals of its `[postgres]` section).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

/// Runs the migrations and says what was done.
pub fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let settings = SimArgs {
        config: args.config,
        ..Default::default()
    };
    let mut config = settings.load()?.postgres;
    if let Some(url) = args.database_url {
        config.url = url;
    }
    if config.url.is_empty() {
        bail!("no database: pass --database-url or set [postgres] url / AIOPS_POSTGRES__URL");
    }
    let server = server_of(&config.url);
    let mut client = connect(&config.url)?;
    let report = migrate(&mut client, &config, &server).context("migrating")?;
    println!("storage: {} ({})", report.storage.name(), report.reason);
    if report.applied.is_empty() {
        println!("{server}: schema up to date");
    } else {
        println!("{server}: applied {}", report.applied.join(", "));
    }
    Ok(())
}
