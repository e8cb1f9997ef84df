//! `aiops graph`: the service dependency graph as it was at a point in time.

use std::path::PathBuf;

use aiops_engine::graph::{render, snapshot};
use aiops_engine::sink::postgres::load_edges;
use aiops_engine::sink::read_json_lines;
use anyhow::Context;

use super::settings::micros;
use clap::Args;

/// Options of `aiops graph`.
#[derive(Args, Debug)]
#[command(
    after_help = "An edge is in the graph at T when it was seen within --expiry-minutes before T (the rule of \
the service_dependencies table); each edge shows calls, error rate and p95 latency of the last minute it was \
seen.\n\nExamples:\n  aiops graph --at 2026-01-05T09:12:00Z --format dot | dot -Tpng > graph.png\n  \
aiops graph --at 2026-01-05T09:12:00Z --format svg --out graph.svg\n  \
aiops graph --at now --database-url postgres://u@db/aiops --format json"
)]
pub struct GraphArgs {
    /// The time (RFC 3339, or "now").
    #[arg(long, value_name = "TIME")]
    at: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "dot")]
    format: Format,
    /// Read the edges from this PostgreSQL database (table service_edges).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Else read the edges the job wrote under this directory (`DIR/edges/*.jsonl`).
    #[arg(long, value_name = "DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Minutes an edge stays in the graph after it was last seen.
    #[arg(long, value_name = "MINUTES", default_value_t = 5)]
    expiry_minutes: u64,
    /// Draw only this deployment environment's services (`deployment.environment.name`;
    /// "" for services without one). Without it, services are named `name@environment` when
    /// the graph holds several environments.
    #[arg(long, value_name = "NAME")]
    environment: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Output formats.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum Format {
    /// Graphviz DOT.
    Dot,
    /// JSON: nodes and edges with their figures.
    Json,
    /// A standalone SVG picture.
    Svg,
}

/// Prints or writes the graph.
pub fn run(args: GraphArgs) -> anyhow::Result<()> {
    let at = match args.at.as_str() {
        "now" => chrono::Utc::now(),
        text => chrono::DateTime::from_timestamp_micros(micros(text, "--at")?)
            .context("--at is out of range")?,
    };
    let minute = (at.timestamp() / 60).max(0) as u64;
    let from = minute.saturating_sub(args.expiry_minutes);
    let edges = match &args.database_url {
        Some(url) => load_edges(url, from, minute)?,
        None => {
            let dir = args.data_dir.join("edges");
            let edges = read_json_lines(&dir)?;
            if edges.is_empty() {
                anyhow::bail!(
                    "no edges under {}: run `aiops run` first (or pass --data-dir)",
                    dir.display()
                );
            }
            edges
        }
    };
    let live = snapshot::live_at(edges, minute, args.expiry_minutes);
    let live = render::for_people(live, args.environment.as_deref());
    let title = format!("services at {}", at.format("%Y-%m-%d %H:%M UTC"));
    let text = match args.format {
        Format::Dot => render::dot(&live, &title),
        Format::Json => {
            serde_json::to_string_pretty(&render::json(&live, &at.to_rfc3339()))? + "\n"
        }
        Format::Svg => render::svg(&live, &title),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    if live.is_empty() {
        eprintln!("no edges were live at {}", at.to_rfc3339());
    }
    Ok(())
}
