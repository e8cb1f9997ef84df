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
    /// services the minute's incident names (anomalous ones and candidates). Rows keep their
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
            |_pane, mut rows, incidents| {
                if let Some(incident) = incidents.first() {
                    let named = involved(incident);
                    let marked = rows
                        .iter_mut()
                        .filter(|r| named.contains(incident_label(r, incident).as_str()));
                    for row in marked {
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

/// How `incident` names `row`'s service (see [`Incident::environment`]).
fn incident_label(row: &FeatureRow, incident: &Incident) -> String {
    label_within(&row.service_key(), &incident.environment).into_owned()
}
