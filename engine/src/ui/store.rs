//! What the console shows, read from where the job wrote it: a data directory (edges and
//! incidents as JSON lines, rows as Parquet) or a PostgreSQL database (`service_edges`,
//! `incidents`, `otlp_ai_features`). The live job's console reads its own output the same way,
//! so a page served by `aiops run --ui` and one served by `aiops ui` over the same data agree.
//!
//! Every read goes to the files or the database again: a page asks for one minute's graph or
//! one service's hour, and a running job adds to both all the time.

use std::ops::Range;
use std::path::{Path, PathBuf};

use aiops_models::service_model::TrainingRow;

use crate::error::{Error, Result};
use crate::features::OperationRow;
use crate::graph::EdgeWindow;
use crate::score::Incident;
use crate::sink::postgres::{edge_minutes, load_edges, load_incidents, load_operations, server_of};
use crate::sink::stored::{is_database_url, load_rows};
use crate::sink::{read_json_lines, read_operation_rows};
use crate::time::Pane;

/// Where the console reads.
#[derive(Debug, Clone)]
pub enum Store {
    /// A data directory of `aiops run`.
    Files(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

const MINUTE_US: i64 = 60_000_000;

impl Store {
    /// A database URL (`postgres://...`) or a data directory.
    pub fn new(from: &str) -> Store {
        match is_database_url(from) {
            true => Store::Postgres(from.to_string()),
            false => Store::Files(PathBuf::from(from)),
        }
    }

    /// Where it reads, for people (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Store::Files(dir) => dir.display().to_string(),
            Store::Postgres(url) => format!("PostgreSQL on {}", server_of(url)),
        }
    }

    /// The call edges of the minutes `from..=to`.
    pub fn edges(&self, from: Pane, to: Pane) -> Result<Vec<EdgeWindow>> {
        match self {
            Store::Files(dir) => {
                let edges: Vec<EdgeWindow> = read_jsonl(&dir.join("edges"))?;
                let within = |e: &EdgeWindow| e.pane >= from && e.pane <= to;
                Ok(edges.into_iter().filter(within).collect())
            }
            Store::Postgres(url) => load_edges(url, from, to),
        }
    }

    /// Every incident update, oldest minute first.
    pub fn incidents(&self) -> Result<Vec<Incident>> {
        let mut incidents = match self {
            Store::Files(dir) => read_jsonl(&dir.join("incidents"))?,
            Store::Postgres(url) => load_incidents(url)?,
        };
        incidents.sort_by(|a, b| (a.time_us, &a.incident_id).cmp(&(b.time_us, &b.incident_id)));
        Ok(incidents)
    }

    /// The rows of minutes `minutes` with the numeric `columns`, by minute then service.
    pub fn rows(&self, minutes: Range<Pane>, columns: &[&str]) -> Result<Vec<TrainingRow>> {
        let range = minutes.start as i64 * MINUTE_US..minutes.end as i64 * MINUTE_US;
        let from = match self {
            Store::Files(dir) => dir.display().to_string(),
            Store::Postgres(url) => url.clone(),
        };
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        match load_rows(&from, range, &columns, &mut |_, _| {}) {
            Ok(stored) => Ok(stored.rows),
            // A job that has not completed its first file yet: no rows, not a failure.
            Err(Error::Config(message)) if message.starts_with("no Parquet files") => Ok(vec![]),
            Err(error) => Err(error),
        }
    }

    /// The operation rows of the service `service` (a key) in the minutes `minutes`.
    pub fn operations(&self, service: &str, minutes: Range<Pane>) -> Result<Vec<OperationRow>> {
        match self {
            Store::Files(dir) => read_operation_rows(dir, service, minutes),
            Store::Postgres(url) => load_operations(url, service, minutes),
        }
    }

    /// The first and last minute with edges or incidents, if any.
    pub fn minutes(&self) -> Result<Option<(Pane, Pane)>> {
        if let Store::Postgres(url) = self {
            return edge_minutes(url);
        }
        let edges = self.edges(0, Pane::MAX)?.into_iter().map(|e| e.pane);
        let incidents = self.incidents()?.into_iter();
        let incidents = incidents.map(|i| (i.time_us / MINUTE_US).max(0) as Pane);
        let minutes: Vec<Pane> = edges.chain(incidents).collect();
        Ok(minutes
            .iter()
            .min()
            .copied()
            .zip(minutes.iter().max().copied()))
    }
}

/// JSON lines of a directory a job may be appending to: a last line still being written is
/// not an error of the file (the next read has it whole).
fn read_jsonl<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<Vec<T>> {
    match read_json_lines(dir) {
        Ok(records) => Ok(records),
        Err(Error::Schema(_)) => {
            // Read again once: a writer that was mid-line has finished it by now.
            std::thread::sleep(std::time::Duration::from_millis(50));
            read_json_lines(dir)
        }
        Err(error) => Err(error),
    }
}
