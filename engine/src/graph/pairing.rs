//! Trace assembly into call pairs.
//!
//! A call between services shows up as two spans in one trace: the caller's (often a CLIENT
//! span) and the callee's child of it (often a SERVER span). They may arrive in any order,
//! from different partitions, and a minute apart when a call crosses a minute boundary. This
//! operator holds each trace's spans for a bounded wait and pairs them; the rules make the
//! result independent of arrival order and of the number of workers:
//!
//! - A parent/child pair whose services differ is a call caller → callee, attributed to the
//!   later of the two spans' minutes. Pairs more than `wait` minutes apart are not paired.
//! - A CLIENT or PRODUCER span that names a peer (`peer.service`, else `db.system`, else
//!   `server.address`) and has no child in another service within `wait` minutes is a call to
//!   that virtual node, attributed to its minute plus `wait`.
//! - A span whose parent does not arrive within `wait` minutes is counted as unpaired.
//!
//! The OpenTelemetry Collector's service-graph connector solves the same problem with a TTL
//! and a cap on waiting edges; here the wait is in event-time minutes, so a replay produces the
//! same edges as the live run did.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use smallvec::SmallVec;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;
use timely::progress::operate::FrontierInterest;

use super::{EdgePartial, OVERFLOW_NODE};
use crate::features::LatencySketch;
use crate::published::SecondsHistogram;
use crate::record::{ResourceInfo, Span, SpanKind};
use crate::stats::Stats;
use crate::time::{pane_of, Pane};

/// What pairing keeps of a span: made from each span before the exchange by trace, so the
/// span itself (its name, attributes) is neither copied nor sent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SpanLink {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    held: Held,
}

/// What a span's link keeps while it waits for its parent or children (the ids are the key).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Held {
    resource: Arc<ResourceInfo>,
    pane: Pane,
    duration_ms: f64,
    /// The span's sampling weight.
    weight: f64,
    /// For outgoing spans: the peer it names.
    peer: Option<Arc<str>>,
    error: bool,
    /// A CLIENT or PRODUCER span: a call out of its service.
    outgoing: bool,
    /// Whether a child in another service has been paired with it.
    answered: bool,
}

/// The peer names one split operator has seen: a client span's peer then costs a lookup and a
/// reference count, not an allocation. At most [`Peers::MAX`] names are kept (addresses can
/// be unbounded); later ones are allocated per span.
#[derive(Default)]
pub(crate) struct Peers(HashSet<Arc<str>, foldhash::fast::FixedState>);

impl Peers {
    /// Names kept.
    pub(crate) const MAX: usize = 10_000;

    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.0.get(name) {
            return Arc::clone(known);
        }
        let name: Arc<str> = name.into();
        if self.0.len() < Self::MAX {
            self.0.insert(Arc::clone(&name));
        }
        name
    }
}

impl SpanLink {
    /// The link of `span`, its peer name taken from `peers`.
    pub(crate) fn of(span: &Span, peers: &mut Peers) -> Self {
        let outgoing = matches!(span.kind, SpanKind::Client | SpanKind::Producer);
        let peer = outgoing
            .then(|| {
                let named = span.peer_service.as_ref().or(span.db_system.as_ref());
                named
                    .or(span.server_address.as_ref())
                    .map(|p| peers.intern(p))
            })
            .flatten();
        SpanLink {
            trace_id: span.trace_id,
            span_id: span.span_id,
            parent: span.parent_span_id,
            held: Held {
                resource: Arc::clone(&span.resource),
                pane: pane_of(span.start_ns),
                duration_ms: (span.end_ns - span.start_ns) as f64 / 1e6,
                weight: span.weight,
                peer,
                error: span.status_error || span.http_status.is_some_and(|c| c >= 500),
                outgoing,
                answered: false,
            },
        }
    }
}

impl Held {
    fn service(&self) -> &str {
        &self.resource.service
    }
}

/// A span's trace id and span id, hashed as three words (ids are random: no need to mix
/// them byte by byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SpanKey {
    trace_id: [u8; 16],
    span_id: [u8; 8],
}

impl std::hash::Hash for SpanKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (high, low) = self.trace_id.split_at(8);
        for word in [high, low, &self.span_id[..]] {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(word);
            state.write_u64(u64::from_le_bytes(bytes));
        }
    }
}

fn key(trace_id: [u8; 16], span_id: [u8; 8]) -> SpanKey {
    SpanKey { trace_id, span_id }
}

/// A map keyed by trace and span ids, hashed by foldhash with a fixed seed: ids are random
/// (W3C trace context), so a keyed hash buys nothing, and one flat map over all traces costs
/// one probe per span where a map per trace cost two allocations.
type IdMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// One observed call: latency (ms), whether it failed, and the network gap (ms): the
/// caller's outgoing span minus the callee's span, when the caller has an outgoing span.
#[derive(Debug, Clone, Copy)]
struct Call {
    latency_ms: f64,
    error: bool,
    gap_ms: Option<f64>,
    /// The callee's server span, when it reported one.
    server_ms: Option<f64>,
    /// The caller's client span, when it has one.
    client_ms: Option<f64>,
    /// Calls the pair stands for: the calling span's sampling weight.
    weight: f64,
}

/// Per-minute partial edge counts of this worker, with the cap on distinct edges.
struct Partials {
    by_pane: BTreeMap<Pane, EdgeCounts>,
    max_edges: usize,
    stats: Arc<Stats>,
}

/// A map keyed by service names, hashed by foldhash (names are short; SipHash cost more than
/// the counting they key).
type NameMap<V> = HashMap<String, V, foldhash::fast::FixedState>;

/// One minute's partial counts by caller, then callee: looked up by `&str`, so counting a
/// call allocates nothing once its edge exists.
#[derive(Default)]
struct EdgeCounts {
    by_caller: NameMap<NameMap<EdgePartial>>,
    len: usize,
}

impl EdgeCounts {
    fn get_mut(&mut self, caller: &str, callee: &str) -> Option<&mut EdgePartial> {
        self.by_caller.get_mut(caller)?.get_mut(callee)
    }

    fn insert(&mut self, partial: EdgePartial) {
        self.len += 1;
        let callees = self.by_caller.entry(partial.caller.clone()).or_default();
        callees.insert(partial.callee.clone(), partial);
    }

    /// The edges, sorted by (caller, callee).
    fn into_sorted(self) -> Vec<EdgePartial> {
        let mut edges: Vec<EdgePartial> = self
            .by_caller
            .into_values()
            .flat_map(NameMap::into_values)
            .collect();
        edges.sort_by(|a, b| (&a.caller, &a.callee).cmp(&(&b.caller, &b.callee)));
        edges
    }
}

impl Partials {
    fn add(&mut self, pane: Pane, caller: &str, callee: &str, virtual_callee: bool, call: Call) {
        let edges = self.by_pane.entry(pane).or_default();
        let mut callee = callee;
        if edges.get_mut(caller, callee).is_none() {
            if edges.len >= self.max_edges {
                Stats::add(&self.stats.overflow_calls, 1);
                callee = OVERFLOW_NODE;
            }
            if edges.get_mut(caller, callee).is_none() {
                edges.insert(EdgePartial {
                    pane,
                    caller: caller.to_string(),
                    callee: callee.to_string(),
                    virtual_callee,
                    calls: 0.0,
                    errors: 0.0,
                    latency: LatencySketch::default(),
                    gap: LatencySketch::default(),
                    server: SecondsHistogram::default(),
                    client: SecondsHistogram::default(),
                });
            }
        }
        let Some(partial) = edges.get_mut(caller, callee) else {
            return;
        };
        partial.calls += call.weight;
        if call.error {
            partial.errors += call.weight;
        }
        partial.latency.add_weighted(call.latency_ms, call.weight);
        if let Some(gap) = call.gap_ms {
            partial.gap.add(gap);
        }
        if let Some(server) = call.server_ms {
            partial.server.add_ms(server, call.weight);
        }
        if let Some(client) = call.client_ms {
            partial.client.add_ms(client, call.weight);
        }
    }
}

/// The children waiting for one parent: their span ids and minutes.
type Waiting = SmallVec<[([u8; 8], Pane); 2]>;

/// The pairing state of one worker.
struct Pairing {
    /// Every span of the last `wait + 1` minutes, by (trace, span id).
    spans: IdMap<SpanKey, Held>,
    /// Spans whose parent has not arrived, by (trace, parent id): their ids and minutes.
    /// Exporters send a span when it ends, so children usually come before their parent and
    /// most parents wait for one or two: those are kept without an allocation.
    orphans: IdMap<SpanKey, Waiting>,
    partials: Partials,
    wait: Pane,
}

impl Pairing {
    fn add(&mut self, link: SpanLink) {
        let SpanLink {
            trace_id,
            span_id,
            parent,
            mut held,
        } = link;
        let wait = self.wait;
        if let Some(parent_id) = parent {
            match self.spans.get_mut(&key(trace_id, parent_id)) {
                Some(parent) => pair(parent, &held, wait, &mut self.partials),
                None => self
                    .orphans
                    .entry(key(trace_id, parent_id))
                    .or_default()
                    .push((span_id, held.pane)),
            }
        }
        // Most spans have no waiting children: skip the probe while nothing waits.
        let waiting = match self.orphans.is_empty() {
            true => None,
            false => self.orphans.remove(&key(trace_id, span_id)),
        };
        for (child_id, _) in waiting.unwrap_or_default() {
            if let Some(child) = self.spans.get(&key(trace_id, child_id)) {
                pair(&mut held, child, wait, &mut self.partials);
            }
        }
        self.spans.insert(key(trace_id, span_id), held);
    }

    /// Forgets the spans that can gain no more pairs once minutes `..=pane` are complete
    /// (one sweep per minute), and counts the waiting ones that never met their parent.
    /// A span of minute `m` can pair only with spans of minutes up to `m + wait`, so it is
    /// kept exactly that long; an outgoing span naming a peer that no child answered by then
    /// is a call to that virtual node, counted at minute `m + wait` as it is forgotten (the
    /// operator expires every minute a span's `m + wait` names, so that is this `pane`).
    fn expire(&mut self, pane: Pane) {
        let Pairing {
            spans,
            partials,
            wait,
            ..
        } = self;
        spans.retain(|_, held| {
            if held.pane + *wait > pane {
                return true;
            }
            if let (false, Some(peer)) = (held.answered, &held.peer) {
                let call = Call {
                    latency_ms: held.duration_ms,
                    error: held.error,
                    gap_ms: None,
                    server_ms: None,
                    client_ms: Some(held.duration_ms),
                    weight: held.weight,
                };
                partials.add(held.pane + *wait, held.service(), peer, true, call);
            }
            false
        });
        let wait = self.wait;
        let mut unpaired = 0;
        self.orphans.retain(|_, children| {
            let before = children.len();
            children.retain(|(_, child_pane)| *child_pane + wait > pane);
            unpaired += before - children.len();
            !children.is_empty()
        });
        Stats::add(&self.partials.stats.unpaired_spans, unpaired as u64);
    }
}

/// Counts the call `child` makes to `parent`'s service, if they are a cross-service pair
/// close enough in time.
fn pair(parent: &mut Held, child: &Held, wait: Pane, partials: &mut Partials) {
    if parent.pane.abs_diff(child.pane) > wait {
        Stats::add(&partials.stats.unpaired_spans, 1);
        return;
    }
    if parent.service() == child.service() {
        return;
    }
    parent.answered = true;
    let pane = parent.pane.max(child.pane);
    // The caller's outgoing span includes the network; a caller without one (an entry span
    // calling straight into another service) leaves the callee's own duration.
    let latency = match parent.outgoing {
        true => parent.duration_ms,
        false => child.duration_ms,
    };
    let call = Call {
        latency_ms: latency,
        error: child.error || (parent.outgoing && parent.error),
        gap_ms: parent
            .outgoing
            .then(|| (parent.duration_ms - child.duration_ms).max(0.0)),
        server_ms: Some(child.duration_ms),
        client_ms: parent.outgoing.then_some(parent.duration_ms),
        // The callee's request span: one call per request it stands for.
        weight: child.weight,
    };
    partials.add(pane, parent.service(), child.service(), false, call);
}

/// Extension trait: split spans into themselves and their links.
pub trait SplitLinks<'scope> {
    /// Returns the spans of minutes from `floor` on (replayed spans before it are already in
    /// restored state) and the links of all spans, each record moved once, never cloned.
    fn split_links(
        self,
        floor: Pane,
    ) -> (
        StreamVec<'scope, Pane, Span>,
        StreamVec<'scope, Pane, SpanLink>,
    );
}

impl<'scope> SplitLinks<'scope> for StreamVec<'scope, Pane, Span> {
    fn split_links(
        self,
        floor: Pane,
    ) -> (
        StreamVec<'scope, Pane, Span>,
        StreamVec<'scope, Pane, SpanLink>,
    ) {
        // One operator with two outputs: each span moves once, into a batch that is handed on
        // whole (a map, a partition and two filters moved each span four times).
        let mut builder = OperatorBuilder::new("SplitLinks".to_owned(), self.scope());
        let mut input = builder.new_input(self, Pipeline);
        builder.set_notify_for(0, FrontierInterest::Never);
        let (mut spans_out, spans) = builder.new_output::<Vec<Span>>();
        let (mut links_out, links) = builder.new_output::<Vec<SpanLink>>();
        builder.build(move |_capabilities| {
            let (mut kept, mut made, mut peers) = (Vec::new(), Vec::new(), Peers::default());
            move |_frontiers| {
                let mut spans_out = spans_out.activate();
                let mut links_out = links_out.activate();
                input.for_each(|capability, batch| {
                    kept.reserve(batch.len());
                    made.reserve(batch.len());
                    for span in batch.drain(..) {
                        made.push(SpanLink::of(&span, &mut peers));
                        if pane_of(span.start_ns) >= floor {
                            kept.push(span);
                        }
                    }
                    spans_out.give(&capability, &mut kept);
                    links_out.give(&capability, &mut made);
                    kept.clear();
                    made.clear();
                });
            }
        });
        (spans, links)
    }
}

/// Extension trait: pair span links into per-minute partial call counts.
pub trait CallPairs<'scope> {
    /// Exchanges spans by trace id and emits, per worker, one [`EdgePartial`] per edge and
    /// minute at that minute, once the input frontier has passed it (no later than the
    /// span panes of that minute). Pairing waits `wait` minutes for a parent, a child or a
    /// virtual call's answer (see the module docs). At most `max_edges` distinct edges per
    /// worker and minute; further callees are merged into [`OVERFLOW_NODE`] and counted.
    ///
    /// State: every span of the last `wait + 1` minutes in one map (about 80 bytes each: the
    /// ids as key, what pairing reads as value), the children waiting for a parent, and the
    /// partial counts of the open minutes. One sweep a minute forgets expired spans and
    /// decides their virtual calls.
    fn call_pairs(
        self,
        wait: Pane,
        max_edges: usize,
        stats: Arc<Stats>,
    ) -> StreamVec<'scope, Pane, EdgePartial>;
}

impl<'scope> CallPairs<'scope> for StreamVec<'scope, Pane, SpanLink> {
    fn call_pairs(
        self,
        wait: Pane,
        max_edges: usize,
        stats: Arc<Stats>,
    ) -> StreamVec<'scope, Pane, EdgePartial> {
        let exchange = Exchange::new(|link: &SpanLink| trace_hash(&link.trace_id));
        self.unary_frontier::<CapacityContainerBuilder<Vec<EdgePartial>>, _, _, _>(
            exchange,
            "CallPairs",
            move |_capability, _info| {
                let mut state = Pairing {
                    spans: IdMap::default(),
                    orphans: IdMap::default(),
                    partials: Partials {
                        by_pane: BTreeMap::new(),
                        max_edges: max_edges.max(1),
                        stats,
                    },
                    wait,
                };
                // Capabilities for every minute output may still be attributed to.
                let mut held: BTreeMap<Pane, Capability<Pane>> = BTreeMap::new();
                move |(input, frontier), output| {
                    input.for_each(|capability, links| {
                        let Some(&least) = capability.least() else {
                            return;
                        };
                        for link in links.drain(..) {
                            if link.held.pane < least {
                                continue; // ingest diverts late records before they get here
                            }
                            for pane in [link.held.pane, link.held.pane + wait] {
                                held.entry(pane)
                                    .or_insert_with(|| capability.delayed(&pane, 0));
                            }
                            state.add(link);
                        }
                    });
                    while let Some(entry) = held.first_entry() {
                        let pane = *entry.key();
                        if frontier.less_equal(&pane) {
                            break;
                        }
                        let capability = entry.remove();
                        state.expire(pane);
                        let Some(edges) = state.partials.by_pane.remove(&pane) else {
                            continue;
                        };
                        let edges = edges.into_sorted();
                        output.session(&capability).give_iterator(edges.into_iter());
                    }
                }
            },
        )
    }
}

/// Routes a trace to a worker (xxh3 of its id: stable across processes).
fn trace_hash(trace_id: &[u8; 16]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE_NS: u64 = 60_000_000_000;

    fn span(service: &str, id: u8, parent: Option<u8>, kind: SpanKind, minute: u64) -> Span {
        Span {
            resource: Arc::new(ResourceInfo {
                service: service.into(),
                ..Default::default()
            }),
            trace_id: [9; 16],
            span_id: [id; 8],
            parent_span_id: parent.map(|p| [p; 8]),
            name: "op".into(),
            kind,
            start_ns: minute * MINUTE_NS + 1_000,
            end_ns: minute * MINUTE_NS + 1_000 + u64::from(id) * 1_000_000,
            status_error: false,
            http_status: None,
            peer_service: None,
            server_address: None,
            db_system: None,
            weight: 1.0,
            user: None,
        }
    }

    fn pairing(max_edges: usize) -> Pairing {
        Pairing {
            spans: IdMap::default(),
            orphans: IdMap::default(),
            partials: Partials {
                by_pane: BTreeMap::new(),
                max_edges,
                stats: Arc::new(Stats::default()),
            },
            wait: 1,
        }
    }

    /// (pane, caller, callee, virtual, calls) of everything counted, sorted.
    fn counted(state: &Pairing) -> Vec<(Pane, String, String, bool, u64)> {
        let mut all: Vec<_> = state
            .partials
            .by_pane
            .iter()
            .flat_map(|(pane, edges)| {
                edges
                    .by_caller
                    .values()
                    .flat_map(|c| c.values())
                    .map(move |e| {
                        (
                            *pane,
                            e.caller.clone(),
                            e.callee.clone(),
                            e.virtual_callee,
                            e.calls as u64,
                        )
                    })
            })
            .collect();
        all.sort();
        all
    }

    fn run(spans: Vec<Span>) -> Pairing {
        let mut state = pairing(100);
        for span in spans {
            state.add(SpanLink::of(&span, &mut Peers::default()));
        }
        for pane in 0..20 {
            state.expire(pane);
        }
        state
    }

    #[test]
    fn a_cross_service_pair_is_one_call_at_the_later_minute_in_any_order() {
        let client = span("front", 1, None, SpanKind::Client, 5);
        let server = span("api", 2, Some(1), SpanKind::Server, 6);
        let inner = span("api", 3, Some(2), SpanKind::Internal, 6);
        let expected = vec![(6, "front".to_string(), "api".to_string(), false, 1)];
        let forward = run(vec![client.clone(), server.clone(), inner.clone()]);
        assert_eq!(counted(&forward), expected);
        let backward = run(vec![inner, server, client]);
        assert_eq!(counted(&backward), expected);
        assert_eq!(
            backward
                .partials
                .stats
                .unpaired_spans
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }

    #[test]
    fn the_callers_client_span_gives_the_latency_and_the_callees_error_counts() {
        let client = span("front", 9, None, SpanKind::Client, 5);
        let mut server = span("api", 2, Some(9), SpanKind::Server, 5);
        server.status_error = true;
        let state = run(vec![server, client]);
        let edge = &state.partials.by_pane[&5].by_caller["front"]["api"];
        assert_eq!(edge.errors, 1.0);
        let p50 = edge.latency.quantile(0.5).expect("one call");
        assert!((p50 - 9.0).abs() / 9.0 < 0.02, "client span's 9 ms: {p50}");
    }

    #[test]
    fn an_unanswered_client_span_naming_a_peer_is_a_call_to_a_virtual_node() {
        let mut to_db = span("api", 1, None, SpanKind::Client, 5);
        to_db.db_system = Some("postgresql".into());
        let mut answered = span("api", 2, None, SpanKind::Client, 5);
        answered.peer_service = Some("auth".into());
        let server = span("auth", 3, Some(2), SpanKind::Server, 6);
        let state = run(vec![to_db, answered, server]);
        assert_eq!(
            counted(&state),
            vec![
                (6, "api".to_string(), "auth".to_string(), false, 1),
                (6, "api".to_string(), "postgresql".to_string(), true, 1),
            ]
        );
    }

    #[test]
    fn pairs_further_apart_than_the_wait_are_unpaired() {
        let client = span("front", 1, None, SpanKind::Client, 5);
        let late_child = span("api", 2, Some(1), SpanKind::Server, 7);
        let orphan = span("api", 4, Some(77), SpanKind::Server, 5);
        let state = run(vec![client, late_child, orphan]);
        assert!(counted(&state).is_empty());
        let unpaired = state
            .partials
            .stats
            .unpaired_spans
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            unpaired, 2,
            "the orphan, and the child too late for its parent"
        );
        assert!(state.spans.is_empty(), "expired spans are forgotten");
        assert!(state.orphans.is_empty(), "and so are expired orphans");
    }

    #[test]
    fn callees_beyond_the_edge_cap_go_to_the_overflow_node() {
        let mut state = pairing(2);
        let root = span("front", 1, None, SpanKind::Server, 5);
        state.add(SpanLink::of(&root, &mut Peers::default()));
        for (i, callee) in ["a", "b", "c", "d"].iter().enumerate() {
            let child = span(callee, 10 + i as u8, Some(1), SpanKind::Server, 5);
            state.add(SpanLink::of(&child, &mut Peers::default()));
        }
        let callees: Vec<String> = counted(&state).into_iter().map(|e| e.2).collect();
        assert_eq!(callees, ["__overflow__", "a", "b"]);
        assert_eq!(
            state
                .partials
                .stats
                .overflow_calls
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
    }
}
