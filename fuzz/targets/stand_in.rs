//! What the receiver targets share: the receivers' intake on a runtime, and a stand-in for
//! the job's workers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aiops_engine::otlp::receiver::intake::Intake;
use aiops_engine::otlp::receiver::queue::Queue;
use aiops_engine::otlp::Decoding;
use aiops_engine::stats::Stats;

/// A single-threaded runtime, a queue no request overflows, and the intake feeding it (1 s
/// retry hint, 1 MiB request limit).
pub fn intake() -> (tokio::runtime::Runtime, Arc<Queue>, Arc<Intake>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let queue = Arc::new(Queue::new(1_000_000));
    let limits = (Duration::from_secs(1), 1 << 20);
    let stats = Arc::new(Stats::default());
    let intake = Intake::new(Arc::clone(&queue), Decoding::default(), stats, limits);
    (runtime, queue, Arc::new(intake))
}

/// Runs `call` to its answer on `runtime`, answering queued requests as a worker would once
/// their records are in the dataflow.
pub fn answer<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    queue: &Queue,
    call: impl Future<Output = T> + Send + 'static,
) -> T {
    runtime.block_on(async {
        let answer = tokio::spawn(call);
        while !answer.is_finished() {
            for done in queue.take(usize::MAX).done {
                let _ = done.send(());
            }
            tokio::task::yield_now().await;
        }
        answer.await.unwrap()
    })
}
