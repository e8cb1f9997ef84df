//! Writing the incident verdict back into the feature rows of its minute.

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::StreamVec;

use super::incidents::{involved, Incident};
use crate::features::FeatureRow;
use crate::record::{label_within, service_key};
use crate::time::{Pane, PaneJoin};

/// Extension trait: set `incident_id` and `root_cause` on rows.
pub trait AnnotateRows<'scope> {
    /// Broadcasts incidents to every worker and, once both frontiers have passed a minute,
    /// emits that minute's rows with `incident_id` and `root_cause` set on the rows of the
    /// services the minute's incidents name (anomalous ones and candidates; a service named by
    /// several takes the one it is anomalous in, see `incident_of`). Rows keep their
    /// partitioning.
    fn annotate_rows(
        self,
        incidents: StreamVec<'scope, Pane, Incident>,
    ) -> StreamVec<'scope, Pane, FeatureRow>;
}

impl<'scope> AnnotateRows<'scope> for StreamVec<'scope, Pane, FeatureRow> {
    fn annotate_rows(
        self,
        incidents: StreamVec<'scope, Pane, Incident>,
    ) -> StreamVec<'scope, Pane, FeatureRow> {
        let incidents = incidents.broadcast();
        self.pane_join(
            incidents,
            (Pipeline, Pipeline),
            "AnnotateRows",
            |_pane, mut rows, mut incidents| {
                incidents.sort_by(|a, b| a.incident_id.cmp(&b.incident_id));
                for row in &mut rows {
                    if let Some(incident) = incident_of(row, &incidents) {
                        row.incident_id = Some(incident.incident_id.clone());
                        // The root cause is in the incident's environment, named plainly.
                        row.root_cause = incident.root_cause.as_deref().map(|cause| {
                            let key = service_key(cause, &incident.environment);
                            label_within(&key, &row.environment).into_owned()
                        });
                    }
                }
                rows
            },
        )
    }
}

/// The incident `row` belongs to among a minute's: the first (by id) in which its service is
/// anomalous, else the first that names it as a candidate.
fn incident_of<'a>(row: &FeatureRow, incidents: &'a [Incident]) -> Option<&'a Incident> {
    let anomalous = |incident: &&Incident| {
        let label = incident_label(row, incident);
        incident.anomalous_services.contains(&label)
    };
    let named =
        |incident: &&Incident| involved(incident).contains(incident_label(row, incident).as_str());
    incidents
        .iter()
        .find(anomalous)
        .or_else(|| incidents.iter().find(named))
}

/// How `incident` names `row`'s service (see [`Incident::environment`]).
fn incident_label(row: &FeatureRow, incident: &Incident) -> String {
    label_within(&row.service_key(), &incident.environment).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(id: &str, anomalous: &[&str], root_cause: &str) -> Incident {
        Incident {
            incident_id: id.into(),
            time_us: 0,
            opened_us: 0,
            anomalous_services: anomalous.iter().map(|s| s.to_string()).collect(),
            method: "combined".into(),
            root_cause: Some(root_cause.into()),
            candidates: Vec::new(),
            rankings: Default::default(),
            edges: 0,
            environment: String::new(),
        }
    }

    #[test]
    fn a_row_takes_the_incident_it_is_anomalous_in() {
        let incidents = [
            incident("INC-1", &["front", "db"], "db"),
            incident("INC-2", &["batch", "db"], "cache"),
            incident("INC-3", &["cache"], "cache"),
        ];
        let row = |service: &str| FeatureRow {
            service_name: service.into(),
            ..Default::default()
        };
        let of = |service: &str| incident_of(&row(service), &incidents).map(|i| &i.incident_id);
        assert_eq!(
            of("db").map(String::as_str),
            Some("INC-1"),
            "the first by id"
        );
        assert_eq!(
            of("cache").map(String::as_str),
            Some("INC-3"),
            "anomalous there"
        );
        assert_eq!(of("batch").map(String::as_str), Some("INC-2"));
        assert_eq!(of("other"), None);
    }
}
