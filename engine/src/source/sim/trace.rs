//! Generating one trace: a depth-first walk of the call graph under the active faults.

use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span, Status};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::fault::{effects, Fault};
use super::topology::Topology;
use crate::config::FaultKind;
use crate::source::otlp_build::{int, string};

/// Deepest call nesting and most spans per trace: a runaway graph must not explode.
const MAX_DEPTH: usize = 16;
const MAX_SPANS: usize = 400;
/// One-way network latency between services, ms.
const NETWORK_MS: f64 = 0.3;
/// End users of the simulated shop: each trace is one user's request, the user drawn from the
/// trace id (no draw of the random stream, so adding users changed no other simulated value).
const USERS: u64 = 1_000;

/// A generated span and where it was emitted (service index, pod).
pub struct EmittedSpan {
    /// The emitting service.
    pub service: usize,
    /// The emitting pod.
    pub pod: usize,
    /// The OTLP span.
    pub span: Span,
}

/// Builds the spans of one trace.
pub struct TraceBuilder<'a> {
    topology: &'a Topology,
    faults: &'a [Fault],
    pods: usize,
    rng: ChaCha8Rng,
    trace_id: Vec<u8>,
    /// The spans generated so far.
    pub spans: Vec<EmittedSpan>,
}

fn nonzero_id<const N: usize>(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut id = [0u8; N];
    rng.fill(&mut id);
    id[0] |= 1;
    id.to_vec()
}

fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    LogNormal::new(median.max(1e-3).ln(), sigma).map_or(median, |d| d.sample(rng))
}

impl<'a> TraceBuilder<'a> {
    /// A builder drawing every decision from `rng`.
    pub fn new(
        topology: &'a Topology,
        faults: &'a [Fault],
        pods: usize,
        mut rng: ChaCha8Rng,
    ) -> Self {
        let trace_id = nonzero_id::<16>(&mut rng);
        TraceBuilder {
            topology,
            faults,
            pods: pods.max(1),
            rng,
            trace_id,
            spans: Vec::new(),
        }
    }

    /// Generates the whole trace for a request arriving at the entry service at `start_ns`.
    pub fn run(mut self, start_ns: u64) -> Vec<EmittedSpan> {
        self.serve(0, start_ns, None, 0);
        self.spans
    }

    /// The trace's end user (see [`USERS`]).
    fn user(&self) -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&self.trace_id[..8]);
        u64::from_le_bytes(bytes) % USERS
    }

    fn push(&mut self, service: usize, pod: usize, span: Span) {
        self.spans.push(EmittedSpan { service, pod, span });
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        span_id: Vec<u8>,
        parent: Option<Vec<u8>>,
        name: String,
        kind: SpanKind,
        start_ns: u64,
        end_ns: u64,
        failed: bool,
        attributes: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
    ) -> Span {
        Span {
            trace_id: self.trace_id.clone(),
            span_id,
            parent_span_id: parent.unwrap_or_default(),
            name,
            kind: kind as i32,
            start_time_unix_nano: start_ns,
            end_time_unix_nano: end_ns.max(start_ns),
            attributes,
            status: Some(Status {
                code: if failed {
                    StatusCode::Error as i32
                } else {
                    StatusCode::Ok as i32
                },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The framework's error handler answering a thrown exception: an internal child span of
    /// the request's (`span_id`) starting at `now`; returns when it ends.
    fn handle_exception(&mut self, service: usize, pod: usize, span_id: &[u8], now: u64) -> u64 {
        let end = now + (lognormal(&mut self.rng, 0.4, 0.3) * 1e6) as u64;
        let handler_id = nonzero_id::<8>(&mut self.rng);
        let handler = self.span(
            handler_id,
            Some(span_id.to_vec()),
            "ErrorHandler.handle".into(),
            SpanKind::Internal,
            now,
            end,
            false,
            Vec::new(),
        );
        self.push(service, pod, handler);
        end
    }

    /// Serves one request at `service`; returns its end time and whether it failed.
    fn serve(
        &mut self,
        service: usize,
        start_ns: u64,
        parent: Option<Vec<u8>>,
        depth: usize,
    ) -> (u64, bool) {
        let topology = self.topology;
        let spec = &topology.services[service];
        let effect = effects(self.faults, service, start_ns);
        let pod = self.rng.random_range(0..self.pods);
        let index = self.rng.random_range(0..spec.operations.len());
        let operation = &spec.operations[index];
        // A broken operation stops before its calls and query (see `FaultKind::Exception`).
        let broken = effect.broken_operation.filter(|_| index == 0);
        let own_ms = lognormal(
            &mut self.rng,
            operation.median_ms * effect.latency_factor,
            operation.sigma,
        ) + effect.extra_latency_ms;
        let span_id = nonzero_id::<8>(&mut self.rng);
        // A broken operation answers (its handler or its default) whatever else goes wrong.
        let mut failed =
            self.rng.random_bool(effect.error_probability.min(1.0)) && broken.is_none();
        let mut now = start_ns + (own_ms * 0.5e6) as u64;
        let calls = match broken {
            Some(_) => &[][..],
            None => &spec.calls[..],
        };
        for call in calls {
            if depth >= MAX_DEPTH
                || self.spans.len() >= MAX_SPANS
                || !self.rng.random_bool(call.probability)
            {
                continue;
            }
            let callee = &topology.services[call.callee];
            let delay_ms = NETWORK_MS + effects(self.faults, call.callee, now).network_delay_ms;
            let client_id = nonzero_id::<8>(&mut self.rng);
            let child_start = now + (delay_ms * 1e6) as u64;
            let (child_end, child_failed) =
                self.serve(call.callee, child_start, Some(client_id.clone()), depth + 1);
            let client_end = child_end + (delay_ms * 1e6) as u64;
            let status = if child_failed { 500 } else { 200 };
            let attributes = vec![
                string("peer.service", &callee.name),
                string("server.address", &callee.name),
                int("http.response.status_code", status),
            ];
            let name = format!(
                "{} {}",
                callee.operations[0].name.split(' ').next().unwrap_or("GET"),
                callee.name
            );
            let client = self.span(
                client_id,
                Some(span_id.clone()),
                name,
                SpanKind::Client,
                now,
                client_end,
                child_failed,
                attributes,
            );
            self.push(service, pod, client);
            failed |= child_failed && self.rng.random_bool(0.8);
            now = client_end;
        }
        if broken == Some(FaultKind::Exception) {
            now = self.handle_exception(service, pod, &span_id, now);
        }
        if let Some(system) = spec.database.filter(|_| broken.is_none()) {
            let query_ms = lognormal(&mut self.rng, 1.5 * effect.latency_factor, 0.4);
            let end = now + (query_ms * 1e6) as u64;
            let db_id = nonzero_id::<8>(&mut self.rng);
            let attributes = vec![
                string("db.system", system),
                string("server.address", &format!("{system}.db")),
            ];
            let db_span = self.span(
                db_id,
                Some(span_id.clone()),
                format!("{system} query"),
                SpanKind::Client,
                now,
                end,
                false,
                attributes,
            );
            self.push(service, pod, db_span);
            now = end;
        }
        let end_ns = now + (own_ms * 0.5e6) as u64;
        // Half the services report the old semantic-convention name, as mixed fleets do.
        let status_key = if service % 2 == 0 {
            "http.response.status_code"
        } else {
            "http.status_code"
        };
        let mut attributes = vec![
            string(
                "http.request.method",
                operation.name.split(' ').next().unwrap_or("GET"),
            ),
            string(
                "http.route",
                operation.name.split(' ').nth(1).unwrap_or("/"),
            ),
            int(status_key, if failed { 500 } else { 200 }),
        ];
        if parent.is_none() {
            attributes.push(string("enduser.id", &format!("user-{}", self.user())));
        }
        let server = self.span(
            span_id,
            parent,
            operation.name.clone(),
            SpanKind::Server,
            start_ns,
            end_ns,
            failed,
            attributes,
        );
        self.push(service, pod, server);
        (end_ns, failed)
    }
}
