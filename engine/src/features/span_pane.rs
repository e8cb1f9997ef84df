//! The `span_panes` operator: spans to per-(service, minute) request counters and sketches, and
//! beside them the service's [`operations`](super::operations).

use std::collections::BTreeMap;
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;

use timely::dataflow::operators::vec::{Map, Partition};

use super::operations::{OperationCounts, OperationRow};
use super::structure::{CallShape, ShapeBuilder};
use super::{service_hash, LatencySketch};
use crate::record::{ResourceInfo, Span};
use crate::time::{pane_of, Pane};

/// Maps and sets keyed by service names, status codes and user hashes, hashed by foldhash: the
/// keys are ours or already hashed, and SipHash cost a share of every span.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
type FastSet<T> = std::collections::HashSet<T, foldhash::fast::FixedState>;

/// Request statistics of one service in one pane.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SpanPane {
    /// Service name.
    pub service: String,
    /// The pane.
    pub pane: Pane,
    /// Requests served (see [`Span::is_request`]), each sampled span counted by its weight.
    pub requests: f64,
    /// Requests that failed (see [`Span::is_error`]), weighted alike.
    pub errors: f64,
    /// Latency of the requests, ms.
    pub latency: LatencySketch,
    /// The most frequent request operation (ties: the smallest name).
    pub operation: Option<String>,
    /// The most frequent HTTP status of the requests (ties: the smallest code).
    pub http_status: Option<u16>,
    /// The greatest `service.version` seen in the pane.
    pub version: Option<String>,
    /// The greatest `cloud.region` seen in the pane.
    pub region: Option<String>,
    /// Distinct end users among the pane's spans (at most [`MAX_USERS`]); `None` when no span
    /// named one.
    pub users: Option<u32>,
    /// Which calls the service's operations made (see [`super::structure`]).
    pub shape: CallShape,
}

/// The distinct end users a (service, minute) counts exactly; beyond, the count stays there
/// (8 bytes a user: 512 KiB for a service at the cap).
pub const MAX_USERS: usize = 65_536;

#[derive(Default)]
struct Builder {
    requests: f64,
    errors: f64,
    latency: LatencySketch,
    operations: OperationCounts,
    statuses: FastMap<u16, u64>,
    version: Option<String>,
    region: Option<String>,
    last_resource: Option<Arc<ResourceInfo>>,
    users: FastSet<u64>,
    shape: ShapeBuilder,
}

fn keep_greatest(slot: &mut Option<String>, value: &Option<String>) {
    if value.as_ref() > slot.as_ref() {
        slot.clone_from(value);
    }
}

fn most_frequent<K: Ord + Clone>(counts: impl Iterator<Item = (K, u64)>) -> Option<K> {
    counts
        .max_by(|(ka, ca), (kb, cb)| ca.cmp(cb).then_with(|| kb.cmp(ka)))
        .map(|(k, _)| k)
}

impl Builder {
    fn add(&mut self, span: Span, max_operations: usize) {
        if !self
            .last_resource
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(r, &span.resource))
        {
            keep_greatest(&mut self.version, &span.resource.service_version);
            keep_greatest(&mut self.region, &span.resource.region);
            self.last_resource = Some(Arc::clone(&span.resource));
        }
        if let Some(user) = span.user.filter(|_| self.users.len() < MAX_USERS) {
            self.users.insert(user);
        }
        self.shape.add(&span);
        if !span.is_request() {
            return;
        }
        self.requests += span.weight;
        if span.is_error() {
            self.errors += span.weight;
        }
        self.latency.add_weighted(span.duration_ms(), span.weight);
        if let Some(status) = span.http_status {
            *self.statuses.entry(status).or_default() += 1;
        }
        self.operations.add(&span, max_operations);
    }

    fn finish(self, service: String, pane: Pane, max_operations: usize) -> [Panes; 2] {
        let operation = self.operations.most_frequent();
        let rows = self.operations.rows(&service, pane, max_operations);
        let pane = SpanPane {
            service,
            pane,
            requests: self.requests,
            errors: self.errors,
            latency: self.latency,
            operation,
            http_status: most_frequent(self.statuses.into_iter()),
            version: self.version,
            region: self.region,
            users: (!self.users.is_empty()).then_some(self.users.len() as u32),
            shape: self.shape.finish(),
        };
        [Panes::Service(Box::new(pane)), Panes::Operations(rows)]
    }
}

/// What the operator emits, split into two streams after it.
enum Panes {
    Service(Box<SpanPane>),
    Operations(Vec<OperationRow>),
}

/// Extension trait: cut a span stream into per-(service, pane) statistics.
pub trait SpanPanes<'scope> {
    /// Routes spans by service and emits one [`SpanPane`] per (service, pane) with spans,
    /// at the pane's timestamp, once the input frontier has passed the pane.
    ///
    /// Records carry their own pane (from the span start); their timestamp is the pane that was
    /// open when they entered, never later than their own. State: one builder per (service, open
    /// pane), dropped when the pane is emitted. Output within a pane is sorted by service.
    ///
    /// ```
    /// use aiops_engine::features::SpanPanes;
    /// use timely::dataflow::operators::{Capture, ToStream};
    /// use timely::dataflow::operators::capture::Extract;
    /// use timely::dataflow::operators::vec::Map;
    /// # use aiops_engine::record::ResourceInfo;
    /// # let resource = ResourceInfo { service: "unknown_service".into(), ..Default::default() };
    /// # let span = aiops_engine::record::Span { resource: std::sync::Arc::new(resource),
    /// #   trace_id: [1; 16],
    /// #   span_id: [1; 8], parent_span_id: None, name: "GET /".into(),
    /// #   kind: aiops_engine::record::SpanKind::Server, start_ns: 60_000_000_000 * 7,
    /// #   end_ns: 60_000_000_000 * 7 + 2_000_000, status_error: false, http_status: Some(200),
    /// #   peer_service: None, server_address: None, db_system: None, weight: 1.0,
    /// #   user: None };
    /// let captured = timely::example(move |scope| {
    ///     let panes = vec![span].to_stream(scope).container::<Vec<_>>().span_panes();
    ///     panes.map(|pane| (pane.service, pane.requests as u64, pane.http_status)).capture()
    /// });
    /// // One pane, emitted at its own minute (7) once the input is exhausted.
    /// let expected = vec![(7, vec![("unknown_service".to_string(), 1, Some(200))])];
    /// assert_eq!(captured.extract(), expected);
    /// ```
    fn span_panes(self) -> StreamVec<'scope, Pane, SpanPane>;

    /// As [`span_panes`](SpanPanes::span_panes), and beside the panes the services'
    /// [`OperationRow`]s of each pane, at most `max_operations` (and an overflow row) per
    /// service-minute, at the pane's timestamp, sorted by service and then busiest first.
    fn span_and_operation_panes(
        self,
        max_operations: usize,
    ) -> (
        StreamVec<'scope, Pane, SpanPane>,
        StreamVec<'scope, Pane, OperationRow>,
    );
}

impl<'scope> SpanPanes<'scope> for StreamVec<'scope, Pane, Span> {
    fn span_panes(self) -> StreamVec<'scope, Pane, SpanPane> {
        let max = super::operations::DEFAULT_MAX_OPERATIONS;
        self.span_and_operation_panes(max).0
    }

    fn span_and_operation_panes(
        self,
        max_operations: usize,
    ) -> (
        StreamVec<'scope, Pane, SpanPane>,
        StreamVec<'scope, Pane, OperationRow>,
    ) {
        let mut parts = panes_of(self, max_operations.max(1))
            .partition(2, |panes| match panes {
                Panes::Service(_) => (0, panes),
                Panes::Operations(_) => (1, panes),
            })
            .into_iter();
        let (Some(services), Some(operations)) = (parts.next(), parts.next()) else {
            unreachable!("partition(2) gives two streams")
        };
        let services = services.flat_map(|panes| match panes {
            Panes::Service(pane) => Some(*pane),
            Panes::Operations(_) => None,
        });
        let operations = operations.flat_map(|panes| match panes {
            Panes::Operations(rows) => rows,
            Panes::Service(_) => Vec::new(),
        });
        (services, operations)
    }
}

/// The operator itself: each closed (service, pane) as its pane and its operation rows.
fn panes_of<'scope>(
    spans: StreamVec<'scope, Pane, Span>,
    max_operations: usize,
) -> StreamVec<'scope, Pane, Panes> {
    let exchange = Exchange::new(|span: &Span| service_hash(span.service()));
    spans.unary_frontier::<CapacityContainerBuilder<Vec<Panes>>, _, _, _>(
        exchange,
        "SpanPanes",
        move |_capability, _info| {
            let mut open: BTreeMap<Pane, (Capability<Pane>, FastMap<String, Builder>)> =
                BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|capability, spans| {
                    let Some(&least) = capability.least() else {
                        return;
                    };
                    for span in spans.drain(..) {
                        let pane = pane_of(span.start_ns);
                        if pane < least {
                            continue; // ingest diverts late records before they get here
                        }
                        let (_, builders) = open
                            .entry(pane)
                            .or_insert_with(|| (capability.delayed(&pane, 0), FastMap::default()));
                        match builders.get_mut(span.service()) {
                            Some(builder) => builder.add(span, max_operations),
                            None => {
                                let mut builder = Builder::default();
                                let service = span.service().to_string();
                                builder.add(span, max_operations);
                                builders.insert(service, builder);
                            }
                        }
                    }
                });
                while let Some(entry) = open.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (pane, (capability, builders)) = entry.remove_entry();
                    let mut builders: Vec<(String, Builder)> = builders.into_iter().collect();
                    builders.sort_by(|(a, _), (b, _)| a.cmp(b));
                    let panes = builders
                        .into_iter()
                        .flat_map(|(s, b)| b.finish(s, pane, max_operations));
                    output.session(&capability).give_iterator(panes);
                }
            }
        },
    )
}
