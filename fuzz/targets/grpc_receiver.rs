//! Fuzz target: the OTLP/gRPC receiver's services, from an HTTP/2 request body (gRPC
//! framing, optional compression) to the answer, in process. The first byte picks the
//! service and `grpc-encoding`, and whether the rest is framed as one message (to reach the
//! decoder more often) or passed as raw frames. Must never panic.

use std::sync::Arc;

use aiops_engine::otlp::receiver::grpc::{ExportService, Logs, Metrics, Traces};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tonic::codegen::{http, Service};

#[path = "stand_in.rs"]
mod stand_in;

const ENCODINGS: [&str; 4] = ["", "gzip", "zstd", "snappy"];

fn main() {
    let (runtime, queue, intake) = stand_in::intake();
    // The handlers hold cells; a panic fails the run anyway, so unwind safety is moot here.
    let shared = std::panic::AssertUnwindSafe((runtime, queue, intake));
    afl::fuzz!(|data: &[u8]| {
        let (runtime, queue, intake) = &*shared;
        let Some((choice, rest)) = data.split_first() else {
            return;
        };
        let choice = *choice as usize;
        let body = if choice & 0x40 != 0 {
            let mut framed = vec![0];
            framed.extend_from_slice(&(rest.len() as u32).to_be_bytes());
            framed.extend_from_slice(rest);
            framed
        } else {
            rest.to_vec()
        };
        let service = [
            "trace.v1.TraceService",
            "metrics.v1.MetricsService",
            "logs.v1.LogsService",
            "trace.v1.TraceService",
        ];
        let path = format!(
            "/opentelemetry.proto.collector.{}/Export",
            service[choice & 3]
        );
        let mut request = http::Request::post(path)
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if !ENCODINGS[(choice >> 2) & 3].is_empty() {
            request = request.header("grpc-encoding", ENCODINGS[(choice >> 2) & 3]);
        }
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let call = match choice & 3 {
            1 => ExportService::<Metrics>::new(Arc::clone(intake)).call(request),
            2 => ExportService::<Logs>::new(Arc::clone(intake)).call(request),
            _ => ExportService::<Traces>::new(Arc::clone(intake)).call(request),
        };
        let response = stand_in::answer(runtime, queue, call).unwrap();
        runtime.block_on(async {
            let _ = response.into_body().collect().await;
        });
    });
}
