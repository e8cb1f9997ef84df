//! The OTLP receivers: telemetry pushed over OTLP/gRPC and OTLP/HTTP by SDKs or a Collector's
//! `otlp` exporter, as a source beside (or instead of) Kafka, files and the simulator.
//!
//! Request handlers run on a small tokio runtime of their own. Each decodes its body there
//! (so it can answer with what was rejected), queues the valid records in a [`Queue`] bounded
//! in records, and waits. Every worker reads the queue through a [`ReceiverSource`]; when a
//! worker has pushed a request's records into the dataflow it answers the request. A job that
//! falls behind therefore fills the queue and refuses further requests with a retry hint
//! (HTTP 429, gRPC RESOURCE_EXHAUSTED) rather than buffering without bound; a stopping job
//! refuses with HTTP 503 / UNAVAILABLE and drains what it queued.
//!
//! Delivery: a request is acknowledged once its records are in the dataflow, not once their
//! rows are durable. A crash loses what was acknowledged but not yet written, and a receiver
//! cannot replay as a Kafka partition can: for effectively-once delivery, put a Collector with
//! the kafka exporter in front and read the topics instead.
//!
//! Modules: [`queue`], [`intake`] (what both protocols do with a body), [`grpc`], [`http`].

pub mod grpc;
pub mod http;
pub mod intake;
pub mod queue;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use self::intake::Intake;
use self::queue::{Done, Queue};
use super::Decoding;
use crate::config::ReceiverConfig;
use crate::error::{Error, Result};
use crate::source::{Batch, Poll, Source};
use crate::stats::Stats;

/// Partition ids of the receivers: one per worker, above any Kafka partition or file index.
pub const RECEIVER_PARTITION_BASE: u32 = 1 << 31;
/// Records a worker takes from the queue per poll.
const RECORDS_PER_POLL: usize = 16_384;
/// The HTTP/2 flow-control window of a gRPC request stream (bytes).
const STREAM_WINDOW: u32 = 4 << 20;
/// How long a worker waits before looking at an empty queue again.
const EMPTY_WAIT: Duration = Duration::from_millis(2);

/// The running receivers of one process; dropping them stops the servers.
pub struct Receivers {
    queue: Arc<Queue>,
    runtime: Option<Runtime>,
    shutdown: watch::Sender<bool>,
    grpc: Option<SocketAddr>,
    http: Option<SocketAddr>,
}

impl Receivers {
    /// Binds the configured addresses and starts serving; records decode with `decoding`.
    pub fn start(config: &ReceiverConfig, decoding: Decoding, stats: Arc<Stats>) -> Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("otlp-receiver")
            .enable_all()
            .build()
            .map_err(|e| Error::Source(format!("cannot start the OTLP receivers' runtime: {e}")))?;
        let queue = Arc::new(Queue::new(config.max_queued_records));
        let limits = (
            Duration::from_secs(config.retry_after_s),
            config.max_request_bytes,
        );
        let intake = Arc::new(Intake::new(Arc::clone(&queue), decoding, stats, limits));
        let (shutdown, _) = watch::channel(false);
        let mut receivers = Receivers {
            queue,
            runtime: None,
            shutdown,
            grpc: None,
            http: None,
        };
        if let Some(addr) = &config.grpc {
            let listener = bind(&runtime, "receiver.grpc", addr)?;
            receivers.grpc = listener.local_addr().ok();
            runtime.spawn(serve_grpc(
                listener,
                Arc::clone(&intake),
                receivers.stopped(),
            ));
            tracing::info!(addr = ?receivers.grpc, "OTLP/gRPC receiver listening");
        }
        if let Some(addr) = &config.http {
            let listener = bind(&runtime, "receiver.http", addr)?;
            receivers.http = listener.local_addr().ok();
            runtime.spawn(serve_http(listener, intake, receivers.stopped()));
            tracing::info!(addr = ?receivers.http, "OTLP/HTTP receiver listening");
        }
        receivers.runtime = Some(runtime);
        Ok(receivers)
    }

    /// The bound address of the gRPC receiver (its port when configured as 0).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc
    }

    /// The bound address of the HTTP receiver.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
    }

    /// Worker `index`'s reader of the queue.
    pub fn source(&self, index: usize) -> ReceiverSource {
        ReceiverSource {
            queue: Arc::clone(&self.queue),
            partition: RECEIVER_PARTITION_BASE + index as u32,
            done: Vec::new(),
        }
    }

    /// Records queued and not yet taken by a worker.
    pub fn queued_records(&self) -> usize {
        self.queue.records()
    }

    /// A future that resolves when the receivers are dropped.
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.shutdown.subscribe();
        async move {
            let _ = receiver.wait_for(|stop| *stop).await;
        }
    }
}

impl Drop for Receivers {
    fn drop(&mut self) {
        self.queue.close();
        let _ = self.shutdown.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

fn bind(runtime: &Runtime, key: &str, addr: &str) -> Result<TcpListener> {
    runtime
        .block_on(TcpListener::bind(addr))
        .map_err(|e| Error::Config(format!("{key} {addr:?}: cannot listen: {e}")))
}

async fn serve_grpc(
    listener: TcpListener,
    intake: Arc<Intake>,
    stopped: impl std::future::Future<Output = ()>,
) {
    use grpc::{ExportService, Logs, Metrics, Traces};
    // Small writes unbatched (answers are tiny), and HTTP/2 windows that let a request of a
    // few megabytes arrive without a round trip per 64 KiB (h2's default window).
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let served = tonic::transport::Server::builder()
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(4 * STREAM_WINDOW))
        .add_service(ExportService::<Traces>::new(Arc::clone(&intake)))
        .add_service(ExportService::<Metrics>::new(Arc::clone(&intake)))
        .add_service(ExportService::<Logs>::new(intake))
        .serve_with_incoming_shutdown(incoming, stopped)
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "the OTLP/gRPC receiver stopped");
    }
}

async fn serve_http(
    listener: TcpListener,
    intake: Arc<Intake>,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = http::router(intake).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stopped)
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "the OTLP/HTTP receiver stopped");
    }
}

/// One worker's reader of the receivers' queue: a source with one partition.
///
/// It answers the requests of the batch it returned at its next poll, when the worker loop
/// has pushed that batch into the dataflow.
pub struct ReceiverSource {
    queue: Arc<Queue>,
    partition: u32,
    done: Vec<Done>,
}

impl ReceiverSource {
    fn answer(&mut self) {
        for done in self.done.drain(..) {
            // The client may have gone away: nothing to tell it.
            let _ = done.send(());
        }
    }
}

impl Source for ReceiverSource {
    fn partitions(&self) -> Vec<u32> {
        vec![self.partition]
    }

    fn poll(&mut self) -> Poll {
        self.answer();
        let taken = self.queue.take(RECORDS_PER_POLL);
        if taken.decoded.is_empty() && taken.faults.is_empty() {
            return if self.queue.is_drained() {
                Poll::Done
            } else {
                Poll::Wait(EMPTY_WAIT)
            };
        }
        self.done = taken.done;
        let mut decoded = taken.decoded;
        for request in &mut decoded {
            request.partition = self.partition;
        }
        Poll::Ready(Batch {
            decoded,
            faults: taken.faults,
            ..Batch::default()
        })
    }

    fn stop(&mut self) {
        self.queue.close();
    }
}

impl Drop for ReceiverSource {
    fn drop(&mut self) {
        self.answer();
    }
}
