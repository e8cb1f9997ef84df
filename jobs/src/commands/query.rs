//! `aiops query`: SQL over the Parquet feature store (feature and operation rows) with DataFusion.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

/// Options of `aiops query`.
#[derive(Args, Debug)]
#[command(after_help = include_str!("help/query.txt"))]
pub struct QueryArgs {
    /// The SQL statement.
    sql: String,
    /// Directory the job wrote to.
    #[arg(long, value_name = "DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Result formats.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Json,
}

/// Runs the query and prints the result.
pub fn query(args: QueryArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the query runtime")?;
    runtime.block_on(run_query(args))
}

async fn run_query(args: QueryArgs) -> anyhow::Result<()> {
    let features = args.data_dir.join("features");
    if !has_parquet(&features) {
        bail!(
            "no Parquet files under {}: run `aiops run` first (or pass --data-dir)",
            features.display()
        );
    }
    let context = SessionContext::new();
    let location = format!("{}/", features.display());
    // The current row's schema, not one inferred from some file: files written before a
    // migration added columns read those columns as nulls (so every column is read as
    // nullable, `environment` included).
    let fields = aiops_engine::sink::feature_schema()
        .fields()
        .iter()
        .map(|field| field.as_ref().clone().with_nullable(true))
        .collect::<Vec<_>>();
    let schema = datafusion::arrow::datatypes::Schema::new(fields);
    context
        .register_parquet(
            "features",
            &location,
            ParquetReadOptions::default().schema(&schema),
        )
        .await
        .with_context(|| format!("registering {location}"))?;
    register_operations(&context, &args.data_dir).await?;
    let frame = context.sql(&args.sql).await.context("planning the query")?;
    let batches = frame.collect().await.context("running the query")?;
    print_batches(&batches, args.format).map_err(|error| match closed_pipe(&error) {
        true => anyhow::Error::new(StdoutClosed),
        false => error,
    })
}

/// The operation rows as the table `operations`, when the job wrote any.
async fn register_operations(context: &SessionContext, data_dir: &Path) -> anyhow::Result<()> {
    let dir = data_dir.join("operations");
    if !has_parquet(&dir) {
        return Ok(());
    }
    let location = format!("{}/", dir.display());
    let schema = aiops_engine::sink::operation_schema();
    context
        .register_parquet(
            "operations",
            &location,
            ParquetReadOptions::default().schema(&schema),
        )
        .await
        .with_context(|| format!("registering {location}"))
}

/// Whether `dir` holds a Parquet file.
fn has_parquet(dir: &Path) -> bool {
    aiops_engine::sink::parquet_read::parquet_files(dir).is_ok_and(|files| !files.is_empty())
}

/// The reader of stdout went away (`aiops query ... | head`): not a failure of the query.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout was closed by its reader")
    }
}

impl std::error::Error for StdoutClosed {}

/// Whether the write failed because the pipe's reader closed it.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind);
        let arrow = match cause.downcast_ref::<datafusion::arrow::error::ArrowError>() {
            Some(datafusion::arrow::error::ArrowError::IoError(_, io)) => Some(io.kind()),
            _ => None,
        };
        io.or(arrow) == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn print_batches(batches: &[RecordBatch], format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => writeln!(out, "{}", pretty_format_batches(batches)?)?,
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for batch in batches {
                writer.write(batch)?;
            }
        }
        Format::Json => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut out);
            writer.write_batches(&batches.iter().collect::<Vec<_>>())?;
            writer.finish()?;
        }
    }
    Ok(())
}
