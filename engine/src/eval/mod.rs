//! Evaluation of root-cause ranking against labelled faults.
//!
//! The job runs unchanged over a labelled input (the simulator, or a public dataset replayed
//! by its source) and writes incidents; [`rca`] matches each labelled fault with the incident
//! of the right minute and scores every method's ranking as AC@k.

pub mod rca;
