//! Several sources read as one: the OTLP receivers beside Kafka or files.

use std::time::Duration;

use super::{Batch, Poll, Source};

/// Polls its sources in turn; done when all are.
pub struct Merged {
    sources: Vec<Box<dyn Source>>,
    done: Vec<bool>,
    next: usize,
}

impl Merged {
    /// The sources, read in turn; their partition ids must not overlap.
    pub fn new(sources: Vec<Box<dyn Source>>) -> Self {
        let done = vec![false; sources.len()];
        Merged {
            sources,
            done,
            next: 0,
        }
    }
}

impl Source for Merged {
    fn partitions(&self) -> Vec<u32> {
        self.sources.iter().flat_map(|s| s.partitions()).collect()
    }

    fn poll(&mut self) -> Poll {
        let mut wait: Option<Duration> = None;
        for _ in 0..self.sources.len() {
            let i = self.next;
            self.next = (self.next + 1) % self.sources.len();
            if self.done[i] {
                continue;
            }
            match self.sources[i].poll() {
                Poll::Ready(batch) => return Poll::Ready(batch),
                Poll::Wait(w) => wait = Some(wait.map_or(w, |v| v.min(w))),
                Poll::Done => self.done[i] = true,
            }
        }
        match wait {
            Some(wait) => Poll::Wait(wait),
            None if self.done.iter().all(|d| *d) => Poll::Done,
            // A source finished in this round: look again at once.
            None => Poll::Ready(Batch::default()),
        }
    }

    fn stop(&mut self) {
        for source in &mut self.sources {
            source.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields `batches` batches, then waits `waits` times, then is done.
    struct Script {
        id: u32,
        batches: usize,
        waits: usize,
    }

    impl Source for Script {
        fn partitions(&self) -> Vec<u32> {
            vec![self.id]
        }

        fn poll(&mut self) -> Poll {
            if self.batches > 0 {
                self.batches -= 1;
                let progress = vec![(self.id, 0)];
                return Poll::Ready(Batch {
                    progress,
                    ..Batch::default()
                });
            }
            if self.waits > 0 {
                self.waits -= 1;
                return Poll::Wait(Duration::from_millis(10 * u64::from(self.id)));
            }
            Poll::Done
        }

        fn stop(&mut self) {}
    }

    #[test]
    fn reads_every_source_in_turn_until_all_are_done() {
        let a = Script {
            id: 1,
            batches: 3,
            waits: 0,
        };
        let b = Script {
            id: 2,
            batches: 1,
            waits: 2,
        };
        let mut merged = Merged::new(vec![Box::new(a), Box::new(b)]);
        assert_eq!(merged.partitions(), vec![1, 2]);
        let mut from = Vec::new();
        let mut waits = Vec::new();
        for _ in 0..20 {
            match merged.poll() {
                Poll::Ready(batch) => from.extend(batch.progress.iter().map(|p| p.0)),
                Poll::Wait(wait) => waits.push(wait),
                Poll::Done => break,
            }
        }
        assert_eq!(from, vec![1, 2, 1, 1], "alternating while both have data");
        assert_eq!(
            waits,
            vec![Duration::from_millis(20)],
            "waits only when none has data"
        );
    }
}
