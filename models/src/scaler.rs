//! Standard scaling, the input transform every learned detector shares.
//!
//! Services differ in scale (one answers in 3 ms, another in 300 ms), so a model trained on
//! raw values would call the slow service anomalous all the time. Each service gets its own
//! mean and spread from the training rows; the model sees how far a row is from its own
//! service's normal. Missing values (a service without metrics) become the mean, i.e. 0.

use crate::error::FitError;
use serde::{Deserialize, Serialize};

/// Per-column mean and spread; `transform` gives (x − mean) / spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardScaler {
    /// Column means (0 where a column had no finite value).
    pub mean: Vec<f64>,
    /// Column spreads: the standard deviation, at least the column's floor.
    pub scale: Vec<f64>,
}

impl StandardScaler {
    /// Fits on `rows` (NaN means missing). `floors[c]` is the smallest spread assumed for
    /// column `c`, in its unit: a column that never moved in training (an error rate of 0)
    /// would otherwise make its first movement infinitely far away.
    pub fn fit<'a>(rows: impl IntoIterator<Item = &'a [f64]>, floors: &[f64]) -> Self {
        let columns = floors.len();
        let (mut count, mut sum, mut sum_sq) = (
            vec![0usize; columns],
            vec![0.0; columns],
            vec![0.0; columns],
        );
        for row in rows {
            for (column, value) in row.iter().enumerate().take(columns) {
                if value.is_finite() {
                    count[column] += 1;
                    sum[column] += value;
                    sum_sq[column] += value * value;
                }
            }
        }
        let mean: Vec<f64> = (0..columns)
            .map(|c| {
                if count[c] > 0 {
                    sum[c] / count[c] as f64
                } else {
                    0.0
                }
            })
            .collect();
        let scale = (0..columns)
            .map(|c| {
                let n = count[c].max(1) as f64;
                let variance = (sum_sq[c] / n - mean[c] * mean[c]).max(0.0);
                variance.sqrt().max(floors[c]).max(f64::MIN_POSITIVE)
            })
            .collect();
        StandardScaler { mean, scale }
    }

    /// Columns.
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }

    /// Scales `row` into `out` (missing values become 0, the mean).
    pub fn transform_into(&self, row: &[f64], out: &mut [f64]) {
        for (column, (value, slot)) in row.iter().zip(out.iter_mut()).enumerate() {
            *slot = if value.is_finite() {
                (value - self.mean[column]) / self.scale[column]
            } else {
                0.0
            };
        }
    }

    /// Checks that the scaler is usable: equal lengths, finite means, positive spreads.
    pub fn validate(&self, columns: usize) -> Result<(), FitError> {
        if self.mean.len() != columns || self.scale.len() != columns {
            return Err(FitError::Config(format!(
                "scaler has {} means and {} spreads, the model {columns} features",
                self.mean.len(),
                self.scale.len()
            )));
        }
        if self.mean.iter().any(|m| !m.is_finite())
            || self.scale.iter().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(FitError::Config(
                "scaler has a non-finite mean or a non-positive spread".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_to_zero_mean_unit_spread_with_floors_and_missing_values() {
        let rows = [[1.0, 0.0, f64::NAN], [3.0, 0.0, f64::NAN]];
        let scaler = StandardScaler::fit(rows.iter().map(|r| &r[..]), &[0.1, 0.5, 1.0]);
        assert_eq!(scaler.mean, vec![2.0, 0.0, 0.0]);
        assert_eq!(scaler.scale, vec![1.0, 0.5, 1.0]);
        let mut out = [0.0; 3];
        scaler.transform_into(&[4.0, 1.0, f64::NAN], &mut out);
        assert_eq!(out, [2.0, 2.0, 0.0]);
        assert!(scaler.validate(3).is_ok());
        assert!(scaler
            .validate(2)
            .unwrap_err()
            .to_string()
            .contains("3 means"));
    }
}
