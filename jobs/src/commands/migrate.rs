//! `aiops migrate`: create or upgrade the PostgreSQL / TimescaleDB schema.

use aiops_engine::sink::postgres::{connect, migrate, server_of};
use anyhow::{bail, Context};
use clap::Args;

use super::settings::SimArgs;

/// Options of `aiops migrate`.
#[derive(Args, Debug)]
#[command(after_help = include_str!("help/migrate.txt"))]
pub struct MigrateArgs {
    /// PostgreSQL URL, e.g. postgres://user:password@localhost:5432/aiops (or `url` in
    /// `[postgres]`, or AIOPS_POSTGRES__URL).
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
        config.url = Some(url);
    }
    let Some(url) = config.url.as_deref() else {
        bail!("no database: pass --database-url or set [postgres] url / AIOPS_POSTGRES__URL");
    };
    let server = server_of(url);
    let mut client = connect(url)?;
    let report = migrate(&mut client, &config, &server).context("migrating")?;
    println!("storage: {} ({})", report.storage.name(), report.reason);
    if report.applied.is_empty() {
        println!("{server}: schema up to date");
    } else {
        println!("{server}: applied {}", report.applied.join(", "));
    }
    Ok(())
}
