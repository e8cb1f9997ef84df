//! Sources, the first stage: where raw OTLP records come from, behind one small trait.
//!
//! A source hands the worker loop batches of still-encoded records with their locations,
//! plus event-time progress of its partitions. Decoding, watermarks and lateness are the
//! loop's business, so every source gets them the same way.
//!
//! Modules: [`sim`] (the built-in simulator) and [`otlp_build`] (constructors of the OTLP it
//! emits), then one module per source: [`simulator`](SimulatorSource), [`files`](FileSource)
//! and [`kafka`], with the [`KafkaWriter`] the Kafka sinks and `aiops generate` produce with,
//! and [`Merged`], which reads several as one (the OTLP receivers beside Kafka or files).
//! Sources of other crates (the benchmark crate's dataset replays) implement [`Source`] and
//! reach the job through its source factory.

pub mod otlp_build;
pub mod sim;

mod files;
pub mod kafka;
mod kafka_writer;
mod merge;
mod simulator;

use std::time::Duration;

pub use files::{FileSource, OtlpFileWriter};
pub use kafka::KafkaSource;
pub use kafka_writer::KafkaWriter;
pub use merge::Merged;
pub use simulator::SimulatorSource;

use crate::record::{Encoding, Location, LogRecord, MetricPoint, Signal, Span};

/// One still-encoded OTLP record.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// The source partition it came from (watermarks are tracked per partition).
    pub partition: u32,
    /// Traces or metrics.
    pub signal: Signal,
    /// Wire encoding.
    pub encoding: Encoding,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Where it came from.
    pub location: Location,
}

/// Bytes a source could not even frame as a record (unknown encoding, truncated file).
#[derive(Debug, Clone)]
pub struct SourceFault {
    /// Where.
    pub location: Location,
    /// What is wrong.
    pub reason: String,
    /// The bytes concerned, if any were read.
    pub bytes: Vec<u8>,
}

/// Records a source decoded itself: the OTLP receivers decode on their own threads, so that
/// each request is answered with what was rejected from it.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The source partition it came from.
    pub partition: u32,
    /// Where it came from.
    pub location: Location,
    /// Valid spans.
    pub spans: Vec<Span>,
    /// Valid metric points.
    pub points: Vec<MetricPoint>,
    /// Valid log records.
    pub logs: Vec<LogRecord>,
    /// Records that were rejected: how many, why, and the request they came from (to
    /// dead-letter, as a rejected record of a file or topic is).
    pub rejected: Option<RejectedRecords>,
}

/// The rejected records of a [`Decoded`] request.
#[derive(Debug, Clone)]
pub struct RejectedRecords {
    /// How many.
    pub count: u64,
    /// Why, position by position.
    pub reason: String,
    /// The signal of the request.
    pub signal: Signal,
    /// The request as received (decompressed).
    pub bytes: Vec<u8>,
}

/// What a source produced in one poll.
#[derive(Debug, Default)]
pub struct Batch {
    /// Records.
    pub messages: Vec<RawMessage>,
    /// Records the source decoded itself.
    pub decoded: Vec<Decoded>,
    /// Partitions that promise nothing older than this event time (ns), beyond the usual
    /// out-of-orderness, will follow.
    pub progress: Vec<(u32, u64)>,
    /// Partitions that are exhausted.
    pub finished: Vec<u32>,
    /// Unframeable input, to count and dead-letter.
    pub faults: Vec<SourceFault>,
}

/// The result of polling a source.
#[derive(Debug)]
pub enum Poll {
    /// Something to process.
    Ready(Batch),
    /// Nothing now; poll again after at most this long.
    Wait(Duration),
    /// The source is exhausted.
    Done,
}

/// A source of OTLP records for one worker.
pub trait Source {
    /// The partitions this worker reads; each holds the watermark until it delivers or idles.
    fn partitions(&self) -> Vec<u32>;
    /// Returns the next batch, a wait hint, or the end.
    fn poll(&mut self) -> Poll;
    /// Asks the source to end soon, at a clean point (Ctrl-C).
    fn stop(&mut self);
}
