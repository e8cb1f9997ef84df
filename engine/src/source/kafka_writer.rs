//! Producing records to Kafka: OTLP requests as the Collector's kafka exporter writes them
//! (for demos, tests and `aiops generate --to kafka`), and the job's dead letters.
//!
//! librdkafka reports delivery failures asynchronously; the writer's context keeps count so
//! that `flush` can say whether everything sent was acknowledged, not only that the queue is
//! empty.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use super::kafka::client_config;
use crate::config::KafkaConfig;
use crate::error::{Error, Result};

/// How long the last records may take to be acknowledged.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Counts failed deliveries and keeps the first error.
#[derive(Default)]
pub struct Deliveries {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first_error.lock() {
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// An idempotent producer.
pub struct KafkaWriter {
    producer: BaseProducer<Deliveries>,
    brokers: String,
    /// Records handed to the producer.
    pub records: u64,
}

impl KafkaWriter {
    /// A producer for the brokers of `config`, with its client options.
    pub fn new(config: &KafkaConfig) -> Result<Self> {
        let producer = client_config(config)
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .create_with_context(Deliveries::default())
            .map_err(|e| {
                Error::Source(format!(
                    "Kafka {}: creating a producer: {e}",
                    config.brokers
                ))
            })?;
        Ok(KafkaWriter {
            producer,
            brokers: config.brokers.clone(),
            records: 0,
        })
    }

    /// Queues `bytes` for `topic` (at `partition`, or where the partitioner puts it), waiting
    /// while the local queue is full.
    pub fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        bytes: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> Result<()> {
        let mut record: BaseRecord<'_, (), [u8]> = BaseRecord::to(topic).payload(bytes);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    self.producer.poll(Duration::from_millis(50));
                    record = returned;
                }
                Err((error, _)) => {
                    return Err(Error::Source(format!(
                        "Kafka {}: producing to {topic}: {error}",
                        self.brokers
                    )))
                }
            }
        }
        self.records += 1;
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    /// Waits until every queued record is acknowledged; fails if any delivery failed.
    pub fn flush(&mut self) -> Result<()> {
        self.producer.flush(FLUSH_TIMEOUT).map_err(|e| {
            Error::Source(format!("Kafka {}: delivering records: {e}", self.brokers))
        })?;
        let context = self.producer.context();
        let failed = context.failed.load(Ordering::Relaxed);
        if failed == 0 {
            return Ok(());
        }
        let first = context
            .first_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default();
        Err(Error::Source(format!(
            "Kafka {}: {failed} of {} records were not delivered (first error: {first})",
            self.brokers, self.records
        )))
    }
}
