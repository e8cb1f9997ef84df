//! Retrying what an external system refused for a while: one backoff policy for every place
//! that talks to PostgreSQL, blocking (at start and at the end of a run) or not (inside
//! dataflow operators, which must keep the worker stepping and ask to be woken instead).

use std::time::{Duration, Instant};

use crate::error::Result;

/// Exponential backoff: waits that double from `first` up to `max`, and when the next
/// attempt is due.
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    delay: Duration,
    retry_at: Option<Instant>,
}

impl Backoff {
    /// A backoff starting at `first`, capped at `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            delay: first,
            retry_at: None,
        }
    }

    /// The policy of dataflow operators writing to a database: 0.5 s doubling to 30 s.
    pub fn for_writes() -> Self {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
    }

    /// Whether an attempt failed and its retry is not due yet.
    pub fn waiting(&self) -> bool {
        self.retry_at.is_some_and(|at| Instant::now() < at)
    }

    /// Whether an attempt failed and no attempt has succeeded since.
    pub fn retrying(&self) -> bool {
        self.retry_at.is_some()
    }

    /// Records a failure; returns how long to wait before the next attempt.
    pub fn failed(&mut self) -> Duration {
        let wait = self.delay;
        self.retry_at = Some(Instant::now() + wait);
        self.delay = (self.delay * 2).min(self.max);
        wait
    }

    /// Records a success: the next failure waits `first` again.
    pub fn succeeded(&mut self) {
        self.delay = self.first;
        self.retry_at = None;
    }
}

/// Calls `attempt` until it succeeds, fails in a way retrying cannot help, or `patience` is
/// spent (the last error is returned then); each retried failure is logged with `what`.
pub fn patiently<T>(
    patience: Duration,
    what: &str,
    mut attempt: impl FnMut() -> Result<T>,
) -> Result<T> {
    let deadline = Instant::now() + patience;
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    loop {
        match attempt() {
            Err(error) if error.is_retryable() && Instant::now() + backoff.delay < deadline => {
                let wait = backoff.failed();
                tracing::warn!(%error, retry_in = ?wait, "{what}; retrying");
                std::thread::sleep(wait);
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn waits_double_up_to_the_cap_and_reset_on_success() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(3));
        assert!(!backoff.retrying());
        let waits: Vec<u64> = (0..4).map(|_| backoff.failed().as_secs()).collect();
        assert_eq!(waits, [1, 2, 3, 3]);
        assert!(backoff.waiting() && backoff.retrying());
        backoff.succeeded();
        assert!(!backoff.retrying());
        assert_eq!(backoff.failed(), Duration::from_secs(1));
    }

    #[test]
    fn patiently_retries_only_what_may_pass() {
        let transient = || Error::Database {
            context: "x".into(),
            message: "down".into(),
            retryable: true,
        };
        let mut calls = 0;
        let result = patiently(Duration::from_secs(5), "test", || {
            calls += 1;
            if calls < 3 {
                Err(transient())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(result.unwrap(), 3);
        let mut calls = 0;
        let result: Result<()> = patiently(Duration::from_secs(5), "test", || {
            calls += 1;
            Err(Error::Config("bad".into()))
        });
        assert!(
            result.is_err() && calls == 1,
            "a permanent error is not retried"
        );
    }
}
