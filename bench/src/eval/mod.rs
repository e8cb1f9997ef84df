//! The evaluations behind `aiops eval`: each runs a dataset through our detectors or the
//! unchanged job, judges the result against the labels, and returns the tables it would print
//! and a JSON document of every figure.

pub mod anomaly;
pub mod rca;

use std::path::Path;

use aiops_engine::config::Shape;

/// What an evaluation found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The dataset's name as the output file uses it (`nab`, `nezha-trainticket`, ...).
    pub name: String,
    /// The tables, as printed.
    pub text: String,
    /// Every figure, for `--out`.
    pub json: serde_json::Value,
}

/// Both simulator topologies × seeds `1..=seeds`: the simulator evaluations' runs.
fn simulator_runs(seeds: u64) -> Vec<(Shape, u64)> {
    [Shape::Shop, Shape::Trainticket]
        .into_iter()
        .flat_map(|shape| (1..=seeds).map(move |seed| (shape, seed)))
        .collect()
}

/// A directory for a run's output: `keep/<name>` (emptied first) when the caller keeps it,
/// else a temporary one, deleted when the returned guard drops.
fn run_dir(
    keep: Option<&Path>,
    name: &str,
) -> crate::Result<(std::path::PathBuf, Option<tempfile::TempDir>)> {
    if let Some(keep) = keep {
        let dir = keep.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| crate::Error::io(&dir, e))?;
        }
        return Ok((dir, None));
    }
    let temporary = tempfile::tempdir().map_err(|e| crate::Error::io(std::env::temp_dir(), e))?;
    Ok((temporary.path().to_path_buf(), Some(temporary)))
}
