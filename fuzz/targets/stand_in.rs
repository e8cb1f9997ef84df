//! What the receiver targets share: a stand-in for the job's workers.

use std::future::Future;

use aiops_engine::otlp::receiver::queue::Queue;

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
