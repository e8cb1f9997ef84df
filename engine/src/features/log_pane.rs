//! The `log_panes` operator: log records to per-(service, minute) log features.
//!
//! Each record is counted (lines, error lines) and masked into the minute's distinct lines;
//! when the minute closes, the service's template miner ([`super::templates`]) runs over them
//! in sorted order. The miner's state per service is the only state that outlives a minute;
//! every [`LogPane`] carries the service's state after its minute, which is what a resumable
//! job stores and a restart feeds back in.

use std::collections::{BTreeMap, HashMap};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;

use super::service_hash;
use super::templates::{mask, MovedTemplate, ServiceTemplates};
use crate::record::LogRecord;
use crate::time::{pane_of, Pane};

/// A service without logs for this many minutes is forgotten. Equal to the windows' history
/// (`HISTORY_PANES`), which is how far back a restart loads stored log panes: forgetting
/// exactly what a restart would not load keeps the two runs equal.
const SERVICE_TTL_PANES: Pane = 60;

/// Distinct masked lines kept per (service, minute); further distinct lines are counted as
/// overflow without being mined (a service logging unique ids in every token).
const MAX_DISTINCT_LINES: usize = 4096;

/// Log features of one service in one minute.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogPane {
    /// Service name.
    pub service: String,
    /// The pane.
    pub pane: Pane,
    /// Log records.
    pub lines: u64,
    /// Records of severity ERROR or worse (see [`LogRecord::error`]).
    pub errors: u64,
    /// Records whose template was first seen this minute, after the service's warm-up.
    pub new_template_lines: u64,
    /// Records not mined: beyond the template cap or the distinct-line cap.
    pub overflow_lines: u64,
    /// The templates whose counts moved most against their baselines: root-cause evidence.
    pub moved: Vec<MovedTemplate>,
    /// The service's templates after this minute.
    pub templates: ServiceTemplates,
    /// How far the minute's mix of templates moved (see [`super::templates::mix_shift`]).
    pub template_shift: f64,
}

/// One open (service, minute).
#[derive(Default)]
struct Builder {
    lines: u64,
    errors: u64,
    distinct: HashMap<String, u64>,
    unmined: u64,
}

impl Builder {
    fn add(&mut self, record: &LogRecord, scratch: &mut String) {
        self.lines += 1;
        self.errors += u64::from(record.error);
        mask(record.code.as_deref(), &record.body, scratch);
        if let Some(count) = self.distinct.get_mut(scratch.as_str()) {
            *count += 1;
        } else if self.distinct.len() < MAX_DISTINCT_LINES {
            self.distinct.insert(scratch.clone(), 1);
        } else {
            self.unmined += 1;
        }
    }

    fn finish(self, service: String, pane: Pane, templates: &mut ServiceTemplates) -> LogPane {
        let mut lines: Vec<(String, u64)> = self.distinct.into_iter().collect();
        lines.sort_unstable();
        let mined = templates.mine(pane, &lines);
        LogPane {
            service,
            pane,
            lines: self.lines,
            errors: self.errors,
            new_template_lines: mined.new_template_lines,
            overflow_lines: mined.overflow_lines + self.unmined,
            moved: mined.moved,
            templates: templates.clone(),
            template_shift: mined.shift,
        }
    }
}

/// The operator's state: open minutes and every live service's templates.
struct LogState {
    open: BTreeMap<Pane, (Capability<Pane>, HashMap<String, Builder>)>,
    miners: HashMap<String, ServiceTemplates>,
    scratch: String,
}

impl LogState {
    fn add(&mut self, capability: &Capability<Pane>, record: &LogRecord) {
        let pane = pane_of(record.time_ns);
        if pane < *capability.time() {
            return; // ingest diverts late records before they get here
        }
        let (_, builders) = self
            .open
            .entry(pane)
            .or_insert_with(|| (capability.delayed(&pane), HashMap::new()));
        let scratch = &mut self.scratch;
        match builders.get_mut(record.service()) {
            Some(builder) => builder.add(record, scratch),
            None => {
                let mut builder = Builder::default();
                builder.add(record, scratch);
                builders.insert(record.service().to_string(), builder);
            }
        }
    }

    /// Mines a closed minute, services in name order; forgets services silent for an hour
    /// first, as a restart (which restores the last hour's states) would.
    fn close(&mut self, pane: Pane, builders: HashMap<String, Builder>) -> Vec<LogPane> {
        self.miners
            .retain(|_, miner| miner.last_pane + SERVICE_TTL_PANES > pane);
        let mut builders: Vec<(String, Builder)> = builders.into_iter().collect();
        builders.sort_by(|a, b| a.0.cmp(&b.0));
        builders
            .into_iter()
            .map(|(service, builder)| {
                let miner = self.miners.entry(service.clone()).or_default();
                builder.finish(service, pane, miner)
            })
            .collect()
    }
}

/// Extension trait: cut a log stream into per-(service, pane) log features.
pub trait LogPanes<'scope> {
    /// Routes records by service and emits one [`LogPane`] per (service, pane) with records,
    /// at the pane's timestamp, once both input frontiers have passed the pane, services in
    /// name order. `restored` carries the panes a restarted job stored (their templates seed
    /// the miners; the latest pane of a service wins) and must be routed by service hash as
    /// the records are.
    ///
    /// State: one builder per (service, open pane), and per service its templates, dropped
    /// after an hour without logs.
    fn log_panes(
        self,
        restored: StreamVec<'scope, Pane, LogPane>,
    ) -> StreamVec<'scope, Pane, LogPane>;
}

impl<'scope> LogPanes<'scope> for StreamVec<'scope, Pane, LogRecord> {
    fn log_panes(
        self,
        restored: StreamVec<'scope, Pane, LogPane>,
    ) -> StreamVec<'scope, Pane, LogPane> {
        let records = Exchange::new(|record: &LogRecord| service_hash(record.service()));
        let panes = Exchange::new(|pane: &LogPane| service_hash(&pane.service));
        self.binary_frontier::<_, CapacityContainerBuilder<Vec<LogPane>>, _, _, _, _>(
            restored,
            records,
            panes,
            "LogPanes",
            |_capability, _info| {
                let mut state = LogState {
                    open: BTreeMap::new(),
                    miners: HashMap::new(),
                    scratch: String::new(),
                };
                move |(input, frontier), (restored, restored_frontier), output| {
                    restored.for_each(|_, panes| {
                        for pane in panes.drain(..) {
                            let miner = state.miners.entry(pane.service).or_default();
                            if pane.templates.last_pane >= miner.last_pane {
                                *miner = pane.templates;
                            }
                        }
                    });
                    input.for_each(|capability, records| {
                        let Some(capability) = capability.retain_least(0) else {
                            return;
                        };
                        for record in records.drain(..) {
                            state.add(&capability, &record);
                        }
                    });
                    while let Some(entry) = state.open.first_entry() {
                        let pane = *entry.key();
                        if frontier.less_equal(&pane) || restored_frontier.less_equal(&pane) {
                            break;
                        }
                        let (capability, builders) = entry.remove();
                        let panes = state.close(pane, builders);
                        output.session(&capability).give_iterator(panes.into_iter());
                    }
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use timely::dataflow::operators::capture::Event;
    use timely::dataflow::operators::{Capture, ToStream};

    use super::*;
    use crate::record::ResourceInfo;

    #[test]
    fn services_are_forgotten_exactly_when_a_restart_would_not_load_them() {
        assert_eq!(SERVICE_TTL_PANES, super::super::HISTORY_PANES);
    }

    fn record(service: &str, minute: u64, body: &str, error: bool) -> LogRecord {
        LogRecord {
            resource: Arc::new(ResourceInfo {
                service: service.into(),
                ..Default::default()
            }),
            time_ns: minute * 60_000_000_000 + 1,
            error,
            body: body.into(),
            trace_id: None,
            span_id: None,
            code: None,
        }
    }

    fn run(records: Vec<LogRecord>, restored: Vec<LogPane>) -> Vec<LogPane> {
        let captured = timely::example(move |scope| {
            let restored = restored.to_stream(scope).container::<Vec<_>>();
            records
                .to_stream(scope)
                .container::<Vec<_>>()
                .log_panes(restored)
                .capture()
        });
        let events = captured.try_iter().filter_map(|event| match event {
            Event::Messages(_, panes) => Some(panes),
            Event::Progress(_) => None,
        });
        events.flatten().collect()
    }

    #[test]
    fn lines_and_errors_are_counted_per_service_and_minute() {
        let records = vec![
            record("cart", 7, "GET /cart 200 in 5 ms", false),
            record("cart", 7, "GET /cart 500 in 9 ms", true),
            record("pay", 7, "charged card 1234", false),
            record("cart", 8, "GET /cart 200 in 4 ms", false),
        ];
        let panes = run(records, Vec::new());
        let summary: Vec<(&str, Pane, u64, u64)> = panes
            .iter()
            .map(|p| (p.service.as_str(), p.pane, p.lines, p.errors))
            .collect();
        assert_eq!(
            summary,
            [("cart", 7, 2, 1), ("pay", 7, 1, 0), ("cart", 8, 1, 0)]
        );
        assert_eq!(
            panes[0].templates.templates.len(),
            1,
            "one template: GET /cart <*> in <*> ms"
        );
    }

    #[test]
    fn a_restored_pane_continues_the_service_as_if_never_stopped() {
        let body = |minute: u64| match minute {
            m if m < 30 => "steady state reached",
            _ => "disk quota exceeded on volume data",
        };
        let records: Vec<LogRecord> = (1..40).map(|m| record("db", m, body(m), false)).collect();
        let straight = run(records.clone(), Vec::new());
        let cut = 20;
        let first = run(records[..cut].to_vec(), Vec::new());
        let resumed = run(
            records[cut..].to_vec(),
            vec![first.last().cloned().expect("a pane")],
        );
        assert_eq!(&straight[cut..], &resumed[..]);
        let new = straight
            .iter()
            .find(|p| p.new_template_lines > 0)
            .expect("a new template");
        assert_eq!(new.pane, 30);
    }
}
