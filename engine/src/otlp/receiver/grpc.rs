//! OTLP/gRPC: the `Export` methods of the trace, metrics and logs collector services.
//!
//! The services take the request message as bytes (a pass-through codec) rather than as the
//! generated message type, so a body is decoded by the same function as a file's or a
//! topic's record and a request with rejected records is dead-lettered as it was sent.
//! Answers: OK with a partial-success response; INVALID_ARGUMENT for a body that does not
//! decode; RESOURCE_EXHAUSTED with a `RetryInfo` delay when the job is behind; UNAVAILABLE
//! when it is stopping. tonic itself answers an oversized message (OUT_OF_RANGE) or an
//! unsupported compression (UNIMPLEMENTED); those are counted too. gzip and zstd are accepted.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, Body as HttpBody, BoxFuture, Context, Poll, Service, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::intake::{response_body, Export, Intake, Origin, Outcome};
use super::queue::Refusal;
use crate::record::Encoding;

/// Passes message bytes through undecoded; responses are encoded by [`response_body`].
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// One of the three collector services.
pub trait Signal: Send + Sync + 'static {
    /// The gRPC service name.
    const NAME: &'static str;
    /// What it exports.
    const EXPORT: Export;
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
pub struct Traces;
/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
pub struct Metrics;
/// `opentelemetry.proto.collector.logs.v1.LogsService`.
pub struct Logs;

impl Signal for Traces {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const EXPORT: Export = Export::Traces;
}

impl Signal for Metrics {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const EXPORT: Export = Export::Metrics;
}

impl Signal for Logs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const EXPORT: Export = Export::Logs;
}

/// The gRPC service of signal `S`.
pub struct ExportService<S> {
    intake: Arc<Intake>,
    signal: PhantomData<S>,
}

impl<S> ExportService<S> {
    /// The service, feeding `intake`.
    pub fn new(intake: Arc<Intake>) -> Self {
        ExportService {
            intake,
            signal: PhantomData,
        }
    }
}

impl<S> Clone for ExportService<S> {
    fn clone(&self) -> Self {
        ExportService::new(Arc::clone(&self.intake))
    }
}

impl<S: Signal> NamedService for ExportService<S> {
    const NAME: &'static str = S::NAME;
}

/// The `Export` method of signal `S`.
struct Method<S> {
    intake: Arc<Intake>,
    signal: PhantomData<S>,
}

impl<S: Signal> UnaryService<Bytes> for Method<S> {
    type Response = Vec<u8>;
    type Future = BoxFuture<Response<Vec<u8>>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let intake = Arc::clone(&self.intake);
        Box::pin(async move { export::<S>(&intake, request).await })
    }
}

async fn export<S: Signal>(
    intake: &Intake,
    request: Request<Bytes>,
) -> Result<Response<Vec<u8>>, Status> {
    let peer = request
        .remote_addr()
        .map_or_else(String::new, |a| a.to_string());
    let location = intake.location(Origin {
        protocol: "otlp-grpc",
        peer,
    });
    let body = request.into_inner().to_vec();
    match intake
        .export(S::EXPORT, body, Encoding::OtlpProto, location)
        .await
    {
        Outcome::Accepted { rejected, message } => Ok(Response::new(response_body(
            S::EXPORT,
            (rejected, &message),
            Encoding::OtlpProto,
        ))),
        Outcome::Invalid(reason) => Err(Status::invalid_argument(reason)),
        Outcome::Refused(Refusal::Full) => {
            let details = ErrorDetails::with_retry_info(Some(intake.retry_after));
            let message = "the job is behind: retry later";
            Err(Status::with_error_details(
                Code::ResourceExhausted,
                message,
                details,
            ))
        }
        Outcome::Refused(Refusal::Closed) => Err(Status::unavailable("the job is stopping")),
    }
}

impl<S, B> Service<http::Request<B>> for ExportService<S>
where
    S: Signal,
    B: HttpBody + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let intake = Arc::clone(&self.intake);
        if !request.uri().path().ends_with("/Export") {
            let response = Status::unimplemented("only Export is served").into_http();
            return Box::pin(async move { Ok(response) });
        }
        let peer = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|info| info.remote_addr())
            .map_or_else(String::new, |a| a.to_string());
        Box::pin(async move {
            let method = Method::<S> {
                intake: Arc::clone(&intake),
                signal: PhantomData,
            };
            let mut grpc = Grpc::new(Raw)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(intake.max_request_bytes);
            let response = grpc.unary(method, request).await;
            count_refused_before_decoding(&intake, &response, peer);
            Ok(response)
        })
    }
}

/// Counts and dead-letters a request tonic refused before the method ran (too large, an
/// unsupported compression): the method itself never answers with these codes.
fn count_refused_before_decoding(
    intake: &Intake,
    response: &http::Response<tonic::body::Body>,
    peer: String,
) {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return;
    };
    if matches!(
        status.code(),
        Code::OutOfRange | Code::Unimplemented | Code::Internal
    ) {
        let location = intake.location(Origin {
            protocol: "otlp-grpc",
            peer,
        });
        intake.fault(location, status.message().to_string(), Vec::new());
    }
}
