//! Committing Kafka progress: resume offsets stored once the rows they cover are durable.
//!
//! The durable frontier comes from a probe after the sinks of all workers (see
//! [`crate::sink::WriteRows`] and [`crate::sink::PersistClosed`]): rows and span panes of
//! panes before it are in PostgreSQL everywhere. Rows
//! that depend on one partition's records are written by every worker (rows are routed by
//! service), so no single worker's row transaction could carry that partition's offset; the
//! offsets follow the rows in their own transaction instead, at most one commit interval
//! later. A crash in between replays a little more than needed, never less.

use std::time::{Duration, Instant};

use timely::dataflow::ProbeHandle;

use super::resume::{needed_from, ResumeTracker};
use crate::error::Result;
use crate::sink::postgres::{OffsetStore, ResumeOffset};
use crate::time::Pane;

/// Stores one worker's resume offsets.
pub struct OffsetCommitter {
    store: OffsetStore,
    interval: Duration,
    last_attempt: Instant,
    stored: Option<(Vec<ResumeOffset>, Pane)>,
    /// Rows of this pane and later are not complete (the job was asked to stop while they
    /// were open), whatever the durable frontier says.
    incomplete_from: Pane,
    /// The last pane any record fell in, for the durable frontier of a finished dataflow.
    newest_pane: Pane,
}

impl OffsetCommitter {
    /// Commits through `store` at most every `interval`.
    pub fn new(store: OffsetStore, interval: Duration) -> Self {
        OffsetCommitter {
            store,
            interval,
            last_attempt: Instant::now(),
            stored: None,
            incomplete_from: Pane::MAX,
            newest_pane: 0,
        }
    }

    /// The job is stopping with panes from `open` on still open: the rows it writes for them
    /// on the way out lack the records that would have come, so they must be recomputed.
    pub fn stopping_at(&mut self, open: Pane) {
        self.incomplete_from = self.incomplete_from.min(open);
    }

    /// Notes the newest pane the input has reached.
    pub fn saw_pane(&mut self, pane: Pane) {
        self.newest_pane = self.newest_pane.max(pane);
    }

    /// The first pane whose rows may not be durable and complete.
    fn not_durable_from(&self, durable: &ProbeHandle<Pane>) -> Pane {
        let frontier = durable.with_frontier(|f| f.first().copied());
        let durable_before = frontier.unwrap_or(self.newest_pane + 1);
        durable_before.min(self.incomplete_from)
    }

    /// Stores the offsets if the interval has passed and they changed.
    pub fn maybe_commit(&mut self, durable: &ProbeHandle<Pane>, resume: &mut ResumeTracker) {
        if self.last_attempt.elapsed() >= self.interval {
            if let Err(error) = self.commit(durable, resume) {
                tracing::warn!(%error, "resume offsets not stored; will retry");
            }
        }
    }

    /// Stores the offsets now, retrying while the database is unreachable for up to
    /// `patience`: the last commit of a run decides where the next one starts.
    pub fn commit_patiently(
        &mut self,
        durable: &ProbeHandle<Pane>,
        resume: &mut ResumeTracker,
        patience: Duration,
    ) -> Result<()> {
        crate::retry::patiently(patience, "resume offsets not stored", || {
            self.commit(durable, resume)
        })
    }

    /// Stores the offsets now if they changed.
    pub fn commit(
        &mut self,
        durable: &ProbeHandle<Pane>,
        resume: &mut ResumeTracker,
    ) -> Result<()> {
        self.last_attempt = Instant::now();
        let not_durable_from = self.not_durable_from(durable);
        let offsets = resume.resume_offsets(not_durable_from);
        let current = (offsets, not_durable_from);
        if offsets_unchanged(self.stored.as_ref(), &current) {
            return Ok(());
        }
        self.store
            .store(&current.0, current.1, needed_from(current.1))?;
        self.stored = Some(current);
        Ok(())
    }
}

fn offsets_unchanged(
    stored: Option<&(Vec<ResumeOffset>, Pane)>,
    current: &(Vec<ResumeOffset>, Pane),
) -> bool {
    current.0.is_empty() || stored == Some(current)
}
