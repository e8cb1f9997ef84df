//! Writing the incident verdict back into the feature rows of its minute.

use std::collections::BTreeMap;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Capability, InputCapability, Operator};
use timely::dataflow::StreamVec;

use super::incidents::{involved, Incident};
use crate::features::FeatureRow;
use crate::time::Pane;

type Pending = (Capability<Pane>, Vec<FeatureRow>, Option<Incident>);

fn stash<'a>(
    pending: &'a mut BTreeMap<Pane, Pending>,
    capability: &InputCapability<Pane>,
) -> Option<&'a mut Pending> {
    let time = *capability.least()?;
    Some(
        pending
            .entry(time)
            .or_insert_with(|| (capability.delayed(&time, 0), Vec::new(), None)),
    )
}

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
        self.binary_frontier::<_, CapacityContainerBuilder<Vec<FeatureRow>>, _, _, _, _>(
            incidents.broadcast(),
            Pipeline,
            Pipeline,
            "AnnotateRows",
            |_capability, _info| {
                let mut pending: BTreeMap<Pane, Pending> = BTreeMap::new();
                move |(rows, row_frontier), (incidents, incident_frontier), output| {
                    rows.for_each(|capability, data| {
                        if let Some(entry) = stash(&mut pending, &capability) {
                            entry.1.append(data);
                        }
                    });
                    incidents.for_each(|capability, data| {
                        if let Some(entry) = stash(&mut pending, &capability) {
                            entry.2 = data.pop();
                        }
                    });
                    while let Some(entry) = pending.first_entry() {
                        let pane = *entry.key();
                        if row_frontier.less_equal(&pane) || incident_frontier.less_equal(&pane) {
                            break;
                        }
                        let (capability, mut rows, incident) = entry.remove();
                        if let Some(incident) = &incident {
                            let named = involved(incident);
                            for row in rows
                                .iter_mut()
                                .filter(|r| named.contains(r.service_name.as_str()))
                            {
                                row.incident_id = Some(incident.incident_id.clone());
                                row.root_cause = incident.root_cause.clone();
                            }
                        }
                        output.session(&capability).give_iterator(rows.into_iter());
                    }
                }
            },
        )
    }
}
