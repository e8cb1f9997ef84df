//! Incidents as alerts on a Kafka topic, for the cluster job's consumers (paging, chat-ops).
//!
//! Each incident update is one JSON record (the same document as the incidents JSON lines and
//! `schemas/incident.json`), flushed whenever the incident stream's frontier moves. All go to
//! partition 0, so consumers see every update in order (alert volume is a few records a
//! minute). Delivery is at least once: a restarted job may send the updates of the minutes it
//! rewrites again, so consumers deduplicate by (`incident_id`, `time_us`).

use std::ops::Range;

use timely::progress::Stamp;

use crate::config::KafkaConfig;
use crate::error::Result;
use crate::score::Incident;
use crate::source::KafkaWriter;
use crate::time::Pane;

/// Produces incident updates to the alerts topic.
pub struct KafkaAlerts {
    writer: KafkaWriter,
    topic: String,
    /// Updates of minutes outside (replayed minutes) are not sent again.
    keep: Range<i64>,
}

impl KafkaAlerts {
    /// A producer for `topic` (`kafka.alerts_topic`) on the cluster of `config`.
    pub fn new(config: &KafkaConfig, topic: &str, keep: Range<i64>) -> Result<Self> {
        Ok(KafkaAlerts {
            writer: KafkaWriter::new(config)?,
            topic: topic.to_string(),
            keep,
        })
    }

    /// Handles one `inspect_core` event: sends updates, flushes when the frontier moves.
    /// Failures are logged: alerting trouble must not stop the rows.
    pub fn observe(&mut self, event: std::result::Result<(&Stamp<Pane>, &Vec<Incident>), &[Pane]>) {
        let result = match event {
            Ok((_, incidents)) => incidents
                .iter()
                .filter(|i| self.keep.contains(&i.time_us))
                .try_for_each(|incident| {
                    let bytes = serde_json::to_vec(incident).unwrap_or_default();
                    self.writer.send(&self.topic, Some(0), &bytes, None)
                }),
            Err(_) => self.writer.flush(),
        };
        if let Err(error) = result {
            tracing::error!(%error, topic = %self.topic, "cannot send alerts");
        }
    }
}
