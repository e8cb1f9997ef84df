//! Dataflow outputs as JSON lines: call edges and incidents.
//!
//! Both are small (one record per edge or incident per minute) and nested (an incident's
//! candidates carry evidence lists), so they go to `<data_dir>/edges/` and
//! `<data_dir>/incidents/` as JSON lines, one file per run and worker, flushed whenever the
//! stream's frontier moves, i.e. once per closed minute.

use std::ops::Range;
use std::path::Path;

use serde::Serialize;
use timely::progress::Stamp;

use super::SideOutput;
use crate::time::Pane;

/// A JSON-lines writer for one stream of one worker.
pub struct JsonLines<T> {
    output: SideOutput,
    /// Records whose time (µs) falls outside are not written (replayed minutes, backfills).
    keep: Range<i64>,
    time_us: fn(&T) -> i64,
}

impl<T: Serialize> JsonLines<T> {
    /// Writes to `dir/<stem>-w<worker>.jsonl` the records whose `time_us` is in `keep`.
    pub fn new(
        dir: &Path,
        stem: &str,
        worker: usize,
        keep: Range<i64>,
        time_us: fn(&T) -> i64,
    ) -> Self {
        JsonLines {
            output: SideOutput::new(dir, stem, worker),
            keep,
            time_us,
        }
    }

    /// Handles one `inspect_core` event: writes records, flushes when the frontier moves.
    pub fn observe(&mut self, event: Result<(&Stamp<Pane>, &Vec<T>), &[Pane]>) {
        let result = match event {
            Ok((_, records)) => records
                .iter()
                .filter(|r| self.keep.contains(&(self.time_us)(r)))
                .try_for_each(|r| self.output.write(r)),
            Err(_) => self.output.flush(),
        };
        if let Err(error) = result {
            tracing::error!(%error, "cannot write graph output");
        }
    }
}

/// Reads every `*.jsonl` file under `dir` (sorted by name) into records; a line that does
/// not parse is an error naming the file and line. A missing directory reads as empty.
pub fn read_json_lines<T: serde::de::DeserializeOwned>(dir: &Path) -> crate::Result<Vec<T>> {
    use std::io::BufRead;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut records = Vec::new();
    for file in files {
        let reader = std::fs::File::open(&file).map_err(|e| crate::Error::io(&file, e))?;
        for (number, line) in std::io::BufReader::new(reader).lines().enumerate() {
            let line = line.map_err(|e| crate::Error::io(&file, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let record = serde_json::from_str(&line).map_err(|e| {
                crate::Error::Schema(format!("{}:{}: {e}", file.display(), number + 1))
            })?;
            records.push(record);
        }
    }
    Ok(records)
}
