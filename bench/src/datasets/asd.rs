//! InterFusion's ASD: six application-server machines (`omi-1` .. `omi-6`), 19 metrics each,
//! a training part, a labelled test part, and interpretation labels naming the metrics that
//! explain each anomalous segment.

use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{Error, Result};

/// One machine's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// `omi-N`.
    pub name: String,
    /// Training rows (19 metrics each).
    pub train: Vec<Vec<f64>>,
    /// Test rows.
    pub test: Vec<Vec<f64>>,
    /// Test labels (true = anomalous).
    pub labels: Vec<bool>,
}

fn read_csv(path: &Path, labelled: bool) -> Result<(Vec<Vec<f64>>, Vec<bool>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for (number, line) in BufReader::new(file).lines().enumerate().skip(1) {
        let line = line.map_err(|e| Error::io(path, e))?;
        let mut fields = line
            .split(',')
            .skip(1)
            .map(|f| f.trim().parse::<f64>())
            .collect::<std::result::Result<Vec<f64>, _>>()
            .map_err(|e| Error::Data(format!("{}:{}: {e}", path.display(), number + 1)))?;
        if labelled {
            let label = fields.pop().unwrap_or(0.0);
            labels.push(label > 0.5);
        }
        rows.push(fields);
    }
    Ok((rows, labels))
}

/// The machines of a folder in the ASD layout: every `<name>_train.csv` with a
/// `<name>_test.csv` beside it, sorted by name (a natural order: `omi-2` before `omi-10`).
pub fn machine_names(root: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(root, e))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(name) = file.strip_suffix("_train.csv") {
            if root.join(format!("{name}_test.csv")).is_file() {
                names.push(name.to_string());
            }
        }
    }
    names.sort_by_key(|name| natural_key(name));
    if names.is_empty() {
        return Err(Error::Data(format!(
            "{}: no machine (a <name>_train.csv with a <name>_test.csv beside it)",
            root.display()
        )));
    }
    Ok(names)
}

/// `omi-10` as ("omi-", 10): numbers compare as numbers.
fn natural_key(name: &str) -> (String, u64, String) {
    let digits = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let number = name[digits.len()..].parse().unwrap_or(0);
    (digits.to_string(), number, name.to_string())
}

/// Reads machine `name` (e.g. `omi-1`) from the `asd` folder.
pub fn load_machine(root: &Path, name: &str) -> Result<Machine> {
    let (train, _) = read_csv(&root.join(format!("{name}_train.csv")), false)?;
    let (test, labels) = read_csv(&root.join(format!("{name}_test.csv")), true)?;
    let width = train.first().map_or(0, Vec::len);
    if width == 0 || test.is_empty() {
        return Err(Error::Data(format!(
            "{name}: the training and test parts need rows with metrics"
        )));
    }
    if let Some(row) = train.iter().chain(&test).position(|r| r.len() != width) {
        return Err(Error::Data(format!(
            "{name}: row {row} (training rows first) has a different number of metrics than the first ({width})"
        )));
    }
    Ok(Machine {
        name: name.to_string(),
        train,
        test,
        labels,
    })
}

/// One anomalous test segment: rows `first..=last` and the metrics (0-based) that explain it.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    /// First test row.
    pub first: usize,
    /// Last test row (inclusive).
    pub last: usize,
    /// The metrics named, 0-based.
    pub metrics: Vec<usize>,
}

/// Reads `<name>_interpretation.txt` from the `asd` folder: a line `first-last:m1,m2,...`
/// per segment, metrics 1-based.
pub fn load_interpretation(root: &Path, name: &str) -> Result<Vec<Explained>> {
    let path = root.join(format!("{name}_interpretation.txt"));
    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let mut segments = Vec::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(&path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let segment = parse(line.trim()).ok_or_else(|| {
            Error::Data(format!(
                "{}:{}: expected `first-last:m1,m2,...` (metrics from 1), found `{line}`",
                path.display(),
                number + 1
            ))
        })?;
        segments.push(segment);
    }
    Ok(segments)
}

fn parse(line: &str) -> Option<Explained> {
    let (rows, metrics) = line.split_once(':')?;
    let (first, last) = rows.split_once('-')?;
    let metrics = metrics
        .split(',')
        .map(|m| m.trim().parse::<usize>().ok()?.checked_sub(1))
        .collect::<Option<Vec<usize>>>()?;
    let (first, last) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    (first <= last && !metrics.is_empty()).then_some(Explained {
        first,
        last,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_to_zero_based_metrics_and_bad_ones_are_refused() {
        assert_eq!(
            parse("486-498:1,4,5"),
            Some(Explained {
                first: 486,
                last: 498,
                metrics: vec![0, 3, 4]
            })
        );
        for bad in ["486-498", "498-486:1", "1-2:0", "1-2:x", "a-2:1", "1-2:"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn any_folder_in_the_layout_lists_its_machines_in_natural_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        for file in [
            "m-10_train.csv",
            "m-10_test.csv",
            "m-2_train.csv",
            "m-2_test.csv",
        ] {
            std::fs::write(dir.path().join(file), "t,m0\n").expect("writes");
        }
        std::fs::write(dir.path().join("lonely_train.csv"), "t,m0\n").expect("writes");
        assert_eq!(machine_names(dir.path()).expect("lists"), ["m-2", "m-10"]);
        let empty = tempfile::tempdir().expect("temp dir");
        let error = machine_names(empty.path()).expect_err("none").to_string();
        assert!(error.contains("no machine"), "{error}");
    }

    #[test]
    fn a_bad_line_is_named_with_its_file_and_number() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("m_interpretation.txt"), "1-2:3\n\n5-6:x\n")
            .expect("writes");
        let error = load_interpretation(dir.path(), "m")
            .expect_err("refused")
            .to_string();
        assert!(error.contains("m_interpretation.txt:3"), "{error}");
    }
}
