//! The console's JSON API under `/api`, which its pages use and scripts can call.
//!
//! [`PATHS`] lists the paths and what each answers (`GET /api` serves that list; the reference
//! with every field is `docs/console.md`).
//!
//! Services are named as people read them: the plain name when every service of the data is in
//! one environment, else `name@environment` (see [`crate::record::service_label`]). Errors
//! answer `{"error": "..."}` with 400 (a bad parameter), 404 (no such incident or service) or
//! 500 (the store could not be read, with the file or server in the message).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::store::Store;
use crate::error::Result;
use crate::features::row::{ColumnKind, COLUMNS};
use crate::features::OperationRow;
use crate::graph::layout::layered;
use crate::graph::snapshot::live_at;
use crate::graph::EdgeWindow;
use crate::record::{key_parts, label_within, service_key, service_label};
use crate::score::Incident;
use crate::time::Pane;

/// The API's paths and what each answers (`GET /api` lists them).
pub const PATHS: [(&str, &str); 7] = [
    ("/api", "this list"),
    (
        "/api/summary",
        "where the data is, its first and last minute, how many incidents",
    ),
    (
        "/api/graph?at=T",
        "the live graph at minute T (RFC 3339; default: the last minute): nodes with anomaly \
         score, flags and layout position; edges with calls, errors, error rate, p95",
    ),
    (
        "/api/incidents",
        "every incident, newest first: opening and last minute, root cause, services",
    ),
    (
        "/api/incidents/{id}",
        "its updates minute by minute, and the latest in full (candidates with evidence, \
         every method's ranking)",
    ),
    (
        "/api/services/{name}/operations?at=T",
        "the service's operations at minute T (default: the last) beside the median of the \
         15 minutes before, the most changed first",
    ),
    (
        "/api/services/{name}?from=T&to=T&columns=A,B",
        "the service's features per minute (default: the hour before the last minute; RED, \
         resources, anomaly score unless columns names others), its callers and callees",
    ),
];

/// Minutes before T an operation's baseline covers.
pub const OPERATION_BASELINE_MINUTES: Pane = 15;

/// The feature columns a service page charts.
pub const SERVICE_COLUMNS: [&str; 7] = [
    "request_rate_1m",
    "error_rate_1m",
    "p95_latency_1m",
    "p99_latency_1m",
    "cpu_usage",
    "memory_usage",
    "anomaly_score",
];

/// Minutes a service page shows unless asked for a range.
const DEFAULT_RANGE_MINUTES: Pane = 60;

/// A failed API call: the status to answer and why.
#[derive(Debug)]
pub enum Failure {
    /// 400.
    BadRequest(String),
    /// 404.
    NotFound(String),
    /// 500.
    Store(crate::error::Error),
}

impl From<crate::error::Error> for Failure {
    fn from(error: crate::error::Error) -> Self {
        Failure::Store(error)
    }
}

/// An RFC 3339 time as its minute; `None` for an absent or empty parameter.
pub fn minute_param(name: &str, text: Option<&str>) -> std::result::Result<Option<Pane>, Failure> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some((t.timestamp().max(0) / 60) as Pane))
            .map_err(|_| {
                Failure::BadRequest(format!(
                    "{name}={text:?} is not an RFC 3339 time (2026-01-05T09:00:00Z)"
                ))
            }),
    }
}

fn iso(minute: Pane) -> String {
    let time = DateTime::<Utc>::from_timestamp(minute as i64 * 60, 0).unwrap_or_default();
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How services are named for people in one answer.
struct Labels {
    /// The one environment every real service is in, if there is one.
    within: Option<String>,
}

impl Labels {
    fn of<'a>(keys: impl Iterator<Item = &'a str>) -> Labels {
        let environments: BTreeSet<&str> = keys.map(|k| key_parts(k).1).collect();
        let within = match environments.len() {
            1 => environments.first().map(|e| e.to_string()),
            _ => None,
        };
        Labels { within }
    }

    /// Whether `name` (as a page or script gives it) names the service `key`: its label, or its
    /// plain name.
    fn names(&self, key: &str, name: &str) -> bool {
        self.label(key) == name || key_parts(key).0 == name
    }

    fn label(&self, key: &str) -> String {
        match &self.within {
            Some(environment) => label_within(key, environment).into_owned(),
            None => service_label(key).into_owned(),
        }
    }
}

/// An incident names services within its environment; their keys.
fn incident_key(name: &str, environment: &str) -> String {
    match name.rsplit_once('@') {
        Some((name, other)) => service_key(name, other),
        None => service_key(name, environment),
    }
}

/// `GET /api/summary`.
pub fn summary(store: &Store) -> Result<Value> {
    let incidents = store.incidents()?;
    let ids: BTreeSet<&str> = incidents.iter().map(|i| i.incident_id.as_str()).collect();
    let (first, last) = store.minutes()?.unzip();
    Ok(json!({
        "source": store.describe(),
        "first_minute": first.map(iso),
        "last_minute": last.map(iso),
        "incidents": ids.len(),
    }))
}

/// `GET /api/graph`: the live graph at `at` (default: the last minute).
pub fn graph(store: &Store, at: Option<Pane>, expiry: Pane) -> Result<Value> {
    let Some((first, last)) = store.minutes()? else {
        return Ok(json!({"at": null, "nodes": [], "edges": [], "width": 0, "height": 0}));
    };
    let at = at.unwrap_or(last);
    let edges = live_at(store.edges(at.saturating_sub(expiry), at)?, at, expiry);
    let rows = store.rows(at..at + 1, &["anomaly_score"])?;
    // Every service with a row in the minute is on the map, scored or not (yet).
    let scores: BTreeMap<&str, Option<f64>> = rows
        .iter()
        .map(|r| {
            (
                r.service.as_str(),
                Some(r.values[0]).filter(|v| v.is_finite()),
            )
        })
        .collect();
    let (anomalous, causes) = flagged_at(&store.incidents()?, at);
    let virtual_nodes: BTreeSet<&str> = edges
        .iter()
        .filter(|e| e.virtual_callee)
        .map(|e| e.callee.as_str())
        .collect();
    let keys: Vec<&str> = edges
        .iter()
        .flat_map(|e| [e.caller.as_str(), e.callee.as_str()])
        .chain(scores.keys().copied())
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .collect();
    let labels = Labels::of(keys.iter().copied().filter(|k| !virtual_nodes.contains(k)));
    let index: BTreeMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let links: Vec<(usize, usize)> = edges
        .iter()
        .map(|e| (index[e.caller.as_str()], index[e.callee.as_str()]))
        .collect();
    let layout = layered(keys.len(), &links);
    let nodes: Vec<Value> = keys
        .iter()
        .zip(&layout.positions)
        .map(|(key, (x, y))| {
            json!({
                "name": labels.label(key),
                "virtual": virtual_nodes.contains(key),
                "anomaly_score": scores.get(key).copied().flatten(),
                "anomalous": anomalous.contains(*key),
                "root_cause": causes.contains(*key),
                "x": x, "y": y,
            })
        })
        .collect();
    let edges: Vec<Value> = edges.iter().map(|e| edge_json(e, &labels)).collect();
    Ok(json!({
        "at": iso(at), "first_minute": iso(first), "last_minute": iso(last),
        "expiry_minutes": expiry, "nodes": nodes, "edges": edges,
        "width": layout.width, "height": layout.height,
    }))
}

fn edge_json(edge: &EdgeWindow, labels: &Labels) -> Value {
    json!({
        "caller": labels.label(&edge.caller), "callee": labels.label(&edge.callee),
        "calls": edge.calls, "errors": edge.errors, "error_rate": edge.error_rate(),
        "p95_ms": edge.p95_ms, "last_seen": iso(edge.pane),
    })
}

/// The service keys incidents flag anomalous at minute `at`, and their root causes.
fn flagged_at(incidents: &[Incident], at: Pane) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut anomalous = BTreeSet::new();
    let mut causes = BTreeSet::new();
    let here = incidents
        .iter()
        .filter(|i| i.time_us / 60_000_000 == at as i64);
    for incident in here {
        let key = |name: &String| incident_key(name, &incident.environment);
        anomalous.extend(incident.anomalous_services.iter().map(key));
        causes.extend(incident.root_cause.iter().map(key));
    }
    (anomalous, causes)
}

/// `GET /api/incidents`: one entry per incident, newest first.
pub fn incidents(store: &Store) -> Result<Value> {
    let mut by_id: BTreeMap<String, Vec<Incident>> = BTreeMap::new();
    for update in store.incidents()? {
        by_id
            .entry(update.incident_id.clone())
            .or_default()
            .push(update);
    }
    let mut list: Vec<Value> = by_id
        .values()
        .map(|updates| incident_entry(updates))
        .collect();
    list.sort_by(|a, b| b["opened"].as_str().cmp(&a["opened"].as_str()));
    Ok(Value::Array(list))
}

fn incident_entry(updates: &[Incident]) -> Value {
    let latest = &updates[updates.len() - 1];
    let services: BTreeSet<&str> = updates
        .iter()
        .flat_map(|u| u.anomalous_services.iter().map(String::as_str))
        .collect();
    json!({
        "incident_id": latest.incident_id,
        "opened": iso((latest.opened_us / 60_000_000).max(0) as Pane),
        "last_minute": iso((latest.time_us / 60_000_000).max(0) as Pane),
        "root_cause": latest.root_cause,
        "environment": latest.environment,
        "anomalous_services": services,
        "updates": updates.len(),
    })
}

/// `GET /api/incidents/{id}`.
pub fn incident(store: &Store, id: &str) -> std::result::Result<Value, Failure> {
    let updates: Vec<Incident> = store
        .incidents()?
        .into_iter()
        .filter(|i| i.incident_id == id)
        .collect();
    let Some(latest) = updates.last() else {
        return Err(Failure::NotFound(format!("no incident {id:?}")));
    };
    let timeline: Vec<Value> = updates
        .iter()
        .map(|u| {
            json!({
                "minute": iso((u.time_us / 60_000_000).max(0) as Pane),
                "root_cause": u.root_cause,
                "anomalous_services": u.anomalous_services,
            })
        })
        .collect();
    let mut entry = incident_entry(&updates);
    entry["latest"] = serde_json::to_value(latest).unwrap_or(Value::Null);
    entry["timeline"] = Value::Array(timeline);
    Ok(entry)
}

/// The numeric feature columns `requested` names (comma-separated), or [`SERVICE_COLUMNS`].
fn feature_columns(requested: Option<&str>) -> std::result::Result<Vec<&'static str>, Failure> {
    let Some(requested) = requested.filter(|r| !r.trim().is_empty()) else {
        return Ok(SERVICE_COLUMNS.to_vec());
    };
    let numeric = COLUMNS.iter().filter(|c| c.kind == ColumnKind::Float64);
    let numeric: Vec<&'static str> = numeric.map(|c| c.name).collect();
    requested
        .split(',')
        .map(|name| {
            let name = name.trim();
            numeric.iter().copied().find(|c| *c == name).ok_or_else(|| {
                Failure::BadRequest(format!(
                    "columns: {name:?} is not a numeric column of the feature row"
                ))
            })
        })
        .collect()
}

/// `GET /api/services/{name}`: features of `from..=to` (default: the hour before the last
/// minute; `columns` picks numeric columns, default [`SERVICE_COLUMNS`]), and the callers and
/// callees live at `to`.
pub fn service(
    store: &Store,
    name: &str,
    range: (Option<Pane>, Option<Pane>),
    columns: Option<&str>,
    expiry: Pane,
) -> std::result::Result<Value, Failure> {
    let columns = feature_columns(columns)?;
    let last = store.minutes()?.map(|(_, last)| last).unwrap_or(0);
    let to = range.1.unwrap_or(last);
    let from = range.0.unwrap_or(to.saturating_sub(DEFAULT_RANGE_MINUTES));
    if from > to {
        return Err(Failure::BadRequest(format!(
            "from {} is after to {}",
            iso(from),
            iso(to)
        )));
    }
    let rows = store.rows(from..to + 1, &columns)?;
    let labels = Labels::of(rows.iter().map(|r| r.service.as_str()));
    let mine: Vec<_> = rows
        .iter()
        .filter(|r| labels.names(&r.service, name))
        .collect();
    let edges = live_at(store.edges(to.saturating_sub(expiry), to)?, to, expiry);
    let named = |key: &str| labels.names(key, name);
    let callers: BTreeSet<String> = edges
        .iter()
        .filter(|e| named(&e.callee))
        .map(|e| labels.label(&e.caller))
        .collect();
    let callees: BTreeSet<String> = edges
        .iter()
        .filter(|e| named(&e.caller))
        .map(|e| labels.label(&e.callee))
        .collect();
    if mine.is_empty() && callers.is_empty() && callees.is_empty() {
        return Err(Failure::NotFound(format!(
            "no service {name:?} between {} and {}",
            iso(from),
            iso(to)
        )));
    }
    let value = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let series: serde_json::Map<String, Value> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let points: Vec<Value> = mine.iter().map(|r| value(r.values[i])).collect();
            (column.to_string(), Value::Array(points))
        })
        .collect();
    let times: Vec<String> = mine.iter().map(|r| iso(r.step.max(0) as Pane)).collect();
    Ok(json!({
        "service": name, "from": iso(from), "to": iso(to), "times": times,
        "series": series, "callers": callers, "callees": callees,
    }))
}

/// `GET /api/services/{name}/operations`: the service's operations at `at` (default: the last
/// minute) beside their baseline, the median of the [`OPERATION_BASELINE_MINUTES`] before,
/// ordered by how much they changed (see [`change`]).
pub fn operations(
    store: &Store,
    name: &str,
    at: Option<Pane>,
) -> std::result::Result<Value, Failure> {
    let at = match at {
        Some(at) => at,
        None => store.minutes()?.map(|(_, last)| last).unwrap_or(0),
    };
    let rows = store.rows(at..at + 1, &["request_rate_1m"])?;
    let labels = Labels::of(rows.iter().map(|r| r.service.as_str()));
    let Some(key) = rows
        .iter()
        .map(|r| r.service.as_str())
        .find(|k| labels.names(k, name))
    else {
        return Err(Failure::NotFound(format!(
            "no service {name:?} at {}",
            iso(at)
        )));
    };
    let from = at.saturating_sub(OPERATION_BASELINE_MINUTES);
    let mut history: BTreeMap<String, Vec<OperationRow>> = BTreeMap::new();
    for row in store.operations(key, from..at + 1)? {
        history.entry(row.operation.clone()).or_default().push(row);
    }
    let mut list: Vec<(f64, Value)> = history
        .iter()
        .filter_map(|(operation, rows)| operation_entry(operation, rows, at))
        .collect();
    list.sort_by(|a, b| b.0.total_cmp(&a.0));
    let operations: Vec<Value> = list.into_iter().map(|(_, v)| v).collect();
    Ok(json!({
        "service": name, "at": iso(at), "baseline_minutes": OPERATION_BASELINE_MINUTES,
        "operations": operations,
    }))
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    (n > 0).then(|| (values[(n - 1) / 2] + values[n / 2]) / 2.0)
}

/// One operation at `at` beside its baseline, with its change; none if it served nothing then.
fn operation_entry(operation: &str, rows: &[OperationRow], at: Pane) -> Option<(f64, Value)> {
    let now = rows.iter().find(|r| r.pane == at)?;
    let before: Vec<&OperationRow> = rows.iter().filter(|r| r.pane < at).collect();
    let error_rate = |r: &OperationRow| r.errors / r.calls.max(1.0);
    let base = |get: fn(&OperationRow) -> f64| median(before.iter().map(|r| get(r)).collect());
    let (calls, p95, errors) = (base(|r| r.calls), base(|r| r.p95_ms), base(error_rate));
    let score = change(now, (calls, p95, errors));
    Some((
        score,
        json!({
            "operation": operation, "calls": now.calls, "errors": now.errors,
            "error_rate": error_rate(now), "p95_ms": now.p95_ms,
            "baseline_calls": calls, "baseline_error_rate": errors, "baseline_p95_ms": p95,
            "merged_operations": now.merged_operations, "change": score,
        }),
    ))
}

/// How much an operation moved against its baseline (calls, p95, error rate medians): the
/// largest of the p95 and call-count ratios in natural-log units and ten times the change of
/// its error rate (so 10 percentage points more errors weigh like a p95 × e). A display order
/// for people, not a score the detector uses; an operation without baseline counts as new
/// (change 1).
pub fn change(now: &OperationRow, base: (Option<f64>, Option<f64>, Option<f64>)) -> f64 {
    let (Some(calls), Some(p95), Some(errors)) = base else {
        return 1.0;
    };
    let ratio = |a: f64, b: f64| ((a + 1.0) / (b + 1.0)).ln().abs();
    let error_rate = now.errors / now.calls.max(1.0);
    ratio(now.p95_ms, p95)
        .max(ratio(now.calls, calls))
        .max(10.0 * (error_rate - errors).abs())
}
