//! What a person sees while the engine works: the live status line of `aiops run` and its
//! summary at the end, and the progress bars of offline work (training, evaluations).

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aiops_engine::stats::{Snapshot, Stats};
use indicatif::{ProgressBar, ProgressStyle};

/// A running status line.
pub struct Console {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A bar counting `len` steps of offline work (files read, trees grown, epochs), labelled
/// `message`; hidden with `--quiet`.
pub fn counted_bar(quiet: bool, len: u64, message: &'static str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(message);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The progress of an evaluation as a bar on stderr (hidden with `--quiet`): a new bar per
/// stage the evaluation starts.
pub struct Bar {
    quiet: bool,
    bar: std::cell::RefCell<ProgressBar>,
}

impl Bar {
    /// A bar that shows nothing until the evaluation starts a stage.
    pub fn new(quiet: bool) -> Self {
        Bar {
            quiet,
            bar: std::cell::RefCell::new(ProgressBar::hidden()),
        }
    }
}

impl aiops_bench::progress::Progress for Bar {
    fn start(&self, total: u64, what: &str) {
        let bar = match self.quiet {
            true => ProgressBar::hidden(),
            false => ProgressBar::new(total).with_message(what.to_string()),
        };
        bar.set_style(
            ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len}, {elapsed} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.bar.replace(bar);
    }

    fn message(&self, text: String) {
        self.bar.borrow().set_message(text);
    }

    fn step(&self) {
        self.bar.borrow().inc(1);
    }

    fn finish(&self) {
        self.bar.borrow().finish_and_clear();
    }
}

fn format_time_ns(ns: u64) -> String {
    chrono::DateTime::from_timestamp((ns / 1_000_000_000) as i64, 0).map_or_else(
        || "-".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn status(now: &Snapshot, before: &Snapshot, seconds: f64) -> String {
    let rate = |a: u64, b: u64| (a - b) as f64 / seconds.max(1e-3);
    format!(
        "sim {} | {:>8.0} spans/s | {:>6.0} points/s | {:>6.0} logs/s | rows {} (closed to {}) | late {} | bad {}",
        if now.event_clock_ns == 0 {
            "-".to_string()
        } else {
            format_time_ns(now.event_clock_ns)
        },
        rate(now.spans, before.spans),
        rate(now.metric_points, before.metric_points),
        rate(now.log_records, before.log_records),
        now.rows,
        if now.closed_before_pane == 0 {
            "-".to_string()
        } else {
            format_time_ns(now.closed_before_pane * 60_000_000_000)
        },
        now.late_records,
        now.bad_messages + now.bad_records,
    )
}

/// A spinner for open-ended runs; for a bounded range of minutes (a backfill), a bar over
/// them with an ETA, advanced as windows close.
fn progress(minutes: Option<&Range<u64>>) -> ProgressBar {
    match minutes {
        None => {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        }
        Some(range) => {
            let bar = ProgressBar::new(range.end - range.start);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} minutes, eta {eta} | {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        }
    }
}

impl Console {
    /// Starts refreshing from `stats`; `quiet` shows nothing. With `minutes` (panes), a bar
    /// shows how many of them are closed.
    pub fn start(stats: Arc<Stats>, quiet: bool, minutes: Option<Range<u64>>) -> Console {
        let done = Arc::new(AtomicBool::new(false));
        if quiet {
            return Console { done, thread: None };
        }
        let flag = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let bar = progress(minutes.as_ref());
            crate::logs::status_line(Some(bar.clone()));
            let mut before = stats.snapshot();
            let mut last = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let now = stats.snapshot();
                bar.set_message(status(&now, &before, last.elapsed().as_secs_f64()));
                if let Some(range) = &minutes {
                    let closed = now.closed_before_pane.clamp(range.start, range.end);
                    bar.set_position(closed - range.start);
                }
                bar.tick();
                before = now;
                last = Instant::now();
            }
            crate::logs::status_line(None);
            bar.finish_and_clear();
        });
        Console {
            done,
            thread: Some(thread),
        }
    }

    /// Stops the status line.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where a run's output went, for the summary.
pub struct Outputs<'a> {
    /// The data directory (side outputs, Parquet).
    pub data_dir: &'a Path,
    /// Where feature rows went.
    pub rows: &'a str,
    /// Where operation rows went.
    pub operations: &'a str,
    /// Where dead letters went.
    pub dead_letters: String,
    /// Whether the input was simulated (there is a ground truth file).
    pub simulation: bool,
}

/// Prints the end-of-run summary: counts, where things went, throughput and how long closed
/// windows took to become durable.
pub fn print_summary(stats: &Stats, elapsed: Duration, outputs: &Outputs<'_>) {
    let totals = stats.snapshot();
    let (data_dir, destination) = (outputs.data_dir, outputs.rows);
    println!("summary");
    println!("  records read        {:>12}", totals.messages);
    println!("  spans               {:>12}", totals.spans);
    println!("  metric points       {:>12}", totals.metric_points);
    println!("  log records         {:>12}", totals.log_records);
    if totals.unmapped_points > 0 {
        let unmapped = totals.unmapped_points;
        println!("  unmapped points     {unmapped:>12}  (of metrics no feature reads)");
    }
    if totals.receiver_requests > 0 {
        let (requests, refused) = (totals.receiver_requests, totals.receiver_refused);
        println!(
            "  receiver requests   {requests:>12}  ({refused} refused: job behind or stopping)"
        );
    }
    if totals.other_environments > 0 {
        let other = totals.other_environments;
        println!("  other environments  {other:>12}  (records skipped, [identity] environments)");
    }
    let files = match totals.files {
        0 => String::new(),
        n => format!(" ({n} Parquet files)"),
    };
    let load =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    let (written, expired) = (load(&stats.rows_written), load(&stats.rows_expired));
    println!("  feature rows        {written:>12}  written to {destination}{files}");
    let operations = load(&stats.operation_rows);
    println!(
        "  operation rows      {operations:>12}  to {}",
        outputs.operations
    );
    if expired > 0 {
        println!(
            "  expired rows        {expired:>12}  (before the retention horizon: not written)"
        );
    }
    let skipped = totals.rows.saturating_sub(written + expired);
    if skipped > 0 {
        println!(
            "  rows not written    {skipped:>12}  (already stored, outside the range, or failed)"
        );
    }
    println!(
        "  late records        {:>12}{}",
        totals.late_records,
        if totals.late_records > 0 {
            format!("  (see {})", data_dir.join("late").display())
        } else {
            String::new()
        }
    );
    let duplicates = stats.duplicates.load(std::sync::atomic::Ordering::Relaxed);
    if duplicates > 0 {
        println!("  duplicate records   {duplicates:>12}  (exact copies, dropped)");
    }
    let bad = totals.bad_messages + totals.bad_records;
    println!(
        "  bad input           {:>12}{}",
        bad,
        if bad > 0 {
            format!("  (see {})", outputs.dead_letters)
        } else {
            String::new()
        }
    );
    let count =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    let incidents = count(&stats.incidents);
    println!(
        "  incident updates    {incidents:>12}{}",
        match incidents {
            0 => String::new(),
            _ => format!("  (see {})", data_dir.join("incidents").display()),
        }
    );
    let (unpaired, overflow) = (count(&stats.unpaired_spans), count(&stats.overflow_calls));
    if unpaired + overflow > 0 {
        println!(
            "  unpaired spans      {unpaired:>12}  (parent never arrived within the pairing wait)"
        );
    }
    if overflow > 0 {
        println!("  overflow calls      {overflow:>12}  (beyond graph.max_edges_per_minute, counted on __overflow__)");
    }
    let (versions, load_errors) = (stats.model_versions(), count(&stats.model_load_errors));
    if !versions.is_empty() || load_errors > 0 {
        let models: Vec<String> = versions
            .iter()
            .map(|(kind, v)| format!("{kind} v{v}"))
            .collect();
        let drift = stats
            .max_drift()
            .map(|(input, psi)| format!(", largest input PSI {psi:.3} ({input})"))
            .unwrap_or_default();
        let errors = match load_errors {
            0 => String::new(),
            n => format!(", {n} versions failed to load"),
        };
        println!("  models              {}{drift}{errors}", models.join(", "));
    }
    if totals.event_clock_ns > 0 {
        println!(
            "  event time reached  {:>20}",
            format_time_ns(totals.event_clock_ns)
        );
    }
    if outputs.simulation {
        println!(
            "  ground truth        {}",
            data_dir.join("ground_truth.csv").display()
        );
    }
    let seconds = elapsed.as_secs_f64().max(1e-3);
    println!(
        "  elapsed             {seconds:>12.1} s  ({:.0} spans/s, {:.0} records/s)",
        totals.spans as f64 / seconds,
        totals.messages as f64 / seconds
    );
    let latency = &stats.commit_latency;
    if let (Some(p50), Some(p99)) = (latency.quantile_bound(0.5), latency.quantile_bound(0.99)) {
        println!(
            "  window close->commit p50 <= {p50} s, p99 <= {p99} s  ({} windows; histogram bucket bounds)",
            latency.read().1
        );
    }
}
