//! `aiops eval rca`: root-cause ranking quality, AC@1/3/5 and Avg@5 per method, beside the
//! published figures.
//!
//! How a fault is judged: on the simulator, the first incident raised within the fault's
//! first 5 minutes (no incident: a miss), i.e. what an operator would have seen live; on
//! nezha-trainticket, RCA is triggered at the minute after the labelled injection minute (the
//! published protocol assumes the fault time is known), or with `live` as on the simulator.
//! Judged live, the report adds each fault type's detection delay and the incidents opened
//! away from every fault (false incidents per quiet hour), and judges the same incidents
//! again by their root cause a minute after the first update (a revised alert). The job runs unchanged (decode →
//! features → graph → detection → RCA) on a data directory; every method's top 5 is read from
//! the incidents it wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aiops_engine::config::{FaultKind, JobConfig, Shape};
use aiops_engine::job::offline::{gnn_training_runs, run_into, simulated_incidents, simulation};
use aiops_engine::job::{self, JobOptions};
use aiops_engine::score::incidents::RankingInput;
use aiops_engine::score::Incident;
use aiops_engine::sink::read_json_lines;
use aiops_engine::source::Source;
use aiops_models::rca::gnn::GnnConfig;
use aiops_models::rca::METHODS;

use super::{run_dir, simulator_runs, Report};
use crate::cross_validation;
use crate::datasets::nezha::{self, NezhaSource};
use crate::datasets::Published;
use crate::datasets::{simulator, Case};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scoring::accuracy::{self, FalseIncidents, Outcome, Pick};
use crate::scoring::detection;

/// Datasets `aiops eval rca` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcaDataset {
    /// The built-in simulator: every fault type, several seeds and both topologies.
    Simulator,
    /// Nezha's TrainTicket traces, metrics and logs with 45 labelled faults.
    NezhaTrainticket,
}

/// What an RCA evaluation runs.
#[derive(Debug, Clone)]
pub struct RcaOptions {
    /// The dataset.
    pub dataset: RcaDataset,
    /// Folder of the public datasets.
    pub data_root: PathBuf,
    /// Also rank with the GNN of this model directory.
    pub models: Option<PathBuf>,
    /// nezha-trainticket: also judge a GNN by K-fold cross-validation on the dataset's own
    /// faults.
    pub cross_validate: Option<usize>,
    /// With `cross_validate`: the labelled incidents of N simulator seeds per topology added
    /// to every fold's training set.
    pub cv_simulate: u64,
    /// With `cross_validate`: training passes per fold.
    pub cv_epochs: usize,
    /// Drop the spans and logs: metrics-only operation.
    pub metrics_only: bool,
    /// Drop the log records: traces and metrics.
    pub without_logs: bool,
    /// nezha-trainticket: judge the incidents the detector raised by itself (the first within
    /// 5 minutes of each fault), not rankings triggered at the known fault time.
    pub live: bool,
    /// Simulator: seeds per topology.
    pub seeds: u64,
    /// Simulator: simulated hours per run.
    pub hours: u64,
    /// Simulator: services per topology.
    pub services: usize,
    /// Simulator: the fault kinds the schedule rotates through (default: the simulator's).
    pub fault_kinds: Option<Vec<FaultKind>>,
    /// Keep each run's output under this directory.
    pub keep: Option<PathBuf>,
}

impl RcaOptions {
    /// The methods judged: the built-in ones, the GNN with `models`, the cross-validated GNN.
    fn methods(&self) -> Vec<String> {
        let mut methods: Vec<String> = METHODS.iter().map(|m| m.to_string()).collect();
        if self.models.is_some() {
            methods.push("gnn".into());
        }
        if let Some(folds) = self.cross_validate {
            methods.push(cross_validated(folds));
        }
        methods
    }

    /// The signals the job reads: all three, traces and metrics, or metrics alone.
    fn use_signals(&self, config: &mut JobConfig) {
        config.source.traces = !self.metrics_only;
        config.source.logs = !self.metrics_only && !self.without_logs;
    }

    fn use_models(&self, config: &mut JobConfig) {
        if let Some(dir) = &self.models {
            config.models.dir = Some(dir.clone());
        }
    }
}

/// Runs the evaluation.
pub fn run(options: &RcaOptions, progress: &dyn Progress) -> Result<Report> {
    if options.cross_validate.is_some() && options.dataset != RcaDataset::NezhaTrainticket {
        return Err(Error::Config(
            "--cross-validate needs a dataset with its own labelled faults (nezha-trainticket); \
             on the simulator, train on other seeds with `aiops train --model gnn --simulate N`"
                .into(),
        ));
    }
    let (dataset, (outcomes, revised, quiet)) = match options.dataset {
        RcaDataset::Simulator => ("simulator", simulator_outcomes(options, progress)?),
        RcaDataset::NezhaTrainticket => ("nezha-trainticket", nezha_outcomes(options, progress)?),
    };
    // Published figures are for traces + metrics (+ logs); none apply to our simulator.
    let published: &[Published] = match (options.dataset, options.metrics_only) {
        (RcaDataset::NezhaTrainticket, false) => &nezha::PUBLISHED,
        _ => &[],
    };
    let mut name = match (options.metrics_only, options.without_logs) {
        (true, _) => format!("{dataset}-metrics-only"),
        (false, true) => format!("{dataset}-without-logs"),
        (false, false) => dataset.to_string(),
    };
    if options.live && options.dataset == RcaDataset::NezhaTrainticket {
        name += "-live";
    }
    let methods = options.methods();
    let mut tables = accuracy::tables(&name, &outcomes, &as_strs(&methods), published);
    if options.dataset == RcaDataset::NezhaTrainticket {
        tables.extend(accuracy::day_tables(&name, &outcomes, &as_strs(&methods)));
    }
    let mut text = String::new();
    for table in &tables {
        let _ = writeln!(text, "{}", table.render());
    }
    text += &detection_line(&outcomes);
    if let Some(quiet) = &quiet {
        text += &live_lines(&outcomes, quiet);
    }
    let revised_tables = revised.as_ref().map(|revised| {
        let name = format!("{name}-revised-{REVISED_AFTER}m");
        accuracy::tables(&name, revised, &as_strs(&methods), published)
    });
    if let (Some(tables), Some(revised)) = (&revised_tables, &revised) {
        let _ = writeln!(
            text,
            "\nThe same incidents judged by their root cause {REVISED_AFTER} minute after the \
             first update (what a revised alert says):\n"
        );
        for table in tables.iter().take(1) {
            let _ = writeln!(text, "{}", table.render());
        }
        text += &detection_line(revised);
    }
    let json = serde_json::json!({
        "dataset": name, "tables": tables, "outcomes": outcomes, "false_incidents": quiet,
        "revised_tables": revised_tables, "revised_outcomes": revised,
    });
    Ok(Report { name, text, json })
}

fn detection_line(outcomes: &[Outcome]) -> String {
    let delays: Vec<i64> = outcomes.iter().filter_map(|o| o.delay_minutes).collect();
    let mean = delays.iter().sum::<i64>() as f64 / delays.len().max(1) as f64;
    format!(
        "incidents found for {} of {} faults; mean minutes from the fault's minute to the \
         ranking used: {mean:.2}\n",
        delays.len(),
        outcomes.len()
    )
}

/// The live protocol's report: each fault type's detection delay, and the false incidents.
fn live_lines(outcomes: &[Outcome], quiet: &FalseIncidents) -> String {
    let mut types: BTreeMap<&str, (Vec<i64>, usize)> = BTreeMap::new();
    for outcome in outcomes {
        let (delays, cases) = types.entry(outcome.case.fault.as_str()).or_default();
        delays.extend(outcome.delay_minutes);
        *cases += 1;
    }
    let mut text = String::from(
        "detection delay per fault type (minutes from the fault's minute \
        to its first incident; detected of all):",
    );
    for (fault, (delays, cases)) in &types {
        let mean = delays.iter().sum::<i64>() as f64 / delays.len().max(1) as f64;
        let _ = write!(text, " {fault} {mean:.2} ({} of {cases});", delays.len());
    }
    text.pop();
    let _ = writeln!(
        text,
        "\nfalse incidents: {} opened in {:.1} hours without a fault (nor {} minutes after one's \
         window): {:.2} per hour",
        quiet.count,
        quiet.quiet_minutes as f64 / 60.0,
        accuracy::RECOVERY_MINUTES,
        quiet.per_hour()
    );
    text
}

/// What one run of the job left for judging.
struct Run {
    incidents: Vec<Incident>,
    /// Ranking inputs, when `rca.record_inputs` asked for them.
    inputs: Vec<RankingInput>,
    /// Minutes with feature rows (microseconds): the stream the detector watched.
    minutes: BTreeSet<i64>,
}

/// Runs `options` into `keep/<name>` or a temporary directory and reads what it left.
fn incidents_of(options: JobOptions, keep: Option<&Path>, name: &str) -> Result<Run> {
    // A temporary directory is deleted when `_temporary` drops, at the end of this function.
    let (dir, _temporary) = run_dir(keep, name)?;
    let recorded = options.config.rca.record_inputs;
    run_into(options, &dir)?;
    let inputs = match recorded {
        true => read_json_lines(&dir.join("rca_inputs"))?,
        false => Vec::new(),
    };
    Ok(Run {
        incidents: read_json_lines(&dir.join("incidents"))?,
        inputs,
        minutes: detection::read_flags(&dir)?.minutes,
    })
}

fn as_strs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

/// Simulated hours per run of the incidents `cv_simulate` adds (`aiops train`'s default).
const GNN_TRAINING_HOURS: u64 = 3;

/// The method name of the cross-validated GNN.
fn cross_validated(folds: usize) -> String {
    format!("gnn ({folds}-fold)")
}

/// The labelled incidents `aiops train --model gnn --simulate seeds` trains on.
fn simulated(
    seeds: u64,
    progress: &dyn Progress,
) -> Result<Vec<aiops_models::rca::gnn::LabelledIncident>> {
    let runs = gnn_training_runs(seeds);
    progress.start(runs.len() as u64, "simulating");
    let mut incidents = Vec::new();
    for (shape, seed) in runs {
        progress.message(format!("simulating {shape:?} seed {seed}"));
        let (dir, _temporary) = run_dir(None, "")?;
        incidents.extend(simulated_incidents(
            (shape, seed),
            GNN_TRAINING_HOURS,
            &dir,
        )?);
        progress.step();
    }
    progress.finish();
    Ok(incidents)
}

/// Ranks of each case's service by the cross-validated GNN (see [`cross_validation`]),
/// judged on the same update as the other methods.
fn cross_validate(
    options: &RcaOptions,
    folds: usize,
    (cases, inputs): (&[Case], &[RankingInput]),
    depth: usize,
    progress: &dyn Progress,
) -> Result<Vec<Option<usize>>> {
    let extra = match options.cv_simulate {
        0 => Vec::new(),
        seeds => simulated(seeds, progress)?,
    };
    let chosen = cross_validation::inputs_of(cases, inputs, NEZHA_RANKING_MINUTE);
    progress.start(folds as u64, "cross-validating");
    progress.message(format!("cross-validating the gnn over {folds} folds"));
    let config = GnnConfig {
        epochs: options.cv_epochs,
        ..GnnConfig::default()
    };
    let ranks =
        cross_validation::cross_validated_ranks(cases, &chosen, folds, &extra, &config, |_, _| {
            progress.step()
        })?;
    progress.finish();
    // As deep as the other methods' rankings go (the incidents keep their top `depth`), so
    // the outcomes of every method mean the same.
    Ok(ranks
        .into_iter()
        .map(|rank| rank.filter(|r| *r <= depth))
        .collect())
}

/// Per-case outcomes and, when the detector raised the incidents itself, its false ones.
/// Outcomes as judged, as judged a minute later (live only), and the false incidents (live).
type Judged = (Vec<Outcome>, Option<Vec<Outcome>>, Option<FalseIncidents>);

/// Live, the root cause is also judged as it stood this many minutes after the first update:
/// what a revised alert says (the job re-ranks every minute and the notifier replaces an alert
/// whose root cause changed).
const REVISED_AFTER: i64 = 1;

fn simulator_outcomes(options: &RcaOptions, progress: &dyn Progress) -> Result<Judged> {
    let runs: Vec<(Shape, u64)> = simulator_runs(options.seeds);
    progress.start(runs.len() as u64, "simulating");
    let (mut outcomes, mut revised) = (Vec::new(), Vec::new());
    let mut quiet = FalseIncidents::default();
    for (shape, seed) in runs {
        progress.message(format!("{shape:?} seed {seed}"));
        let start = "2026-01-05T08:00:00Z";
        let mut config = simulation(shape, seed, options.services, start, options.hours)?;
        options.use_signals(&mut config);
        options.use_models(&mut config);
        if let Some(kinds) = &options.fault_kinds {
            config.simulator.fault_kinds.clone_from(kinds);
        }
        let cases: Vec<Case> = simulator::cases(&job::simulator(&config, 0)?);
        let duration = config.simulator.fault_duration_minutes as i64;
        let name = format!("{shape:?}-seed{seed}").to_lowercase();
        let job = JobOptions::new(config, "eval");
        let run = incidents_of(job, options.keep.as_deref(), &name)?;
        let methods = options.methods();
        let judge = |pick| accuracy::judge(&cases, &run.incidents, &as_strs(&methods), pick);
        outcomes.extend(judge(Pick::FirstWithin(duration)));
        let after = REVISED_AFTER;
        revised.extend(judge(Pick::Revised {
            window: duration,
            after,
        }));
        quiet.add(FalseIncidents::of(
            &cases,
            &run.incidents,
            &run.minutes,
            duration,
        ));
        progress.step();
    }
    progress.finish();
    Ok((outcomes, Some(revised), Some(quiet)))
}

/// Nezha is judged by the ranking of the minute after the fault's (the published protocol).
const NEZHA_RANKING_MINUTE: i64 = 1;
/// Live on Nezha: the first incident within this many minutes of the fault's minute, the
/// simulator's window (its faults last 5 minutes; Nezha states no duration).
const NEZHA_LIVE_WINDOW: i64 = 5;

fn nezha_outcomes(options: &RcaOptions, progress: &dyn Progress) -> Result<Judged> {
    let root = options.data_root.join("nezha-trainticket");
    let cases = nezha::fault_cases(&root).map_err(|e| {
        Error::Data(format!(
            "reading the Nezha fault lists under {} (see --data-root): {e}",
            root.display()
        ))
    })?;
    let triggers: BTreeSet<u64> = match options.live {
        true => BTreeSet::new(),
        false => cases
            .iter()
            .map(|c| (c.start_minute_us() / 60_000_000) as u64 + 1)
            .collect(),
    };
    let mut config = JobConfig::load(None, Vec::new())?;
    options.use_signals(&mut config);
    options.use_models(&mut config);
    // A trace file holds a minute of spans in no order, and metric rows lag their minute.
    config.watermark.max_out_of_orderness_ms = 120_000;
    config.rca.record_inputs = options.cross_validate.is_some();
    let depth = config.rca.top_k;
    let replay = root.clone();
    let factory = Arc::new(move |index: usize, _peers: usize| {
        Ok(Box::new(NezhaSource::open(&replay, index)?) as Box<dyn Source>)
    });
    let job = JobOptions::new(config, "eval")
        .triggered_at(triggers)
        .with_source(factory);
    progress.start(1, "replaying");
    progress.message("replaying nezha-trainticket".into());
    let keep = options.keep.as_deref();
    let run = incidents_of(job, keep, "nezha-trainticket")?;
    progress.finish();
    let methods = options.methods();
    let pick = match options.live {
        true => Pick::FirstWithin(NEZHA_LIVE_WINDOW),
        false => Pick::At(NEZHA_RANKING_MINUTE),
    };
    let mut outcomes = accuracy::judge(&cases, &run.incidents, &as_strs(&methods), pick);
    let revised = options.live.then(|| {
        let pick = Pick::Revised {
            window: NEZHA_LIVE_WINDOW,
            after: REVISED_AFTER,
        };
        accuracy::judge(&cases, &run.incidents, &as_strs(&methods), pick)
    });
    if let Some(folds) = options.cross_validate {
        let ranks = cross_validate(options, folds, (&cases, &run.inputs), depth, progress)?;
        for (outcome, rank) in outcomes.iter_mut().zip(ranks) {
            outcome.ranks.insert(cross_validated(folds), rank);
        }
    }
    let quiet = options
        .live
        .then(|| FalseIncidents::of(&cases, &run.incidents, &run.minutes, NEZHA_LIVE_WINDOW));
    Ok((outcomes, revised, quiet))
}
