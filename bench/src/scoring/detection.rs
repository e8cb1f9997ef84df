//! Detection quality on the simulator: which minutes the job flagged against when faults ran.
//!
//! The unit is the fleet minute, as an on-call engineer sees it: a minute is positive when a
//! fault is active in any part of it, and flagged when any service's row of that minute is
//! anomalous. Rows of services the fault spreads to count as detections of the fault, since
//! they are. Per fault: whether any of its minutes was flagged, and the delay from its start
//! to the end of the first flagged minute (the earliest moment that minute's row can exist)
//! and to that minute's start (the "first anomalous window").

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::array::{Array, BooleanArray, TimestampMicrosecondArray};
use serde::Serialize;

use aiops_engine::sink::parquet_read::{column, feature_files, read_columns};

use crate::datasets::simulator::FaultSpan;
use crate::datasets::MINUTE_US;
use crate::error::Result;

/// The minutes of a run that have rows, and those with an anomalous row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flags {
    /// Every minute with at least one row.
    pub minutes: BTreeSet<i64>,
    /// Minutes with at least one anomalous row.
    pub flagged: BTreeSet<i64>,
}

/// Reads `time` and `is_anomaly` of every row under `<data_dir>/features/`.
pub fn read_flags(data_dir: &Path) -> Result<Flags> {
    let mut flags = Flags::default();
    let (_, files) = feature_files(data_dir)?;
    for path in &files {
        read_columns(path, ["time", "is_anomaly"], &mut |batch| {
            let time = column::<TimestampMicrosecondArray>(path, batch, "time")?;
            let anomaly = column::<BooleanArray>(path, batch, "is_anomaly")?;
            for i in 0..batch.num_rows() {
                flags.minutes.insert(time.value(i));
                if !anomaly.is_null(i) && anomaly.value(i) {
                    flags.flagged.insert(time.value(i));
                }
            }
            Ok(())
        })?;
    }
    Ok(flags)
}

/// How one fault was detected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultOutcome {
    /// The fault.
    pub fault: FaultSpan,
    /// Seconds from the fault's start to the end of its first flagged minute.
    pub delay_to_row_s: Option<f64>,
    /// Seconds from the fault's start to the start of its first flagged minute (0 when that
    /// minute began before the fault).
    pub delay_to_window_s: Option<f64>,
}

/// Minute-level counts over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MinuteCounts {
    /// Fault minutes flagged.
    pub true_positive: usize,
    /// Quiet minutes flagged.
    pub false_positive: usize,
    /// Fault minutes not flagged.
    pub false_negative: usize,
    /// Quiet minutes not flagged.
    pub true_negative: usize,
}

impl MinuteCounts {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &MinuteCounts) {
        self.true_positive += other.true_positive;
        self.false_positive += other.false_positive;
        self.false_negative += other.false_negative;
        self.true_negative += other.true_negative;
    }

    /// (precision, recall, F1).
    pub fn f1(&self) -> (f64, f64, f64) {
        let tp = self.true_positive as f64;
        let precision = tp / (tp + self.false_positive as f64).max(1.0);
        let recall = tp / (tp + self.false_negative as f64).max(1.0);
        let f1 = if tp > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        (precision, recall, f1)
    }
}

fn overlaps(minute: i64, fault: &FaultSpan) -> bool {
    minute < fault.end_us && minute + MINUTE_US > fault.start_us
}

/// Judges `flags` against `faults`; minutes before `from_us` (warm-up) are left out.
pub fn judge(
    faults: &[FaultSpan],
    flags: &Flags,
    from_us: i64,
) -> (Vec<FaultOutcome>, MinuteCounts) {
    let mut counts = MinuteCounts::default();
    for minute in flags.minutes.range(from_us..) {
        let positive = faults.iter().any(|f| overlaps(*minute, f));
        let flagged = flags.flagged.contains(minute);
        match (positive, flagged) {
            (true, true) => counts.true_positive += 1,
            (false, true) => counts.false_positive += 1,
            (true, false) => counts.false_negative += 1,
            (false, false) => counts.true_negative += 1,
        }
    }
    let outcomes = faults
        .iter()
        .filter(|f| f.start_us >= from_us)
        .map(|fault| {
            let first = flags
                .flagged
                .range(fault.start_us - MINUTE_US + 1..fault.end_us)
                .next()
                .copied();
            FaultOutcome {
                fault: fault.clone(),
                delay_to_row_s: first.map(|m| (m + MINUTE_US - fault.start_us) as f64 / 1e6),
                delay_to_window_s: first.map(|m| (m - fault.start_us).max(0) as f64 / 1e6),
            }
        })
        .collect();
    (outcomes, counts)
}

/// Per fault type: (faults, detected, mean delay to the row in seconds).
pub fn by_kind(outcomes: &[FaultOutcome]) -> BTreeMap<String, (usize, usize, Option<f64>)> {
    let mut table: BTreeMap<String, (usize, usize, f64)> = BTreeMap::new();
    for outcome in outcomes {
        let entry = table.entry(outcome.fault.kind.clone()).or_default();
        entry.0 += 1;
        if let Some(delay) = outcome.delay_to_row_s {
            entry.1 += 1;
            entry.2 += delay;
        }
    }
    table
        .into_iter()
        .map(|(kind, (n, found, sum))| (kind, (n, found, (found > 0).then(|| sum / found as f64))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_and_delays_are_counted_from_the_fault_start() {
        let minute = |m: i64| m * MINUTE_US;
        let fault = FaultSpan {
            kind: "latency".into(),
            start_us: minute(10) + 30_000_000,
            end_us: minute(15) + 30_000_000,
        };
        let flags = Flags {
            minutes: (0..30).map(minute).collect(),
            flagged: [minute(12), minute(13), minute(20)].into_iter().collect(),
        };
        let (outcomes, counts) = judge(std::slice::from_ref(&fault), &flags, minute(5));
        // Fault minutes: 10..=15 (6), two flagged; quiet minutes 5..30 minus those (19), one flagged.
        assert_eq!(
            (
                counts.true_positive,
                counts.false_negative,
                counts.false_positive,
                counts.true_negative
            ),
            (2, 4, 1, 18)
        );
        assert_eq!(outcomes[0].delay_to_row_s, Some(150.0));
        assert_eq!(outcomes[0].delay_to_window_s, Some(90.0));
        let table = by_kind(&outcomes);
        assert_eq!(table["latency"], (1, 1, Some(150.0)));
    }
}
