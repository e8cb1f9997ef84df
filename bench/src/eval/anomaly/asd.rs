//! `aiops eval anomaly --dataset asd`: every detector on the six ASD machines (threshold from
//! each machine's training part, the test part scored online), and how well the
//! window-neighbour detector's per-metric scores explain the labelled anomalies.

use std::fmt::Write as _;

use super::held_out::{HeldOut, LiveRuns};
use super::AnomalyOptions;
use crate::datasets::asd;
use crate::detectors::multivariate::{self, NeighbourScored, Scored};
use crate::detectors::univariate;
use crate::error::Result;
use crate::eval::Report;
use crate::progress::Progress;
use crate::scoring::f1::{self, Figures};
use crate::scoring::interpretation::{self, HitRates};

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

pub(super) fn run(options: &AnomalyOptions, progress: &dyn Progress) -> Result<Report> {
    let root = options
        .asd_dir
        .clone()
        .unwrap_or_else(|| options.data_root.join("asd"));
    let machines = asd::machine_names(&root)?;
    progress.start(machines.len() as u64, "scoring ASD machines");
    let mut rows: Vec<(String, String, Figures)> = Vec::new();
    let mut explanations = Vec::new();
    let mut live = LiveRuns::default();
    let mut loaded = Vec::new();
    for name in &machines {
        let machine = asd::load_machine(&root, name)?;
        let forest = multivariate::forest(&machine, options.seed)?;
        let robust = multivariate::robust(&machine, 288, 5.0);
        let ensemble = Scored::at_threshold(univariate::mean(&forest.scores, &robust.scores), 0.5);
        let spot = multivariate::forest_spot(&machine, options.seed, SPOT_RISK)?;
        let lstm = multivariate::lstm(&machine, options.seed)?;
        let context = multivariate::context(&machine, 30);
        let multiscale = multivariate::context_multiscale(&machine, 30, SPOT_RISK)?;
        let seasonal = multivariate::seasonal_residuals(&machine, SPOT_RISK)?;
        let multiscale_seasonal = multiscale.either(&seasonal);
        let neighbours = multivariate::neighbours(&machine)?;
        let interpretation = root.join(format!("{name}_interpretation.txt"));
        if interpretation.is_file() {
            let explained = asd::load_interpretation(&root, name)?;
            explanations.push(Explanation::of(&machine, &neighbours, &explained));
        }
        let neighbours = neighbours.scored;
        let lstm_context = lstm.either(&context);
        let all = Scored::at_threshold(
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
                f1::figures(&scored, &machine.labels),
            ));
            live.add(name, detector, &scored, &machine.labels);
        }
        loaded.push(machine);
        progress.step();
    }
    progress.finish();
    let mut out = String::new();
    print_asd(&mut out, &rows);
    let held_out = live.leave_one_machine_out();
    print_held_out(&mut out, &held_out);
    let crossed = cross_machine(&loaded)?;
    print_cross_machine(&mut out, &crossed);
    if !explanations.is_empty() {
        print_explanations(&mut out, &explanations);
    }
    let results: Vec<_> = rows
        .iter()
        .map(|(machine, detector, figures)| {
            serde_json::json!({"machine": machine, "detector": detector, "figures": figures})
        })
        .collect();
    let interpretation: Vec<_> = explanations.iter().map(Explanation::to_json).collect();
    let json = serde_json::json!({
        "dataset": "asd",
        "machines": machines,
        "results": results,
        "leave_one_machine_out": held_out,
        "cross_machine": crossed,
        "interpretation": interpretation,
    });
    Ok(Report {
        name: "asd".into(),
        text: out,
        json,
    })
}

/// The window-neighbour model of each machine scored on the next machine's test part (the last
/// on the first's): a machine of the same kind it has never seen, the shift a deployment
/// meets when a model trained on one host scores another. Every setting's figures, mean over
/// the pairs.
fn cross_machine(machines: &[asd::Machine]) -> Result<Vec<(String, Figures)>> {
    let mut runs = LiveRuns::default();
    for (i, model) in machines.iter().enumerate() {
        let test = &machines[(i + 1) % machines.len()];
        if test.name == model.name {
            break;
        }
        let crossed = asd::Machine {
            name: format!("{} on {}", model.name, test.name),
            train: model.train.clone(),
            ..test.clone()
        };
        let neighbours = multivariate::neighbours(&crossed)?.scored;
        runs.add(&crossed.name, "neighbours", &neighbours, &crossed.labels);
    }
    Ok(runs.per_setting("neighbours"))
}

fn print_cross_machine(out: &mut String, crossed: &[(String, Figures)]) {
    let _ = writeln!(
        out,
        "\ncross-machine: neighbours trained on each machine, scored on the next machine's test \
         part (online PA-F1 / F1 / AP)"
    );
    for (setting, f) in crossed {
        let _ = writeln!(
            out,
            "  {setting:<28} {:.3} / {:.3} / {:.3}",
            f.adjusted.f1, f.point.f1, f.average_precision
        );
    }
}

fn print_held_out(out: &mut String, held_out: &[HeldOut]) {
    let _ = writeln!(
        out,
        "\nleave-one-machine-out: each machine scored with the threshold setting (trained, or \
         the live bar) the other machines chose"
    );
    let _ = writeln!(
        out,
        "{:<22} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9}   chosen",
        "detector", "PA-F1", "F1", "P", "R", "AP", "trained"
    );
    for held in held_out {
        let f = &held.figures;
        let mut chosen: Vec<&str> = held.chosen.iter().map(|(_, s)| s.as_str()).collect();
        chosen.dedup();
        let _ = writeln!(
            out,
            "{:<22} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>9.3} {:>9.3}   {}",
            held.detector,
            f.adjusted.f1,
            f.point.f1,
            f.point.precision,
            f.point.recall,
            f.average_precision,
            held.trained.adjusted.f1,
            chosen.join("; ")
        );
    }
    let _ = writeln!(
        out,
        "(PA-F1 and F1 online, under the chosen setting; trained: online PA-F1 with the trained \
         threshold alone)\nonline PA-F1 / F1 of each setting, mean of all machines:"
    );
    for held in held_out {
        let cells: Vec<String> = held
            .per_setting
            .iter()
            .map(|(name, f)| format!("{name}: {:.3} / {:.3}", f.adjusted.f1, f.point.f1))
            .collect();
        let _ = writeln!(out, "  {:<20} {}", held.detector, cells.join(", "));
    }
}

fn print_asd(out: &mut String, rows: &[(String, String, Figures)]) {
    let _ = writeln!(
        out,
        "ASD (omi-1..6): online threshold from training data; best-F1 columns use the test labels"
    );
    let _ = writeln!(
        out,
        "{:<8} {:<22} {:>6} {:>6} {:>6} {:>7} {:>8} {:>8} {:>6}",
        "machine", "detector", "P", "R", "F1", "PA-F1", "best F1", "best PA", "AP"
    );
    let mut line = |machine: &str, detector: &str, f: &Figures| {
        let _ = writeln!(
            out,
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
        let chosen: Vec<Figures> = rows
            .iter()
            .filter(|r| r.1 == detector)
            .map(|r| r.2.clone())
            .collect();
        let average = f1::mean(&chosen);
        line("average", detector, &average);
    }
    let _ = writeln!(
        out,
        "published: InterFusion best PA-F1 above 0.94 averaged over its four datasets \
         (ASD included)"
    );
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
        neighbours: &NeighbourScored,
        explained: &[asd::Explained],
    ) -> Self {
        let flags = &neighbours.scored.flags;
        let hits = |scores: &[Vec<Option<f64>>], counted: &dyn Fn(usize) -> bool| {
            interpretation::hit_rates(scores, explained, counted)
        };
        Explanation {
            machine: machine.name.clone(),
            neighbours_all: hits(&neighbours.metric_scores, &|_| true),
            neighbours_flagged: hits(&neighbours.metric_scores, &|row| flags[row]),
            deviation_all: hits(&multivariate::deviations(machine), &|_| true),
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

fn print_explanations(out: &mut String, explanations: &[Explanation]) {
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "ASD interpretation: HitRate@100% / @150% of the metrics the labels name, among the \
         top-scored"
    );
    let _ = writeln!(
        out,
        "{:<8} {:>22} {:>26} {:>22}",
        "machine", "neighbours, all rows", "neighbours, flagged rows", "|z|, all rows"
    );
    let cell = |h: &HitRates| format!("{:.3} / {:.3} ({})", h.at_100, h.at_150, h.rows);
    for e in explanations {
        let _ = writeln!(
            out,
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
    let _ = writeln!(
        out,
        "{:<8} {:>22} {:>26} {:>22}",
        "average",
        cell(&mean(|e| &e.neighbours_all)),
        cell(&mean(|e| &e.neighbours_flagged)),
        cell(&mean(|e| &e.deviation_all))
    );
    let _ = writeln!(
        out,
        "published: InterFusion's interpretation score 0.87 (ASD's README; its own definition)"
    );
}
