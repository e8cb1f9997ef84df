//! `aiops eval anomaly`: detection quality of our detectors on the public benchmarks.

use std::path::PathBuf;

use aiops_engine::config::Combine;
use aiops_engine::eval::detection::{self, FaultOutcome, FaultSpan, MinuteCounts};
use aiops_engine::eval::interpretation::{self, HitRates};
use aiops_engine::eval::{asd, nab, univariate};
use aiops_engine::sim::topology::Shape;
use aiops_models::threshold::{ThresholdRule, DEFAULT_ALARMS_PER_HOUR};
use anyhow::Context;
use clap::Args;

/// Datasets `aiops eval anomaly` knows.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq)]
pub enum AnomalyDataset {
    /// Numenta Anomaly Benchmark: 58 univariate series, NAB scoring.
    Nab,
    /// InterFusion's ASD: 6 servers × 19 metrics, F1 and point-adjusted F1.
    Asd,
    /// The built-in simulator: minute-level F1 and detection delay per fault type.
    Simulator,
}

/// Options of `aiops eval anomaly`.
#[derive(Args, Debug)]
#[command(
    after_help = "Detectors, all online (the score at t uses data up to t only) except the (file range) rows:\n  robust            the job's median/MAD detector (NAB: level and step of the series)\n  isolation-forest  the job's IsolationForest (NAB: refitted on the last probation-length points,\n                    over value, step and distance from the last 12 points; ASD: trained on the\n                    training part with per-machine standard scaling)\n  forest + SPOT     (ASD) the forest with a SPOT extreme-value threshold (risk 1e-2) calibrated on the\n                    training scores and updated online, instead of the 1 % contamination quantile\n  lstm              the job's LSTM forecaster (2 x 64, windows of 60; ASD: trained on the training part,\n                    scored by forecast error, threshold the training errors' 99th percentile;\n                    simulator: as `aiops train` makes it, the tail-fit threshold for one false alarm an hour)\n  ensemble          the mean of the two normalised scores (the job's models.combine = \"mean\")\n  ensemble (all)    (ASD) the mean of robust, forest and LSTM\n  context           contextual novelty: values on a 4-cell grid fixed from the warm-up (NAB: the\n                    probation period; ASD: the training part), runs of up to 3 cells counted; a\n                    point scores how unexpected and how new its run is, then rests (NAB: a fifth of\n                    the probation period; ASD: 30 rows) after a score of 0.75. ASD: per metric, the\n                    row's score is its most novel metric\n  lstm + context    (ASD) either flags; scores divided by each detector's alert level\n  cad               (NAB) the Contextual Anomaly Detector's algorithm (CAD OSE, 69.9 published) with its\n                    settings: contexts of facts and active contexts on an 8-cell grid, rest a fifth of\n                    the probation period after 0.75; the grid starts from the probation period, and a\n                    value outside it widens it to the range seen plus a quarter, relearning the past\n  cad (file range)  (NAB) the same with the grid across the file's minimum and maximum, which NAB's\n                    harness gives every detector and CAD OSE's published score used: a look-ahead\n  context + cad     (NAB) the larger of the context and cad scores: either flags\n  context + cad + seasonal (NAB) also the seasonal residual (value against the median of its slot in the\n                    last 2 weeks or 3 days, robust z over the last 1,000 residuals) on series whose cycle\n                    explains at least 0.7 of the probation period's variance, kept at its onsets\n  record            (NAB) a value beyond every earlier value by 3 % of their span (a new high or low)\n  resonance         (NAB) adaptive resonance, ARTime's algorithm (74.9 published) with its settings: blocks\n                    of probation/104 points (spikes kept), 80 levels, shapes of 8 blocks and their Haar\n                    coefficients clustered by dual-vigilance fuzzy ART; a block that starts a new cluster\n                    is an anomaly. The range is the probation period's plus a half on each side, and a\n                    block outside it widens it by a fifth more, rebuilding the network from the past;\n                    a block beyond every earlier point by 3 % of their span is an anomaly (not ARTime's)\n  resonance (file range) (NAB) ARTime's algorithm alone with the file's minimum and maximum, as its\n                    published score used: a look-ahead\n  context multi-scale (ASD) the context detector on grids of 4, 8 and 16 cells, a row scoring its most\n                    novel metric plus the mean novelty of all metrics, averaged over the grids;\n                    online threshold: SPOT (risk 1e-2) calibrated on the scores of the last 40 %\n                    of the training part by detectors warmed up on the first 60 %\n  seasonal          (ASD) per metric whose daily cycle (288 rows) explains at least 0.7 of its training\n                    variance, the value against its slot on the last 2 days (robust z of the residual);\n                    a row scores its largest z; SPOT (risk 1e-2) calibrated on the training part\n  multi-scale + seasonal (ASD) either flags; scores divided by each detector's calibrated alert level\n  neighbours        per metric, the window (previous value, value) against every training window: its\n                    distance to the 5th nearest over that distance's 99th percentile among the training\n                    windows; a row scores the mean over its metrics. Threshold: the 99th percentile of\n                    the training rows' own scores, each row against the others. ASD: per machine;\n                    simulator: the job's model (`aiops train --model neighbours`), per-service scaling,\n                    its threshold the tail fit for one false alarm an hour, as the LSTM's\n\nNAB: each detector is scored at the single threshold that maximises its corpus total, per profile, as\nNAB's optimiser does for the published detectors; reports of one event are kept at its onset (a score\ncounts only where it exceeds the previous 500 points' scores; the context detector's rest does this\nitself). ASD: F1 at the threshold chosen on\ntraining data (online), best F1 over thresholds (needs the test labels; what papers report), and\naverage precision."
)]
pub struct AnomalyArgs {
    /// The dataset.
    #[arg(long, value_enum)]
    dataset: AnomalyDataset,
    #[command(flatten)]
    data: super::settings::DataRoot,
    /// Seed of the forests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulator: seeds per topology.
    #[arg(long, default_value_t = 2)]
    seeds: u64,
    /// Simulator: simulated hours evaluated per run (a fault every 20 minutes), after as many
    /// fault-free hours of history the model is trained on.
    #[arg(long, default_value_t = 3)]
    hours: u64,
    /// Simulator: services per topology.
    #[arg(long, default_value_t = 16)]
    services: usize,
    /// Write the results here as JSON (default `eval-anomaly-<dataset>.json`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// The detectors of the ASD table, in order.
const ASD_DETECTORS: [&str; 12] = [
    "robust",
    "isolation-forest",
    "forest + SPOT",
    "lstm",
    "ensemble",
    "ensemble (all)",
    "context",
    "lstm + context",
    "context multi-scale",
    "seasonal",
    "multi-scale + seasonal",
    "neighbours",
];

/// SPOT's risk on ASD: the probability of a normal row exceeding the threshold.
const SPOT_RISK: f64 = 1e-2;

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

/// Runs the evaluation and prints its table.
pub fn run(args: AnomalyArgs) -> anyhow::Result<()> {
    let (name, document) = match args.dataset {
        AnomalyDataset::Nab => ("nab", nab_eval(&args)?),
        AnomalyDataset::Asd => ("asd", asd_eval(&args)?),
        AnomalyDataset::Simulator => ("simulator", simulator_eval(&args)?),
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
    let root = args.data.root.join("nab");
    let corpus = nab::load_corpus(&root).with_context(|| format!("reading {}", root.display()))?;
    let windows: usize = corpus.iter().map(|f| f.windows.len()).sum();
    let progress =
        crate::console::counted_bar(args.quiet, corpus.len() as u64, "scoring NAB files");
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
        let forest = univariate::forest(&file.values, history, args.seed);
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
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!("NAB v1 corpus: {} files, {windows} windows; normalised score at each detector's best threshold", corpus.len());
    println!(
        "{:<26} {:<10} {:>9} {:>9} {:>9}",
        "detector", "source", "standard", "low FP", "low FN"
    );
    let mut results = Vec::new();
    for (detector, per_file) in detectors.iter().zip(&scores) {
        let row = nab::corpus_best(&corpus, per_file);
        println!(
            "{detector:<26} {:<10} {:>9.1} {:>9.1} {:>9.1}",
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
            "{detector:<26} {:<10} {:>9.1} {:>9.1} {:>9.1}",
            "published", figures[0], figures[1], figures[2]
        );
    }
    Ok(serde_json::json!({"dataset": "nab", "windows": windows, "results": results}))
}

fn asd_eval(args: &AnomalyArgs) -> anyhow::Result<serde_json::Value> {
    let root = args.data.root.join("asd");
    let machines: Vec<String> = (1..=6).map(|i| format!("omi-{i}")).collect();
    let progress =
        crate::console::counted_bar(args.quiet, machines.len() as u64, "scoring ASD machines");
    let mut rows: Vec<(String, String, asd::Figures)> = Vec::new();
    let mut explanations = Vec::new();
    for name in &machines {
        let machine = asd::load_machine(&root, name)
            .with_context(|| format!("reading {name} under {}", root.display()))?;
        let forest = asd::forest(&machine, args.seed)?;
        let robust = asd::robust(&machine, 288, 5.0);
        let ensemble =
            asd::Scored::at_threshold(univariate::mean(&forest.scores, &robust.scores), 0.5);
        let spot = asd::forest_spot(&machine, args.seed, SPOT_RISK)?;
        let lstm = asd::lstm(&machine, args.seed)?;
        let context = asd::context(&machine, 30);
        let multiscale = asd::context_multiscale(&machine, 30, SPOT_RISK)?;
        let seasonal = asd::seasonal_residuals(&machine, SPOT_RISK)?;
        let multiscale_seasonal = multiscale.either(&seasonal);
        let neighbours = asd::neighbours(&machine)?;
        let explained = interpretation::load(&root, name)?;
        explanations.push(Explanation::of(&machine, &neighbours, &explained));
        let neighbours = neighbours.scored;
        let lstm_context = lstm.either(&context);
        let all = asd::Scored::at_threshold(
            robust
                .scores
                .iter()
                .zip(&forest.scores)
                .zip(&lstm.scores)
                .map(|((r, f), l)| (r + f + l) / 3.0)
                .collect(),
            0.5,
        );
        for (detector, scored) in [
            ("robust", robust),
            ("isolation-forest", forest),
            ("forest + SPOT", spot),
            ("lstm", lstm),
            ("ensemble", ensemble),
            ("ensemble (all)", all),
            ("context", context),
            ("lstm + context", lstm_context),
            ("context multi-scale", multiscale),
            ("seasonal", seasonal),
            ("multi-scale + seasonal", multiscale_seasonal),
            ("neighbours", neighbours),
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
    print_explanations(&explanations);
    let results: Vec<_> = rows
        .iter()
        .map(|(machine, detector, figures)| {
            serde_json::json!({"machine": machine, "detector": detector, "figures": figures})
        })
        .collect();
    Ok(
        serde_json::json!({"dataset": "asd", "results": results, "interpretation": explanations.iter().map(Explanation::to_json).collect::<Vec<_>>()}),
    )
}

fn print_asd(rows: &[(String, String, asd::Figures)]) {
    println!(
        "ASD (omi-1..6): online threshold from training data; best-F1 columns use the test labels"
    );
    println!(
        "{:<8} {:<22} {:>6} {:>6} {:>6} {:>7} {:>8} {:>8} {:>6}",
        "machine", "detector", "P", "R", "F1", "PA-F1", "best F1", "best PA", "AP"
    );
    let line = |machine: &str, detector: &str, f: &asd::Figures| {
        println!(
            "{machine:<8} {detector:<22} {:>6.3} {:>6.3} {:>6.3} {:>7.3} {:>8.3} {:>8.3} {:>6.3}",
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
    for detector in ASD_DETECTORS {
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

/// How well one machine's anomalous rows are explained: HitRate@P% of the metrics ASD's
/// interpretation labels name, among the neighbours detector's highest-scored metrics (over
/// every labelled row, and over the rows it flags), and among the plain |z| deviations.
struct Explanation {
    machine: String,
    neighbours_all: HitRates,
    neighbours_flagged: HitRates,
    deviation_all: HitRates,
}

impl Explanation {
    fn of(
        machine: &asd::Machine,
        neighbours: &asd::NeighbourScored,
        explained: &[interpretation::Explained],
    ) -> Self {
        let flags = &neighbours.scored.flags;
        let hits = |scores: &[Vec<Option<f64>>], counted: &dyn Fn(usize) -> bool| {
            interpretation::hit_rates(scores, explained, counted)
        };
        Explanation {
            machine: machine.name.clone(),
            neighbours_all: hits(&neighbours.metric_scores, &|_| true),
            neighbours_flagged: hits(&neighbours.metric_scores, &|row| flags[row]),
            deviation_all: hits(&asd::deviations(machine), &|_| true),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "machine": self.machine,
            "neighbours_all_rows": self.neighbours_all,
            "neighbours_flagged_rows": self.neighbours_flagged,
            "deviation_all_rows": self.deviation_all,
        })
    }
}

fn print_explanations(explanations: &[Explanation]) {
    println!();
    println!("ASD interpretation: HitRate@100% / @150% of the metrics the labels name, among the top-scored");
    println!(
        "{:<8} {:>22} {:>26} {:>22}",
        "machine", "neighbours, all rows", "neighbours, flagged rows", "|z|, all rows"
    );
    let cell = |h: &HitRates| format!("{:.3} / {:.3} ({})", h.at_100, h.at_150, h.rows);
    for e in explanations {
        println!(
            "{:<8} {:>22} {:>26} {:>22}",
            e.machine,
            cell(&e.neighbours_all),
            cell(&e.neighbours_flagged),
            cell(&e.deviation_all)
        );
    }
    let n = explanations.len().max(1) as f64;
    let mean = |pick: fn(&Explanation) -> &HitRates| HitRates {
        at_100: explanations.iter().map(|e| pick(e).at_100).sum::<f64>() / n,
        at_150: explanations.iter().map(|e| pick(e).at_150).sum::<f64>() / n,
        rows: explanations.iter().map(|e| pick(e).rows).sum(),
    };
    println!(
        "{:<8} {:>22} {:>26} {:>22}",
        "average",
        cell(&mean(|e| &e.neighbours_all)),
        cell(&mean(|e| &e.neighbours_flagged)),
        cell(&mean(|e| &e.deviation_all))
    );
    println!(
        "published: InterFusion's interpretation score 0.87 (ASD's README; its own definition)"
    );
}

/// Which trained models a simulator detector setting loads.
#[derive(Clone, Copy)]
enum Models {
    None,
    Forest,
    Lstm,
    Both,
    Neighbours,
}

/// The detector settings compared on the simulator: (name, models, combination).
const SIM_DETECTORS: [(&str, Models, Combine); 6] = [
    ("robust", Models::None, Combine::Mean),
    ("isolation-forest", Models::Forest, Combine::Model),
    ("lstm", Models::Lstm, Combine::Model),
    ("ensemble (robust+forest)", Models::Forest, Combine::Mean),
    ("ensemble (all, mean)", Models::Both, Combine::Mean),
    ("neighbours", Models::Neighbours, Combine::Model),
];

/// Minutes at the start of an evaluated run that are not judged: the robust detector's
/// warm-up (detection.min_history_minutes).
const WARM_UP_MINUTES: i64 = 10;

/// Trains the job's IsolationForest and LSTM (into `forest`, `lstm` and both into `both`), and
/// the window-neighbour model (into `neighbours`), on
/// fault-free history: the same hours one week earlier
/// (same weekday and time of day, so the same point of the daily and weekly traffic cycle).
fn train_history(
    args: &AnomalyArgs,
    shape: Shape,
    seed: u64,
    dirs: &TrainedDirs,
) -> anyhow::Result<()> {
    let history_start = "2025-12-29T08:00:00Z";
    let mut config =
        super::eval::sim_config(shape, seed, args.services, history_start, args.hours)?;
    config.simulator.fault_every_minutes = 0;
    let dir = tempfile::tempdir()?;
    super::eval::run_job(&mut config, Default::default(), dir.path())?;
    let inputs: Vec<String> = aiops_engine::score::detect::model_inputs()
        .into_iter()
        .map(String::from)
        .collect();
    let floors = aiops_engine::score::detect::input_floors(&inputs).context("input floors")?;
    let stored = aiops_engine::train::load_rows(
        &dir.path().display().to_string(),
        i64::MIN..i64::MAX,
        &inputs,
        &mut |_, _| {},
    )?;
    let training = aiops_models::model_file::TrainingInfo {
        source: format!("simulator {shape:?} seed {seed}, fault-free"),
        from: history_start.into(),
        to: format!("2025-12-29T{:02}:00:00Z", 8 + args.hours),
        rows: 0,
        data_hash: String::new(),
    };
    let config = aiops_models::iforest::IsolationForestConfig {
        seed: args.seed,
        ..Default::default()
    };
    let mut forest = aiops_models::service_model::ServiceModel::train(
        inputs.clone(),
        &floors,
        &stored.rows,
        &config,
        training.clone(),
        |_| {},
    )?;
    let config = aiops_models::lstm::LstmConfig {
        seed: args.seed,
        ..Default::default()
    };
    // One false alarm an hour on this fleet, for the LSTM and the window-neighbour model.
    let budget = ThresholdRule::for_alarm_budget(
        DEFAULT_ALARMS_PER_HOUR,
        aiops_models::service_model::service_count(&stored.rows),
        0.01,
    );
    let mut neighbours = aiops_models::window_model::WindowModel::train(
        inputs.clone(),
        &floors,
        &stored.rows,
        aiops_models::neighbours::NeighbourConfig::default(),
        budget,
        training.clone(),
    )?;
    let mut lstm = aiops_models::sequence_model::SequenceModel::train(
        inputs,
        &floors,
        &stored.rows,
        &config,
        budget,
        training,
        |_, _| {},
    )?;
    let stamp = || "2026-01-05T08:00:00Z".to_string();
    forest.save(dirs.forest.path(), stamp())?;
    forest.save(dirs.both.path(), stamp())?;
    lstm.save(dirs.lstm.path(), stamp())?;
    lstm.save(dirs.both.path(), stamp())?;
    neighbours.save(dirs.neighbours.path(), stamp())?;
    Ok(())
}

/// Model directories of one simulated fleet.
struct TrainedDirs {
    forest: tempfile::TempDir,
    lstm: tempfile::TempDir,
    both: tempfile::TempDir,
    neighbours: tempfile::TempDir,
}

impl TrainedDirs {
    fn new() -> anyhow::Result<Self> {
        Ok(TrainedDirs {
            forest: tempfile::tempdir()?,
            lstm: tempfile::tempdir()?,
            both: tempfile::tempdir()?,
            neighbours: tempfile::tempdir()?,
        })
    }

    fn path(&self, models: Models) -> Option<&std::path::Path> {
        match models {
            Models::None => None,
            Models::Forest => Some(self.forest.path()),
            Models::Lstm => Some(self.lstm.path()),
            Models::Both => Some(self.both.path()),
            Models::Neighbours => Some(self.neighbours.path()),
        }
    }
}

fn simulator_eval(args: &AnomalyArgs) -> anyhow::Result<serde_json::Value> {
    let start = "2026-01-05T08:00:00Z";
    let start_us = chrono::DateTime::parse_from_rfc3339(start)?.timestamp_micros();
    let runs: Vec<(Shape, u64)> = [Shape::Shop, Shape::Trainticket]
        .into_iter()
        .flat_map(|shape| (1..=args.seeds).map(move |seed| (shape, seed)))
        .collect();
    let bar = super::eval::progress((runs.len() * (SIM_DETECTORS.len() + 1)) as u64, args.quiet);
    let mut outcomes: Vec<Vec<FaultOutcome>> = vec![Vec::new(); SIM_DETECTORS.len()];
    let mut counts = vec![MinuteCounts::default(); SIM_DETECTORS.len()];
    for (shape, seed) in runs {
        bar.set_message(format!("{shape:?} seed {seed}: training"));
        let dirs = TrainedDirs::new()?;
        train_history(args, shape, seed, &dirs)?;
        bar.inc(1);
        for (i, (name, models, combine)) in SIM_DETECTORS.iter().enumerate() {
            bar.set_message(format!("{shape:?} seed {seed}: {name}"));
            let mut config =
                super::eval::sim_config(shape, seed, args.services, start, args.hours)?;
            if let Some(dir) = dirs.path(*models) {
                config.models.dir = dir.display().to_string();
                config.models.combine = *combine;
            }
            let faults: Vec<FaultSpan> = aiops_engine::job::simulator(&config, 0)?
                .faults
                .iter()
                .map(|f| FaultSpan {
                    kind: f.kind.name().to_string(),
                    start_us: (f.start_ns / 1_000) as i64,
                    end_us: (f.end_ns / 1_000) as i64,
                })
                .collect();
            let dir = tempfile::tempdir()?;
            super::eval::run_job(&mut config, Default::default(), dir.path())?;
            let flags = detection::read_flags(dir.path())?;
            let (run_outcomes, run_counts) =
                detection::judge(&faults, &flags, start_us + WARM_UP_MINUTES * 60_000_000);
            outcomes[i].extend(run_outcomes);
            counts[i].add(&run_counts);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    print_simulator(&outcomes, &counts);
    let results: Vec<_> = SIM_DETECTORS
        .iter()
        .zip(outcomes.iter().zip(&counts))
        .map(|((name, _, _), (outcomes, counts))| {
            serde_json::json!({"detector": name, "minutes": counts, "faults": outcomes})
        })
        .collect();
    Ok(serde_json::json!({"dataset": "simulator", "results": results}))
}

fn print_simulator(outcomes: &[Vec<FaultOutcome>], counts: &[MinuteCounts]) {
    println!("simulator: fleet minutes (any row flagged) against fault minutes; the model is trained on the same");
    println!(
        "fleet's fault-free history; delay = fault start to the end of its first flagged minute"
    );
    println!(
        "{:<18} {:>6} {:>6} {:>6} {:>9} {:>10}   per fault type: detected/faults, mean delay s",
        "detector", "P", "R", "F1", "false/h", "mean delay"
    );
    for (((name, _, _), outcomes), counts) in SIM_DETECTORS.iter().zip(outcomes).zip(counts) {
        let (precision, recall, f1) = counts.f1();
        let quiet_hours = (counts.false_positive + counts.true_negative) as f64 / 60.0;
        let delays: Vec<f64> = outcomes.iter().filter_map(|o| o.delay_to_row_s).collect();
        let mean_delay = delays.iter().sum::<f64>() / delays.len().max(1) as f64;
        let kinds: Vec<String> = detection::by_kind(outcomes)
            .into_iter()
            .map(|(kind, (n, found, delay))| {
                format!(
                    "{kind} {found}/{n} {}",
                    delay.map_or("-".into(), |d| format!("{d:.0}"))
                )
            })
            .collect();
        println!(
            "{name:<18} {precision:>6.3} {recall:>6.3} {f1:>6.3} {:>9.2} {:>9.0}s   {}",
            counts.false_positive as f64 / quiet_hours.max(1e-9),
            mean_delay,
            kinds.join(", ")
        );
    }
    println!("published (original design's claim, not a measurement): mean time to detect 45 s");
}
