//! One module per subcommand.

pub mod generate;
pub mod query;
pub mod run;
pub mod settings;
