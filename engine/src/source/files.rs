//! OTLP file replay, and the writer that produces such files.
//!
//! Layout: one file per stream, named `traces-*`, `metrics-*` or `logs-*`, `.binpb` or `.jsonl`.
//! `.jsonl` holds one OTLP/JSON request per line (the Collector's file exporter format);
//! `.binpb` holds protobuf requests, each preceded by its length as a 4-byte big-endian
//! integer. Each file is a partition with its own watermark; the files of a directory are
//! spread over the workers by index.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::{Batch, Poll, RawMessage, Source, SourceFault};
use crate::error::{Error, Result};
use crate::record::{Encoding, Location, Signal};

/// Largest record accepted from a `.binpb` file; a larger length prefix means corruption.
const MAX_RECORD_BYTES: u32 = 64 << 20;
/// Records read per file per poll.
const RECORDS_PER_POLL: usize = 16;

/// Signal and encoding from a file name, or why the name is not understood.
pub fn classify(path: &Path) -> std::result::Result<(Signal, Encoding), String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let signal = if name.starts_with("traces") || name.starts_with("spans") {
        Signal::Traces
    } else if name.starts_with("metrics") {
        Signal::Metrics
    } else if name.starts_with("logs") {
        Signal::Logs
    } else {
        return Err("file name must start with traces, spans, metrics or logs".to_string());
    };
    let encoding = match path.extension().and_then(|e| e.to_str()) {
        Some("binpb") | Some("pb") => Encoding::OtlpProto,
        Some("jsonl") | Some("json") => Encoding::OtlpJson,
        other => {
            return Err(format!(
                "unknown encoding for extension {other:?}: expected .binpb (otlp_proto) or \
                 .jsonl (otlp_json)"
            ))
        }
    };
    Ok((signal, encoding))
}

struct OpenFile {
    partition: u32,
    path: String,
    signal: Signal,
    encoding: Encoding,
    reader: BufReader<File>,
    offset: u64,
    line: u64,
}

enum Read1 {
    Record(RawMessage),
    Fault(SourceFault),
    End,
}

impl OpenFile {
    fn location(&self, line: u64, offset: u64) -> Location {
        Location::File {
            path: self.path.clone(),
            line,
            offset,
        }
    }

    fn read(&mut self) -> Read1 {
        match self.encoding {
            Encoding::OtlpJson => self.read_line(),
            Encoding::OtlpProto => self.read_prefixed(),
        }
    }

    fn record(&self, bytes: Vec<u8>, location: Location) -> Read1 {
        Read1::Record(RawMessage {
            partition: self.partition,
            signal: self.signal,
            encoding: self.encoding,
            bytes,
            location,
        })
    }

    fn read_line(&mut self) -> Read1 {
        loop {
            let mut bytes = Vec::new();
            let start = self.offset;
            match self.reader.read_until(b'\n', &mut bytes) {
                Ok(0) => return Read1::End,
                Ok(n) => {
                    self.offset += n as u64;
                    self.line += 1;
                }
                Err(e) => {
                    let location = self.location(self.line + 1, start);
                    return Read1::Fault(SourceFault {
                        location,
                        reason: e.to_string(),
                        bytes,
                    });
                }
            }
            while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
                bytes.pop();
            }
            if !bytes.is_empty() {
                return self.record(bytes, self.location(self.line, start));
            }
        }
    }

    fn read_prefixed(&mut self) -> Read1 {
        let start = self.offset;
        let mut prefix = [0u8; 4];
        match self.reader.read(&mut prefix[..1]) {
            Ok(0) => return Read1::End,
            Ok(_) => {}
            Err(e) => return self.fault(start, e.to_string(), Vec::new()),
        }
        if let Err(e) = self.reader.read_exact(&mut prefix[1..]) {
            return self.fault(
                start,
                format!("truncated length prefix: {e}"),
                prefix.to_vec(),
            );
        }
        let length = u32::from_be_bytes(prefix);
        if length > MAX_RECORD_BYTES {
            let reason = format!(
                "record length {length} exceeds {MAX_RECORD_BYTES} bytes: not a length-prefixed \
                 OTLP file, or corrupt"
            );
            return self.fault(start, reason, prefix.to_vec());
        }
        let mut bytes = vec![0u8; length as usize];
        if let Err(e) = self.reader.read_exact(&mut bytes) {
            return self.fault(
                start,
                format!("truncated record of {length} bytes: {e}"),
                Vec::new(),
            );
        }
        self.offset += 4 + u64::from(length);
        self.record(bytes, self.location(0, start))
    }

    /// A fault that ends the file: after a bad frame the stream cannot be resynchronised.
    fn fault(&mut self, offset: u64, reason: String, bytes: Vec<u8>) -> Read1 {
        self.offset = u64::MAX;
        Read1::Fault(SourceFault {
            location: self.location(0, offset),
            reason,
            bytes,
        })
    }
}

/// Replays the OTLP files of a directory (this worker's share of them).
pub struct FileSource {
    files: Vec<OpenFile>,
    pending: Batch,
    stopped: bool,
}

impl FileSource {
    /// Opens the files of `dir` assigned to worker `index` of `peers` (file i goes to worker
    /// i mod peers, in name order). Files whose names say nothing usable are reported as
    /// faults on the first poll, not silently skipped.
    pub fn open(dir: &Path, index: usize, peers: usize) -> Result<FileSource> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.is_file() && !is_side_file(path))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(Error::Config(format!(
                "{}: no OTLP files to replay",
                dir.display()
            )));
        }
        let mut source = FileSource {
            files: Vec::new(),
            pending: Batch::default(),
            stopped: false,
        };
        for (number, path) in paths
            .into_iter()
            .enumerate()
            .filter(|(n, _)| n % peers.max(1) == index)
        {
            let display = path.display().to_string();
            let location = Location::File {
                path: display.clone(),
                line: 0,
                offset: 0,
            };
            match classify(&path) {
                Ok((signal, encoding)) => {
                    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                    source.files.push(OpenFile {
                        partition: number as u32,
                        path: display,
                        signal,
                        encoding,
                        reader: BufReader::new(file),
                        offset: 0,
                        line: 0,
                    });
                }
                Err(reason) => source.pending.faults.push(SourceFault {
                    location,
                    reason,
                    bytes: Vec::new(),
                }),
            }
        }
        Ok(source)
    }
}

/// Files `aiops generate` writes beside the telemetry, which are not telemetry.
fn is_side_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.starts_with('.')
        || name.ends_with(".csv")
        || name.ends_with(".md")
        || name == "topology.json"
}

impl Source for FileSource {
    fn partitions(&self) -> Vec<u32> {
        self.files.iter().map(|f| f.partition).collect()
    }

    fn poll(&mut self) -> Poll {
        if self.files.is_empty() && self.pending.faults.is_empty() {
            return Poll::Done;
        }
        let mut batch = std::mem::take(&mut self.pending);
        for file in &mut self.files {
            for _ in 0..RECORDS_PER_POLL {
                if file.offset == u64::MAX {
                    batch.finished.push(file.partition);
                    break;
                }
                match file.read() {
                    Read1::Record(message) => batch.messages.push(message),
                    Read1::Fault(fault) => batch.faults.push(fault),
                    Read1::End => {
                        batch.finished.push(file.partition);
                        break;
                    }
                }
            }
        }
        if self.stopped {
            batch
                .finished
                .extend(self.files.iter().map(|f| f.partition));
            self.files.clear();
        }
        self.files
            .retain(|f| !batch.finished.contains(&f.partition));
        Poll::Ready(batch)
    }

    fn stop(&mut self) {
        self.stopped = true;
    }
}

/// Writes OTLP requests to one file in the replay layout.
pub struct OtlpFileWriter {
    path: PathBuf,
    encoding: Encoding,
    out: BufWriter<File>,
    /// Records written.
    pub records: u64,
}

impl OtlpFileWriter {
    /// Creates `dir/{signal}-{shard:04}.{binpb|jsonl}`.
    pub fn create(dir: &Path, signal: Signal, shard: usize, encoding: Encoding) -> Result<Self> {
        let extension = match encoding {
            Encoding::OtlpProto => "binpb",
            Encoding::OtlpJson => "jsonl",
        };
        let path = dir.join(format!("{signal}-{shard:04}.{extension}"));
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(OtlpFileWriter {
            path,
            encoding,
            out: BufWriter::new(file),
            records: 0,
        })
    }

    /// Appends one encoded request.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let result = match self.encoding {
            Encoding::OtlpProto => {
                let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes();
                self.out
                    .write_all(&length)
                    .and_then(|_| self.out.write_all(bytes))
            }
            Encoding::OtlpJson => self
                .out
                .write_all(bytes)
                .and_then(|_| self.out.write_all(b"\n")),
        };
        self.records += 1;
        result.map_err(|e| Error::io(&self.path, e))
    }

    /// Flushes and closes the file.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        Ok(self.path)
    }
}
