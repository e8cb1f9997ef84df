//! One module per subcommand.

pub mod backfill;
pub mod bench;
pub mod eval;
pub mod generate;
pub mod graph;
pub mod migrate;
pub mod query;
pub mod run;
pub mod settings;
pub mod topics;
pub mod train;
pub mod train_gnn;
pub mod ui;
