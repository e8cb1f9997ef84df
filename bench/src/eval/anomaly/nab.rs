//! `aiops eval anomaly --dataset nab`: the NAB score of each detector at its best
//! corpus-wide threshold, as NAB's optimiser chooses it for the published detectors.

use std::fmt::Write as _;

use super::AnomalyOptions;
use crate::datasets::nab;
use crate::detectors::univariate;
use crate::error::Result;
use crate::eval::Report;
use crate::progress::Progress;
use crate::scoring::nab as scoring;

/// NAB's published standard / low-FP / low-FN scores (NAB README scoreboard).
const NAB_PUBLISHED: [(&str, [f64; 3]); 9] = [
    ("ARTime", [74.9, 65.1, 80.4]),
    ("Numenta HTM", [70.5, 62.6, 75.2]),
    ("CAD OSE", [69.9, 67.0, 73.2]),
    ("KNN CAD", [58.0, 43.4, 64.8]),
    ("Random Cut Forest", [51.7, 38.4, 59.7]),
    ("Twitter ADVec", [47.1, 33.6, 53.5]),
    ("Windowed Gaussian", [39.6, 20.9, 47.4]),
    ("Random", [11.0, 1.2, 19.5]),
    ("Null", [0.0, 0.0, 0.0]),
];

pub(super) fn run(options: &AnomalyOptions, progress: &dyn Progress) -> Result<Report> {
    let root = options.data_root.join("nab");
    let corpus = nab::load_corpus(&root)?;
    let windows: usize = corpus.iter().map(|f| f.windows.len()).sum();
    progress.start(corpus.len() as u64, "scoring NAB files");
    let detectors = [
        "robust",
        "isolation-forest",
        "ensemble",
        "context",
        "cad",
        "cad (file range)",
        "context + cad",
        "context + cad + seasonal",
        "record",
        "resonance",
        "resonance (file range)",
    ];
    // scores[detector][file]
    let mut scores: Vec<Vec<Vec<f64>>> = vec![Vec::new(); detectors.len()];
    for file in &corpus {
        let history = file.probation().max(100);
        let robust = univariate::robust(&file.values, history);
        let forest = univariate::forest(&file.values, history, options.seed);
        let ensemble = univariate::mean(&robust, &forest);
        let held = [robust, forest, ensemble]
            .map(|series| univariate::onsets(&series, univariate::ONSET_HOLD));
        // The context detectors rest after an alert themselves; no onset hold on top.
        let context = univariate::context(&file.values, file.probation());
        let cad = univariate::cad(&file.values, file.probation(), false);
        // Either detector's alert is an alert; each already reports an event once.
        let either = univariate::larger(&context, &cad);
        let seasonal =
            univariate::with_seasonal(&either, &file.values, &file.timestamps, file.probation());
        let resting = [
            context,
            cad,
            univariate::cad(&file.values, file.probation(), true),
            either,
            seasonal,
            univariate::record(&file.values, file.probation()),
            univariate::resonance(&file.values, file.probation(), false),
            univariate::resonance(&file.values, file.probation(), true),
        ];
        for (slot, series) in scores.iter_mut().zip(held.into_iter().chain(resting)) {
            slot.push(series);
        }
        progress.step();
    }
    progress.finish();
    let (text, results) = table(&corpus, windows, &detectors, &scores);
    let json = serde_json::json!({"dataset": "nab", "windows": windows, "results": results});
    Ok(Report {
        name: "nab".into(),
        text,
        json,
    })
}

/// The table of every detector's NAB scores (`scores[detector][file]`) beside the published
/// rows, and the same figures as JSON.
fn table(
    corpus: &[nab::NabFile],
    windows: usize,
    detectors: &[&str],
    scores: &[Vec<Vec<f64>>],
) -> (String, Vec<serde_json::Value>) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "NAB v1 corpus: {} files, {windows} windows; normalised score at each detector's best \
         threshold",
        corpus.len()
    );
    let _ = writeln!(
        out,
        "{:<26} {:<10} {:>9} {:>9} {:>9}",
        "detector", "source", "standard", "low FP", "low FN"
    );
    let mut results = Vec::new();
    for (detector, per_file) in detectors.iter().zip(scores) {
        let row = scoring::corpus_best(corpus, per_file);
        let _ = writeln!(
            out,
            "{detector:<26} {:<10} {:>9.1} {:>9.1} {:>9.1}",
            "ours", row[0].1, row[1].1, row[2].1
        );
        let profiles: Vec<_> = scoring::PROFILES
            .iter()
            .zip(&row)
            .map(|((name, _), (threshold, score))| {
                serde_json::json!({"profile": name, "threshold": threshold, "score": score})
            })
            .collect();
        results.push(serde_json::json!({"detector": detector, "profiles": profiles}));
    }
    for (detector, figures) in NAB_PUBLISHED {
        let _ = writeln!(
            out,
            "{detector:<26} {:<10} {:>9.1} {:>9.1} {:>9.1}",
            "published", figures[0], figures[1], figures[2]
        );
    }
    (out, results)
}
