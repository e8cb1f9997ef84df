//! Incidents to people: alerts in Alertmanager (API v2, `POST /api/v2/alerts`) and messages to
//! a generic webhook (JSON with Slack-compatible `text`).
//!
//! The dataflow only hands incident updates and frontier moves to a bounded channel (the
//! observer never blocks: a full channel drops the update and counts it). A notifier thread
//! keeps every incident it knows, derives the alerts from them, sends them when they change and
//! re-sends active ones every `alerts.resend_s` (each expires after four intervals, so a job
//! that dies stops paging within minutes), resolves an incident's alerts (`endsAt`) once the
//! event-time frontier has passed its last minute by more than the incidents' quiet gap (and at
//! once those an update replaced: a revised root cause, a service no longer anomalous), and
//! retries an unreachable receiver with backoff while holding at most `alerts.max_queued`
//! incidents. Alert times are wall-clock (Alertmanager's clock), the incident's own minutes are
//! in the annotations.
//!
//! Labels: `alertname` (`AiopsRootCause` once per incident, `AiopsAnomaly` per anomalous
//! service), `service`, `severity`, `root_cause`, `incident_id`, and `environment` when the
//! incident has one (services are named within it, see [`Incident::environment`]). An inhibit
//! rule (see
//! `deploy/alertmanager.yml`) silences the symptoms of an incident by its root-cause alert.
//! Severity is the blast radius: `critical` when an entry service (`alerts.entry_services`) is
//! anomalous or at least [`CRITICAL_SERVICES`] services are, else `warning`.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use timely::progress::Stamp;

use crate::config::AlertsConfig;
use crate::retry::Backoff;
use crate::score::incidents::GAP_MINUTES;
use crate::score::Incident;
use crate::stats::Stats;
use crate::time::Pane;

/// Anomalous services from which an incident is critical without touching an entry service.
pub const CRITICAL_SERVICES: usize = 3;

/// Updates the observer may have in flight to the notifier thread.
const CHANNEL: usize = 4_096;

/// How long one HTTP request may take: a slow receiver must not hold alerts back for long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

enum Event {
    Update(Box<Incident>),
    /// Minutes before this pane are closed everywhere.
    ClosedBefore(Pane),
}

/// Sends incidents to Alertmanager and the webhook from its own thread.
pub struct Notifier {
    events: Option<SyncSender<Event>>,
    /// Updates of minutes outside (replayed at a restart) are not sent again.
    keep: Range<i64>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
}

impl Notifier {
    /// Starts the notifier when `config` names a receiver; it sends the updates of minutes in
    /// `keep` (µs).
    pub fn start(config: &AlertsConfig, keep: Range<i64>, stats: Arc<Stats>) -> Option<Self> {
        if config.alertmanager_url.is_none() && config.webhook_url.is_none() {
            return None;
        }
        let (events, receiver) = std::sync::mpsc::sync_channel(CHANNEL);
        let mut state = Notifications::new(config.clone(), Arc::clone(&stats));
        let thread = std::thread::Builder::new()
            .name("aiops-alerts".into())
            .spawn(move || state.run(&receiver))
            .map_err(|error| tracing::error!(%error, "cannot start the alert notifier"))
            .ok()?;
        Some(Notifier {
            events: Some(events),
            keep,
            thread: Some(thread),
            stats,
        })
    }

    /// Handles one `inspect_core` event of the incident stream.
    pub fn observe(&mut self, event: Result<(&Stamp<Pane>, &Vec<Incident>), &[Pane]>) {
        match event {
            Ok((_, incidents)) => incidents
                .iter()
                .filter(|incident| self.keep.contains(&incident.time_us))
                .for_each(|incident| self.send(Event::Update(Box::new(incident.clone())))),
            // An empty frontier is the end of input, not quiet minutes: nothing is resolved by
            // it (a stopping job's alerts expire unless its successor re-sends them).
            Err(frontier) => {
                if let Some(open) = frontier.iter().min() {
                    self.send(Event::ClosedBefore(*open));
                }
            }
        }
    }

    fn send(&self, event: Event) {
        let Some(events) = &self.events else { return };
        if let Err(TrySendError::Full(_)) = events.try_send(event) {
            Stats::add(&self.stats.alerts_dropped, 1);
        }
    }
}

impl Drop for Notifier {
    /// Closes the channel; the thread makes one last delivery attempt and ends.
    fn drop(&mut self) {
        self.events = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An incident as the notifier tracks it.
struct Tracked {
    latest: Incident,
    /// When the notifier first saw it (the alerts' `startsAt`).
    seen: DateTime<Utc>,
    /// Its latest anomalous minute.
    last_pane: Pane,
    /// When it ended, once the frontier passed its quiet gap.
    resolved: Option<DateTime<Utc>>,
    /// The root cause last announced on the webhook.
    announced: Option<Option<String>>,
    /// The alerts Alertmanager last accepted for it: those a later update drops (a revised root
    /// cause, a service no longer anomalous) are resolved at the next send, not left to expire
    /// beside their replacements.
    posted: Vec<Value>,
}

/// The notifier thread's state.
struct Notifications {
    config: AlertsConfig,
    stats: Arc<Stats>,
    agent: ureq::Agent,
    incidents: BTreeMap<String, Tracked>,
    webhook_outbox: VecDeque<Value>,
    changed: bool,
    resend_at: Instant,
    backoff: Backoff,
}

impl Notifications {
    fn new(config: AlertsConfig, stats: Arc<Stats>) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .into();
        Notifications {
            config,
            stats,
            agent,
            incidents: BTreeMap::new(),
            webhook_outbox: VecDeque::new(),
            changed: false,
            resend_at: Instant::now(),
            backoff: Backoff::for_writes(),
        }
    }

    fn run(&mut self, events: &Receiver<Event>) {
        loop {
            match events.recv_timeout(Duration::from_millis(200)) {
                Ok(event) => {
                    // A burst (a replay, a catch-up) is applied whole, then sent once.
                    self.apply(event, Utc::now());
                    while let Ok(event) = events.try_recv() {
                        self.apply(event, Utc::now());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.deliver();
                    return;
                }
            }
            let due = self.changed || Instant::now() >= self.resend_at;
            if due && !self.backoff.waiting() {
                self.deliver();
            }
        }
    }

    fn apply(&mut self, event: Event, now: DateTime<Utc>) {
        match event {
            Event::Update(incident) => {
                let pane = (incident.time_us.max(0) / 60_000_000) as Pane;
                let tracked = self
                    .incidents
                    .entry(incident.incident_id.clone())
                    .or_insert_with(|| Tracked {
                        latest: (*incident).clone(),
                        seen: now,
                        last_pane: pane,
                        resolved: None,
                        announced: None,
                        posted: Vec::new(),
                    });
                if pane >= tracked.last_pane {
                    tracked.last_pane = pane;
                    tracked.latest = *incident;
                }
                self.changed = true;
            }
            Event::ClosedBefore(open) => {
                for tracked in self.incidents.values_mut() {
                    let over = tracked.last_pane + GAP_MINUTES + 1 < open;
                    if over && tracked.resolved.is_none() {
                        tracked.resolved = Some(now);
                        self.changed = true;
                    }
                }
            }
        }
        self.bound();
    }

    /// Keeps at most `max_queued` incidents: the oldest resolved go first, then the oldest.
    fn bound(&mut self) {
        while self.incidents.len() > self.config.max_queued.max(1) {
            let victim = self
                .incidents
                .iter()
                .min_by_key(|(_, t)| (t.resolved.is_none(), t.seen))
                .map(|(id, _)| id.clone());
            if let Some(id) = victim {
                self.incidents.remove(&id);
                Stats::add(&self.stats.alerts_dropped, 1);
            }
        }
    }

    /// Sends everything due; on success forgets resolved incidents, on failure backs off.
    fn deliver(&mut self) {
        self.queue_webhook_messages();
        let delivered = self.post_alerts() && self.post_webhook_messages();
        if delivered {
            self.incidents.retain(|_, t| t.resolved.is_none());
            self.changed = false;
            self.resend_at = Instant::now() + Duration::from_secs(self.config.resend_s.max(1));
            self.backoff.succeeded();
        } else {
            self.backoff.failed();
        }
    }

    fn post_alerts(&mut self) -> bool {
        let Some(base) = self.config.alertmanager_url.clone() else {
            return true;
        };
        let now = Utc::now();
        let expires = now + Duration::from_secs(4 * self.config.resend_s.max(1));
        let fresh: Vec<Vec<Value>> = self
            .incidents
            .values()
            .map(|tracked| alerts_of(tracked, &self.config, expires))
            .collect();
        let mut alerts = Vec::new();
        for (tracked, current) in self.incidents.values().zip(&fresh) {
            alerts.extend(superseded(&tracked.posted, current, now));
            alerts.extend(current.iter().cloned());
        }
        if alerts.is_empty() {
            return true;
        }
        let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
        let sent = self.post(&url, &Value::Array(alerts), "Alertmanager");
        if sent {
            for (tracked, current) in self.incidents.values_mut().zip(fresh) {
                tracked.posted = current;
            }
        }
        sent
    }

    fn queue_webhook_messages(&mut self) {
        if self.config.webhook_url.is_none() {
            return;
        }
        for tracked in self.incidents.values_mut() {
            let status = match tracked.resolved {
                Some(_) => "resolved",
                None => "firing",
            };
            let root = tracked.latest.root_cause.clone();
            let first_or_new_cause = tracked.announced.as_ref() != Some(&root);
            if first_or_new_cause || status == "resolved" {
                let message = webhook_message(tracked, status, &self.config);
                self.webhook_outbox.push_back(message);
                tracked.announced = Some(root);
            }
        }
        while self.webhook_outbox.len() > self.config.max_queued.max(1) {
            self.webhook_outbox.pop_front();
            Stats::add(&self.stats.alerts_dropped, 1);
        }
    }

    fn post_webhook_messages(&mut self) -> bool {
        let Some(url) = self.config.webhook_url.clone() else {
            return true;
        };
        while let Some(message) = self.webhook_outbox.front().cloned() {
            if !self.post(&url, &message, "webhook") {
                return false;
            }
            self.webhook_outbox.pop_front();
        }
        true
    }

    /// POSTs `body` as JSON; failures are logged with the receiver and counted.
    fn post(&self, url: &str, body: &Value, receiver: &str) -> bool {
        let result = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.to_string().as_str());
        match result {
            Ok(_) => {
                Stats::add(&self.stats.alerts_sent, 1);
                true
            }
            Err(error) => {
                tracing::warn!(%error, %url, "{receiver} unreachable; alerts kept and retried");
                Stats::add(&self.stats.alert_send_failures, 1);
                false
            }
        }
    }
}

/// `critical` or `warning`, from the blast radius.
fn severity(incident: &Incident, entry_services: &[String]) -> &'static str {
    let entry_hit = incident
        .anomalous_services
        .iter()
        .any(|s| entry_services.contains(s));
    if entry_hit || incident.anomalous_services.len() >= CRITICAL_SERVICES {
        "critical"
    } else {
        "warning"
    }
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn minute(time_us: i64) -> String {
    DateTime::from_timestamp_micros(time_us).map_or_else(String::new, rfc3339)
}

/// The ranked candidates with their evidence, one per line.
fn candidates_text(incident: &Incident) -> String {
    incident
        .candidates
        .iter()
        .enumerate()
        .map(|(rank, c)| format!("{}. {} ({})", rank + 1, c.service, c.evidence.join("; ")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn summary(incident: &Incident) -> String {
    let cause = incident.root_cause.as_deref().unwrap_or("unknown");
    let within = match incident.environment.as_str() {
        "" => String::new(),
        environment => format!(" in {environment}"),
    };
    format!(
        "{} anomalous{within} ({}); root cause probably {cause} ({})",
        incident.anomalous_services.len(),
        incident.anomalous_services.join(", "),
        incident.method
    )
}

fn link(config: &AlertsConfig, incident: &Incident) -> String {
    config
        .incident_url
        .replace("{incident_id}", &incident.incident_id)
}

/// The root-cause alert and one symptom alert per anomalous service of `tracked`.
fn alerts_of(tracked: &Tracked, config: &AlertsConfig, expires: DateTime<Utc>) -> Vec<Value> {
    let incident = &tracked.latest;
    let severity = severity(incident, &config.entry_services);
    let root = incident.root_cause.clone().unwrap_or_default();
    let ends = rfc3339(tracked.resolved.unwrap_or(expires));
    let annotations = json!({
        "summary": summary(incident),
        "candidates": candidates_text(incident),
        "opened": minute(incident.opened_us),
        "last_minute": minute(incident.time_us),
        "incident_url": link(config, incident),
    });
    let alert = |alertname: &str, service: &str| {
        let mut labels = json!({
            "alertname": alertname,
            "service": service,
            "severity": severity,
            "root_cause": root,
            "incident_id": incident.incident_id,
        });
        // An empty label is no label to Alertmanager: set it only when there is one.
        if !incident.environment.is_empty() {
            labels["environment"] = json!(incident.environment);
        }
        json!({
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339(tracked.seen),
            "endsAt": ends,
            "generatorURL": link(config, incident),
        })
    };
    let mut alerts: Vec<Value> = incident
        .root_cause
        .iter()
        .map(|cause| alert("AiopsRootCause", cause))
        .collect();
    alerts.extend(
        incident
            .anomalous_services
            .iter()
            .map(|service| alert("AiopsAnomaly", service)),
    );
    alerts
}

/// The alerts of `posted` that `current` no longer has (same labels), resolved at `now`.
fn superseded(posted: &[Value], current: &[Value], now: DateTime<Utc>) -> Vec<Value> {
    posted
        .iter()
        .filter(|old| !current.iter().any(|new| new["labels"] == old["labels"]))
        .map(|old| {
            let mut old = old.clone();
            old["endsAt"] = json!(rfc3339(now));
            old
        })
        .collect()
}

/// One webhook message: Slack-compatible `text`, and the facts as fields.
fn webhook_message(tracked: &Tracked, status: &str, config: &AlertsConfig) -> Value {
    let incident = &tracked.latest;
    let severity = severity(incident, &config.entry_services);
    let url = link(config, incident);
    let mut text = format!(
        "[{status}] {} {severity}: {}",
        incident.incident_id,
        summary(incident)
    );
    if !url.is_empty() {
        text.push_str(&format!(" <{url}>"));
    }
    json!({
        "text": text,
        "status": status,
        "incident_id": incident.incident_id,
        "severity": severity,
        "environment": incident.environment,
        "root_cause": incident.root_cause,
        "anomalous_services": incident.anomalous_services,
        "candidates": candidates_text(incident),
        "opened": minute(incident.opened_us),
        "incident_url": url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiops_models::rca::Candidate;

    fn config() -> AlertsConfig {
        AlertsConfig {
            alertmanager_url: Some("http://127.0.0.1:1".into()),
            webhook_url: None,
            resend_s: 60,
            max_queued: 2,
            incident_url: "http://console/incidents/{incident_id}".into(),
            entry_services: vec!["frontend".into()],
        }
    }

    fn incident(id: &str, minute: i64, services: &[&str]) -> Incident {
        Incident {
            incident_id: id.into(),
            time_us: minute * 60_000_000,
            opened_us: minute * 60_000_000,
            anomalous_services: services.iter().map(|s| s.to_string()).collect(),
            method: "combined".into(),
            root_cause: services.first().map(|s| s.to_string()),
            candidates: vec![Candidate {
                service: services[0].into(),
                score: 1.0,
                evidence: vec!["p95_latency_1m z=+8.1".into()],
            }],
            rankings: BTreeMap::new(),
            edges: 0,
            environment: "prod".into(),
        }
    }

    #[test]
    fn an_incident_is_one_root_cause_alert_and_a_symptom_per_service() {
        let mut state = Notifications::new(config(), Arc::new(Stats::default()));
        let now = Utc::now();
        state.apply(
            Event::Update(Box::new(incident("INC-1", 10, &["db", "api"]))),
            now,
        );
        let alerts = alerts_of(&state.incidents["INC-1"], &state.config, now);
        let names: Vec<(&str, &str)> = alerts
            .iter()
            .map(|a| {
                let labels = &a["labels"];
                (
                    labels["alertname"].as_str().unwrap(),
                    labels["service"].as_str().unwrap(),
                )
            })
            .collect();
        let expected = [
            ("AiopsRootCause", "db"),
            ("AiopsAnomaly", "db"),
            ("AiopsAnomaly", "api"),
        ];
        assert_eq!(names, expected);
        assert!(alerts.iter().all(|a| a["labels"]["severity"] == "warning"));
        assert!(alerts.iter().all(|a| a["labels"]["environment"] == "prod"));
        assert!(summary(&state.incidents["INC-1"].latest).contains("anomalous in prod"));
        assert_eq!(alerts[0]["generatorURL"], "http://console/incidents/INC-1");
        assert_eq!(
            alerts[0]["annotations"]["candidates"],
            "1. db (p95_latency_1m z=+8.1)"
        );
        let wide = incident("INC-2", 10, &["a", "b", "c"]);
        assert_eq!(severity(&wide, &[]), "critical", "three services");
        let entry = incident("INC-3", 10, &["frontend"]);
        assert_eq!(severity(&entry, &config().entry_services), "critical");
    }

    #[test]
    fn a_revised_root_cause_resolves_the_alerts_it_replaces() {
        let mut state = Notifications::new(config(), Arc::new(Stats::default()));
        let now = Utc::now();
        let first = incident("INC-1", 10, &["frontend", "email"]);
        state.apply(Event::Update(Box::new(first)), now);
        let posted = alerts_of(&state.incidents["INC-1"], &state.config, now);
        let revised = incident("INC-1", 11, &["email", "frontend"]);
        state.apply(Event::Update(Box::new(revised)), now);
        let current = alerts_of(&state.incidents["INC-1"], &state.config, now);
        let later = now + chrono::Duration::seconds(5);
        let old = superseded(&posted, &current, later);
        let labels: Vec<(&str, &str, &str)> = old
            .iter()
            .map(|a| {
                let l = &a["labels"];
                let text = |k: &str| l[k].as_str().unwrap();
                (text("alertname"), text("service"), text("root_cause"))
            })
            .collect();
        let expected = [
            ("AiopsRootCause", "frontend", "frontend"),
            ("AiopsAnomaly", "frontend", "frontend"),
            ("AiopsAnomaly", "email", "frontend"),
        ];
        assert_eq!(labels, expected);
        assert!(old.iter().all(|a| a["endsAt"] == rfc3339(later).as_str()));
        assert!(superseded(&current, &current, later).is_empty());
    }

    #[test]
    fn incidents_resolve_after_their_quiet_gap_and_the_queue_is_bounded() {
        let stats = Arc::new(Stats::default());
        let mut state = Notifications::new(config(), Arc::clone(&stats));
        let now = Utc::now();
        state.apply(Event::Update(Box::new(incident("INC-1", 10, &["db"]))), now);
        state.apply(Event::ClosedBefore(10 + GAP_MINUTES + 1), now);
        assert!(
            state.incidents["INC-1"].resolved.is_none(),
            "within the gap"
        );
        state.apply(Event::ClosedBefore(10 + GAP_MINUTES + 2), now);
        assert_eq!(state.incidents["INC-1"].resolved, Some(now));
        state.apply(
            Event::Update(Box::new(incident("INC-2", 20, &["api"]))),
            now,
        );
        state.apply(
            Event::Update(Box::new(incident("INC-3", 30, &["api"]))),
            now,
        );
        assert_eq!(
            state.incidents.keys().collect::<Vec<_>>(),
            ["INC-2", "INC-3"],
            "the resolved one goes first"
        );
        assert_eq!(
            stats
                .alerts_dropped
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }
}
