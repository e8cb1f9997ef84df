//! Stored outputs as training data: a time range of feature rows read back from the Parquet
//! feature store or from PostgreSQL (keeping only the model's inputs), and recorded ranking
//! inputs labelled with a run's ground truth (for the GNN).
//!
//! Offline training reads the same rows the job wrote, so a model learns exactly the features
//! it will later be shown. Rows come back sorted by (minute, service) whichever store and
//! file order they came from, so the same range always gives the same training matrix and
//! the same data hash.

use std::ops::Range;
use std::path::Path;

use aiops_models::rca::gnn::LabelledIncident;
use aiops_models::service_model::TrainingRow;
use arrow::array::{Array, Float64Array, StringArray, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::record::service_key;
use crate::score::incidents::RankingInput;
use crate::sink::parquet_read::{column, feature_files, read_columns};
use crate::sink::read_json_lines;
use crate::time::minute_of_us;

/// Whether `from` names a PostgreSQL database rather than a directory.
pub fn is_database_url(from: &str) -> bool {
    from.starts_with("postgres://") || from.starts_with("postgresql://")
}

/// Training rows and the minutes they span.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRows {
    /// Rows sorted by (minute, service).
    pub rows: Vec<TrainingRow>,
    /// First and last minute present (µs), if any row is.
    pub span: Option<(i64, i64)>,
}

/// Reads the rows of `range` (microseconds, start inclusive) with the named `inputs` from a
/// Parquet data directory (its `features/` folder, or a folder of Parquet files) or a
/// PostgreSQL URL. `progress(done, total)` is called per file or once for the database.
pub fn load_rows(
    from: &str,
    range: Range<i64>,
    inputs: &[String],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<StoredRows> {
    let mut rows = if is_database_url(from) {
        let rows = load_from_postgres(from, range, inputs)?;
        progress(1, 1);
        rows
    } else {
        load_from_parquet(Path::new(from), range, inputs, progress)?
    };
    rows.sort_by(|a, b| (a.0, &a.1.service).cmp(&(b.0, &b.1.service)));
    let span = rows.first().zip(rows.last()).map(|(a, b)| (a.0, b.0));
    Ok(StoredRows {
        rows: rows.into_iter().map(|(_, row)| row).collect(),
        span,
    })
}

fn load_from_parquet(
    dir: &Path,
    range: Range<i64>,
    inputs: &[String],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<(i64, TrainingRow)>> {
    let (dir, files) = feature_files(dir)?;
    if files.is_empty() {
        return Err(Error::Config(format!(
            "no Parquet files in {} (train from the data directory of `aiops run`)",
            dir.display()
        )));
    }
    // Files written before rows had environments lack that column: read as ''.
    let columns: Vec<&str> = ["time", "service_name", "environment"]
        .into_iter()
        .chain(inputs.iter().map(String::as_str))
        .collect();
    let mut rows = Vec::new();
    for (done, path) in files.iter().enumerate() {
        read_columns(path, columns.iter().copied(), &mut |batch| {
            read_batch(path, batch, &range, inputs, &mut rows)
        })?;
        progress(done + 1, files.len());
    }
    Ok(rows)
}

fn read_batch(
    path: &Path,
    batch: &RecordBatch,
    range: &Range<i64>,
    inputs: &[String],
    rows: &mut Vec<(i64, TrainingRow)>,
) -> Result<()> {
    let time = column::<TimestampMicrosecondArray>(path, batch, "time")?;
    let service = column::<StringArray>(path, batch, "service_name")?;
    let environment = batch
        .column_by_name("environment")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>());
    let values = inputs
        .iter()
        .map(|name| column::<Float64Array>(path, batch, name))
        .collect::<Result<Vec<_>>>()?;
    for i in 0..batch.num_rows() {
        let time_us = time.value(i);
        if !range.contains(&time_us) || service.is_null(i) {
            continue;
        }
        let environment = environment.map(|e| e.value(i)).unwrap_or_default();
        let row = TrainingRow {
            service: service_key(service.value(i), environment),
            step: minute_of_us(time_us),
            values: values
                .iter()
                .map(|c| if c.is_null(i) { f64::NAN } else { c.value(i) })
                .collect(),
        };
        rows.push((time_us, row));
    }
    Ok(())
}

fn load_from_postgres(
    url: &str,
    range: Range<i64>,
    inputs: &[String],
) -> Result<Vec<(i64, TrainingRow)>> {
    let server = crate::sink::postgres::server_of(url);
    let mut client = crate::sink::postgres::connect(url)?;
    // Input names come from the model's fixed list, never from the user, so quoting them as
    // identifiers is enough.
    let columns: Vec<String> = inputs.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = format!(
        "SELECT (extract(epoch FROM time) * 1000000)::bigint, service_name, environment, {} \
         FROM otlp_ai_features WHERE time >= to_timestamp($1::float8 / 1e6) \
         AND time < to_timestamp($2::float8 / 1e6)",
        columns.join(", ")
    );
    let database_error = |e: postgres::Error| Error::Database {
        context: format!("reading training rows on {server}"),
        message: e.to_string(),
        retryable: false,
    };
    let result = client
        .query(&sql, &[&(range.start as f64), &(range.end as f64)])
        .map_err(database_error)?;
    result
        .iter()
        .map(|row| {
            let values = (0..inputs.len())
                .map(|i| {
                    row.try_get::<_, Option<f64>>(i + 3)
                        .map(|v| v.unwrap_or(f64::NAN))
                })
                .collect::<std::result::Result<Vec<f64>, _>>()
                .map_err(database_error)?;
            let time_us: i64 = row.try_get(0).map_err(database_error)?;
            let name: &str = row.try_get(1).map_err(database_error)?;
            let environment: &str = row.try_get(2).map_err(database_error)?;
            let service = service_key(name, environment);
            let step = minute_of_us(time_us);
            Ok((
                time_us,
                TrainingRow {
                    service,
                    step,
                    values,
                },
            ))
        })
        .collect()
}

/// Labelled incidents for the GNN from a data directory written with `rca.record_inputs`:
/// for each fault of its `ground_truth.csv` (the simulator writes one), the first recorded
/// ranking within the fault's span that flags the faulty service (else the first; see
/// [`RankingInput::covering`]), labelled with that service. Faults without such a
/// ranking (not detected) are skipped.
pub fn labelled_incidents(data_dir: &Path) -> Result<Vec<LabelledIncident>> {
    let truth_path = data_dir.join("ground_truth.csv");
    let truth = std::fs::read_to_string(&truth_path).map_err(|e| Error::io(&truth_path, e))?;
    let mut inputs: Vec<RankingInput> = read_json_lines(&data_dir.join("rca_inputs"))?;
    inputs.sort_by_key(|input| input.time_us);
    let mut incidents = Vec::new();
    for (number, line) in truth.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let bad = || {
            Error::Config(format!(
                "{}:{}: expected fault,service,start,end",
                truth_path.display(),
                number + 1
            ))
        };
        let [_, service, start, end] = fields[..] else {
            return Err(bad());
        };
        let time = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_micros())
                .map_err(|_| bad())
        };
        let (start, end) = (time(start)?, time(end)?);
        let minute = start - start.rem_euclid(60_000_000);
        let within = |i: &RankingInput| i.time_us >= minute && i.time_us < end;
        if let Some(input) = RankingInput::covering(&inputs, service, within) {
            incidents.push(input.labelled(service));
        }
    }
    Ok(incidents)
}
