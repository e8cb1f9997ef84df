//! The Kafka source: the topics the OpenTelemetry Collector's kafka exporter writes.
//!
//! Partitions are assigned explicitly, never through consumer-group rebalancing: every worker
//! of every process enumerates the partitions of all configured topics in the same order and
//! takes every `peers`-th one, so which worker reads what is a pure function of the topic
//! layout and the worker count, and the job's progress never waits on a rebalance. Where a
//! partition starts is decided by the caller (the resume offsets stored with the rows in
//! PostgreSQL), else by `kafka.start`. The group id only names the client; offsets are never
//! committed to Kafka, PostgreSQL holds them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::{Batch, Poll, RawMessage, Source};
use crate::config::{KafkaConfig, KafkaTopic, StartOffset};
use crate::error::{Error, Result};
use crate::record::Location;
use crate::stats::Stats;

/// How often librdkafka reports partition end offsets (for the consumer-lag metric).
const STATISTICS_INTERVAL_MS: &str = "5000";

/// Keeps the end offset (high watermark) of every partition from librdkafka's statistics.
#[derive(Default)]
pub struct EndOffsets {
    high: Mutex<HashMap<(String, i32), i64>>,
}

impl ClientContext for EndOffsets {
    fn stats(&self, statistics: Statistics) {
        if let Ok(mut high) = self.high.lock() {
            for (name, topic) in statistics.topics {
                for (id, partition) in topic.partitions {
                    if id >= 0 && partition.hi_offset >= 0 {
                        high.insert((name.clone(), id), partition.hi_offset);
                    }
                }
            }
        }
    }
}

impl ConsumerContext for EndOffsets {}

/// How long broker metadata and watermark requests may take before the job reports them.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most records handed over per poll, so the worker loop keeps stepping the dataflow.
const MESSAGES_PER_POLL: usize = 512;

/// One (topic, partition) with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaPartition {
    /// Index in the job-wide enumeration: the partition id the watermarks use.
    pub id: u32,
    /// Topic.
    pub topic: String,
    /// Partition number within the topic.
    pub partition: i32,
}

/// The librdkafka client configuration shared by the consumer, producers and admin calls.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    for (key, value) in &config.client {
        client.set(key, value);
    }
    client
}

fn kafka_error(config: &KafkaConfig, what: &str, error: KafkaError) -> Error {
    Error::Source(format!("Kafka {} ({what}): {error}", config.brokers))
}

/// All partitions of the configured topics in the job-wide order (topic order of the config,
/// then partition number), with their ids.
pub fn enumerate_partitions<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    config: &KafkaConfig,
) -> Result<Vec<KafkaPartition>> {
    let mut all = Vec::new();
    for topic in &config.topics {
        let metadata = consumer
            .fetch_metadata(Some(&topic.name), BROKER_TIMEOUT)
            .map_err(|e| kafka_error(config, &format!("metadata of topic {}", topic.name), e))?;
        let found = metadata.topics().iter().find(|t| t.name() == topic.name);
        let partitions = match found {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => t.partitions(),
            Some(t) => {
                return Err(Error::Source(format!(
                    "Kafka {}: topic {:?} is not available ({:?}); create it first",
                    config.brokers,
                    topic.name,
                    t.error()
                )))
            }
            None => {
                return Err(Error::Source(format!(
                    "Kafka {}: topic {:?} does not exist; create it first",
                    config.brokers, topic.name
                )))
            }
        };
        let mut ids: Vec<i32> = partitions.iter().map(|p| p.id()).collect();
        ids.sort_unstable();
        for partition in ids {
            all.push(KafkaPartition {
                id: all.len() as u32,
                topic: topic.name.clone(),
                partition,
            });
        }
    }
    Ok(all)
}

/// A metadata-only client (no group, nothing assigned).
fn metadata_client(config: &KafkaConfig) -> Result<BaseConsumer> {
    client_config(config)
        .create()
        .map_err(|e| kafka_error(config, "creating a client", e))
}

/// The number of partitions of each configured topic.
pub fn partition_counts(config: &KafkaConfig) -> Result<Vec<(String, i32)>> {
    let all = enumerate_partitions(&metadata_client(config)?, config)?;
    Ok(config
        .topics
        .iter()
        .map(|t| {
            let count = all.iter().filter(|p| p.topic == t.name).count();
            (t.name.clone(), count as i32)
        })
        .collect())
}

/// Creates the configured topics (and the dead-letter topic) that do not exist yet, with
/// `partitions` partitions and `replication` replicas; returns the topics created.
pub fn create_topics(
    config: &KafkaConfig,
    partitions: i32,
    replication: i32,
) -> Result<Vec<String>> {
    let admin: AdminClient<DefaultClientContext> = client_config(config)
        .create()
        .map_err(|e| kafka_error(config, "creating an admin client", e))?;
    let mut names: Vec<&str> = config.topics.iter().map(|t| t.name.as_str()).collect();
    let extras = [&config.dead_letter_topic, &config.alerts_topic];
    names.extend(extras.into_iter().flatten().map(String::as_str));
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(replication)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(BROKER_TIMEOUT));
    let results = futures_executor::block_on(admin.create_topics(&topics, &options))
        .map_err(|e| kafka_error(config, "creating topics", e))?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(Error::Source(format!(
                    "Kafka {}: creating topic {name:?}: {code}",
                    config.brokers
                )))
            }
        }
    }
    Ok(created)
}

/// The partitions worker `index` of `peers` reads.
pub fn assigned(all: &[KafkaPartition], index: usize, peers: usize) -> Vec<KafkaPartition> {
    all.iter()
        .filter(|p| p.id as usize % peers.max(1) == index)
        .cloned()
        .collect()
}

struct Reading {
    id: u32,
    topic: usize,
    /// The next offset to consume (for the lag).
    next: i64,
    /// Records consumed since the counters were last published.
    unpublished: u64,
    /// The end offset of a bounded run (the high watermark at start).
    end: Option<i64>,
    finished: bool,
}

/// Consumes this worker's share of the partitions.
pub struct KafkaSource {
    consumer: BaseConsumer<EndOffsets>,
    config: KafkaConfig,
    stats: Arc<Stats>,
    published: Instant,
    readings: HashMap<(String, i32), Reading>,
    stopping: bool,
    newly_finished: Vec<u32>,
}

impl KafkaSource {
    /// Connects, assigns this worker's partitions and seeks them to `resume` (the stored
    /// resume offsets of (topic, partition)), else to `kafka.start`.
    pub fn open(
        config: &KafkaConfig,
        resume: &HashMap<(String, i32), i64>,
        (index, peers): (usize, usize),
        stats: Arc<Stats>,
    ) -> Result<Self> {
        let consumer: BaseConsumer<EndOffsets> = client_config(config)
            .set("group.id", "aiops")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
            .create_with_context(EndOffsets::default())
            .map_err(|e| kafka_error(config, "creating the consumer", e))?;
        let all = enumerate_partitions(&consumer, config)?;
        let mine = assigned(&all, index, peers);
        let mut list = TopicPartitionList::new();
        let mut readings = HashMap::new();
        for partition in &mine {
            let key = (partition.topic.clone(), partition.partition);
            let start = match (resume.get(&key), config.start) {
                (Some(offset), _) => Offset::Offset(*offset),
                (None, StartOffset::Earliest) => Offset::Beginning,
                (None, StartOffset::Latest) => Offset::End,
            };
            list.add_partition_offset(&partition.topic, partition.partition, start)
                .map_err(|e| kafka_error(config, "assigning partitions", e))?;
            let (low, high) = consumer
                .fetch_watermarks(&partition.topic, partition.partition, BROKER_TIMEOUT)
                .map_err(|e| {
                    kafka_error(
                        config,
                        &format!("offsets of {}/{}", partition.topic, partition.partition),
                        e,
                    )
                })?;
            let first = match start {
                Offset::Offset(offset) => offset.max(low),
                Offset::End => high,
                _ => low,
            };
            let end = config.stop_at_end.then_some(high);
            let topic = config
                .topics
                .iter()
                .position(|t| t.name == partition.topic)
                .unwrap_or_default();
            readings.insert(
                key,
                Reading {
                    id: partition.id,
                    topic,
                    next: first,
                    unpublished: 0,
                    end,
                    finished: end.is_some_and(|end| first >= end),
                },
            );
        }
        consumer
            .assign(&list)
            .map_err(|e| kafka_error(config, "assigning partitions", e))?;
        tracing::info!(
            worker = index,
            partitions = ?mine.iter().map(|p| format!("{}/{}", p.topic, p.partition)).collect::<Vec<_>>(),
            "kafka partitions assigned"
        );
        let newly_finished = readings
            .values()
            .filter(|r| r.finished)
            .map(|r| r.id)
            .collect();
        Ok(KafkaSource {
            consumer,
            config: config.clone(),
            stats,
            published: Instant::now(),
            readings,
            stopping: false,
            newly_finished,
        })
    }

    fn topic(&self, index: usize) -> &KafkaTopic {
        &self.config.topics[index]
    }

    /// Marks bounded partitions whose position reached their end as finished (an end of
    /// partition may sit behind offsets no record has, e.g. transaction markers).
    fn check_positions(&mut self) {
        if !self.config.stop_at_end {
            return;
        }
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        for element in positions.elements() {
            let key = (element.topic().to_string(), element.partition());
            let Some(reading) = self.readings.get_mut(&key) else {
                continue;
            };
            if let (Offset::Offset(position), Some(end)) = (element.offset(), reading.end) {
                if position >= end && !reading.finished {
                    reading.finished = true;
                    self.newly_finished.push(reading.id);
                }
            }
        }
    }

    /// Publishes per-partition record counts and lag to the job's counters.
    fn publish(&mut self) {
        self.published = Instant::now();
        let high = self
            .consumer
            .context()
            .high
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default();
        for (key, reading) in &mut self.readings {
            let lag = high.get(key).map(|high| (high - reading.next).max(0));
            self.stats
                .partition(&key.0, key.1, std::mem::take(&mut reading.unpublished), lag);
        }
    }

    fn all_finished(&self) -> bool {
        self.readings.values().all(|r| r.finished)
    }

    /// Adds one consumed record to `batch` (moving its bytes and topic name, copied once).
    fn accept(&mut self, batch: &mut Batch, key: (String, i32), offset: i64, bytes: Vec<u8>) {
        let Some(reading) = self.readings.get_mut(&key) else {
            return;
        };
        if reading.finished {
            return;
        }
        let (id, topic_index) = (reading.id, reading.topic);
        reading.next = offset + 1;
        reading.unpublished += 1;
        if reading.end.is_some_and(|end| offset + 1 >= end) {
            reading.finished = true;
            batch.finished.push(id);
        }
        let topic_config = self.topic(topic_index);
        batch.messages.push(RawMessage {
            partition: id,
            signal: topic_config.signal,
            encoding: topic_config.encoding,
            bytes,
            location: Location::Kafka {
                topic: key.0,
                partition: key.1,
                offset,
            },
        });
    }
}

impl Source for KafkaSource {
    fn partitions(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.readings.values().map(|r| r.id).collect();
        ids.sort_unstable();
        ids
    }

    fn poll(&mut self) -> Poll {
        let mut batch = Batch {
            finished: std::mem::take(&mut self.newly_finished),
            ..Batch::default()
        };
        if self.stopping || self.all_finished() {
            self.publish();
            return if batch.finished.is_empty() {
                Poll::Done
            } else {
                Poll::Ready(batch)
            };
        }
        let started = Instant::now();
        while batch.messages.len() < MESSAGES_PER_POLL {
            let wait = if batch.messages.is_empty() && started.elapsed() < Duration::from_millis(50)
            {
                Duration::from_millis(50)
            } else {
                Duration::ZERO
            };
            match self.consumer.poll(wait) {
                None => {
                    self.check_positions();
                    break;
                }
                Some(Ok(message)) => {
                    let key = (message.topic().to_string(), message.partition());
                    let bytes = message.payload().unwrap_or_default().to_vec();
                    let offset = message.offset();
                    self.accept(&mut batch, key, offset, bytes);
                }
                Some(Err(error)) => {
                    // Broker and network errors are retried by librdkafka itself; report them.
                    tracing::warn!(%error, brokers = %self.config.brokers, "kafka consumer");
                    break;
                }
            }
        }
        batch.finished.append(&mut self.newly_finished);
        if self.published.elapsed() >= Duration::from_secs(1) {
            self.publish();
        }
        if batch.messages.is_empty() && batch.finished.is_empty() {
            Poll::Wait(Duration::from_millis(20))
        } else {
            Poll::Ready(batch)
        }
    }

    fn stop(&mut self) {
        self.stopping = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partitions(layout: &[(&str, i32)]) -> Vec<KafkaPartition> {
        let mut all = Vec::new();
        for (topic, count) in layout {
            for partition in 0..*count {
                all.push(KafkaPartition {
                    id: all.len() as u32,
                    topic: topic.to_string(),
                    partition,
                });
            }
        }
        all
    }

    #[test]
    fn every_partition_goes_to_exactly_one_worker() {
        let all = partitions(&[("otlp_spans", 4), ("otlp_metrics", 3)]);
        for peers in 1..=9 {
            let mut seen: Vec<u32> = (0..peers)
                .flat_map(|index| assigned(&all, index, peers))
                .map(|p| p.id)
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..7).collect::<Vec<_>>(), "{peers} workers");
        }
        let worker_1_of_3: Vec<(String, i32)> = assigned(&all, 1, 3)
            .into_iter()
            .map(|p| (p.topic, p.partition))
            .collect();
        assert_eq!(
            worker_1_of_3,
            vec![
                ("otlp_spans".to_string(), 1),
                ("otlp_metrics".to_string(), 0)
            ]
        );
    }
}
