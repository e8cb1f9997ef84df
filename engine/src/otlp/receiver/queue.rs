//! The queue between the receivers' request handlers and the workers.
//!
//! It is bounded in records, not requests: a job that falls behind refuses new requests with a
//! retry hint instead of buffering without bound, and the bound is what memory is sized by.
//! Each entry carries the handle that answers its request; a worker fires it once the records
//! are in the dataflow (see [`super::ReceiverSource`]). Bodies that could not be decoded travel
//! the same way as faults, so a worker dead-letters them like any unreadable input.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::source::{Decoded, SourceFault};

/// Why a request was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queue holds its limit of records: the job is behind; retry later.
    Full,
    /// The job is stopping.
    Closed,
}

/// Fires when the request's records have entered the dataflow.
pub type Done = oneshot::Sender<()>;
/// Awaited by the request handler; an error means the job ended before taking the records.
pub type Answer = oneshot::Receiver<()>;

struct Entry {
    decoded: Decoded,
    records: usize,
    done: Done,
}

#[derive(Default)]
struct State {
    entries: VecDeque<Entry>,
    faults: Vec<SourceFault>,
    records: usize,
    closed: bool,
}

/// What a worker took from the queue.
#[derive(Default)]
pub struct Taken {
    /// Decoded requests.
    pub decoded: Vec<Decoded>,
    /// Their answer handles, to fire once the records are in the dataflow.
    pub done: Vec<Done>,
    /// Undecodable bodies, to dead-letter.
    pub faults: Vec<SourceFault>,
}

/// A bounded, multi-producer, multi-consumer queue of decoded requests.
pub struct Queue {
    state: Mutex<State>,
    limit: usize,
}

impl Queue {
    /// A queue that holds at most `limit` records (one larger request is let in when the queue
    /// is empty, or it could never be).
    pub fn new(limit: usize) -> Self {
        Queue {
            state: Mutex::new(State::default()),
            limit,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A handler that panicked while holding the lock left whole entries: keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a decoded request, or says why not.
    pub fn offer(&self, decoded: Decoded) -> Result<Answer, Refusal> {
        let records = decoded.spans.len() + decoded.points.len() + decoded.logs.len();
        let mut state = self.state();
        if state.closed {
            return Err(Refusal::Closed);
        }
        if state.records > 0 && state.records + records > self.limit {
            return Err(Refusal::Full);
        }
        let (done, answer) = oneshot::channel();
        state.records += records;
        state.entries.push_back(Entry {
            decoded,
            records,
            done,
        });
        Ok(answer)
    }

    /// Queues an undecodable body for the dead letters; its bytes are dropped (the fault is
    /// still reported) when the queue is full, since the client was already told it failed.
    pub fn offer_fault(&self, mut fault: SourceFault) {
        let mut state = self.state();
        if state.records >= self.limit {
            fault.bytes = Vec::new();
        }
        state.faults.push(fault);
    }

    /// Takes queued requests, oldest first, until about `max_records` records.
    pub fn take(&self, max_records: usize) -> Taken {
        let mut state = self.state();
        let mut taken = Taken {
            faults: std::mem::take(&mut state.faults),
            ..Taken::default()
        };
        let mut records = 0;
        while records < max_records {
            let Some(entry) = state.entries.pop_front() else {
                break;
            };
            records += entry.records;
            taken.decoded.push(entry.decoded);
            taken.done.push(entry.done);
        }
        state.records -= records;
        taken
    }

    /// Refuses new requests from now on; queued ones are still taken.
    pub fn close(&self) {
        self.state().closed = true;
    }

    /// Whether the queue is closed and holds nothing more.
    pub fn is_drained(&self) -> bool {
        let state = self.state();
        state.closed && state.entries.is_empty() && state.faults.is_empty()
    }

    /// Whether the queue holds its limit of records (a request would be refused).
    pub fn is_full(&self) -> bool {
        self.state().records >= self.limit
    }

    /// Records queued now.
    pub fn records(&self) -> usize {
        self.state().records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Location;

    fn request(spans: usize) -> Decoded {
        let span = crate::record::Span {
            resource: Default::default(),
            trace_id: [1; 16],
            span_id: [1; 8],
            parent_span_id: None,
            name: "GET /".into(),
            kind: crate::record::SpanKind::Server,
            start_ns: 1,
            end_ns: 2,
            status_error: false,
            http_status: None,
            peer_service: None,
            server_address: None,
            db_system: None,
            weight: 1.0,
            user: None,
        };
        Decoded {
            partition: 0,
            location: Location::Simulator {
                shard: 0,
                sequence: 0,
            },
            spans: vec![span; spans],
            points: Vec::new(),
            logs: Vec::new(),
            rejected: None,
        }
    }

    #[test]
    fn a_full_queue_refuses_and_never_holds_more_than_its_limit() {
        let queue = Queue::new(1_000);
        let mut answers = Vec::new();
        let mut refused = 0;
        for _ in 0..100 {
            match queue.offer(request(300)) {
                Ok(answer) => answers.push(answer),
                Err(refusal) => {
                    assert_eq!(refusal, Refusal::Full);
                    refused += 1;
                }
            }
            assert!(
                queue.records() <= 1_000,
                "{} records queued",
                queue.records()
            );
        }
        assert_eq!(answers.len(), 3, "three requests of 300 fit under 1,000");
        assert_eq!(refused, 97);
        let taken = queue.take(usize::MAX);
        assert_eq!(taken.decoded.len(), 3);
        assert_eq!(queue.records(), 0);
        assert!(queue.offer(request(300)).is_ok(), "room again once taken");
        assert!(!queue.is_full());
        assert!(queue.offer(request(700)).is_ok());
        assert!(queue.is_full());
    }

    #[test]
    fn an_oversized_request_gets_in_when_the_queue_is_empty() {
        let queue = Queue::new(100);
        assert!(queue.offer(request(500)).is_ok());
        assert_eq!(queue.offer(request(1)).unwrap_err(), Refusal::Full);
    }

    #[test]
    fn answers_fire_when_a_worker_says_so_and_fail_when_the_job_ends() {
        let queue = Queue::new(1_000);
        let mut first = queue.offer(request(10)).unwrap();
        let mut second = queue.offer(request(10)).unwrap();
        let taken = queue.take(10);
        assert_eq!(taken.decoded.len(), 1, "takes about max_records");
        assert!(
            first.try_recv().is_err(),
            "not answered before the records are in"
        );
        for done in taken.done {
            done.send(()).unwrap();
        }
        assert_eq!(first.try_recv(), Ok(()));
        queue.close();
        assert_eq!(queue.offer(request(1)).unwrap_err(), Refusal::Closed);
        assert!(!queue.is_drained(), "the second request is still queued");
        drop(queue);
        assert!(
            second.try_recv().is_err(),
            "dropped with the job: the handler answers 503"
        );
    }
}
