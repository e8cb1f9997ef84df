//! Side outputs: late records and dead letters as JSON lines, so nothing is dropped silently.
//!
//! Files are `<data_dir>/late/late-w<worker>.jsonl` and
//! `<data_dir>/dead_letter/dead-w<worker>.jsonl`, created on first use.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An append-only JSON-lines file, opened on the first record.
pub struct SideOutput {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl SideOutput {
    /// A side output at `dir/<stem>-w<worker>.jsonl`.
    pub fn new(dir: &Path, stem: &str, worker: usize) -> Self {
        SideOutput {
            path: dir.join(format!("{stem}-w{worker:03}.jsonl")),
            out: None,
        }
    }

    /// Appends one record.
    pub fn write(&mut self, record: &impl serde::Serialize) -> Result<()> {
        if self.out.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| Error::io(&self.path, e))?;
            self.out = Some(BufWriter::new(file));
        }
        if let Some(out) = self.out.as_mut() {
            serde_json::to_writer(&mut *out, record)
                .map_err(|e| Error::io(&self.path, e.into()))?;
            out.write_all(b"\n").map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }

    /// Flushes buffered records to the file.
    pub fn flush(&mut self) -> Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush().map_err(|e| Error::io(&self.path, e)),
            None => Ok(()),
        }
    }
}
