//! Fuzz target: the OTLP/HTTP receiver, from request to answer, in process. The first byte
//! picks the path, `Content-Type` and `Content-Encoding` (valid and invalid ones); the rest is
//! the body. A stand-in worker drains the queue so accepted requests are answered. Must never
//! panic, and every request must be answered.

use std::net::SocketAddr;

use aiops_engine::otlp::receiver::http::router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[path = "stand_in.rs"]
mod stand_in;

const PATHS: [&str; 4] = ["/v1/traces", "/v1/metrics", "/v1/logs", "/v1/other"];
const TYPES: [&str; 4] = [
    "application/x-protobuf",
    "application/json",
    "text/plain",
    "application/json; charset=utf-8",
];
const ENCODINGS: [&str; 4] = ["", "gzip", "br", "identity"];

fn main() {
    let (runtime, queue, intake) = stand_in::intake();
    let app = router(intake);
    // The handlers hold cells; a panic fails the run anyway, so unwind safety is moot here.
    let shared = std::panic::AssertUnwindSafe((runtime, queue, app));
    afl::fuzz!(|data: &[u8]| {
        let (runtime, queue, app) = &*shared;
        let Some((choice, body)) = data.split_first() else {
            return;
        };
        let choice = *choice as usize;
        let mut request = axum::http::Request::post(PATHS[choice & 3])
            .header("content-type", TYPES[(choice >> 2) & 3]);
        if !ENCODINGS[(choice >> 4) & 3].is_empty() {
            request = request.header("content-encoding", ENCODINGS[(choice >> 4) & 3]);
        }
        let mut request = request.body(Body::from(body.to_vec())).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
        let response = stand_in::answer(runtime, queue, app.clone().oneshot(request)).unwrap();
        runtime.block_on(async {
            let _ = response.into_body().collect().await;
        });
    });
}
