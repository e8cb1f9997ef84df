//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics` and `/v1/logs` with a protobuf
//! (`application/x-protobuf`) or JSON (`application/json`) body, optionally gzip-compressed,
//! answered as the OTLP specification asks: 200 with a (partial-success) response in the
//! request's encoding; 400 for a body that does not decode; 413 for one over the size limit;
//! 415 for another content type or encoding; 429 (job behind) or 503 (job stopping) with
//! `Retry-After`. Error bodies are `google.rpc.Status` messages in the request's encoding.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use prost::Message;

use super::intake::{response_body, Export, Intake, Origin, Outcome};
use super::queue::Refusal;
use crate::record::{Encoding, Location};

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC status codes used in error bodies.
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;

/// The routes of the OTLP/HTTP receiver.
pub fn router(intake: Arc<Intake>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .route("/v1/logs", post(logs))
        .layer(DefaultBodyLimit::disable())
        .with_state(intake)
}

type Peer = ConnectInfo<SocketAddr>;

async fn traces(
    State(intake): State<Arc<Intake>>,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(&intake, Export::Traces, peer.0, &headers, body).await
}

async fn metrics(
    State(intake): State<Arc<Intake>>,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(&intake, Export::Metrics, peer.0, &headers, body).await
}

async fn logs(
    State(intake): State<Arc<Intake>>,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(&intake, Export::Logs, peer.0, &headers, body).await
}

/// One export request, from headers and body to response.
async fn export(
    intake: &Intake,
    export: Export,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let location = intake.location(Origin {
        protocol: "otlp-http",
        peer: peer.to_string(),
    });
    let Some(encoding) = content_type(headers) else {
        let reason = "Content-Type must be application/x-protobuf or application/json".to_string();
        return refuse(intake, location, StatusCode::UNSUPPORTED_MEDIA_TYPE, reason);
    };
    let bytes = match read_body(intake, headers, body).await {
        Ok(bytes) => bytes,
        Err((status, reason)) => return refuse(intake, location, status, reason),
    };
    match intake.export(export, bytes, encoding, location).await {
        Outcome::Accepted { rejected, message } => {
            let body = response_body(export, (rejected, &message), encoding);
            (StatusCode::OK, content_type_header(encoding), body).into_response()
        }
        Outcome::Invalid(reason) => {
            error_response(StatusCode::BAD_REQUEST, INVALID_ARGUMENT, reason, encoding)
        }
        Outcome::Refused(refusal) => throttled(intake, refusal, encoding),
    }
}

/// A request refused before decoding: counted and dead-lettered, answered with `status`.
fn refuse(intake: &Intake, location: Location, status: StatusCode, reason: String) -> Response {
    intake.fault(location, reason.clone(), Vec::new());
    error_response(status, INVALID_ARGUMENT, reason, Encoding::OtlpProto)
}

/// 429 or 503 with `Retry-After`.
fn throttled(intake: &Intake, refusal: Refusal, encoding: Encoding) -> Response {
    let (status, code, reason) = match refusal {
        Refusal::Full => (
            StatusCode::TOO_MANY_REQUESTS,
            RESOURCE_EXHAUSTED,
            "the job is behind: retry later",
        ),
        Refusal::Closed => (
            StatusCode::SERVICE_UNAVAILABLE,
            UNAVAILABLE,
            "the job is stopping",
        ),
    };
    let mut response = error_response(status, code, reason.to_string(), encoding);
    let seconds = intake.retry_after.as_secs().max(1);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn error_response(status: StatusCode, code: i32, message: String, encoding: Encoding) -> Response {
    let body = match encoding {
        Encoding::OtlpProto => RpcStatus { code, message }.encode_to_vec(),
        Encoding::OtlpJson => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    };
    (status, content_type_header(encoding), body).into_response()
}

fn content_type_header(encoding: Encoding) -> [(header::HeaderName, &'static str); 1] {
    let value = match encoding {
        Encoding::OtlpProto => "application/x-protobuf",
        Encoding::OtlpJson => "application/json",
    };
    [(header::CONTENT_TYPE, value)]
}

/// The encoding a `Content-Type` names (parameters such as `charset` are ignored).
fn content_type(headers: &HeaderMap) -> Option<Encoding> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim().to_ascii_lowercase();
    match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::OtlpProto),
        "application/json" => Some(Encoding::OtlpJson),
        _ => None,
    }
}

/// Reads the body up to the size limit and decompresses it (gzip, or none), the decompressed
/// size limited alike so a small compressed body cannot expand without bound.
async fn read_body(
    intake: &Intake,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<u8>, (StatusCode, String)> {
    let limit = intake.max_request_bytes;
    let too_large = || {
        let reason =
            format!("request body over the limit of {limit} bytes (receiver.max_request_bytes)");
        (StatusCode::PAYLOAD_TOO_LARGE, reason)
    };
    let compression = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let raw = to_bytes(body, limit).await.map_err(|error| {
        let length_limit = std::error::Error::source(&error)
            .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
        if length_limit {
            too_large()
        } else {
            (
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {error}"),
            )
        }
    })?;
    match compression.as_deref() {
        None | Some("identity") | Some("") => Ok(raw.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            let mut decoder = flate2::read::GzDecoder::new(&raw[..]).take(limit as u64 + 1);
            decoder
                .read_to_end(&mut out)
                .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad gzip body: {e}")))?;
            if out.len() > limit {
                return Err(too_large());
            }
            Ok(out)
        }
        Some(other) => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {other:?} is not supported: use gzip or none"),
        )),
    }
}
