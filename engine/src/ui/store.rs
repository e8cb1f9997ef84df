//! What the console shows, read from where the job wrote it: a data directory (edges and
//! incidents as JSON lines, rows as Parquet) or a PostgreSQL database (`service_edges`,
//! `incidents`, `otlp_ai_features`). The live job's console reads its own output the same way,
//! so a page served by `aiops run --ui` and one served by `aiops ui` over the same data agree.
//!
//! Every read goes to the files or the database again (a running job adds to both all the
//! time), except that the edge and incident lines of a data directory are kept between reads
//! while no file of theirs changed (name, size, modification time): pages poll every few
//! seconds, and a day of lines need not be parsed again for each poll.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

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
#[derive(Debug)]
pub enum Store {
    /// A data directory of `aiops run`.
    Files(Files),
    /// A PostgreSQL URL.
    Postgres(String),
}

/// A data directory, with its edge and incident lines as last read.
#[derive(Debug)]
pub struct Files {
    dir: PathBuf,
    edges: Lines<EdgeWindow>,
    incidents: Lines<Incident>,
}

/// The records of one folder of JSON lines, kept with the stamp of the files they came from.
#[derive(Debug)]
struct Lines<T> {
    folder: &'static str,
    cache: Mutex<Option<Read<T>>>,
}

/// Records and the stamps of the files they were read from.
type Read<T> = (Vec<Stamp>, Arc<Vec<T>>);

/// A file as last seen: name, size, modification time.
type Stamp = (PathBuf, u64, Option<SystemTime>);

impl<T: serde::de::DeserializeOwned> Lines<T> {
    fn new(folder: &'static str) -> Self {
        Lines {
            folder,
            cache: Mutex::new(None),
        }
    }

    /// The folder's records: those read before while no file changed, else read again.
    fn read(&self, dir: &Path) -> Result<Arc<Vec<T>>> {
        let folder = dir.join(self.folder);
        let stamp = stamps(&folder);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, records)) = cache.as_ref().filter(|(seen, _)| *seen == stamp) {
            return Ok(Arc::clone(records));
        }
        let records = Arc::new(read_jsonl(&folder)?);
        *cache = Some((stamp, Arc::clone(&records)));
        Ok(records)
    }
}

/// The stamps of a folder's `*.jsonl` files, by name (none for a missing folder).
fn stamps(folder: &Path) -> Vec<Stamp> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut stamps: Vec<Stamp> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), meta.len(), meta.modified().ok()))
        })
        .collect();
    stamps.sort();
    stamps
}

const MINUTE_US: i64 = 60_000_000;

impl Store {
    /// A database URL (`postgres://...`) or a data directory.
    pub fn new(from: &str) -> Store {
        match is_database_url(from) {
            true => Store::Postgres(from.to_string()),
            false => Store::Files(Files {
                dir: PathBuf::from(from),
                edges: Lines::new("edges"),
                incidents: Lines::new("incidents"),
            }),
        }
    }

    /// Where it reads, for people (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Store::Files(files) => files.dir.display().to_string(),
            Store::Postgres(url) => format!("PostgreSQL on {}", server_of(url)),
        }
    }

    /// The call edges of the minutes `from..=to`.
    pub fn edges(&self, from: Pane, to: Pane) -> Result<Vec<EdgeWindow>> {
        match self {
            Store::Files(files) => {
                let edges = files.edges.read(&files.dir)?;
                let within = |e: &&EdgeWindow| e.pane >= from && e.pane <= to;
                Ok(edges.iter().filter(within).cloned().collect())
            }
            Store::Postgres(url) => load_edges(url, from, to),
        }
    }

    /// Every incident update, oldest minute first.
    pub fn incidents(&self) -> Result<Vec<Incident>> {
        let mut incidents = match self {
            Store::Files(files) => files.incidents.read(&files.dir)?.to_vec(),
            Store::Postgres(url) => load_incidents(url)?,
        };
        incidents.sort_by(|a, b| (a.time_us, &a.incident_id).cmp(&(b.time_us, &b.incident_id)));
        Ok(incidents)
    }

    /// The rows of minutes `minutes` with the numeric `columns`, by minute then service.
    pub fn rows(&self, minutes: Range<Pane>, columns: &[&str]) -> Result<Vec<TrainingRow>> {
        let range = minutes.start as i64 * MINUTE_US..minutes.end as i64 * MINUTE_US;
        let from = match self {
            Store::Files(files) => files.dir.display().to_string(),
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
            Store::Files(files) => read_operation_rows(&files.dir, service, minutes),
            Store::Postgres(url) => load_operations(url, service, minutes),
        }
    }

    /// The first and last minute with edges or incidents, if any.
    pub fn minutes(&self) -> Result<Option<(Pane, Pane)>> {
        let files = match self {
            Store::Postgres(url) => return edge_minutes(url),
            Store::Files(files) => files,
        };
        let edges = files.edges.read(&files.dir)?;
        let incidents = files.incidents.read(&files.dir)?;
        let incidents = incidents
            .iter()
            .map(|i| (i.time_us / MINUTE_US).max(0) as Pane);
        let minutes: Vec<Pane> = edges.iter().map(|e| e.pane).chain(incidents).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn edge_lines_are_read_again_only_when_a_file_changed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("edges")).unwrap();
        let path = dir.path().join("edges/edges-w000.jsonl");
        let line = |pane| {
            let edge = EdgeWindow::calls(pane, "web", "cart", 3);
            serde_json::to_string(&edge).unwrap() + "\n"
        };
        std::fs::write(&path, line(1)).unwrap();
        let store = Store::new(dir.path().to_str().unwrap());
        let Store::Files(files) = &store else {
            panic!("a directory is files")
        };
        let first = files.edges.read(&files.dir).unwrap();
        let again = files.edges.read(&files.dir).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "unchanged files are not read again"
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(line(2).as_bytes()).unwrap();
        drop(file);
        assert_eq!(
            store.edges(0, 10).unwrap().len(),
            2,
            "a grown file is read again"
        );
        assert_eq!(store.minutes().unwrap(), Some((1, 2)));
    }
}
