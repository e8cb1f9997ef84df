//! The Numenta Anomaly Benchmark's corpus: 58 univariate series (`data/<category>/<name>.csv`)
//! and their labelled windows (`labels/combined_windows.json`). Scoring is
//! [`crate::scoring::nab`].

use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::NaiveDateTime;

use crate::error::{Error, Result};

/// One series of the corpus with its labelled windows.
#[derive(Debug, Clone, PartialEq)]
pub struct NabFile {
    /// `<category>/<name>.csv`.
    pub name: String,
    /// Seconds since the epoch (the files carry no zone; only order and equality matter).
    pub timestamps: Vec<i64>,
    /// The values.
    pub values: Vec<f64>,
    /// Windows as inclusive index ranges into the series.
    pub windows: Vec<(usize, usize)>,
}

impl NabFile {
    /// Points before this index are probationary (NAB: min(⌊0.15 n⌋, 0.15 · 5000)).
    pub fn probation(&self) -> usize {
        let n = self.values.len() as f64;
        (0.15 * n).floor().min(0.15 * 5000.0) as usize
    }
}

fn parse_time(text: &str, origin: &str) -> Result<i64> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .map(|t| t.and_utc().timestamp())
        .map_err(|e| Error::Data(format!("{origin}: timestamp {text:?}: {e}")))
}

fn read_series(path: &Path) -> Result<(Vec<i64>, Vec<f64>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let (mut times, mut values) = (Vec::new(), Vec::new());
    for (number, line) in BufReader::new(file).lines().enumerate().skip(1) {
        let line = line.map_err(|e| Error::io(path, e))?;
        let origin = format!("{}:{}", path.display(), number + 1);
        let (time, value) = line
            .split_once(',')
            .ok_or_else(|| Error::Data(format!("{origin}: expected timestamp,value")))?;
        times.push(parse_time(time, &origin)?);
        values.push(
            value
                .trim()
                .parse()
                .map_err(|e| Error::Data(format!("{origin}: value {value:?}: {e}")))?,
        );
    }
    Ok((times, values))
}

/// Maps window limits to index ranges: from the first point at or after the start to the last
/// point at or before the end.
fn window_indices(
    name: &str,
    times: &[i64],
    limits: &[[String; 2]],
) -> Result<Vec<(usize, usize)>> {
    limits
        .iter()
        .map(|[start, end]| {
            let (start, end) = (parse_time(start, name)?, parse_time(end, name)?);
            let first = times.partition_point(|t| *t < start);
            let last = times.partition_point(|t| *t <= end);
            if first >= last {
                return Err(Error::Data(format!(
                    "{name}: window {start}..{end} holds no point"
                )));
            }
            Ok((first, last - 1))
        })
        .collect()
}

/// Reads the corpus under `root` (`data/`, `labels/combined_windows.json`), files in name order.
pub fn load_corpus(root: &Path) -> Result<Vec<NabFile>> {
    let labels_path = root.join("labels/combined_windows.json");
    let text = std::fs::read_to_string(&labels_path).map_err(|e| Error::io(&labels_path, e))?;
    let labels: std::collections::BTreeMap<String, Vec<[String; 2]>> = serde_json::from_str(&text)
        .map_err(|e| Error::Data(format!("{}: {e}", labels_path.display())))?;
    labels
        .iter()
        .map(|(name, limits)| {
            let (timestamps, values) = read_series(&root.join("data").join(name))?;
            let windows = window_indices(name, &timestamps, limits)?;
            Ok(NabFile {
                name: name.clone(),
                timestamps,
                values,
                windows,
            })
        })
        .collect()
}
