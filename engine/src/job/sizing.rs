//! The span path in stages, over requests held in memory: what `aiops bench` and the
//! criterion benches time to size a deployment.
//!
//! Each stage runs the job's own operators on one timely worker, fed straight from decoded
//! requests (no source, no sink), so the differences between stages are what each stage costs:
//! decode alone; decode and the per-service features (`span_panes` → `feature_windows`); and
//! those plus the dependency graph (`split_links` → `call_pairs` → `edge_windows` →
//! `with_neighbours`). The whole job (sources, scoring, incidents, sinks) is timed by running
//! it, which the caller does.

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use timely::dataflow::operators::{Inspect, Probe, ToStream};
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::config::JobConfig;
use crate::error::{Error, Result};
use crate::features::{FeatureWindows, LogPane, MetricPanes, SpanPanes};
use crate::graph::{CallPairs, EdgeWindows, SplitLinks, WithNeighbours};
use crate::otlp::{decode_spans, Decoding};
use crate::record::{Encoding, MetricPoint, Signal, Span};
use crate::source::{FileSource, Poll, Source};
use crate::stats::Stats;
use crate::time::{pane_of, Pane};

/// OTLP trace requests, encoded, and what they hold.
#[derive(Debug, Clone)]
pub struct Workload {
    /// One `ExportTraceServiceRequest` (protobuf) per simulated second.
    pub requests: Arc<Vec<Vec<u8>>>,
    /// Spans in all requests.
    pub spans: u64,
    /// Bytes in all requests.
    pub bytes: u64,
}

/// The simulator's traces for `config.simulator` (its services, rate, topology and time
/// range), one protobuf request per simulated second, as an SDK's batch exporter would send.
/// `progress` is called with each second's span count.
pub fn simulated(config: &JobConfig, mut progress: impl FnMut(u64)) -> Result<Workload> {
    let sim = Arc::new(super::simulator(config, 0)?);
    let mut shard = sim.shard(0, 1);
    let (mut requests, mut spans, mut bytes) = (Vec::new(), 0, 0);
    while let Some(second) = shard.next_second() {
        let Some(traces) = second.traces else {
            continue;
        };
        // The simulator's spans are all valid: the request's own count is what decode sees.
        let count: usize = traces
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let encoded = Encoding::OtlpProto.encode(&traces);
        spans += count as u64;
        bytes += encoded.len() as u64;
        progress(count as u64);
        requests.push(encoded);
    }
    Ok(Workload {
        requests: Arc::new(requests),
        spans,
        bytes,
    })
}

/// The protobuf trace requests of the OTLP files in `dir` (the layout `aiops run --input`
/// replays; metric and log files are left out), read by the job's own file source and put in
/// the order of their earliest span, as one stream (several files are several partitions of
/// one time range). A file that cannot be framed is an error naming it; JSON trace records
/// are counted in `skipped_json`.
pub fn from_files(dir: &Path) -> Result<(Workload, u64)> {
    let mut source = FileSource::open(dir, 0, 1)?;
    let (mut timed, mut spans, mut bytes, mut skipped_json) = (Vec::new(), 0, 0, 0);
    let (naming, mut decoded) = (Decoding::default(), Vec::new());
    loop {
        let batch = match source.poll() {
            Poll::Ready(batch) => batch,
            Poll::Wait(pause) => {
                std::thread::sleep(pause);
                continue;
            }
            Poll::Done => break,
        };
        if let Some(fault) = batch.faults.first() {
            return Err(Error::Source(format!(
                "reading {}: {}",
                fault.location, fault.reason
            )));
        }
        for message in batch.messages {
            match (message.signal, message.encoding) {
                (Signal::Traces, Encoding::OtlpProto) => {}
                (Signal::Traces, Encoding::OtlpJson) => {
                    skipped_json += 1;
                    continue;
                }
                _ => continue,
            }
            decoded.clear();
            let _ = decode_spans(&message.bytes, Encoding::OtlpProto, &naming, &mut decoded);
            spans += decoded.len() as u64;
            bytes += message.bytes.len() as u64;
            let earliest = decoded.iter().map(|s| s.start_ns).min().unwrap_or(0);
            timed.push((earliest, message.bytes));
        }
    }
    timed.sort_by_key(|(earliest, _)| *earliest);
    let workload = Workload {
        requests: Arc::new(timed.into_iter().map(|(_, bytes)| bytes).collect()),
        spans,
        bytes,
    };
    Ok((workload, skipped_json))
}

/// How much of the span path a staged run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stages {
    /// Protobuf to [`Span`] records.
    Decode,
    /// Decode, then the per-service feature rows.
    Features,
    /// Decode, the feature rows, and the dependency graph with the rows' neighbours.
    Graph,
}

/// What a staged run made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Made {
    /// Spans decoded.
    pub spans: u64,
    /// Feature rows (service-minutes) closed.
    pub rows: u64,
    /// Edge-minutes of the dependency graph.
    pub edges: u64,
}

/// Runs `stages` over every request on the calling thread.
pub fn run(requests: &Arc<Vec<Vec<u8>>>, stages: Stages) -> Made {
    match stages {
        Stages::Decode => decode_only(requests),
        Stages::Features | Stages::Graph => dataflow(Arc::clone(requests), stages == Stages::Graph),
    }
}

fn decode_only(requests: &[Vec<u8>]) -> Made {
    let (mut buffer, naming, mut spans) = (Vec::new(), Decoding::default(), 0);
    for bytes in requests {
        let _ = decode_spans(bytes, Encoding::OtlpProto, &naming, &mut buffer);
        spans += buffer.len() as u64;
        buffer.clear();
    }
    Made {
        spans,
        ..Made::default()
    }
}

/// One timely worker over the requests: spans in, feature rows (and with `graph`, edges
/// and neighbours) out to a probe; the input moves on 5 s behind the newest span, as the
/// job's default watermark does.
fn dataflow(requests: Arc<Vec<Vec<u8>>>, graph: bool) -> Made {
    timely::execute_directly(move |worker| {
        let (rows, edges) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let (rows_seen, edges_seen) = (Rc::clone(&rows), Rc::clone(&edges));
        let count_rows = move |_: &_| rows_seen.set(rows_seen.get() + 1);
        let count_edges = move |_: &_| edges_seen.set(edges_seen.get() + 1);
        let mut spans_in: InputHandleVec<Pane, Span> = InputHandleVec::new();
        let mut metrics_in: InputHandleVec<Pane, MetricPoint> = InputHandleVec::new();
        let probe = ProbeHandle::new();
        worker.dataflow::<Pane, _, _>(|scope| {
            let metrics = metrics_in.to_stream(scope).metric_panes();
            let logs = Vec::<LogPane>::new().to_stream(scope).container::<Vec<_>>();
            let spans = spans_in.to_stream(scope);
            let utc = chrono_tz::Tz::UTC;
            if graph {
                let (spans, links) = spans.split_links(0);
                let edges = links
                    .call_pairs(1, 10_000, Arc::new(Stats::default()))
                    .edge_windows()
                    .inspect(count_edges);
                let rows = spans.span_panes().feature_windows(metrics, logs, utc, || 0);
                rows.with_neighbours(edges)
                    .inspect(count_rows)
                    .probe_with(&probe);
            } else {
                let rows = spans.span_panes().feature_windows(metrics, logs, utc, || 0);
                rows.inspect(count_rows).probe_with(&probe);
            }
        });
        let (mut buffer, naming, mut spans) = (Vec::new(), Decoding::default(), 0);
        for bytes in requests.iter() {
            let _ = decode_spans(bytes, Encoding::OtlpProto, &naming, &mut buffer);
            spans += buffer.len() as u64;
            let newest = buffer.iter().map(|s| s.start_ns).max().unwrap_or(0);
            for span in buffer.drain(..) {
                spans_in.send(span);
            }
            let open = pane_of(newest.saturating_sub(5_000_000_000));
            if open > *spans_in.time() {
                spans_in.advance_to(open);
                metrics_in.advance_to(open);
            }
            worker.step();
        }
        drop(spans_in);
        drop(metrics_in);
        while worker.step() {}
        Made {
            spans,
            rows: rows.get(),
            edges: edges.get(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct (service, minute) of the requests' spans: one feature row each.
    fn service_minutes(requests: &[Vec<u8>]) -> u64 {
        let mut spans = Vec::new();
        for bytes in requests {
            decode_spans(bytes, Encoding::OtlpProto, &Decoding::default(), &mut spans).unwrap();
        }
        let keys: std::collections::BTreeSet<_> = spans
            .iter()
            .map(|s| (s.service().to_string(), pane_of(s.start_ns)))
            .collect();
        keys.len() as u64
    }

    #[test]
    fn every_stage_sees_every_simulated_span() {
        let mut config = JobConfig::load(None, Vec::new()).expect("defaults");
        config.simulator.services = 12;
        config.simulator.traces_per_second = 5.0;
        config.simulator.start = "2026-01-05T14:00:00Z".into();
        config.simulator.duration = Some("3m".into());
        let mut reported = 0;
        let workload = simulated(&config, |spans| reported += spans).expect("simulator");
        let requests = workload.requests.len();
        assert!(
            (170..=180).contains(&requests),
            "one request per simulated second with traces: {requests}"
        );
        assert!(workload.spans > 1_000, "{} spans", workload.spans);
        assert_eq!(reported, workload.spans);
        let total: u64 = workload.requests.iter().map(|r| r.len() as u64).sum();
        assert_eq!(total, workload.bytes);
        let decode = run(&workload.requests, Stages::Decode);
        assert_eq!(
            (decode.spans, decode.rows, decode.edges),
            (workload.spans, 0, 0)
        );
        let features = run(&workload.requests, Stages::Features);
        let graph = run(&workload.requests, Stages::Graph);
        assert_eq!(features.spans, workload.spans);
        let service_minutes = service_minutes(&workload.requests);
        assert_eq!(features.rows, service_minutes);
        assert_eq!((graph.spans, graph.rows), (workload.spans, service_minutes));
        assert_eq!(features.edges, 0, "no graph, no edges");
        assert!(
            graph.edges >= 3 * 11,
            "every callee is called each minute: {}",
            graph.edges
        );
    }
}
