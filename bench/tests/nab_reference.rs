//! The NAB scorer against NAB's own published results for the Windowed Gaussian detector:
//! per file the raw score and the TP/FP/FN/TN counts, and the corpus's normalised standard
//! score 39.6. Needs the public data (`AIOPS_DATA_ROOT`, else `../shared/data` beside the
//! project); without it the test says so and checks nothing.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use aiops_bench::datasets::nab::{self, NabFile};
use aiops_bench::scoring::nab::{self as scoring, PROFILES};
use flate2::read::GzDecoder;

fn data_root() -> Option<PathBuf> {
    let root = std::env::var_os("AIOPS_DATA_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    root.join("nab/labels/combined_windows.json")
        .exists()
        .then(|| root.join("nab"))
}

/// The corpus, or `None` (saying so) when the data is not there.
fn corpus() -> Option<Vec<NabFile>> {
    let Some(root) = data_root() else {
        eprintln!("NAB data not found (set AIOPS_DATA_ROOT): nothing checked");
        return None;
    };
    Some(nab::load_corpus(&root).expect("corpus"))
}

fn reference_scores(root: &std::path::Path, name: &str) -> Vec<f64> {
    let (category, file) = name.split_once('/').expect("category/file");
    let path = root.join(format!(
        "reference-results/windowedGaussian/{category}/windowedGaussian_{file}.gz"
    ));
    let reader = BufReader::new(GzDecoder::new(std::fs::File::open(&path).expect("opens")));
    reader
        .lines()
        .skip(1)
        .map(|line| {
            let line = line.expect("reads");
            line.rsplit(',')
                .next()
                .expect("score")
                .parse()
                .expect("number")
        })
        .collect()
}

#[test]
fn windowed_gaussian_reproduces_nabs_published_results() {
    let (Some(root), Some(corpus)) = (data_root(), corpus()) else {
        return;
    };
    assert_eq!(corpus.len(), 58);
    let windows: usize = corpus.iter().map(|f| f.windows.len()).sum();
    let published = std::fs::read_to_string(
        root.join("reference-results/windowedGaussian/windowedGaussian_standard_scores.csv"),
    )
    .expect("reads");
    let standard = PROFILES[0].1;
    let mut total = 0.0;
    let mut checked = 0;
    for line in published
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("Totals"))
    {
        let fields: Vec<&str> = line.split(',').collect();
        let file = corpus
            .iter()
            .find(|f| f.name == fields[2])
            .expect("known file");
        let threshold: f64 = fields[3].parse().expect("threshold");
        let scores = reference_scores(&root, &file.name);
        let points = scoring::points(file, &scores, &standard, 0);
        let tally = scoring::tally(&points, file.windows.len(), threshold, &standard);
        let expected: Vec<f64> = fields[4..9]
            .iter()
            .map(|f| f.parse().expect("number"))
            .collect();
        assert!(
            (tally.raw - expected[0]).abs() < 1e-6,
            "{}: {tally:?} vs {line}",
            file.name
        );
        let counts = [tally.tp, tally.tn, tally.fp, tally.fn_].map(|c| c as f64);
        assert_eq!(counts.to_vec(), expected[1..5].to_vec(), "{}", file.name);
        total += tally.raw;
        checked += 1;
    }
    assert_eq!(checked, 58);
    let normalized = scoring::normalize(total, windows, &standard);
    assert!((normalized - 39.6).abs() < 0.05, "{normalized}");
}

/// `detector`'s score series of every file.
fn per_file(corpus: &[NabFile], detector: impl Fn(&NabFile) -> Vec<f64>) -> Vec<Vec<f64>> {
    corpus.iter().map(detector).collect()
}

/// Normalised scores per profile (standard, low FP, low FN) of per-file score series at
/// their best threshold, as the eval command reports them.
fn corpus_scores(corpus: &[NabFile], scores: &[Vec<f64>]) -> Vec<f64> {
    scoring::corpus_best(corpus, scores)
        .into_iter()
        .map(|(_, score)| score)
        .collect()
}

/// The online detectors' NAB standard scores as measured when they landed, kept as floors so
/// a change that makes them worse fails here rather than in a table nobody reruns: the
/// context detector alone 63.3, the larger of it and CAD with its widening grid 69.6, and
/// with the seasonal detector on strongly cyclic series as well 71.7.
#[test]
fn online_context_detectors_keep_their_nab_scores() {
    use aiops_bench::detectors::univariate;
    let Some(corpus) = corpus() else {
        return;
    };
    let context = per_file(&corpus, |file| {
        univariate::context(&file.values, file.probation())
    });
    let alone = corpus_scores(&corpus, &context);
    assert!(
        alone[0] > 63.0,
        "context detector NAB standard score {:.1}",
        alone[0]
    );
    let either: Vec<Vec<f64>> = corpus
        .iter()
        .zip(&context)
        .map(|(file, context)| {
            univariate::larger(
                context,
                &univariate::cad(&file.values, file.probation(), false),
            )
        })
        .collect();
    let with_seasonal: Vec<Vec<f64>> = corpus
        .iter()
        .zip(&either)
        .map(|(file, either)| {
            univariate::with_seasonal(either, &file.values, &file.timestamps, file.probation())
        })
        .collect();
    let either = corpus_scores(&corpus, &either);
    assert!(
        either[0] > 69.0,
        "context + cad NAB standard score {:.1}",
        either[0]
    );
    let with_seasonal = corpus_scores(&corpus, &with_seasonal);
    assert!(
        with_seasonal[0] > 71.5,
        "context + cad + seasonal NAB standard score {:.1}",
        with_seasonal[0]
    );
}

/// Our implementation of the Contextual Anomaly Detector, given the file's range as NAB's
/// harness gives it, lands within a point of CAD OSE's published scores (69.9, 67.0, 73.2 on
/// the standard, low-FP and low-FN profiles): a check of the detector and of the scorer on a
/// detector whose published figures come from a different algorithm than Windowed Gaussian's.
#[test]
fn cad_with_the_file_range_reproduces_cad_oses_published_scores() {
    let Some(corpus) = corpus() else {
        return;
    };
    let cad = per_file(&corpus, |file| {
        aiops_bench::detectors::univariate::cad(&file.values, file.probation(), true)
    });
    let scores = corpus_scores(&corpus, &cad);
    for (score, published) in scores.iter().zip([69.9, 67.0, 73.2]) {
        assert!(
            (score - published).abs() < 1.0,
            "CAD NAB scores {scores:.1?} against published 69.9 / 67.0 / 73.2"
        );
    }
}

/// Our adaptive-resonance detector, given the file's range as NAB's harness gives it, lands
/// within half a point of ARTime's published scores (74.9, 65.1, 80.4): a third detector
/// whose published figures our scorer and implementation reproduce. Online, with the range
/// learned from the probation period and new extremes flagged, it stays above the issue's
/// aim of 75 (76.7 when the record rule landed).
#[test]
fn resonance_reproduces_artimes_published_scores_and_keeps_its_online_score() {
    use aiops_bench::detectors::univariate;
    let Some(corpus) = corpus() else {
        return;
    };
    let score_with = |file_range: bool| {
        let scores = per_file(&corpus, |file| {
            univariate::resonance(&file.values, file.probation(), file_range)
        });
        corpus_scores(&corpus, &scores)
    };
    let given = score_with(true);
    for (score, published) in given.iter().zip([74.9, 65.1, 80.4]) {
        assert!(
            (score - published).abs() < 0.5,
            "resonance NAB scores {given:.1?} against ARTime's published 74.9 / 65.1 / 80.4"
        );
    }
    let online = score_with(false);
    assert!(
        online[0] > 75.0,
        "online resonance NAB standard score {:.1}",
        online[0]
    );
}

/// A new record alone (a point beyond every earlier one by 3 % of their span) is a real
/// detector on NAB: it stays above Random Cut Forest's published 51.7 (53.5 when it landed).
#[test]
fn a_new_record_alone_scores_above_random_cut_forest() {
    use aiops_bench::detectors::univariate;
    let Some(corpus) = corpus() else {
        return;
    };
    let scores = per_file(&corpus, |file| {
        univariate::record(&file.values, file.probation())
    });
    let standard = corpus_scores(&corpus, &scores)[0];
    assert!(standard > 51.7, "record NAB standard score {standard:.1}");
}
