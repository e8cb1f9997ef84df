//! Incidents: one minute's anomalous services, ranked root-cause candidates, and evidence.
//!
//! All workers' evidence and edges of a minute meet on worker 0, which keeps the incident
//! state. A minute's affected services split into connected parts of the call graph (flagged
//! services and open incidents' members, joined by the live and configured edges); a part
//! with a service at the fleet's bar opens an incident, or extends the open one it touches,
//! so two unrelated faults at once get two incidents, each ranked on its own symptoms. An
//! incident stays open (same id, re-ranked every minute) while such minutes follow with gaps
//! of at most [`GAP_MINUTES`]. The id is derived from the opening minute (and the part's
//! place among those opened in it), so a replay raises the same ids.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use aiops_models::rca::gnn::LabelledIncident;
use aiops_models::rca::{
    method, CallEdge, CallGraph, Candidate, RootCauseRanker, ServiceEvidence, METHODS,
};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::StreamVec;

use super::detect::closed_early;
use super::edge_evidence::EdgeBaselines;
use super::fleet::FleetGate;
use crate::config::{DetectionConfig, RcaConfig, RcaMethod};
use crate::error::{Error, Result};
use crate::graph::snapshot::live_at;
use crate::graph::EdgeWindow;
use crate::record::{key_parts, label_within, service_key};
use crate::stats::Stats;
use crate::time::{pane_start_ns, Pane, PaneJoin};

/// Quiet minutes after which an open incident is over.
pub const GAP_MINUTES: Pane = 2;

/// One incident as of one minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id: `INC-` and the opening minute (UTC).
    pub incident_id: String,
    /// The minute this update is about, µs since the epoch.
    pub time_us: i64,
    /// The incident's first minute, µs.
    pub opened_us: i64,
    /// Services flagged anomalous in this minute, sorted.
    pub anomalous_services: Vec<String>,
    /// The ranking method of `candidates`.
    pub method: String,
    /// The most likely root cause (the first candidate).
    pub root_cause: Option<String>,
    /// Ranked candidates with scores and evidence.
    pub candidates: Vec<Candidate>,
    /// Every method's top services, for comparison and evaluation.
    pub rankings: BTreeMap<String, Vec<String>>,
    /// Call edges of the minute the ranking saw.
    pub edges: usize,
    /// `deployment.environment.name` of the root cause ('' when unset). The services above
    /// are named within it: by name, and `name@environment` for one of another environment.
    #[serde(default)]
    pub environment: String,
}

/// What a ranking saw: recorded with `rca.record_inputs`, so learned rankers (the GNN) can be
/// trained on incidents whose cause is known, and rankings replayed offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingInput {
    /// The ranked minute, µs.
    pub time_us: i64,
    /// The incident it belongs to.
    pub incident_id: String,
    /// The call edges of the live graph (and configured ones).
    pub edges: Vec<CallEdge>,
    /// Every service's evidence.
    pub evidence: Vec<ServiceEvidence>,
}

impl RankingInput {
    /// This ranking's inputs as a training example whose cause is the service `cause` names
    /// (see [`RankingInput::key_of`]).
    pub fn labelled(&self, cause: &str) -> LabelledIncident {
        LabelledIncident {
            edges: self.edges.clone(),
            evidence: self.evidence.clone(),
            cause: self.key_of(cause).to_string(),
        }
    }

    /// Whether the service `name` stands for was among this ranking's symptoms (flagged):
    /// of a minute's several incidents, the one a known fault at that service belongs to.
    pub fn flags(&self, name: &str) -> bool {
        let key = self.key_of(name);
        self.evidence
            .iter()
            .any(|e| e.anomalous && e.service == key)
    }

    /// The first of `inputs` that `within` accepts, preferring one that flags `service`
    /// (see [`RankingInput::flags`]).
    pub fn covering<'a>(
        inputs: &'a [RankingInput],
        service: &str,
        within: impl Fn(&RankingInput) -> bool,
    ) -> Option<&'a RankingInput> {
        let mut accepted = inputs.iter().filter(|input| within(input));
        let first = accepted.clone().next();
        accepted.find(|input| input.flags(service)).or(first)
    }

    /// The service key that `name` stands for here: a ground truth names services, the
    /// ranking knew them by key (name and environment). `name` itself when it is a key here
    /// or names none of the services.
    pub fn key_of<'a>(&'a self, name: &'a str) -> &'a str {
        let keys = || self.evidence.iter().map(|e| e.service.as_str());
        match keys().any(|key| key == name) {
            true => name,
            false => keys().find(|key| key_parts(key).0 == name).unwrap_or(name),
        }
    }
}

/// Where recorded ranking inputs go: the job passes a JSON-lines side output of its sinks.
pub type Recorder = Box<dyn FnMut(&RankingInput) -> Result<()>>;

/// An open incident: what the tracker keeps of it between minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenIncident {
    /// Its id.
    pub id: String,
    /// Its first minute, µs.
    pub opened_us: i64,
    /// Its last minute with a service at the fleet's bar.
    pub last: Pane,
    /// Services that reached the fleet's bar in one of its minutes.
    pub members: BTreeSet<String>,
}

/// The open incidents after minute `pane`: stored with the minute's incidents, so a restarted
/// job goes on with the same incidents (ids, members), however long they have been open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentState {
    /// The minute after which the state holds.
    pub pane: Pane,
    /// The open incidents, oldest first.
    pub open: Vec<OpenIncident>,
}

impl IncidentState {
    /// The minute's start, µs (the stored record's time).
    pub fn time_us(&self) -> i64 {
        (pane_start_ns(self.pane) / 1_000) as i64
    }
}

/// Worker 0's incident state and rankers.
pub struct IncidentTracker {
    /// Where ranking inputs are recorded, if they are.
    recorder: Option<Recorder>,
    primary: Box<dyn RootCauseRanker>,
    others: Vec<Box<dyn RootCauseRanker>>,
    top_k: usize,
    /// Open incidents, oldest first.
    open: Vec<OpenIncident>,
    /// Minutes before this one only rebuild the fleet's bar and the edge baselines: the open
    /// incidents were restored as they stood after the minute before it.
    restored_from: Pane,
    /// The stored open incidents after each replayed minute: whose levels the bar did not
    /// learn in the minute after it.
    replayed: BTreeMap<Pane, Vec<OpenIncident>>,
    triggers: BTreeSet<Pane>,
    gate: FleetGate,
    edges: EdgeBaselines,
    static_edges: Vec<CallEdge>,
    /// Edges of the last minutes, for the live graph the rankers see.
    recent: BTreeMap<Pane, Vec<EdgeWindow>>,
    /// Minutes an edge stays in that graph after it was last seen.
    expiry: Pane,
}

impl IncidentTracker {
    /// A tracker ranking with `config.method`, judging edges as `detection` judges features.
    pub fn new(config: &RcaConfig, detection: &DetectionConfig) -> Result<Self> {
        // A learned primary ("gnn") arrives with `with_ranker`; until then "combined" stands in.
        let wanted = match config.method {
            RcaMethod::Gnn => RcaMethod::Combined.name(),
            other => other.name(),
        };
        let primary = method(wanted).ok_or_else(|| {
            Error::Config(format!(
                "rca.method {wanted:?} has no ranker here; the rankers are {}",
                METHODS.join(", ")
            ))
        })?;
        let others = METHODS
            .iter()
            .filter(|name| **name != wanted)
            .filter_map(|name| method(name))
            .collect();
        Ok(IncidentTracker {
            recorder: None,
            primary,
            others,
            top_k: config.top_k.max(1),
            open: Vec::new(),
            restored_from: 0,
            replayed: BTreeMap::new(),
            triggers: BTreeSet::new(),
            gate: FleetGate::new(detection.alarms_per_hour),
            edges: EdgeBaselines::new(detection.clone()),
            static_edges: Vec::new(),
            recent: BTreeMap::new(),
            expiry: 0,
        })
    }

    /// Ranks over the live graph: edges seen within `minutes` before the ranked minute (see
    /// [`crate::graph::snapshot::live_at`]), so a service that stops being called is still
    /// where its callers' calls went. 0: the minute's own edges only.
    pub fn with_edge_expiry(mut self, minutes: Pane) -> Self {
        self.expiry = minutes;
        self
    }

    /// Remembers `edges` of minute `pane` and returns the live graph's edges at `pane`.
    fn live_edges(&mut self, pane: Pane, edges: Vec<EdgeWindow>) -> Vec<EdgeWindow> {
        self.recent.insert(pane, edges);
        let oldest = pane.saturating_sub(self.expiry);
        self.recent = self.recent.split_off(&oldest);
        let all = self.recent.values().flatten().cloned();
        live_at(all, pane, self.expiry)
    }

    /// Adds a learned ranker (the GNN); it becomes the primary method when `rca.method`
    /// names it.
    pub fn with_ranker(mut self, ranker: Box<dyn RootCauseRanker>, config: &RcaConfig) -> Self {
        if ranker.name() == config.method.name() {
            let previous = std::mem::replace(&mut self.primary, ranker);
            self.others.insert(0, previous);
        } else {
            self.others.push(ranker);
        }
        self
    }

    /// Hands every ranking's inputs to `recorder` (see [`RankingInput`]).
    pub fn recording_with(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Adds configured `[caller, callee]` edges to every minute's graph.
    pub fn with_static_edges(mut self, edges: &[[String; 2]]) -> Self {
        self.static_edges = edges
            .iter()
            .map(|[caller, callee]| CallEdge::new(caller, callee, 0, 0, None))
            .collect();
        self
    }

    /// Also ranks at `minutes` when nothing is flagged (external alerts, evaluations).
    pub fn triggered_at(mut self, minutes: BTreeSet<Pane>) -> Self {
        self.triggers = minutes;
        self
    }

    /// Starts from the stored edges of the minutes before `live_from` (a restart); see
    /// [`EdgeBaselines::restore`].
    pub fn with_edge_history(mut self, edges: Vec<EdgeWindow>, live_from: Pane) -> Self {
        let oldest = live_from.saturating_sub(self.expiry + 1);
        for edge in edges.iter().filter(|e| e.pane >= oldest) {
            self.recent.entry(edge.pane).or_default().push(edge.clone());
        }
        self.edges.restore(edges, live_from);
        self
    }

    /// Goes on with the open incidents stored after the last minute of `states` (the states
    /// after each minute of the replay before it, oldest first): minutes up to it, replayed
    /// to rebuild the fleet's bar and the edge baselines, open or extend nothing, and the bar
    /// leaves out the levels of the incidents' members as it did when those minutes were live.
    pub fn with_open_incidents(mut self, mut states: Vec<IncidentState>) -> Self {
        let Some(last) = states.pop() else {
            return self;
        };
        self.restored_from = last.pane + 1;
        self.open = last.open;
        self.replayed = states.into_iter().map(|s| (s.pane, s.open)).collect();
        self
    }

    /// The open incidents after the last minute observed, `pane`.
    pub fn state(&self, pane: Pane) -> IncidentState {
        IncidentState {
            pane,
            open: self.open.clone(),
        }
    }

    /// The incident updates for minute `pane`: one per connected part of the affected
    /// services with a service at the fleet's bar ([`FleetGate`]), or, when the minute is a
    /// trigger, one ranking every service (under the first incident the minute updated, else
    /// the newest open one, else a new one). Minutes must come in increasing order. Only services at the bar open
    /// or extend an incident: members' ordinary flags would keep a large incident open for as
    /// long as some member is an outlier.
    pub fn observe(
        &mut self,
        pane: Pane,
        mut evidence: Vec<ServiceEvidence>,
        mut edges: Vec<EdgeWindow>,
    ) -> Vec<Incident> {
        // The minute's edges, for the edge evidence; the live graph, for the ranking.
        edges.sort_by(|a, b| (&a.caller, &a.callee).cmp(&(&b.caller, &b.callee)));
        self.edges.add_evidence(pane, &edges, &mut evidence);
        let live = self.live_edges(pane, edges);
        let open = match pane < self.restored_from {
            true => self
                .replayed
                .range(..pane)
                .next_back()
                .map(|(_, open)| open),
            false => Some(&self.open),
        };
        let members = open.into_iter().flatten().flat_map(|open| &open.members);
        let unlearned: HashSet<&str> = members.map(String::as_str).collect();
        let alarming = self.gate.alarming(pane, &evidence, &unlearned);
        if pane < self.restored_from {
            return Vec::new();
        }
        self.replayed.clear();
        self.open
            .retain(|open| pane.saturating_sub(open.last + 1) <= GAP_MINUTES);
        evidence.sort_by(|a, b| a.service.cmp(&b.service));
        let graph_edges = call_edges(&live, &self.static_edges, &evidence);
        let time_us = (pane_start_ns(pane) / 1_000) as i64;
        let parts = self.extend_incidents(pane, time_us, &alarming, &evidence, &graph_edges);
        let seen = Seen {
            time_us,
            live: live.len(),
        };
        if self.triggers.contains(&pane) {
            // A trigger says that something is wrong, not where: its minute ranks every
            // service, under the first incident this minute updated, else the newest open one.
            let open = parts.keys().next().map(|&i| &self.open[i]);
            let (id, opened_us) = match open.or(self.open.last()) {
                Some(open) => (open.id.clone(), open.opened_us),
                None => (incident_id(time_us, 0), time_us),
            };
            return vec![self.rank(&seen, (id, opened_us), evidence, graph_edges)];
        }
        parts
            .into_iter()
            .map(|(index, part)| {
                let (evidence, edges) = within_reach(&part, &evidence, &graph_edges);
                let open = &self.open[index];
                let incident = (open.id.clone(), open.opened_us);
                self.rank(&seen, incident, evidence, edges)
            })
            .collect()
    }

    /// Opens or extends an incident for each connected part of the affected services that
    /// holds a service at the bar, and returns each such incident's index in `open` with its
    /// services (parts that touch the same incident are one). A part touching several open
    /// incidents extends the oldest; the others are not updated this minute. Until the fleet's
    /// bar is settled ([`FleetGate::settled`]) a part touching none joins the newest open
    /// incident: in a job's first hour a large fleet's outliers would each open one.
    fn extend_incidents(
        &mut self,
        pane: Pane,
        time_us: i64,
        alarming: &BTreeSet<String>,
        evidence: &[ServiceEvidence],
        edges: &[CallEdge],
    ) -> BTreeMap<usize, BTreeSet<String>> {
        let mut updated: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        if alarming.is_empty() {
            return updated;
        }
        let flagged = evidence.iter().filter(|e| e.anomalous).map(|e| &e.service);
        let members = self.open.iter().flat_map(|open| &open.members);
        let nodes: BTreeSet<&str> = flagged.chain(members).map(String::as_str).collect();
        let mut opened = 0;
        for part in connected_parts(&nodes, edges) {
            let reached: Vec<&String> = alarming.iter().filter(|s| part.contains(*s)).collect();
            if reached.is_empty() {
                continue;
            }
            let touches = |open: &OpenIncident| open.members.iter().any(|m| part.contains(m));
            let settled = self.gate.settled(pane);
            let newest = self.open.len().checked_sub(1).filter(|_| !settled);
            let index = match self.open.iter().position(touches).or(newest) {
                Some(index) => index,
                None => {
                    self.open.push(OpenIncident {
                        id: incident_id(time_us, opened),
                        opened_us: time_us,
                        last: pane,
                        members: BTreeSet::new(),
                    });
                    opened += 1;
                    self.open.len() - 1
                }
            };
            let open = &mut self.open[index];
            open.last = pane;
            open.members.extend(reached.into_iter().cloned());
            updated.entry(index).or_default().extend(part);
        }
        updated
    }

    /// One update of the incident `(id, opened_us)`: `evidence` ranked over `edges` by every
    /// method.
    fn rank(
        &mut self,
        seen: &Seen,
        (incident_id, opened_us): (String, i64),
        evidence: Vec<ServiceEvidence>,
        edges: Vec<CallEdge>,
    ) -> Incident {
        let anomalous: Vec<String> = evidence
            .iter()
            .filter(|e| e.anomalous)
            .map(|e| e.service.clone())
            .collect();
        let graph = CallGraph::new(&edges, evidence.iter().map(|e| e.service.as_str()));
        let mut candidates = self.primary.rank(&graph, &evidence);
        candidates.truncate(self.top_k);
        let mut rankings = BTreeMap::new();
        let top = |ranking: &[Candidate]| ranking.iter().map(|c| c.service.clone()).collect();
        rankings.insert(self.primary.name().to_string(), top(&candidates));
        for other in &self.others {
            let mut ranking = other.rank(&graph, &evidence);
            ranking.truncate(self.top_k);
            rankings.insert(other.name().to_string(), top(&ranking));
        }
        self.record(seen.time_us, &incident_id, edges, &evidence);
        let incident = Incident {
            incident_id,
            time_us: seen.time_us,
            opened_us,
            anomalous_services: anomalous,
            method: self.primary.name().to_string(),
            root_cause: candidates.first().map(|c| c.service.clone()),
            candidates,
            rankings,
            edges: seen.live,
            environment: String::new(),
        };
        incident.for_people()
    }
}

/// What every update of a minute shares.
struct Seen {
    time_us: i64,
    /// Edges of the live graph.
    live: usize,
}

/// What an incident of `part` ranks: the services of the part and those it calls, directly or
/// not (where the causes of its symptoms can be), with the flags of the part's services only,
/// and the edges among them. A service the part cannot reach is another incident's or the
/// fleet's ordinary noise, however large its deviation.
fn within_reach(
    part: &BTreeSet<String>,
    evidence: &[ServiceEvidence],
    edges: &[CallEdge],
) -> (Vec<ServiceEvidence>, Vec<CallEdge>) {
    let mut callees: HashMap<&str, Vec<&str>> = HashMap::new();
    for edge in edges {
        callees.entry(&edge.caller).or_default().push(&edge.callee);
    }
    let mut reach: HashSet<&str> = part.iter().map(String::as_str).collect();
    let mut frontier: Vec<&str> = reach.iter().copied().collect();
    while let Some(service) = frontier.pop() {
        for callee in callees.get(service).into_iter().flatten() {
            if reach.insert(callee) {
                frontier.push(callee);
            }
        }
    }
    let evidence = evidence
        .iter()
        .filter(|e| reach.contains(e.service.as_str()))
        .map(|e| ServiceEvidence {
            anomalous: e.anomalous && part.contains(&e.service),
            ..e.clone()
        })
        .collect();
    let edges = edges
        .iter()
        .filter(|e| reach.contains(e.caller.as_str()))
        .cloned()
        .collect();
    (evidence, edges)
}

impl Incident {
    /// The incident with its environment set (the root cause's, else the first anomalous
    /// service's) and its services, ranked with their keys, named as people read them within
    /// it: by name, or `name@environment` for a service of another environment.
    fn for_people(mut self) -> Self {
        let first = self.root_cause.as_ref().or(self.anomalous_services.first());
        let environment = first.map(|key| key_parts(key).1.to_string());
        self.environment = environment.unwrap_or_default();
        let environment = self.environment.clone();
        let environment = environment.as_str();
        let label = |key: &mut String| *key = label_within(key, environment).into_owned();
        self.anomalous_services.iter_mut().for_each(label);
        self.root_cause.iter_mut().for_each(label);
        for candidate in &mut self.candidates {
            label(&mut candidate.service);
            candidate
                .evidence
                .iter_mut()
                .for_each(|text| *text = label_edges(text, environment));
        }
        self.rankings.values_mut().flatten().for_each(label);
        self
    }
}

/// Evidence naming a call edge (`caller → callee`, as the rankers write it) with both ends
/// labelled within `environment`; other evidence unchanged.
fn label_edges(text: &str, environment: &str) -> String {
    text.split(" → ")
        .map(|part| label_within(part, environment))
        .collect::<Vec<_>>()
        .join(" → ")
}

impl IncidentTracker {
    fn record(
        &mut self,
        time_us: i64,
        incident_id: &str,
        edges: Vec<CallEdge>,
        evidence: &[ServiceEvidence],
    ) {
        let Some(recorder) = &mut self.recorder else {
            return;
        };
        let input = RankingInput {
            time_us,
            incident_id: incident_id.to_string(),
            edges,
            evidence: evidence.to_vec(),
        };
        if let Err(error) = recorder(&input) {
            tracing::error!(%error, "cannot record the ranking input");
        }
    }
}

/// The connected parts of `nodes` joined by `edges` (either direction; an edge with an end
/// outside `nodes` joins nothing), each sorted, in the order of their first node.
fn connected_parts(nodes: &BTreeSet<&str>, edges: &[CallEdge]) -> Vec<BTreeSet<String>> {
    let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    fn root(parent: &mut [usize], mut node: usize) -> usize {
        while parent[node] != node {
            parent[node] = parent[parent[node]];
            node = parent[node];
        }
        node
    }
    for edge in edges {
        let ends = (
            index.get(edge.caller.as_str()),
            index.get(edge.callee.as_str()),
        );
        if let (Some(&a), Some(&b)) = ends {
            let (a, b) = (root(&mut parent, a), root(&mut parent, b));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut parts: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let part = root(&mut parent, i);
        parts.entry(part).or_default().insert(node.to_string());
    }
    parts.into_values().collect()
}

/// `INC-` and the opening minute; the second and later incident opened in one minute add
/// `-2`, `-3`, ... (`nth` counts from 0).
fn incident_id(time_us: i64, nth: usize) -> String {
    let time = chrono::DateTime::from_timestamp_micros(time_us).unwrap_or_default();
    match nth {
        0 => format!("INC-{}", time.format("%Y%m%dT%H%MZ")),
        _ => format!("INC-{}-{}", time.format("%Y%m%dT%H%MZ"), nth + 1),
    }
}

/// The live graph's edges and the configured ones; a configured edge names services, so it
/// stands in every environment of the minute's evidence.
fn call_edges(
    edges: &[EdgeWindow],
    configured: &[CallEdge],
    evidence: &[ServiceEvidence],
) -> Vec<CallEdge> {
    let mut edges: Vec<CallEdge> = edges
        .iter()
        .map(|e| CallEdge::new(&e.caller, &e.callee, e.calls, e.errors, e.p95_ms))
        .collect();
    let environments: BTreeSet<&str> = evidence.iter().map(|e| key_parts(&e.service).1).collect();
    for environment in environments {
        edges.extend(configured.iter().map(|edge| {
            let (caller, callee) = (&edge.caller, &edge.callee);
            let in_environment = |name: &str| service_key(name, environment);
            CallEdge::new(&in_environment(caller), &in_environment(callee), 0, 0, None)
        }));
    }
    edges
}

/// What worker 0's tracker hands on for a minute.
#[derive(Debug, Clone)]
enum Raised {
    Update(Incident),
    State(IncidentState),
}

/// Extension trait: raise incidents from evidence and edges.
pub trait RaiseIncidents<'scope> {
    /// Routes all evidence and edges to worker 0 and, for each minute once both frontiers
    /// have passed it, emits that minute's [`Incident`] updates (one per incident it touches,
    /// ordered by id) and the open incidents after it ([`IncidentState`], for a restart).
    /// State: the open minutes' inputs and the open incidents.
    fn raise_incidents(
        self,
        edges: StreamVec<'scope, Pane, EdgeWindow>,
        tracker: IncidentTracker,
        stats: Arc<Stats>,
    ) -> (
        StreamVec<'scope, Pane, Incident>,
        StreamVec<'scope, Pane, IncidentState>,
    );
}

impl<'scope> RaiseIncidents<'scope> for StreamVec<'scope, Pane, ServiceEvidence> {
    fn raise_incidents(
        self,
        edges: StreamVec<'scope, Pane, EdgeWindow>,
        mut tracker: IncidentTracker,
        stats: Arc<Stats>,
    ) -> (
        StreamVec<'scope, Pane, Incident>,
        StreamVec<'scope, Pane, IncidentState>,
    ) {
        let pacts = (
            Exchange::new(|_: &ServiceEvidence| 0),
            Exchange::new(|_: &EdgeWindow| 0),
        );
        let raised = self.pane_join(
            edges,
            pacts,
            "RaiseIncidents",
            move |pane, evidence, edges| {
                // A minute the input ended inside is not judged: its edges carry part of
                // the minute's calls, and its rows no evidence (see `Detector`).
                if closed_early(&stats, pane) {
                    return Vec::new();
                }
                let mut incidents = tracker.observe(pane, evidence, edges);
                incidents.sort_by(|a, b| a.incident_id.cmp(&b.incident_id));
                Stats::add(&stats.incidents, incidents.len() as u64);
                let mut raised: Vec<Raised> = incidents.into_iter().map(Raised::Update).collect();
                raised.push(Raised::State(tracker.state(pane)));
                raised
            },
        );
        let incidents = raised.clone().flat_map(|r| match r {
            Raised::Update(incident) => Some(incident),
            Raised::State(_) => None,
        });
        let states = raised.flat_map(|r| match r {
            Raised::State(state) => Some(state),
            Raised::Update(_) => None,
        });
        (incidents, states)
    }
}

/// Services named in an incident: anomalous ones and candidates.
pub fn involved(incident: &Incident) -> HashSet<&str> {
    incident
        .anomalous_services
        .iter()
        .map(String::as_str)
        .chain(incident.candidates.iter().map(|c| c.service.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::fleet::POOL_MINUTES;
    use aiops_models::rca::Deviation;

    fn evidence(service: &str, z: f64) -> ServiceEvidence {
        ServiceEvidence {
            service: service.into(),
            deviations: vec![Deviation {
                feature: "p95_latency_1m".into(),
                z,
            }],
            anomalous: z >= 5.0,
            notes: Vec::new(),
            level: z.abs() / 5.0,
            changed_inside: false,
        }
    }

    fn edge(pane: Pane, caller: &str, callee: &str) -> EdgeWindow {
        EdgeWindow {
            p95_ms: Some(5.0),
            ..EdgeWindow::calls(pane, caller, callee, 10)
        }
    }

    fn detection() -> DetectionConfig {
        DetectionConfig {
            threshold: 5.0,
            history_minutes: 30,
            min_history_minutes: 3,
            alarms_per_hour: 1.0,
        }
    }

    /// A tracker whose fleet's bar has seen [`POOL_MINUTES`] quiet minutes (from minute 0).
    fn settled(mut tracker: IncidentTracker) -> IncidentTracker {
        for pane in 0..POOL_MINUTES {
            let quiet = vec![evidence("front", 0.5), evidence("db", 0.5)];
            assert_eq!(tracker.observe(pane, quiet, vec![]), []);
        }
        tracker
    }

    fn tracker() -> IncidentTracker {
        IncidentTracker::new(
            &RcaConfig {
                method: RcaMethod::Combined,
                top_k: 3,
                record_inputs: false,
            },
            &detection(),
        )
        .expect("known method")
    }

    #[test]
    fn an_incident_names_services_within_its_root_causes_environment() {
        let prod = |name: &str| service_key(name, "prod");
        let configured = [["web".into(), "db".into()]];
        let minute = || {
            vec![
                evidence(&prod("db"), 9.0),
                evidence(&prod("web"), 6.0),
                evidence(&service_key("web", "staging"), 5.5),
            ]
        };
        let mut warming_up = tracker().with_static_edges(&configured);
        let [one] = &warming_up.observe(100, minute(), vec![])[..] else {
            panic!("before the fleet's bar settles, one incident for the minute");
        };
        assert_eq!(one.anomalous_services, ["db", "web", "web@staging"]);
        let mut tracker = settled(tracker().with_static_edges(&configured));
        let mut incidents = tracker.observe(100, minute(), vec![]);
        assert_eq!(
            incidents.len(),
            2,
            "staging shares no edge with prod: its own incident"
        );
        let staging = incidents.pop().expect("two");
        assert_eq!(staging.environment, "staging");
        assert_eq!(staging.anomalous_services, ["web"]);
        assert_eq!(staging.incident_id, "INC-19700101T0140Z-2");
        let incident = incidents.pop().expect("two");
        assert_eq!(incident.incident_id, "INC-19700101T0140Z");
        assert_eq!(incident.environment, "prod");
        assert_eq!(incident.root_cause.as_deref(), Some("db"));
        assert_eq!(incident.anomalous_services, ["db", "web"]);
        assert!(incident
            .candidates
            .iter()
            .all(|c| !c.service.contains('\u{1f}')));
        let texts: Vec<&String> = incident
            .candidates
            .iter()
            .flat_map(|c| &c.evidence)
            .collect();
        assert!(texts.iter().all(|e| !e.contains('\u{1f}')), "{texts:?}");
        assert_eq!(
            label_edges(
                &format!("{} → {}", prod("web"), service_key("db", "staging")),
                "prod"
            ),
            "web → db@staging"
        );
        assert_eq!(
            label_edges("p95_latency_1m z=+9.0", "prod"),
            "p95_latency_1m z=+9.0"
        );
        assert!(incident
            .rankings
            .values()
            .flatten()
            .all(|s| !s.contains('\u{1f}')));
        let input = RankingInput {
            time_us: 0,
            incident_id: incident.incident_id,
            edges: Vec::new(),
            evidence: vec![evidence(&prod("db"), 9.0), evidence("cache", 1.0)],
        };
        assert_eq!(
            input.labelled("db").cause,
            prod("db"),
            "a truth names services"
        );
        assert_eq!(input.key_of("cache"), "cache");
        assert_eq!(input.key_of("gone"), "gone");
        assert!(
            input.flags("db") && !input.flags("cache"),
            "cache is not flagged"
        );
        let at = |time_us: i64, flagged: &str| RankingInput {
            time_us,
            evidence: vec![evidence(flagged, 9.0), evidence("cache", 1.0)],
            ..input.clone()
        };
        let inputs = [at(0, "a"), at(1, "b"), at(1, "db"), at(2, "db")];
        let time = |input: &&RankingInput| input.time_us;
        let cover = |service: &str| RankingInput::covering(&inputs, service, |i| i.time_us >= 1);
        assert_eq!(
            cover("db").map(|i| i.evidence[0].service.as_str()),
            Some("db")
        );
        assert_eq!(cover("db").as_ref().map(time), Some(1));
        assert_eq!(
            cover("zz").map(|i| i.evidence[0].service.as_str()),
            Some("b"),
            "the first"
        );
    }

    /// A minute of 2,000 healthy services whose |z| are 5 × Exponential(1) / 5 (0.7 % of rows,
    /// 13 a minute, are flagged), and a faulty `db` (z `fault`, 0 for none) called by `front`.
    fn fleet_minute(
        rng: &mut impl rand::Rng,
        pane: Pane,
        fault: f64,
    ) -> (Vec<ServiceEvidence>, Vec<EdgeWindow>) {
        let mut minute: Vec<ServiceEvidence> = (0..2_000)
            .map(|i| evidence(&format!("s{i}"), -(1.0 - rng.random::<f64>()).ln()))
            .collect();
        let mut edges = vec![edge(pane, "front", "s1")];
        if fault > 0.0 {
            minute.extend([evidence("db", fault), evidence("front", 6.0)]);
            edges.push(edge(pane, "front", "db"));
        }
        (minute, edges)
    }

    #[test]
    fn at_fleet_scale_ordinary_outliers_open_nothing_and_a_fault_gets_its_own_incident() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut tracker = tracker();
        let mut opened = Vec::new();
        for pane in 0..180 {
            let fault = match pane {
                100..105 => 40.0,
                _ => 0.0,
            };
            let (evidence, edges) = fleet_minute(&mut rng, pane, fault);
            let incidents = tracker.observe(pane, evidence, edges);
            assert!(incidents.len() <= 1, "{pane}: {incidents:?}");
            opened.extend(incidents.into_iter().map(|incident| (pane, incident)));
        }
        let after_fit: Vec<_> = opened.iter().filter(|(pane, _)| *pane >= 60).collect();
        let (fault, other): (Vec<&&(Pane, Incident)>, Vec<_>) = after_fit
            .iter()
            .partition(|(pane, _)| (100..105).contains(pane));
        assert_eq!(fault.len(), 5, "every minute of the fault");
        // The budget is one false incident an hour: two hours here.
        assert!(
            other.len() <= 3,
            "{} minutes away from the fault",
            other.len()
        );
        let (_, first) = fault[0];
        assert!(fault
            .iter()
            .all(|(_, i)| i.incident_id == first.incident_id));
        assert!(other
            .iter()
            .all(|(_, i)| i.incident_id != first.incident_id));
        assert_eq!(first.root_cause.as_deref(), Some("db"));
        assert_eq!(
            first.anomalous_services,
            ["db", "front"],
            "the fleet's other flagged rows are not the incident's"
        );
    }

    #[test]
    fn an_incident_keeps_its_id_across_close_minutes_and_a_new_one_opens_after_a_gap() {
        let mut tracker = tracker();
        let window = |pane| {
            (
                vec![evidence("front", 8.0), evidence("db", 9.0)],
                vec![edge(pane, "front", "db")],
            )
        };
        let only = |mut incidents: Vec<Incident>| {
            assert!(incidents.len() <= 1, "{incidents:?}");
            incidents.pop()
        };
        let (e, g) = window(100);
        let first = only(tracker.observe(100, e, g)).expect("anomalous");
        assert_eq!(first.root_cause.as_deref(), Some("db"));
        assert_eq!(first.anomalous_services, ["db", "front"]);
        assert!(first.incident_id.starts_with("INC-"));
        assert_eq!(
            only(tracker.observe(101, vec![evidence("db", 1.0)], vec![])),
            None
        );
        let (e, g) = window(103);
        let later = only(tracker.observe(103, e, g)).expect("anomalous");
        assert_eq!(
            later.incident_id, first.incident_id,
            "gap of 2 quiet minutes"
        );
        let (e, g) = window(107);
        let next = only(tracker.observe(107, e, g)).expect("anomalous");
        assert_ne!(next.incident_id, first.incident_id);
        assert_eq!(next.rankings.len(), 3);
    }

    #[test]
    fn two_unrelated_faults_at_once_get_an_incident_each_until_their_parts_meet() {
        let mut tracker = settled(tracker());
        let minute = |pane: Pane, second: bool, joined: bool| {
            let mut rows = vec![evidence("front", 6.0), evidence("db", 9.0)];
            let mut edges = vec![edge(pane, "front", "db"), edge(pane, "batch", "cache")];
            if second {
                rows.extend([evidence("batch", 7.0), evidence("cache", 12.0)]);
            }
            if joined {
                edges.push(edge(pane, "front", "batch"));
            }
            (rows, edges)
        };
        let summary = |incidents: Vec<Incident>| -> Vec<(String, Option<String>, Vec<String>)> {
            let id = |i: &Incident| {
                i.incident_id
                    .trim_start_matches("INC-19700101T")
                    .to_string()
            };
            incidents
                .iter()
                .map(|i| (id(i), i.root_cause.clone(), i.anomalous_services.clone()))
                .collect()
        };
        let names = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (e, g) = minute(100, false, false);
        let first = (
            "0140Z".to_string(),
            Some("db".to_string()),
            names(&["db", "front"]),
        );
        assert_eq!(
            summary(tracker.observe(100, e, g)),
            std::slice::from_ref(&first)
        );
        let second = (
            "0141Z".to_string(),
            Some("cache".to_string()),
            names(&["batch", "cache"]),
        );
        for pane in [101, 102] {
            let (e, g) = minute(pane, true, false);
            assert_eq!(
                summary(tracker.observe(pane, e, g)),
                [first.clone(), second.clone()],
                "minute {pane}: each fault its own incident, ranked on its own symptoms"
            );
        }
        let (e, g) = minute(103, true, true);
        let [joined] = &summary(tracker.observe(103, e, g))[..] else {
            panic!("one part now");
        };
        assert_eq!(joined.0, "0140Z", "the oldest incident the part touches");
        assert_eq!(joined.2, names(&["batch", "cache", "db", "front"]));
    }

    #[test]
    fn a_trigger_ranks_every_service_not_only_an_incidents_part() {
        let mut tracker = settled(tracker()).triggered_at(BTreeSet::from([101]));
        let minute = |pane: Pane| {
            // `routes` is not flagged and out of the part's reach; a trigger still ranks it.
            let mut quiet = evidence("routes", 4.0);
            quiet.changed_inside = true;
            let rows = vec![evidence("front", 6.0), evidence("db", 9.0), quiet];
            (
                rows,
                vec![edge(pane, "front", "db"), edge(pane, "batch", "routes")],
            )
        };
        let (e, g) = minute(100);
        let plain = tracker.observe(100, e, g);
        assert_eq!(plain[0].root_cause.as_deref(), Some("db"));
        assert!(plain[0].candidates.iter().all(|c| c.service != "routes"));
        let (e, g) = minute(101);
        let [triggered] = &tracker.observe(101, e, g)[..] else {
            panic!("one update for a trigger");
        };
        assert_eq!(triggered.incident_id, plain[0].incident_id);
        assert_eq!(triggered.root_cause.as_deref(), Some("routes"));
    }

    /// Minute `pane` of 300 services (healthy |z| Exponential(1), seeded by the minute), a
    /// faulty `db` called by `front` in minutes 40..140 and a faulty `cache` in 90..95.
    fn long_fault_minute(pane: Pane) -> (Vec<ServiceEvidence>, Vec<EdgeWindow>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(pane);
        let mut minute: Vec<ServiceEvidence> = (0..300)
            .map(|i| evidence(&format!("s{i}"), -(1.0 - rng.random::<f64>()).ln()))
            .collect();
        let edges = vec![edge(pane, "front", "db"), edge(pane, "front", "s1")];
        let fault = (40..140).contains(&pane);
        let short = (90..95).contains(&pane);
        minute.extend([
            evidence("db", if fault { 40.0 } else { 0.5 }),
            evidence("front", if fault { 6.0 } else { 0.5 }),
            evidence("cache", if short { 12.0 } else { 0.5 }),
        ]);
        (minute, edges)
    }

    #[test]
    fn a_restart_goes_on_with_the_stored_open_incidents_however_long_they_are_open() {
        let observe = |tracker: &mut IncidentTracker, panes: std::ops::Range<Pane>| {
            let mut updates = Vec::new();
            for pane in panes {
                let (evidence, edges) = long_fault_minute(pane);
                updates.extend(tracker.observe(pane, evidence, edges));
            }
            updates
        };
        let mut uninterrupted = tracker();
        let mut states = Vec::new();
        for pane in 0..120 {
            observe(&mut uninterrupted, pane..pane + 1);
            states.push(uninterrupted.state(pane));
        }
        let stored = uninterrupted.state(119);
        assert_eq!(
            stored.open.len(),
            1,
            "the fault's incident, open 80 minutes"
        );
        let mut expected = observe(&mut uninterrupted, 120..121);
        let uninterrupted_pools = uninterrupted.gate.pools();
        expected.extend(observe(&mut uninterrupted, 121..160));
        assert!(expected
            .iter()
            .any(|i| i.root_cause.as_deref() == Some("db")));
        assert!(expected.iter().all(|i| i.opened_us == 40 * 60_000_000));
        // Restarted at minute 120: the replayed minutes before it rebuild the fleet's bar.
        // As a job replays: the minutes whose levels the pool holds at minute 120, and one more.
        let replay = 120 - POOL_MINUTES - 1..120;
        let replayed = states.split_off(replay.start as usize - 1);
        let mut restarted = tracker().with_open_incidents(replayed);
        assert_eq!(
            observe(&mut restarted, replay.clone()),
            [],
            "the replay raises nothing"
        );
        // The cache fault's incident opened and closed inside the replay: its levels are left
        // out of the bar's pool in the replayed minutes as they were live, so the pools match
        // once the replay's first minute (no two-minute levels yet) has left them.
        let mut updates = observe(&mut restarted, 120..121);
        assert_eq!(restarted.gate.pools(), uninterrupted_pools);
        updates.extend(observe(&mut restarted, 121..160));
        assert_eq!(updates, expected);
        let serialized = serde_json::to_string(&stored).expect("serializes");
        assert_eq!(
            serde_json::from_str::<IncidentState>(&serialized).ok(),
            Some(stored)
        );
        // Without the stored state the replay reopens the fault's incident under a new id.
        let mut rebuilt = tracker();
        observe(&mut rebuilt, replay);
        let updates = observe(&mut rebuilt, 120..160);
        assert!(updates
            .iter()
            .all(|i| i.incident_id != expected[0].incident_id));
    }

    #[test]
    fn a_slower_network_into_a_service_flags_and_blames_it() {
        let gap_edge = |pane, caller: &str, gap| EdgeWindow {
            gap_p50_ms: Some(gap),
            ..edge(pane, caller, "db")
        };
        let quiet = || {
            vec![
                evidence("front", 0.5),
                evidence("api", 0.5),
                evidence("db", 0.2),
            ]
        };
        let history = vec![
            gap_edge(1, "api", 2.0),
            gap_edge(2, "api", 2.2),
            gap_edge(3, "api", 1.9),
        ];
        let mut tracker = tracker().with_edge_history(history, 4);
        // Minute 3 again from the stream (a partial replay): ignored, no incident.
        assert_eq!(
            tracker.observe(3, quiet(), vec![gap_edge(3, "api", 500.0)]),
            []
        );
        let edges = vec![gap_edge(4, "api", 120.0), edge(4, "front", "api")];
        let [incident] = &tracker.observe(4, quiet(), edges)[..] else {
            panic!("the gap is anomalous: one incident");
        };
        assert_eq!(incident.anomalous_services, ["db"]);
        assert_eq!(incident.root_cause.as_deref(), Some("db"));
        assert!(incident.candidates[0].evidence[0].starts_with("inbound_network_gap z=+"));
    }

    #[test]
    fn incidents_serialize_exactly_the_schema_fields() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../schemas/incident.json"))
                .expect("schema parses");
        let declared: BTreeSet<String> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        let mut tracker = tracker();
        let incidents = tracker.observe(100, vec![evidence("db", 9.0)], vec![]);
        let value = serde_json::to_value(&incidents[0]).expect("serializes");
        let written: BTreeSet<String> =
            value.as_object().expect("object").keys().cloned().collect();
        assert_eq!(written, declared);
        let candidate = value["candidates"][0].as_object().expect("candidate");
        let declared_candidate = schema["properties"]["candidates"]["items"]["properties"]
            .as_object()
            .expect("candidate properties");
        assert_eq!(
            candidate.keys().collect::<BTreeSet<_>>(),
            declared_candidate.keys().collect::<BTreeSet<_>>()
        );
    }
}
