//! `aiops backfill`: recompute a time range of feature rows from archived telemetry.

use std::path::PathBuf;

use aiops_engine::config::PostgresConfig;
use aiops_engine::config::{SourceKind, StartOffset};
use aiops_engine::job::ClusterOptions;
use aiops_engine::sink::postgres::horizon_us;
use anyhow::bail;
use clap::Args;

use super::settings::{micros, SimArgs};

/// Options of `aiops backfill`.
#[derive(Args, Debug)]
#[command(after_help = include_str!("help/backfill.txt"))]
pub struct BackfillArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// First minute to recompute (RFC 3339).
    #[arg(long, value_name = "TIME")]
    from: String,
    /// End of the range, exclusive (RFC 3339).
    #[arg(long, value_name = "TIME")]
    to: String,
    /// Archived OTLP files (as written by the Collector's file exporter or `aiops generate`).
    #[arg(long, value_name = "DIR", conflicts_with = "kafka_brokers")]
    input: Option<PathBuf>,
    /// Read the OTLP topics of this Kafka cluster from the earliest retained offset to the end
    /// they have when the backfill starts.
    #[arg(long, value_name = "BROKERS")]
    kafka_brokers: Option<String>,
    /// Write to this PostgreSQL database (else Parquet under --data-dir).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Where Parquet output and side outputs go (default: ./data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Timely worker threads.
    #[arg(long, short = 'w', default_value_t = 1)]
    workers: usize,
    /// Go ahead although the range starts before the database's retention horizon
    /// (`postgres.retention_days` before today): the minutes before it are not written but
    /// counted as expired. Without this flag such a backfill is refused.
    #[arg(long)]
    past_retention: bool,
    /// No progress bar (the summary is still printed).
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Recomputes the range.
pub fn run(args: BackfillArgs) -> anyhow::Result<()> {
    let (from, to) = (micros(&args.from, "--from")?, micros(&args.to, "--to")?);
    if from >= to {
        bail!("--from {} is not before --to {}", args.from, args.to);
    }
    let mut config = args.sim.load()?;
    match (&args.input, &args.kafka_brokers) {
        (Some(dir), _) => {
            config.source.kind = SourceKind::Files;
            config.source.path = Some(dir.clone());
        }
        (None, Some(brokers)) => {
            config.source.kind = SourceKind::Kafka;
            config.kafka.brokers.clone_from(brokers);
            config.kafka.start = StartOffset::Earliest;
            config.kafka.stop_at_end = true;
        }
        (None, None) => bail!("a backfill needs --input DIR or --kafka-brokers"),
    }
    if let Some(url) = args.database_url {
        config.postgres.url = Some(url);
    }
    if let Some(dir) = args.data_dir {
        config.sink.data_dir = dir;
    }
    check_retention(&config.postgres, from, args.past_retention)?;
    // A backfill serves no metrics: it may run next to the live job on the same host. Nor does
    // it page anyone about incidents of the past.
    config.metrics.addr = None;
    config.alerts.alertmanager_url = None;
    config.alerts.webhook_url = None;
    let cluster = ClusterOptions {
        workers: args.workers,
        ..ClusterOptions::default()
    };
    super::run::execute(config, cluster, args.quiet, false, Some(from..to))
}

/// Refuses a database backfill whose range starts before the retention horizon unless
/// `past_retention`, because retention would drop those rows: they are not written (counted as
/// expired), so without a word the user would find less than they asked for.
fn check_retention(
    postgres: &PostgresConfig,
    from: i64,
    past_retention: bool,
) -> anyhow::Result<()> {
    if postgres.url.is_none() {
        return Ok(());
    }
    let horizon = horizon_us(
        chrono::Utc::now().timestamp_micros(),
        postgres.retention_days,
    );
    if from >= horizon {
        return Ok(());
    }
    let at = chrono::DateTime::from_timestamp_micros(horizon).unwrap_or_default();
    let days = postgres.retention_days;
    if !past_retention {
        bail!(
            "--from lies before the retention horizon {at} (postgres.retention_days = {days}): \
             rows before it would not be written. Raise postgres.retention_days to keep them, \
             or pass --past-retention to recompute only the minutes from {at} on"
        );
    }
    tracing::warn!(horizon = %at, retention_days = days, "minutes before the retention horizon are not written");
    Ok(())
}
