//! The Nezha TrainTicket dataset: its fault lists, and a replay of its CSV layout as OTLP that
//! the job reads through its source factory. Errors of the replay are the engine's, since the
//! job raises them; those of the fault lists are this crate's.
//!
//! The dataset (see `shared/data/nezha-trainticket/README.md`) holds, per day, per-minute span
//! files `trace/HH_MM_trace.csv.gz`, per-pod metric files `metric/<pod>_metric.csv.gz` and
//! per-minute log files `log/HH_MM_log.csv.gz`. This
//! source turns them into the OTLP export requests an instrumented TrainTicket would have sent,
//! in event-time order, so they go through the same decode → features → graph → RCA path as
//! live telemetry. What the CSV lacks is filled in the way the data implies, and nothing else:
//!
//! - Service = pod name without its last two `-` parts (ReplicaSet hash and pod suffix).
//! - Span kind: the spans carry none. A span whose parent is in another service (or that is a
//!   root) is the service's SERVER span; a span with a child in another service is a CLIENT
//!   span; others are INTERNAL. The status is unknown, so spans report no errors.
//! - Logs: `log/HH_MM_log.csv.gz` lines become log records ([`super::nezha_logs`]).
//! - Metrics: `CpuUsageRate(%)` and `MemoryUsageRate(%)` become `k8s.pod.cpu.utilization` and
//!   `k8s.pod.memory.utilization` (ratios), `NetworkReceiveBytes` / `NetworkTransmitBytes`
//!   (per second) become delta `k8s.pod.network.io` sums over the sample's minute. The other
//!   columns (syscalls, the pod's own latency and success-rate summaries) feed no feature.
//!
//! Everything is one partition read by worker 0, in event-time order at file granularity; lines
//! that do not parse are faults with their file and line. A trace file spans a minute in no
//! order, so a replay needs a watermark out-of-orderness of at least a minute (the evaluation
//! sets two).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span};
use prost::Message;

use aiops_engine::record::{Encoding, Location, Signal};
use aiops_engine::source::otlp_build::{gauge, scope, string};
use aiops_engine::source::{Batch, Poll, RawMessage, Source, SourceFault};
use aiops_engine::{Error, Result};

use super::ids::hex;
use super::nezha_logs::{log_request, parse_log_line};
use super::{Case, Published};
use crate::error::{Error as DataError, Result as DataResult};

const SECOND_NS: u64 = 1_000_000_000;

/// The service of a pod: its name without the last two `-` parts.
pub fn service_of_pod(pod: &str) -> &str {
    let mut cut = pod;
    for _ in 0..2 {
        if let Some((head, _)) = cut.rsplit_once('-') {
            cut = head;
        }
    }
    cut
}

/// One replayable unit, ordered by its earliest event time.
enum Item {
    Traces(PathBuf),
    Logs(PathBuf),
    Metrics(Vec<MetricSample>),
}

/// One row of a pod's metric file.
#[derive(Debug)]
struct MetricSample {
    time_ns: u64,
    pod: String,
    cpu_ratio: Option<f64>,
    memory_ratio: Option<f64>,
    receive_per_s: Option<f64>,
    transmit_per_s: Option<f64>,
}

/// The Nezha replay source.
pub struct NezhaSource {
    items: std::collections::VecDeque<(u64, Item)>,
    faults: Vec<SourceFault>,
    stopped: bool,
    sequence: u64,
}

fn fault(path: &Path, line: u64, reason: String) -> SourceFault {
    SourceFault {
        location: Location::File {
            path: path.display().to_string(),
            line,
            offset: 0,
        },
        reason,
        bytes: Vec::new(),
    }
}

fn gz_lines(path: &Path) -> Result<impl Iterator<Item = (u64, std::io::Result<String>)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let lines = BufReader::new(GzDecoder::new(file)).lines();
    Ok(lines.enumerate().skip(1).map(|(i, l)| (i as u64 + 1, l)))
}

/// The day directories (`YYYY-MM-DD`) under `root`, sorted.
fn days(root: &Path) -> Result<Vec<(PathBuf, chrono::NaiveDate)>> {
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    let mut days: Vec<(PathBuf, chrono::NaiveDate)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let day = chrono::NaiveDate::parse_from_str(name, "%Y-%m-%d").ok()?;
            Some((p, day))
        })
        .collect();
    days.sort_by_key(|(_, d)| *d);
    if days.is_empty() {
        return Err(Error::Config(format!(
            "{}: no day directories (YYYY-MM-DD) of the Nezha layout",
            root.display()
        )));
    }
    Ok(days)
}

impl NezhaSource {
    /// Indexes the dataset at `root`; worker `index` of `peers` gets it all if `index == 0`.
    pub fn open(root: &Path, index: usize) -> Result<Self> {
        let mut source = NezhaSource {
            items: Default::default(),
            faults: Vec::new(),
            stopped: false,
            sequence: 0,
        };
        if index != 0 {
            return Ok(source);
        }
        let mut timeline: BTreeMap<u64, Vec<Item>> = BTreeMap::new();
        for (dir, day) in days(root)? {
            source.index_traces(&dir, day, &mut timeline)?;
            source.index_metrics(&dir, &mut timeline)?;
            index_logs(&dir, day, &mut timeline)?;
        }
        source.items = timeline
            .into_iter()
            .flat_map(|(time, items)| items.into_iter().map(move |item| (time, item)))
            .collect();
        Ok(source)
    }

    /// Trace files: see [`minute_files`].
    fn index_traces(
        &mut self,
        dir: &Path,
        day: chrono::NaiveDate,
        timeline: &mut BTreeMap<u64, Vec<Item>>,
    ) -> Result<()> {
        let trace_dir = dir.join("trace");
        let entries = std::fs::read_dir(&trace_dir).map_err(|e| Error::io(&trace_dir, e))?;
        for (key, path) in minute_files(entries, "_trace.csv.gz", day) {
            timeline.entry(key).or_default().push(Item::Traces(path));
        }
        Ok(())
    }

    /// Metric rows of every pod, grouped by sample time.
    fn index_metrics(&mut self, dir: &Path, timeline: &mut BTreeMap<u64, Vec<Item>>) -> Result<()> {
        let metric_dir = dir.join("metric");
        let entries = std::fs::read_dir(&metric_dir).map_err(|e| Error::io(&metric_dir, e))?;
        let mut by_minute: BTreeMap<u64, Vec<MetricSample>> = BTreeMap::new();
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.ends_with("_metric.csv.gz") {
                continue; // front_service.csv.gz: user-facing summary, no pod
            }
            for (line, text) in gz_lines(&path)? {
                let text = text.map_err(|e| Error::io(&path, e))?;
                match parse_metric(&text) {
                    Ok(sample) => by_minute.entry(sample.time_ns).or_default().push(sample),
                    Err(reason) => self.faults.push(fault(&path, line, reason)),
                }
            }
        }
        for (minute, samples) in by_minute {
            timeline
                .entry(minute)
                .or_default()
                .push(Item::Metrics(samples));
        }
        Ok(())
    }

    fn location(&mut self, path: &Path) -> Location {
        self.sequence += 1;
        Location::File {
            path: path.display().to_string(),
            line: 0,
            offset: self.sequence,
        }
    }
}

fn parse_metric(line: &str) -> std::result::Result<MetricSample, String> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() < 22 {
        return Err(format!("expected 22 columns, found {}", fields.len()));
    }
    let seconds: u64 = fields[1]
        .parse()
        .map_err(|_| format!("TimeStamp {:?} is not a number", fields[1]))?;
    let number = |i: usize| fields[i].parse::<f64>().ok().filter(|v| v.is_finite());
    let time_ns = seconds
        .checked_mul(SECOND_NS)
        .filter(|ns| *ns >= 60 * SECOND_NS)
        .ok_or_else(|| format!("TimeStamp {seconds} is out of range"))?;
    Ok(MetricSample {
        time_ns,
        pod: fields[2].to_string(),
        cpu_ratio: number(4).map(|v| v / 100.0),
        memory_ratio: number(6).map(|v| v / 100.0),
        receive_per_s: number(9),
        transmit_per_s: number(10),
    })
}

fn pod_resource(pod: &str) -> Resource {
    Resource {
        attributes: vec![
            string("service.name", service_of_pod(pod)),
            string("k8s.pod.name", pod),
            string("service.instance.id", pod),
        ],
        ..Default::default()
    }
}

/// A parsed span row.
#[derive(Debug)]
struct Row {
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_id: Option<Vec<u8>>,
    pod: String,
    operation: String,
    start_ns: u64,
    end_ns: u64,
}

fn parse_span(line: &str) -> std::result::Result<Row, String> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != 8 {
        return Err(format!("expected 8 columns, found {}", fields.len()));
    }
    let time = |i: usize| {
        fields[i]
            .parse::<u64>()
            .map_err(|_| format!("time {:?} is not a number", fields[i]))
    };
    let (start_ns, end_ns) = (time(5)?, time(6)?);
    Ok(Row {
        trace_id: hex(fields[0], 16)?,
        span_id: hex(fields[1], 8)?,
        parent_id: match fields[2] {
            "root" => None,
            parent => Some(hex(parent, 8)?),
        },
        pod: fields[3].to_string(),
        operation: fields[4].to_string(),
        start_ns,
        end_ns: end_ns.max(start_ns),
    })
}

/// The spans of one file as one export request, kinds inferred from the file's pairs.
fn trace_request(rows: Vec<Row>) -> ExportTraceServiceRequest {
    let service_of: HashMap<&[u8], &str> = rows
        .iter()
        .map(|r| (r.span_id.as_slice(), service_of_pod(&r.pod)))
        .collect();
    let mut calls_out: std::collections::HashSet<&[u8]> = Default::default();
    for row in &rows {
        if let Some(parent) = row.parent_id.as_deref() {
            if service_of
                .get(parent)
                .is_some_and(|s| *s != service_of_pod(&row.pod))
            {
                calls_out.insert(parent);
            }
        }
    }
    let mut by_pod: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for row in &rows {
        let service = service_of_pod(&row.pod);
        let entry = match row.parent_id.as_deref() {
            None => true,
            Some(parent) => service_of.get(parent).is_some_and(|s| *s != service),
        };
        let kind = if calls_out.contains(row.span_id.as_slice()) && !entry {
            SpanKind::Client
        } else if entry {
            SpanKind::Server
        } else {
            SpanKind::Internal
        };
        by_pod.entry(&row.pod).or_default().push(Span {
            trace_id: row.trace_id.clone(),
            span_id: row.span_id.clone(),
            parent_span_id: row.parent_id.clone().unwrap_or_default(),
            name: row.operation.clone(),
            kind: kind as i32,
            start_time_unix_nano: row.start_ns,
            end_time_unix_nano: row.end_ns,
            ..Default::default()
        });
    }
    ExportTraceServiceRequest {
        resource_spans: by_pod
            .into_iter()
            .map(|(pod, spans)| ResourceSpans {
                resource: Some(pod_resource(pod)),
                scope_spans: vec![ScopeSpans {
                    scope: scope(),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

fn network(time_ns: u64, receive: f64, transmit: f64) -> Metric {
    let point = |direction: &str, per_second: f64| NumberDataPoint {
        attributes: vec![string("network.io.direction", direction)],
        start_time_unix_nano: time_ns - 60 * SECOND_NS,
        time_unix_nano: time_ns,
        value: Some(number_data_point::Value::AsDouble(per_second * 60.0)),
        ..Default::default()
    };
    Metric {
        name: "k8s.pod.network.io".to_string(),
        unit: "By".to_string(),
        data: Some(Data::Sum(Sum {
            data_points: vec![point("receive", receive), point("transmit", transmit)],
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn metric_request(samples: &[MetricSample]) -> ExportMetricsServiceRequest {
    let resource_metrics = samples
        .iter()
        .map(|s| {
            let mut metrics = Vec::new();
            if let Some(cpu) = s.cpu_ratio {
                metrics.push(gauge(
                    "k8s.pod.cpu.utilization",
                    "1",
                    s.time_ns,
                    cpu,
                    Vec::new(),
                ));
            }
            if let Some(memory) = s.memory_ratio {
                metrics.push(gauge(
                    "k8s.pod.memory.utilization",
                    "1",
                    s.time_ns,
                    memory,
                    Vec::new(),
                ));
            }
            if let (Some(receive), Some(transmit)) = (s.receive_per_s, s.transmit_per_s) {
                metrics.push(network(s.time_ns, receive, transmit));
            }
            ResourceMetrics {
                resource: Some(pod_resource(&s.pod)),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

/// Log files (absent in older copies of the dataset): see [`minute_files`].
fn index_logs(
    dir: &Path,
    day: chrono::NaiveDate,
    timeline: &mut BTreeMap<u64, Vec<Item>>,
) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir.join("log")) else {
        return Ok(());
    };
    for (key, path) in minute_files(entries, "_log.csv.gz", day) {
        timeline.entry(key).or_default().push(Item::Logs(path));
    }
    Ok(())
}

/// The files `HH_MM<suffix>` of `entries`, each keyed by its first event time: a trace or log
/// file `HH_MM` holds about `HH:MM-1:09 .. HH:MM:08`, so a metric row stamped `HH:MM-1:09`
/// sorts before it.
fn minute_files(
    entries: std::fs::ReadDir,
    suffix: &str,
    day: chrono::NaiveDate,
) -> Vec<(u64, PathBuf)> {
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let hm = name.strip_suffix(suffix)?;
            let time = chrono::NaiveTime::parse_from_str(hm, "%H_%M").ok()?;
            let minute_ns = day.and_time(time).and_utc().timestamp() as u64 * SECOND_NS;
            Some((minute_ns.saturating_sub(51 * SECOND_NS) + 1, path))
        })
        .collect()
}

impl NezhaSource {
    fn read_logs(&mut self, path: &Path, batch: &mut Batch) -> Result<()> {
        let mut lines = Vec::new();
        for (line, text) in gz_lines(path)? {
            let text = text.map_err(|e| Error::io(path, e))?;
            match parse_log_line(&text) {
                Ok(parsed) => lines.push(parsed),
                Err(reason) => batch.faults.push(fault(path, line, reason)),
            }
        }
        let location = self.location(path);
        batch.messages.push(RawMessage {
            partition: 0,
            signal: Signal::Logs,
            encoding: Encoding::OtlpProto,
            bytes: log_request(lines, pod_resource).encode_to_vec(),
            location,
        });
        Ok(())
    }

    fn read_traces(&mut self, path: &Path, batch: &mut Batch) -> Result<()> {
        let mut rows = Vec::new();
        for (line, text) in gz_lines(path)? {
            let text = text.map_err(|e| Error::io(path, e))?;
            match parse_span(&text) {
                Ok(row) => rows.push(row),
                Err(reason) => batch.faults.push(fault(path, line, reason)),
            }
        }
        let location = self.location(path);
        batch.messages.push(RawMessage {
            partition: 0,
            signal: Signal::Traces,
            encoding: Encoding::OtlpProto,
            bytes: trace_request(rows).encode_to_vec(),
            location,
        });
        Ok(())
    }
}

impl Source for NezhaSource {
    fn partitions(&self) -> Vec<u32> {
        match self.items.is_empty() {
            true => Vec::new(),
            false => vec![0],
        }
    }

    fn poll(&mut self) -> Poll {
        let mut batch = Batch {
            faults: std::mem::take(&mut self.faults),
            ..Default::default()
        };
        let next = if self.stopped {
            None
        } else {
            self.items.pop_front()
        };
        let Some((_, item)) = next else {
            if batch.faults.is_empty() && self.items.is_empty() && !self.stopped {
                return Poll::Done;
            }
            self.items.clear();
            self.stopped = false;
            batch.finished.push(0);
            return Poll::Ready(batch);
        };
        match item {
            Item::Traces(path) => {
                if let Err(error) = self.read_traces(&path, &mut batch) {
                    batch.faults.push(fault(&path, 0, error.to_string()));
                }
            }
            Item::Logs(path) => {
                if let Err(error) = self.read_logs(&path, &mut batch) {
                    batch.faults.push(fault(&path, 0, error.to_string()));
                }
            }
            Item::Metrics(samples) => {
                let location = Location::File {
                    path: "metric/*_metric.csv.gz".into(),
                    line: 0,
                    offset: samples.first().map_or(0, |s| s.time_ns / SECOND_NS),
                };
                batch.messages.push(RawMessage {
                    partition: 0,
                    signal: Signal::Metrics,
                    encoding: Encoding::OtlpProto,
                    bytes: metric_request(&samples).encode_to_vec(),
                    location,
                });
            }
        }
        if let Some((next_ns, _)) = self.items.front() {
            batch.progress.push((0, *next_ns));
        } else {
            batch.finished.push(0);
        }
        Poll::Ready(batch)
    }

    fn stop(&mut self) {
        self.stopped = true;
    }
}

/// The faults of the Nezha dataset at `root` (both days' fault lists), by `inject_time`
/// (UTC; the README explains why not `inject_timestamp`).
pub fn fault_cases(root: &Path) -> DataResult<Vec<Case>> {
    let mut cases = Vec::new();
    let entries = std::fs::read_dir(root).map_err(|e| DataError::io(root, e))?;
    let mut days: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    days.sort();
    for day in days {
        let Some(name) = day.file_name().and_then(|n| n.to_str()).map(String::from) else {
            continue;
        };
        let list = day.join(format!("{name}-fault_list.json"));
        if !list.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&list).map_err(|e| DataError::io(&list, e))?;
        let hours: BTreeMap<String, Vec<serde_json::Value>> = serde_json::from_str(&text)
            .map_err(|e| DataError::Data(format!("{}: {e}", list.display())))?;
        for fault in hours.into_values().flatten() {
            let field = |key: &str| {
                fault[key].as_str().map(String::from).ok_or_else(|| {
                    DataError::Data(format!("{}: a fault lacks {key}", list.display()))
                })
            };
            let time =
                chrono::NaiveDateTime::parse_from_str(&field("inject_time")?, "%Y-%m-%d %H:%M:%S")
                    .map_err(|e| {
                        DataError::Data(format!("{}: inject_time: {e}", list.display()))
                    })?;
            cases.push(Case {
                service: service_of_pod(&field("inject_pod")?).to_string(),
                fault: field("inject_type")?,
                start_us: time.and_utc().timestamp_micros(),
            });
        }
    }
    cases.sort_by_key(|c| c.start_us);
    if cases.is_empty() {
        return Err(DataError::Data(format!(
            "{}: no <day>/<day>-fault_list.json",
            root.display()
        )));
    }
    Ok(cases)
}

/// Published service-level AC@1/3/5 on Nezha's TrainTicket data (Yu et al., FSE 2023).
pub const PUBLISHED: [Published; 4] = [
    ("Nezha (traces+metrics+logs)", "FSE'23", [86.7, 97.8, 97.8]),
    ("Nezha without logs", "FSE'23", [42.2, 44.4, 44.4]),
    ("MicroRCA", "FSE'23", [20.0, 31.1, 44.4]),
    ("MicroRank", "FSE'23", [15.6, 24.4, 35.6]),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn write_gz(path: &Path, text: &str) {
        use std::io::Write;
        let file = std::fs::File::create(path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
    }

    #[test]
    fn log_files_are_replayed_as_log_records_between_the_other_signals() {
        let root = tempfile::tempdir().unwrap();
        let day = root.path().join("2023-01-29");
        for dir in ["trace", "metric", "log"] {
            std::fs::create_dir_all(day.join(dir)).unwrap();
        }
        let line = |pod: &str, ns: u64, level: &str| {
            format!(
                "t,{ns},n,{pod},server,,,\"{{\"\"log\"\":\"\"16:42:22.382 {level}  a.B#1 [x][y]\\n\"\"}}\""
            )
        };
        let minute_ns = 1_674_981_720 * SECOND_NS; // 08:42:00
        let text = [
            "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log".to_string(),
            line("ts-a-service-1-x", minute_ns + 5, "INFO"),
            line("ts-b-service-2-y", minute_ns + 6, "ERROR"),
            "garbage".to_string(),
        ]
        .join("\n");
        write_gz(&day.join("log").join("08_42_log.csv.gz"), &text);
        let mut source = NezhaSource::open(root.path(), 0).unwrap();
        let (mut records, mut faults) = (Vec::new(), 0);
        loop {
            match source.poll() {
                Poll::Ready(batch) => {
                    faults += batch.faults.len();
                    for message in batch.messages {
                        assert_eq!(message.signal, Signal::Logs);
                        aiops_engine::otlp::decode_logs(
                            &message.bytes,
                            message.encoding,
                            &Default::default(),
                            &mut records,
                        )
                        .unwrap();
                    }
                }
                Poll::Done => break,
                Poll::Wait(_) => {}
            }
        }
        assert_eq!(faults, 1, "the garbage line is a fault with its place");
        let seen: Vec<(&str, u64, bool)> = records
            .iter()
            .map(|r| (r.service(), r.time_ns, r.error))
            .collect();
        assert_eq!(
            seen,
            [
                ("ts-a-service", minute_ns + 5, false),
                ("ts-b-service", minute_ns + 6, true)
            ]
        );
    }

    #[test]
    fn pods_map_to_services_by_dropping_two_parts() {
        assert_eq!(
            service_of_pod("ts-contacts-service-866bd68c97-xcqfx"),
            "ts-contacts-service"
        );
        assert_eq!(service_of_pod("solo"), "solo");
    }

    #[test]
    fn span_kinds_follow_service_boundaries() {
        let line = |span: &str, parent: &str, pod: &str| {
            parse_span(&format!(
                "{},{span},{parent},{pod},op,100,200,0",
                "ab".repeat(16)
            ))
            .expect("parses")
        };
        let request = trace_request(vec![
            line(&"01".repeat(8), "root", "gw-a-b"),
            line(&"02".repeat(8), &"01".repeat(8), "gw-a-b"),
            line(&"03".repeat(8), &"02".repeat(8), "api-c-d"),
        ]);
        let mut kinds: Vec<(u8, i32)> = request
            .resource_spans
            .iter()
            .flat_map(|r| {
                r.scope_spans[0]
                    .spans
                    .iter()
                    .map(|s| (s.span_id[0], s.kind))
            })
            .collect();
        kinds.sort();
        let expected = [
            (1, SpanKind::Server as i32),
            (2, SpanKind::Client as i32),
            (3, SpanKind::Server as i32),
        ];
        assert_eq!(kinds, expected);
    }

    #[test]
    fn malformed_rows_are_reasons_not_panics() {
        assert!(parse_span("a,b").unwrap_err().contains("8 columns"));
        assert!(parse_span("zz,01,root,p,op,1,2,3")
            .unwrap_err()
            .contains("hex"));
        assert!(
            parse_metric("x,notanumber,p,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19")
                .expect_err("rejected")
                .contains("TimeStamp")
        );
        // 32 bytes, but a two-byte character straddles a hex pair: an error, not a panic.
        let id = format!("é{}", "a".repeat(30));
        assert!(parse_span(&format!("{id},0101010101010101,root,p,op,1,2,3")).is_err());
        assert!(parse_metric("x,10,p,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19").is_err());
    }

    #[test]
    fn nezha_fault_lists_parse_with_the_utc_inject_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let day = dir.path().join("2023-01-29");
        std::fs::create_dir_all(&day).expect("mkdir");
        std::fs::write(
            day.join("2023-01-29-fault_list.json"),
            r#"{"08": [{"inject_time": "2023-01-29 08:43:04", "inject_timestamp": "1674953044",
                "inject_pod": "ts-contacts-service-866bd68c97-xcqfx", "inject_type": "return"}]}"#,
        )
        .expect("write");
        let cases = fault_cases(dir.path()).expect("parses");
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].service, "ts-contacts-service");
        assert_eq!(cases[0].start_us, 1_674_981_784_000_000);
    }
}
