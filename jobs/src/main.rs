//! `aiops`: the command line of the streaming AIOps engine.
//!
//! Thin by design: it parses arguments, layers them over the configuration, and calls the
//! engine (`aiops-engine`), the models (`aiops-models`) or the evaluations (`aiops-bench`).
//! Every subcommand's `--help` explains its options. Modules: `commands` (one per subcommand,
//! their long help texts in `commands/help/`), `console` (the live status line, the summary
//! and progress bars) and `logs` (log lines around the status line, incidents as blocks).

mod commands;
mod console;
mod logs;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: OTLP decode allocates per attribute, and it measured 1.7x faster than the system
/// allocator on the decode+features benchmark (engine/benches/decode_features.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Streaming AIOps engine: OpenTelemetry in, per-service feature rows out (Parquet or PostgreSQL).
#[derive(Parser)]
#[command(name = "aiops", version)]
struct Cli {
    /// Log lines on stderr as text for people or as JSON objects for a log pipeline (one per
    /// line; Kubernetes and compose collect stderr). RUST_LOG sets the level.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "AIOPS_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: timestamp, level, target, message and fields.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the streaming job: by default the built-in simulator in, Parquet feature rows out.
    Run(commands::run::RunArgs),
    /// Recompute the feature rows of a time range from archived OTLP files or Kafka (idempotent).
    Backfill(commands::backfill::BackfillArgs),
    /// Write simulated OTLP telemetry and its ground truth to files or Kafka topics.
    Generate(commands::generate::GenerateArgs),
    /// Create or upgrade the PostgreSQL / TimescaleDB schema (idempotent).
    Migrate(commands::migrate::MigrateArgs),
    /// Create the Kafka topics the job consumes and its dead-letter topic (idempotent).
    Topics(commands::topics::TopicsArgs),
    /// Run SQL over the feature rows in the data directory (table `features`).
    Query(commands::query::QueryArgs),
    /// Print or render the service dependency graph as it was at a given time.
    Graph(commands::graph::GraphArgs),
    /// Fit an anomaly model on stored feature rows and write it as a new model version.
    Train(commands::train::TrainArgs),
    /// Measure detection and root-cause quality on labelled data (public datasets, simulator).
    Eval(commands::eval::EvalArgs),
    /// Serve the web console (service map, incidents, features) over stored output.
    Ui(commands::ui::UiArgs),
    /// Measure spans per second and per CPU-second, stage by stage, to size a deployment.
    Bench(commands::bench::BenchArgs),
}

/// A reader that stops early (`aiops query ... | head`) closes the pipe; Rust ignores SIGPIPE,
/// so the next `println!` panics. That is the reader's choice, not a failure: stop quietly, as
/// a command killed by SIGPIPE would, instead of printing a panic (`unsafe` is forbidden here,
/// so the signal's default action cannot be restored).
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    // An evaluation (or a GNN training run over simulations) raises hundreds of incidents on
    // purpose, and a bench's whole-job run raises the workload's: the job's log would bury
    // their tables.
    let default_level = match cli.command {
        Command::Eval(_) | Command::Train(_) | Command::Bench(_) => "error",
        _ => "warn",
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(logs::LogWriter);
    match cli.log_format {
        LogFormat::Text => logs.event_format(logs::Readable::default()).init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Generate(args) => commands::generate::generate(args),
        Command::Backfill(args) => commands::backfill::run(args),
        Command::Query(args) => commands::query::query(args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Topics(args) => commands::topics::run(args),
        Command::Graph(args) => commands::graph::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Ui(args) => commands::ui::run(args),
        Command::Bench(args) => commands::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<commands::query::StdoutClosed>() => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
