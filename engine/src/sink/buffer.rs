//! The row buffer every sink keeps between flushes, and when it is due.

use std::time::{Duration, Instant};

use crate::features::FeatureRow;

/// Rows accepted but not yet durable, with the age of the oldest.
#[derive(Debug)]
pub struct RowBuffer {
    /// The rows, in arrival order.
    pub rows: Vec<FeatureRow>,
    oldest: Option<Instant>,
    max_age: Duration,
    max_rows: usize,
}

impl RowBuffer {
    /// A buffer due for flushing when its oldest row is `max_age` old or it holds `max_rows`.
    pub fn new(max_age: Duration, max_rows: usize) -> Self {
        RowBuffer {
            rows: Vec::new(),
            oldest: None,
            max_age,
            max_rows: max_rows.max(1),
        }
    }

    /// Moves `rows` into the buffer.
    pub fn push(&mut self, rows: &mut Vec<FeatureRow>) {
        if !rows.is_empty() {
            self.oldest.get_or_insert_with(Instant::now);
            self.rows.append(rows);
        }
    }

    /// Whether the buffer should be flushed now.
    pub fn is_due(&self) -> bool {
        self.rows.len() >= self.max_rows || self.oldest.is_some_and(|t| t.elapsed() >= self.max_age)
    }

    /// Drops the first `count` rows, which are durable now; an emptied buffer's age restarts.
    pub fn written(&mut self, count: usize) {
        self.rows.drain(..count.min(self.rows.len()));
        if self.rows.is_empty() {
            self.oldest = None;
        }
    }

    /// Gives up on the buffered rows after a permanent failure (already reported); they are
    /// logged as lost so the job can end.
    pub fn abandon(&mut self) {
        if !self.rows.is_empty() {
            tracing::error!(
                rows = self.rows.len(),
                "feature rows abandoned after a permanent write failure"
            );
        }
        self.written(self.rows.len());
    }
}
