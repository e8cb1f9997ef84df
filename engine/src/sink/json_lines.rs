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
                .try_for_each(|r| {
                    let value = serde_json::to_value(r).unwrap_or_default();
                    self.output.write(&value)
                }),
            Err(_) => self.output.flush(),
        };
        if let Err(error) = result {
            tracing::error!(%error, "cannot write graph output");
        }
    }
}
