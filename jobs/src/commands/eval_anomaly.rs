//! `aiops eval anomaly`: detection quality of our detectors on the public benchmarks.

use std::path::PathBuf;

use aiops_engine::eval::{asd, nab, univariate};
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

/// Datasets `aiops eval anomaly` knows.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq)]
pub enum AnomalyDataset {
    /// Numenta Anomaly Benchmark: 58 univariate series, NAB scoring.
    Nab,
    /// InterFusion's ASD: 6 servers × 19 metrics, F1 and point-adjusted F1.
    Asd,
}

/// Options of `aiops eval anomaly`.
#[derive(Args, Debug)]
#[command(
    after_help = "Detectors, all online (the score at t uses data up to t only):\n  robust            the job's median/MAD detector (NAB: level and step of the series)\n  isolation-forest  the job's IsolationForest (NAB: refitted on the last probation-length points,\n                    over value, step and distance from the last 12 points; ASD: trained on the\n                    training part with per-machine standard scaling)\n  ensemble          the mean of the two normalised scores (the job's models.combine = \"mean\")\n\nNAB: each detector is scored at the single threshold that maximises its corpus total, per profile, as\nNAB's optimiser does for the published detectors; reports of one event are kept at its onset (a score\ncounts only where it exceeds the previous 500 points' scores). ASD: F1 at the threshold chosen on\ntraining data (online), best F1 over thresholds (needs the test labels; what papers report), and\naverage precision."
)]
pub struct AnomalyArgs {
    /// The dataset.
    #[arg(long, value_enum)]
    dataset: AnomalyDataset,
    /// Where the public datasets are (folders nab/, asd/).
    #[arg(
        long,
        value_name = "DIR",
        env = "AIOPS_DATA_ROOT",
        default_value = "../shared/data"
    )]
    data_root: PathBuf,
    /// Seed of the forests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the results here as JSON (default eval-anomaly-<dataset>.json).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Points over which an event's reports are collapsed to its onset (NAB).
const ONSET_HOLD: usize = 500;

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

fn bar(quiet: bool, len: usize, message: &'static str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64).with_message(message);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Runs the evaluation and prints its table.
pub fn run(args: AnomalyArgs) -> anyhow::Result<()> {
    let (name, document) = match args.dataset {
        AnomalyDataset::Nab => ("nab", nab_eval(&args)?),
        AnomalyDataset::Asd => ("asd", asd_eval(&args)?),
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("eval-anomaly-{name}.json")));
    std::fs::write(&out, serde_json::to_string_pretty(&document)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    println!("written to {}", out.display());
    Ok(())
}

fn nab_eval(args: &AnomalyArgs) -> anyhow::Result<serde_json::Value> {
    let root = args.data_root.join("nab");
    let corpus = nab::load_corpus(&root).with_context(|| format!("reading {}", root.display()))?;
    let windows: usize = corpus.iter().map(|f| f.windows.len()).sum();
    let progress = bar(args.quiet, corpus.len(), "scoring NAB files");
    let detectors = ["robust", "isolation-forest", "ensemble"];
    // scores[detector][file]
    let mut scores: Vec<Vec<Vec<f64>>> = vec![Vec::new(); detectors.len()];
    for file in &corpus {
        let history = file.probation().max(100);
        let robust = univariate::robust(&file.values, history);
        let forest = univariate::forest(&file.values, history, args.seed);
        let ensemble = univariate::mean(&robust, &forest);
        for (slot, series) in scores.iter_mut().zip([robust, forest, ensemble]) {
            slot.push(univariate::onsets(&series, ONSET_HOLD));
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!("NAB v1 corpus: {} files, {windows} windows; normalised score at each detector's best threshold", corpus.len());
    println!(
        "{:<22} {:<10} {:>9} {:>9} {:>9}",
        "detector", "source", "standard", "low FP", "low FN"
    );
    let mut results = Vec::new();
    for (detector, per_file) in detectors.iter().zip(&scores) {
        let mut row = Vec::new();
        for (_, profile) in &nab::PROFILES {
            let mut points = Vec::new();
            let mut offset = 0;
            for (file, file_scores) in corpus.iter().zip(per_file) {
                points.extend(nab::points(file, file_scores, profile, offset));
                offset += file.windows.len();
            }
            row.push(nab::best_threshold(&points, windows, profile));
        }
        println!(
            "{detector:<22} {:<10} {:>9.1} {:>9.1} {:>9.1}",
            "ours", row[0].1, row[1].1, row[2].1
        );
        results.push(serde_json::json!({
            "detector": detector,
            "profiles": nab::PROFILES.iter().zip(&row).map(|((name, _), (threshold, score))| {
                serde_json::json!({"profile": name, "threshold": threshold, "score": score})
            }).collect::<Vec<_>>(),
        }));
    }
    for (detector, figures) in NAB_PUBLISHED {
        println!(
            "{detector:<22} {:<10} {:>9.1} {:>9.1} {:>9.1}",
            "published", figures[0], figures[1], figures[2]
        );
    }
    Ok(serde_json::json!({"dataset": "nab", "windows": windows, "results": results}))
}

fn asd_eval(args: &AnomalyArgs) -> anyhow::Result<serde_json::Value> {
    let root = args.data_root.join("asd");
    let machines: Vec<String> = (1..=6).map(|i| format!("omi-{i}")).collect();
    let progress = bar(args.quiet, machines.len(), "scoring ASD machines");
    let mut rows: Vec<(String, String, asd::Figures)> = Vec::new();
    for name in &machines {
        let machine = asd::load_machine(&root, name)
            .with_context(|| format!("reading {name} under {}", root.display()))?;
        let forest = asd::forest(&machine, args.seed)?;
        let robust = asd::robust(&machine, 288, 5.0);
        let ensemble = asd::Scored {
            scores: univariate::mean(&forest.scores, &robust.scores),
            threshold: 0.5,
        };
        for (detector, scored) in [
            ("robust", robust),
            ("isolation-forest", forest),
            ("ensemble", ensemble),
        ] {
            rows.push((
                name.clone(),
                detector.to_string(),
                asd::figures(&scored, &machine.labels),
            ));
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    print_asd(&rows);
    let results: Vec<_> = rows
        .iter()
        .map(|(machine, detector, figures)| {
            serde_json::json!({"machine": machine, "detector": detector, "figures": figures})
        })
        .collect();
    Ok(serde_json::json!({"dataset": "asd", "results": results}))
}

fn print_asd(rows: &[(String, String, asd::Figures)]) {
    println!(
        "ASD (omi-1..6): online threshold from training data; best-F1 columns use the test labels"
    );
    println!(
        "{:<8} {:<17} {:>6} {:>6} {:>6} {:>7} {:>8} {:>8} {:>6}",
        "machine", "detector", "P", "R", "F1", "PA-F1", "best F1", "best PA", "AP"
    );
    let line = |machine: &str, detector: &str, f: &asd::Figures| {
        println!(
            "{machine:<8} {detector:<17} {:>6.3} {:>6.3} {:>6.3} {:>7.3} {:>8.3} {:>8.3} {:>6.3}",
            f.point.precision,
            f.point.recall,
            f.point.f1,
            f.adjusted.f1,
            f.best_point_f1,
            f.best_adjusted_f1,
            f.average_precision
        );
    };
    for (machine, detector, figures) in rows {
        line(machine, detector, figures);
    }
    for detector in ["robust", "isolation-forest", "ensemble"] {
        let chosen: Vec<&asd::Figures> = rows
            .iter()
            .filter(|r| r.1 == detector)
            .map(|r| &r.2)
            .collect();
        let n = chosen.len().max(1) as f64;
        let mean = |f: fn(&asd::Figures) -> f64| chosen.iter().map(|x| f(x)).sum::<f64>() / n;
        let average = asd::Figures {
            point: asd::F1 {
                precision: mean(|f| f.point.precision),
                recall: mean(|f| f.point.recall),
                f1: mean(|f| f.point.f1),
            },
            adjusted: asd::F1 {
                f1: mean(|f| f.adjusted.f1),
                ..Default::default()
            },
            best_point_f1: mean(|f| f.best_point_f1),
            best_adjusted_f1: mean(|f| f.best_adjusted_f1),
            average_precision: mean(|f| f.average_precision),
        };
        line("average", detector, &average);
    }
    println!("published: InterFusion best PA-F1 above 0.94 averaged over its four datasets (ASD included)");
}
