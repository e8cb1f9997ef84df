//! The worker's loop: poll the source, ingest, step the dataflow, keep at most a few panes in
//! flight, pause consumption while the database is away, and store Kafka offsets once the
//! rows they cover are durable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use timely::worker::Worker;

use super::commit::OffsetCommitter;
use super::dataflow::Handles;
use super::ingest::Ingest;
use crate::error::Result;
use crate::source::{Poll, Source};
use crate::stats::Stats;

/// Panes the sources may run ahead of the rows: bounds memory when input is fast.
const MAX_PANES_IN_FLIGHT: u64 = 2;
/// The longest a worker ahead of the rows parks before it looks again; messages and progress
/// from other workers wake it sooner.
const BEHIND_PARK: Duration = Duration::from_millis(1);
/// Panes the sources may run ahead of the rows durable in PostgreSQL: while the database is
/// away, consumption pauses after this much instead of buffering rows without bound.
const MAX_UNDURABLE_PANES: u64 = 60;

/// What the loop drives.
pub(super) struct Drive {
    /// This worker's share of the input.
    pub source: Box<dyn Source>,
    /// Decode, watermarks and side outputs.
    pub ingest: Ingest,
    /// Stores Kafka resume offsets, for a resumable job.
    pub committer: Option<OffsetCommitter>,
    /// Rows go to a database, whose outages pause consumption.
    pub database_sink: bool,
    /// How long the last commit keeps retrying an unreachable database.
    pub patience: Duration,
}

impl Drive {
    /// Asks the source to end at a clean point; no offset past the open pane is stored.
    fn stop(&mut self) {
        self.source.stop();
        if let Some(committer) = self.committer.as_mut() {
            committer.stopping_at(self.ingest.open_pane());
        }
    }

    /// Stores resume offsets when the rows before them are durable and the interval is due.
    fn commit_if_due(&mut self, input_time: u64, durable: &timely::dataflow::ProbeHandle<u64>) {
        if let Some(committer) = self.committer.as_mut() {
            committer.saw_pane(input_time);
            committer.maybe_commit(durable, self.ingest.resume());
        }
    }
}

/// Counts this worker in [`Stats::workers_running`] while it lives (readiness).
struct Running(Arc<Stats>);

impl Running {
    fn start(stats: &Arc<Stats>) -> Running {
        Stats::add(&stats.workers_running, 1);
        stats.inputs_started.fetch_add(1, Ordering::Release);
        Running(Arc::clone(stats))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.workers_running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs the loop until the source is exhausted (or stopped), drains the dataflow, and makes
/// the last commit.
pub(super) fn run(
    worker: &mut Worker,
    handles: Handles,
    mut drive: Drive,
    stop: &AtomicBool,
) -> Result<()> {
    let Handles {
        mut inputs,
        scored,
        durable,
    } = handles;
    let _running = Running::start(drive.ingest.stats());
    let mut stopping = false;
    loop {
        if !stopping && stop.load(Ordering::Relaxed) {
            stopping = true;
            drive.stop();
        }
        drive.commit_if_due(inputs.time(), &durable);
        let undurable_limit = inputs.time().saturating_sub(MAX_UNDURABLE_PANES);
        if drive.database_sink && durable.less_than(&undurable_limit) {
            worker.step_or_park(Some(Duration::from_millis(50)));
            continue;
        }
        match drive.source.poll() {
            Poll::Ready(batch) => drive.ingest.push(batch, &mut inputs),
            Poll::Wait(wait) => {
                drive.ingest.advance(&mut inputs);
                worker.step_or_park(Some(wait.min(Duration::from_millis(100))));
                continue;
            }
            Poll::Done => break,
        }
        worker.step();
        let behind = inputs.time().saturating_sub(MAX_PANES_IN_FLIGHT);
        while scored.less_than(&behind) {
            // Parks while this worker has nothing to do: the rows usually wait for another
            // worker (or process), and stepping in a tight loop burnt a core waiting for it.
            worker.step_or_park(Some(BEHIND_PARK));
        }
    }
    drive.ingest.finish();
    // Before the inputs close: the minutes they still hold open close early, and the
    // detector and incidents must know that when they see them.
    drive.ingest.mark_input_end();
    drop(inputs);
    while worker.step_or_park(Some(Duration::from_millis(5))) {}
    let Some(committer) = drive.committer.as_mut() else {
        return Ok(());
    };
    // The dataflow has drained: every minute with a record is durable, including those the
    // input's time never reached before the source ended (a bounded replay's last minutes).
    committer.saw_pane(drive.ingest.newest_pane());
    committer.commit_patiently(&durable, drive.ingest.resume(), drive.patience)
}
