//! `aiops eval anomaly --dataset simulator`: the job's detector settings on simulated fleets,
//! judged by fleet minute against the injected faults, each learned model trained on the same
//! fleet's fault-free history.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use aiops_engine::config::{Combine, Shape};
use aiops_engine::job;
use aiops_engine::job::offline::{run_config_into, simulation};
use aiops_engine::score::inputs::{input_floors, model_inputs};
use aiops_engine::score::Incident;
use aiops_engine::sink::read_json_lines;
use aiops_engine::sink::stored::load_rows;
use aiops_models::fit::{fit, ModelSpec, TrainingSet};
use aiops_models::iforest::IsolationForestConfig;
use aiops_models::lstm::LstmConfig;
use aiops_models::model_file::TrainingInfo;
use aiops_models::neighbours::NeighbourConfig;
use aiops_models::service_model::service_count;
use aiops_models::threshold::{ThresholdRule, DEFAULT_ALARMS_PER_HOUR};

use serde::Serialize;

use super::AnomalyOptions;
use crate::datasets::simulator::fault_spans;
use crate::datasets::{self, Case};
use crate::error::{Error, Result};
use crate::eval::{run_dir, simulator_runs, Report};
use crate::progress::Progress;
use crate::scoring::accuracy::{self, FalseIncidents, Pick};
use crate::scoring::detection::{self, FaultOutcome, MinuteCounts};

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

/// Start of every evaluated run; its history is the same hours one week earlier.
const START: &str = "2026-01-05T08:00:00Z";
/// Start of the fault-free history the models are trained on.
const HISTORY_START: &str = "2025-12-29T08:00:00Z";

/// Trains the job's IsolationForest and LSTM (into `forest`, `lstm` and both into `both`),
/// and the window-neighbour model (into `neighbours`), on fault-free history: the same hours
/// one week earlier (same weekday and time of day, so the same point of the daily and weekly
/// traffic cycle).
fn train_history(
    options: &AnomalyOptions,
    (shape, seed): (Shape, u64),
    dirs: &TrainedDirs,
) -> Result<()> {
    let mut config = simulation(shape, seed, options.services, HISTORY_START, options.hours)?;
    config.simulator.fault_every_minutes = 0;
    let (dir, _temporary) = run_dir(None, "")?;
    run_config_into(config, BTreeSet::new(), &dir)?;
    let inputs: Vec<String> = model_inputs().into_iter().map(String::from).collect();
    let floors = input_floors(&inputs)
        .ok_or_else(|| Error::Config("a model input has no spread floor".into()))?;
    let from = dir.display().to_string();
    let stored = load_rows(&from, i64::MIN..i64::MAX, &inputs, &mut |_, _| {})?;
    let training = TrainingInfo::new(
        format!("simulator {shape:?} seed {seed}, fault-free"),
        HISTORY_START,
        format!("2025-12-29T{:02}:00:00Z", 8 + options.hours),
    );
    let set = TrainingSet {
        inputs: &inputs,
        floors: &floors,
        rows: &stored.rows,
    };
    let forest = IsolationForestConfig {
        seed: options.seed,
        ..Default::default()
    };
    let lstm = LstmConfig {
        seed: options.seed,
        ..Default::default()
    };
    // One false alarm an hour on this fleet, for the LSTM and the window-neighbour model.
    let services = service_count(&stored.rows);
    let budget = ThresholdRule::for_alarm_budget(DEFAULT_ALARMS_PER_HOUR, services, 0.01);
    let stamp = || START.to_string();
    let fit_into = |spec, dirs: &[&Path]| -> Result<()> {
        let mut model = fit(&spec, set, training.clone(), |_| {})?;
        for dir in dirs {
            model.save(dir, stamp())?;
        }
        Ok(())
    };
    let neighbours = ModelSpec::Neighbours(NeighbourConfig::default(), budget);
    fit_into(
        ModelSpec::IsolationForest(forest),
        &[dirs.forest.path(), dirs.both.path()],
    )?;
    fit_into(neighbours, &[dirs.neighbours.path()])?;
    fit_into(
        ModelSpec::Lstm(lstm, budget),
        &[dirs.lstm.path(), dirs.both.path()],
    )
}

/// Model directories of one simulated fleet.
struct TrainedDirs {
    forest: tempfile::TempDir,
    lstm: tempfile::TempDir,
    both: tempfile::TempDir,
    neighbours: tempfile::TempDir,
}

impl TrainedDirs {
    fn new() -> Result<Self> {
        let temporary = || tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e));
        Ok(TrainedDirs {
            forest: temporary()?,
            lstm: temporary()?,
            both: temporary()?,
            neighbours: temporary()?,
        })
    }

    fn path(&self, models: Models) -> Option<&Path> {
        match models {
            Models::None => None,
            Models::Forest => Some(self.forest.path()),
            Models::Lstm => Some(self.lstm.path()),
            Models::Both => Some(self.both.path()),
            Models::Neighbours => Some(self.neighbours.path()),
        }
    }
}

/// What one detector setting did on simulated fleets, by minute and by incident.
#[derive(Debug, Clone, Default)]
struct Judged {
    outcomes: Vec<FaultOutcome>,
    minutes: MinuteCounts,
    incidents: IncidentCounts,
}

/// One detector setting on one simulated fleet: its per-fault outcomes, minute counts and
/// incidents.
fn judge_setting(
    options: &AnomalyOptions,
    (shape, seed): (Shape, u64),
    (models, combine): (Option<&Path>, Combine),
) -> Result<Judged> {
    let mut config = simulation(shape, seed, options.services, START, options.hours)?;
    if let Some(dir) = models {
        config.models.dir = Some(dir.to_path_buf());
        config.models.combine = combine;
    }
    let simulator = job::simulator(&config, 0)?;
    let (faults, cases) = (
        fault_spans(&simulator),
        datasets::simulator::cases(&simulator),
    );
    let window = config.simulator.fault_duration_minutes as i64;
    let method = config.rca.method.name().to_string();
    let (dir, _temporary) = run_dir(None, "")?;
    run_config_into(config, BTreeSet::new(), &dir)?;
    let flags = detection::read_flags(&dir)?;
    let incidents: Vec<Incident> = read_json_lines(&dir.join("incidents"))?;
    let start_us = chrono::DateTime::parse_from_rfc3339(START)
        .map_err(|e| Error::Config(format!("{START}: {e}")))?
        .timestamp_micros();
    let judged_from = start_us + WARM_UP_MINUTES * 60_000_000;
    let judged: Vec<Case> = cases
        .into_iter()
        .filter(|c| c.start_us >= judged_from)
        .collect();
    let (outcomes, minutes) = detection::judge(&faults, &flags, judged_from);
    let after_warm_up: BTreeSet<i64> = flags.minutes.range(judged_from..).copied().collect();
    let incidents = IncidentCounts::of(&judged, &incidents, &after_warm_up, window, &method);
    Ok(Judged {
        outcomes,
        minutes,
        incidents,
    })
}

/// Incidents against faults, as an on-call engineer meets them: a fault is caught when an
/// incident update falls in its window, has its own incident when no earlier fault's first
/// incident is that one, and is ranked right when that first update names its service first.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct IncidentCounts {
    faults: usize,
    caught: usize,
    own: usize,
    first_right: usize,
    false_incidents: FalseIncidents,
}

impl IncidentCounts {
    fn of(
        cases: &[Case],
        incidents: &[Incident],
        minutes: &BTreeSet<i64>,
        window: i64,
        method: &str,
    ) -> Self {
        let first = accuracy::judge(cases, incidents, &[method], Pick::FirstWithin(window));
        let mut claimed = BTreeSet::new();
        let mut counts = IncidentCounts {
            faults: cases.len(),
            false_incidents: FalseIncidents::of(cases, incidents, minutes, window),
            ..Default::default()
        };
        for outcome in &first {
            let Some(id) = &outcome.incident_id else {
                continue;
            };
            counts.caught += 1;
            counts.own += usize::from(claimed.insert(id.clone()));
            counts.first_right += usize::from(outcome.ranks.get(method) == Some(&Some(1)));
        }
        counts
    }

    fn add(&mut self, other: &Self) {
        self.faults += other.faults;
        self.caught += other.caught;
        self.own += other.own;
        self.first_right += other.first_right;
        self.false_incidents.add(other.false_incidents);
    }
}

pub(super) fn run(options: &AnomalyOptions, progress: &dyn Progress) -> Result<Report> {
    let runs = simulator_runs(options.seeds);
    progress.start(
        (runs.len() * (SIM_DETECTORS.len() + 1)) as u64,
        "simulating",
    );
    let mut judged = vec![Judged::default(); SIM_DETECTORS.len()];
    for (shape, seed) in runs {
        progress.message(format!("{shape:?} seed {seed}: training"));
        let dirs = TrainedDirs::new()?;
        train_history(options, (shape, seed), &dirs)?;
        progress.step();
        for (i, (name, models, combine)) in SIM_DETECTORS.iter().enumerate() {
            progress.message(format!("{shape:?} seed {seed}: {name}"));
            let setting = (dirs.path(*models), *combine);
            let run = judge_setting(options, (shape, seed), setting)?;
            judged[i].outcomes.extend(run.outcomes);
            judged[i].minutes.add(&run.minutes);
            judged[i].incidents.add(&run.incidents);
            progress.step();
        }
    }
    progress.finish();
    let results: Vec<_> = SIM_DETECTORS
        .iter()
        .zip(&judged)
        .map(|((name, _, _), judged)| {
            serde_json::json!({
                "detector": name,
                "minutes": judged.minutes,
                "faults": judged.outcomes,
                "incidents": judged.incidents,
            })
        })
        .collect();
    let mut text = table(&judged);
    text += &incident_table(&judged);
    Ok(Report {
        name: "simulator".into(),
        text,
        json: serde_json::json!({"dataset": "simulator", "results": results}),
    })
}

fn incident_table(judged: &[Judged]) -> String {
    let mut out = String::from(
        "\nincidents: a fault is caught by an incident update in its window, has its own \
         incident when no earlier\nfault's is that one, and is ranked right when that first \
         update names its service first\n",
    );
    let _ = writeln!(
        out,
        "{:<26} {:>7} {:>7} {:>7} {:>11} {:>9}",
        "detector", "faults", "caught", "own", "ranked 1st", "false/h"
    );
    for ((name, _, _), judged) in SIM_DETECTORS.iter().zip(judged) {
        let counts = &judged.incidents;
        let _ = writeln!(
            out,
            "{name:<26} {:>7} {:>7} {:>7} {:>11} {:>9.2}",
            counts.faults,
            counts.caught,
            counts.own,
            counts.first_right,
            counts.false_incidents.per_hour()
        );
    }
    out
}

fn table(judged: &[Judged]) -> String {
    let mut out = String::new();
    out += "simulator: fleet minutes (any row flagged) against fault minutes; the model is \
            trained on the same\n";
    out += "fleet's fault-free history; delay = fault start to the end of its first flagged \
            minute\n";
    let _ = writeln!(
        out,
        "{:<18} {:>6} {:>6} {:>6} {:>9} {:>10}   per fault type: detected/faults, mean delay s",
        "detector", "P", "R", "F1", "false/h", "mean delay"
    );
    for ((name, _, _), judged) in SIM_DETECTORS.iter().zip(judged) {
        let (outcomes, counts) = (&judged.outcomes, &judged.minutes);
        let (precision, recall, f1) = counts.f1();
        let quiet_hours = (counts.false_positive + counts.true_negative) as f64 / 60.0;
        let delays: Vec<f64> = outcomes.iter().filter_map(|o| o.delay_to_row_s).collect();
        let mean_delay = delays.iter().sum::<f64>() / delays.len().max(1) as f64;
        let kinds: Vec<String> = detection::by_kind(outcomes)
            .into_iter()
            .map(|(kind, (n, found, delay))| {
                let delay = delay.map_or("-".into(), |d| format!("{d:.0}"));
                format!("{kind} {found}/{n} {delay}")
            })
            .collect();
        let _ = writeln!(
            out,
            "{name:<18} {precision:>6.3} {recall:>6.3} {f1:>6.3} {:>9.2} {:>9.0}s   {}",
            counts.false_positive as f64 / quiet_hours.max(1e-9),
            mean_delay,
            kinds.join(", ")
        );
    }
    out += "published (original design's claim, not a measurement): mean time to detect 45 s\n";
    out
}
