//! Scorers: how each benchmark judges a detector's output or a ranking against its labels.
//!
//! [`nab`] (NAB's scoring and threshold optimisation), [`f1`] (point-wise and point-adjusted
//! F1, best F1, average precision), [`interpretation`] (HitRate@P% of the metrics blamed),
//! [`detection`] (fleet minutes against simulated faults) and [`accuracy`] (AC@k of root-cause
//! rankings).

pub mod accuracy;
pub mod detection;
pub mod f1;
pub mod interpretation;
pub mod nab;
