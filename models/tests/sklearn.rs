//! The IsolationForest against scikit-learn's on the same data: ROC-AUC within 0.01, and the
//! scores rank the points as scikit-learn does: at least as closely (less 0.02) as
//! scikit-learn with another seed ranks them like itself, and with a rank correlation of at
//! least 0.95 where scikit-learn agrees with itself that well. (Two forests of 100 trees with
//! different seeds rank near-tied inliers differently: scikit-learn against itself reaches only
//! about 0.9 on the 5-D data and 0.75 on the 12-D data here, so 0.95 everywhere would be a test
//! no implementation passes.) `tests/run.sh` provides scikit-learn through AIOPS_TEST_PYTHON.

#![allow(clippy::unwrap_used)] // tests may panic: a panic is a failed test

use std::io::Write;
use std::process::Command;

use aiops_models::iforest::{IsolationForest, IsolationForestConfig};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SCRIPT: &str = r#"
import sys, numpy as np
from sklearn.ensemble import IsolationForest
data = np.loadtxt(sys.argv[1], delimiter=",")
def scores(seed):
    model = IsolationForest(n_estimators=100, max_samples=256, contamination=0.01, random_state=seed)
    return -model.fit(data).score_samples(data)
for a, b in zip(scores(0), scores(1)):
    print(repr(float(a)), repr(float(b)))
"#;

/// Roughly normal clusters in `dims` dimensions, plus labelled outliers: (data, labels).
fn dataset(seed: u64, dims: usize, clusters: usize) -> (Array2<f64>, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f64>> = (0..clusters)
        .map(|_| (0..dims).map(|_| rng.random_range(-10.0..10.0)).collect())
        .collect();
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for i in 0..1000 {
        let centre = &centres[i % clusters];
        for c in centre {
            let noise: f64 = (0..6).map(|_| rng.random_range(-0.5..0.5)).sum();
            values.push(c + noise);
        }
        labels.push(false);
    }
    for _ in 0..20 {
        for _ in 0..dims {
            values.push(rng.random_range(-25.0..25.0));
        }
        labels.push(true);
    }
    (
        Array2::from_shape_vec((labels.len(), dims), values).unwrap(),
        labels,
    )
}

/// scikit-learn's scores with random_state 0 and 1.
fn sklearn_scores(data: &Array2<f64>) -> (Vec<f64>, Vec<f64>) {
    let python = std::env::var("AIOPS_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("AIOPS_TEST_PYTHON is not set: run the tests with `bash tests/run.sh`, which provides scikit-learn")
    });
    let path = std::env::temp_dir().join(format!(
        "aiops-iforest-{}-{}.csv",
        std::process::id(),
        data.ncols()
    ));
    let mut file = std::fs::File::create(&path).unwrap();
    for row in data.rows() {
        let line: Vec<String> = row.iter().map(|v| format!("{v:.17e}")).collect();
        writeln!(file, "{}", line.join(",")).unwrap();
    }
    drop(file);
    let output = Command::new(python)
        .args(["-c", SCRIPT])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    text.lines()
        .map(|line| {
            let (a, b) = line.split_once(' ').unwrap();
            (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap())
        })
        .unzip()
}

/// ROC-AUC of `scores` for `labels` (positives: true), ties counted half.
fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (s, _) in scores.iter().zip(labels).filter(|(_, l)| **l) {
        for (n, _) in scores.iter().zip(labels).filter(|(_, l)| !**l) {
            pairs += 1.0;
            wins += if s > n {
                1.0
            } else if s == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}

fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut ranks = vec![0.0; values.len()];
    for (rank, index) in order.into_iter().enumerate() {
        ranks[index] = rank as f64;
    }
    ranks
}

/// Spearman's rank correlation (ties broken by position: scores are continuous).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() - 1) as f64 / 2.0;
    let cov: f64 = ra
        .iter()
        .zip(&rb)
        .map(|(x, y)| (x - mean) * (y - mean))
        .sum();
    let var: f64 = ra.iter().map(|x| (x - mean).powi(2)).sum();
    cov / var
}

#[test]
fn scores_agree_with_scikit_learn() {
    for (seed, dims, clusters) in [(1, 2, 1), (2, 5, 3), (3, 12, 2)] {
        let (data, labels) = dataset(seed, dims, clusters);
        let ours = IsolationForest::fit(data.view(), &IsolationForestConfig::default())
            .unwrap()
            .score(data.view())
            .unwrap();
        let (theirs, other_seed) = sklearn_scores(&data);
        let (auc_ours, auc_theirs) = (roc_auc(&ours, &labels), roc_auc(&theirs, &labels));
        let correlation = spearman(&ours, &theirs);
        let self_agreement = spearman(&other_seed, &theirs);
        eprintln!(
            "{dims}-D: ROC-AUC ours {auc_ours:.4}, scikit-learn {auc_theirs:.4}; Spearman with \
             scikit-learn {correlation:.4}, scikit-learn with itself {self_agreement:.4}"
        );
        assert!(
            (auc_ours - auc_theirs).abs() <= 0.01,
            "{dims}-D: {auc_ours} vs {auc_theirs}"
        );
        assert!(
            correlation >= self_agreement - 0.02,
            "{dims}-D: {correlation} vs {self_agreement}"
        );
        if self_agreement >= 0.95 {
            assert!(
                correlation >= 0.95,
                "{dims}-D: rank correlation {correlation}"
            );
        }
    }
}
