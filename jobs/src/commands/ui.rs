//! `aiops ui`: the web console over stored output, without a running job.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiops_engine::ui::{Store, Ui, UiConfig};
use anyhow::Context;
use clap::Args;

/// Options of `aiops ui`.
#[derive(Args, Debug)]
#[command(after_help = include_str!("help/ui.txt"))]
pub struct UiArgs {
    /// Where to listen (host:port). Loopback by default: set --token before exposing it.
    #[arg(long, value_name = "ADDR", default_value = super::run::DEFAULT_UI_ADDR)]
    addr: String,
    /// Show what the job wrote to this PostgreSQL database.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Else what it wrote under this directory.
    #[arg(long, value_name = "DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Require this bearer token on /api (pages take it from `?token=` once).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "AIOPS_UI_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Minutes an edge stays on the map after it was last seen (the job's
    /// graph.edge_expiry_minutes).
    #[arg(long, value_name = "MINUTES", default_value_t = 5)]
    expiry_minutes: u64,
}

/// Serves until Ctrl-C or SIGTERM.
pub fn run(args: UiArgs) -> anyhow::Result<()> {
    let from = match &args.database_url {
        Some(url) => url.clone(),
        None => args.data_dir.display().to_string(),
    };
    let store = Store::new(&from);
    let source = store.describe();
    let ui = Ui::start(UiConfig {
        addr: args.addr,
        store,
        token: args.token,
        expiry_minutes: args.expiry_minutes,
    })?;
    println!(
        "web console: http://{}/ over {source} (Ctrl-C stops)",
        ui.addr()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the handler of Ctrl-C and SIGTERM")?;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(ui);
    Ok(())
}
