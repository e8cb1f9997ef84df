//! Dead letters: records that cannot be used, kept whole with the reason.
//!
//! From files and the simulator they go to a JSON-lines side output; from Kafka they go to a
//! dead-letter topic, the original bytes as the value, so they can be inspected, fixed and
//! re-produced with ordinary Kafka tools. Headers name the error and where the record came
//! from.

use base64::Engine as _;
use rdkafka::message::{Header, OwnedHeaders};
use serde_json::json;

use super::SideOutput;
use crate::config::KafkaConfig;
use crate::error::Result;
use crate::record::{Location, Signal};
use crate::source::KafkaWriter;

/// Where dead letters go.
pub trait DeadLetters {
    /// Keeps one unusable record: where it came from, why it is unusable, its bytes.
    fn send(
        &mut self,
        location: &Location,
        reason: &str,
        signal: Option<Signal>,
        bytes: &[u8],
    ) -> Result<()>;
    /// Makes everything sent so far durable.
    fn flush(&mut self) -> Result<()>;
}

impl DeadLetters for SideOutput {
    fn send(
        &mut self,
        location: &Location,
        reason: &str,
        signal: Option<Signal>,
        bytes: &[u8],
    ) -> Result<()> {
        self.write(&json!({
            "location": location.to_string(),
            "signal": signal.map(|s| s.to_string()),
            "error": reason,
            "bytes_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        }))
    }

    fn flush(&mut self) -> Result<()> {
        SideOutput::flush(self)
    }
}

/// Produces dead letters to a Kafka topic.
pub struct KafkaDeadLetters {
    writer: KafkaWriter,
    topic: String,
}

impl KafkaDeadLetters {
    /// A producer for `topic` (`kafka.dead_letter_topic`) on the cluster of `config`.
    pub fn new(config: &KafkaConfig, topic: &str) -> Result<Self> {
        Ok(KafkaDeadLetters {
            writer: KafkaWriter::new(config)?,
            topic: topic.to_string(),
        })
    }
}

fn headers(location: &Location, reason: &str, signal: Option<Signal>) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new().insert(Header {
        key: "aiops.error",
        value: Some(reason),
    });
    if let Location::Kafka {
        topic,
        partition,
        offset,
    } = location
    {
        for (key, value) in [
            ("aiops.topic", topic.clone()),
            ("aiops.partition", partition.to_string()),
            ("aiops.offset", offset.to_string()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(&value),
            });
        }
    } else {
        let place = location.to_string();
        headers = headers.insert(Header {
            key: "aiops.location",
            value: Some(&place),
        });
    }
    if let Some(signal) = signal {
        let signal = signal.to_string();
        headers = headers.insert(Header {
            key: "aiops.signal",
            value: Some(&signal),
        });
    }
    headers
}

impl DeadLetters for KafkaDeadLetters {
    fn send(
        &mut self,
        location: &Location,
        reason: &str,
        signal: Option<Signal>,
        bytes: &[u8],
    ) -> Result<()> {
        let headers = headers(location, reason, signal);
        self.writer.send(&self.topic, None, bytes, Some(headers))
    }

    fn flush(&mut self) -> Result<()> {
        self.writer.flush()
    }
}
