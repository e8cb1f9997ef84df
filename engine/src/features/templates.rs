//! Log templates: a Drain-style miner that turns log lines into a bounded set of templates
//! per service, deterministically.
//!
//! Drain (He et al., ICWS 2017) masks variable tokens, groups lines by token count and first
//! token, and merges a line into the most similar template of its group when enough tokens
//! agree, turning the differing positions into wildcards. Run line by line, the result depends
//! on arrival order, which differs between an undisturbed run and a restarted one (and between
//! Kafka partitions). So this miner runs once per (service, minute) over the minute's distinct
//! masked lines in sorted order: its state is a function of the minutes it has seen, which is
//! what lets a restarted job continue from a stored [`ServiceTemplates`] and write the rows an
//! undisturbed run would have written.
//!
//! Constants, each a stated rule, not fitted to a dataset: a token with a digit is a variable
//! (Drain's masking of numbers, ids, addresses, durations); at most [`MAX_TOKENS`] tokens are
//! read; similarity threshold 0.4 (Drain3's default); [`MAX_TEMPLATES`] per service, then the
//! least recently seen template idle for an hour is replaced, and otherwise lines go to an
//! overflow bucket, counted; a service's first [`WARMUP_PANES`] minutes flag no template new
//! (everything is new at first); baselines are 15-minute exponential averages.

use serde::{Deserialize, Serialize};

use crate::time::Pane;

/// The wildcard a variable token becomes.
pub const WILDCARD: &str = "<*>";
/// Tokens of a line that are read.
pub const MAX_TOKENS: usize = 32;
/// Drain's similarity threshold: the share of a template's constant tokens a line must equal.
const SIMILARITY: f64 = 0.4;
/// Templates kept per service.
pub const MAX_TEMPLATES: usize = 128;
/// A template not seen for this many minutes may be replaced when a service is at its cap.
const IDLE_PANES: Pane = 60;
/// Minutes after a service's first log line during which no template counts as new.
pub const WARMUP_PANES: Pane = 10;
/// Minutes of the exponential average a template's expected count follows.
const BASELINE_PANES: f64 = 15.0;
/// The share of a template's expected count that is noise in [`mix_shift`].
const RELATIVE_SPREAD: f64 = 0.1;
/// Templates (and calls, see `structure`) reported as moved per (service, minute).
pub(super) const MOVED_KEPT: usize = 3;
/// A template has moved when its count is this many Poisson standard deviations from its
/// baseline, `(n - e) / sqrt(e + 1)`: chance gives a move of 3 about once in a few hundred
/// template-minutes, so what is reported is mostly real.
pub(super) const MOVED_SCORE: f64 = 3.0;

/// Writes `body` masked into `out`: its first [`MAX_TOKENS`] whitespace-separated tokens,
/// those with a digit replaced by [`WILDCARD`], joined by single spaces. A record's code
/// location (`code`, one token) comes first, unmasked: lines of different statements then
/// never share a template, since Drain groups lines by their first token, and a statement that
/// stops being reached shows as its own template vanishing.
pub fn mask(code: Option<&str>, body: &str, out: &mut String) {
    out.clear();
    if let Some(code) = code {
        out.push_str(code);
    }
    for token in body.split_ascii_whitespace().take(MAX_TOKENS) {
        if !out.is_empty() {
            out.push(' ');
        }
        if token.bytes().any(|b| b.is_ascii_digit()) {
            out.push_str(WILDCARD);
        } else {
            out.push_str(token);
        }
    }
}

/// One template of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Tokens, variables as [`WILDCARD`].
    pub tokens: Vec<String>,
    /// Minute the template was created.
    pub first_pane: Pane,
    /// Last minute a line matched it.
    pub last_pane: Pane,
    /// Expected lines per minute: an exponential average, updated every minute the service
    /// logged (the minutes between decay it).
    pub expected: f64,
}

impl Template {
    /// The template as text.
    pub fn text(&self) -> String {
        self.tokens.join(" ")
    }

    /// Drain's similarity: equal constant tokens over the length; `None` across lengths.
    fn similarity(&self, tokens: &[&str]) -> Option<f64> {
        if self.tokens.len() != tokens.len() {
            return None;
        }
        let equal = self
            .tokens
            .iter()
            .zip(tokens)
            .filter(|(t, l)| t.as_str() != WILDCARD && t == *l)
            .count();
        Some(equal as f64 / tokens.len().max(1) as f64)
    }

    /// Turns the positions where `tokens` differ into wildcards.
    fn generalize(&mut self, tokens: &[&str]) {
        for (mine, theirs) in self.tokens.iter_mut().zip(tokens) {
            if mine != theirs {
                *mine = WILDCARD.to_string();
            }
        }
    }
}

/// A template whose count moved against its baseline in one minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovedTemplate {
    /// The template.
    pub template: String,
    /// Lines this minute.
    pub count: u64,
    /// Lines expected from its baseline.
    pub expected: f64,
}

impl MovedTemplate {
    /// How a person reads it: `"template" (n lines, e expected)`.
    pub fn describe(&self) -> String {
        format!(
            "\"{}\" ({} lines, {:.1} expected)",
            self.template, self.count, self.expected
        )
    }
}

/// What mining one (service, minute) found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinedPane {
    /// Lines that matched a template created this minute, after the service's warm-up.
    pub new_template_lines: u64,
    /// Lines that went to the overflow bucket (the service is at its template cap).
    pub overflow_lines: u64,
    /// The templates whose counts moved most (new, grown, shrunk or vanished), largest first.
    pub moved: Vec<MovedTemplate>,
    /// How far the minute's mix of templates moved: see [`mix_shift`]; 0 in the warm-up.
    pub shift: f64,
}

/// The templates of one service: the miner's whole state for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceTemplates {
    /// The service's first minute with logs.
    pub first_pane: Pane,
    /// Its last minute with logs.
    pub last_pane: Pane,
    /// Templates in creation order.
    pub templates: Vec<Template>,
}

impl ServiceTemplates {
    /// Mines one minute: `lines` are the minute's distinct masked lines with their counts,
    /// sorted by line. Must be called for minutes in increasing order.
    pub fn mine(&mut self, pane: Pane, lines: &[(String, u64)]) -> MinedPane {
        if self.templates.is_empty() && self.last_pane == 0 {
            self.first_pane = pane;
        }
        let warm = pane >= self.first_pane + WARMUP_PANES;
        let mut counts = vec![0u64; self.templates.len()];
        let mut mined = MinedPane::default();
        for (line, count) in lines {
            let tokens: Vec<&str> = line.split(' ').collect();
            match self.place(&tokens, pane) {
                Some(index) => {
                    counts.resize(self.templates.len(), 0);
                    counts[index] += count;
                    if warm && self.templates[index].first_pane == pane {
                        mined.new_template_lines += count;
                    }
                }
                None => mined.overflow_lines += count,
            }
        }
        if warm {
            mined.shift = mix_shift(self.expected_now(pane), &counts);
        }
        mined.moved = self.update_baselines(pane, &counts, warm);
        self.last_pane = pane;
        mined
    }

    /// The template a line belongs to, created or generalized as Drain would; `None` when the
    /// service is at its cap and no idle template can make room.
    fn place(&mut self, tokens: &[&str], pane: Pane) -> Option<usize> {
        let best = self
            .templates
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                t.tokens.first().map(String::as_str) == tokens.first().copied()
                    || first_is_variable(t)
            })
            .filter_map(|(i, t)| t.similarity(tokens).map(|s| (i, s)))
            .filter(|(_, s)| *s >= SIMILARITY)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        if let Some((index, _)) = best {
            // Seen now: a template matched this minute is never the idle one replaced below.
            self.templates[index].generalize(tokens);
            self.templates[index].last_pane = pane;
            return Some(index);
        }
        let template = Template {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            first_pane: pane,
            last_pane: pane,
            expected: 0.0,
        };
        if self.templates.len() < MAX_TEMPLATES {
            self.templates.push(template);
            return Some(self.templates.len() - 1);
        }
        let idle = self
            .templates
            .iter()
            .enumerate()
            .filter(|(_, t)| t.last_pane + IDLE_PANES <= pane)
            .min_by_key(|(i, t)| (t.last_pane, *i))
            .map(|(i, _)| i)?;
        self.templates[idle] = template;
        Some(idle)
    }

    /// Each template's expected count for `pane`, before this minute's lines: decayed over the
    /// minutes the service was silent (as [`Self::update_baselines`] decays them).
    fn expected_now(&self, pane: Pane) -> impl Iterator<Item = f64> + '_ {
        let decay = self.decay(pane);
        self.templates
            .iter()
            .map(move |t| match t.first_pane == pane {
                true => 0.0,
                false => t.expected * decay,
            })
    }

    /// The factor a baseline decays by over the silent minutes before `pane`.
    fn decay(&self, pane: Pane) -> f64 {
        let silent = pane.saturating_sub(self.last_pane + 1).min(i32::MAX as u64) as i32;
        (1.0 - 1.0 / BASELINE_PANES).powi(silent)
    }

    /// Updates every template's expected count with this minute's `counts` and returns the
    /// [`MOVED_KEPT`] largest moves, scored as a Poisson deviation `(n - e) / sqrt(e + 1)`;
    /// none while the service is in its warm-up (`warm` false).
    fn update_baselines(&mut self, pane: Pane, counts: &[u64], warm: bool) -> Vec<MovedTemplate> {
        let mut moved: Vec<(f64, MovedTemplate)> = Vec::new();
        let decay = self.decay(pane);
        for (template, &count) in self.templates.iter_mut().zip(counts) {
            // In the service's warm-up a template's baseline starts at its first count, so the
            // lines it always writes do not show as moved while their average builds up.
            let expected = match !warm && template.first_pane == pane {
                true => count as f64,
                false => template.expected * decay,
            };
            let score = (count as f64 - expected) / (expected + 1.0).sqrt();
            if warm && score.abs() >= MOVED_SCORE {
                moved.push((
                    score,
                    MovedTemplate {
                        template: template.text(),
                        count,
                        expected,
                    },
                ));
            }
            template.expected = expected + (count as f64 - expected) / BASELINE_PANES;
            if count > 0 {
                template.last_pane = pane;
            }
        }
        moved.sort_by(|a, b| {
            b.0.abs()
                .total_cmp(&a.0.abs())
                .then(a.1.template.cmp(&b.1.template))
        });
        moved.into_iter().take(MOVED_KEPT).map(|(_, m)| m).collect()
    }
}

/// How far a minute's mix of templates moved from the service's baseline: the largest
/// deviation `(n - e) / sqrt(e + 1 + (e / 10)²)` of a template's count `n` from its expected
/// count scaled to the minute's lines, `e = expected × lines / Σ expected` (a template new this
/// minute expects 0). Scaling by the minute's own lines makes a change in load, which moves
/// every template alike, no shift; what shifts is a log statement that stops being reached (an
/// exception skips it), starts being reached, or changes its share (a method returning
/// something else takes another branch). The spread is Poisson's, widened by a tenth of the
/// expected count (the relative floor every scored feature has): a busy service's mix varies
/// with its requests' mix by more than chance, and a tenth more of a busy line is noise. 0
/// without a baseline.
pub fn mix_shift(expected: impl Iterator<Item = f64>, counts: &[u64]) -> f64 {
    let expected: Vec<f64> = expected.collect();
    let total_expected: f64 = expected.iter().sum();
    let lines: u64 = counts.iter().sum();
    if total_expected <= 0.0 || lines == 0 {
        return 0.0;
    }
    let scale = lines as f64 / total_expected;
    expected
        .iter()
        .zip(counts)
        .map(|(e, &n)| widened_deviation(n as f64, e * scale))
        .fold(0.0, f64::max)
}

/// How far a count `n` is from its expected count `e`, in spreads: `|n - e| / sqrt(e + 1 +
/// (e / 10)²)`, Poisson's spread widened by a tenth of the expected count (see [`mix_shift`]).
pub(super) fn widened_deviation(n: f64, e: f64) -> f64 {
    let spread = (e + 1.0 + (RELATIVE_SPREAD * e).powi(2)).sqrt();
    (n - e).abs() / spread
}

fn first_is_variable(template: &Template) -> bool {
    template.tokens.first().is_some_and(|t| t == WILDCARD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(body: &str) -> String {
        let mut out = String::new();
        mask(None, body, &mut out);
        out
    }

    fn minute(lines: &[(&str, u64)]) -> Vec<(String, u64)> {
        let mut lines: Vec<(String, u64)> = lines.iter().map(|(l, c)| (masked(l), *c)).collect();
        lines.sort();
        lines
    }

    #[test]
    fn masking_replaces_tokens_with_digits_and_collapses_spaces() {
        assert_eq!(
            masked("GET  /cart/42 took 12ms\tfor user alice"),
            "GET <*> took <*> for user alice"
        );
        assert_eq!(masked(""), "");
        let long = "word ".repeat(100);
        assert_eq!(masked(&long).split(' ').count(), MAX_TOKENS);
    }

    #[test]
    fn similar_lines_merge_into_one_template_with_wildcards() {
        let mut miner = ServiceTemplates::default();
        let mined = miner.mine(
            100,
            &minute(&[
                ("user alice logged in from web", 3),
                ("user bob logged in from web", 2),
                ("payment declined by bank", 1),
            ]),
        );
        let texts: Vec<String> = miner.templates.iter().map(Template::text).collect();
        assert_eq!(
            texts,
            ["payment declined by bank", "user <*> logged in from web"]
        );
        assert_eq!(miner.templates[1].first_pane, 100);
        assert_eq!(
            mined.new_template_lines, 0,
            "a service's first minutes flag nothing new"
        );
    }

    #[test]
    fn a_template_first_seen_after_warmup_counts_as_new_then_not() {
        let mut miner = ServiceTemplates::default();
        for pane in 0..WARMUP_PANES {
            miner.mine(1000 + pane, &minute(&[("request served in 5 ms", 50)]));
        }
        let pane = 1000 + WARMUP_PANES;
        let mined = miner.mine(
            pane,
            &minute(&[
                ("request served in 7 ms", 50),
                ("NullPointerException at Cart.add", 4),
            ]),
        );
        assert_eq!(mined.new_template_lines, 4);
        let steady = mined
            .moved
            .iter()
            .any(|m| m.template == "request served in <*> ms");
        assert!(
            !steady,
            "a line written since warm-up is not moved: {:?}",
            mined.moved
        );
        let new = mined
            .moved
            .iter()
            .find(|m| m.template == "NullPointerException at Cart.add");
        assert!(
            new.is_some_and(|m| m.count == 4 && m.expected == 0.0),
            "{:?}",
            mined.moved
        );
        let again = miner.mine(
            pane + 1,
            &minute(&[("NullPointerException at Cart.add", 4)]),
        );
        assert_eq!(again.new_template_lines, 0);
        let vanished = again
            .moved
            .iter()
            .find(|m| m.template == "request served in <*> ms");
        assert!(
            vanished.is_some_and(|m| m.count == 0 && m.expected > 10.0),
            "{:?}",
            again.moved
        );
    }

    #[test]
    fn the_cap_sends_lines_to_overflow_until_an_idle_template_can_be_replaced() {
        let mut miner = ServiceTemplates::default();
        let distinct: Vec<(String, u64)> = (0..MAX_TEMPLATES + 5)
            .map(|i| (format!("{} happened today", "x".repeat(i + 1)), 1))
            .collect();
        let mut sorted = distinct.clone();
        sorted.sort();
        let mined = miner.mine(5, &sorted);
        assert_eq!(miner.templates.len(), MAX_TEMPLATES);
        assert_eq!(mined.overflow_lines, 5);
        let late = miner.mine(5 + IDLE_PANES, &minute(&[("brand new line", 1)]));
        assert_eq!(late.overflow_lines, 0);
        assert!(miner.templates.iter().any(|t| t.text() == "brand new line"));
        assert_eq!(miner.templates.len(), MAX_TEMPLATES);
    }

    #[test]
    fn mining_is_a_function_of_the_minutes_so_a_restored_state_continues_identically() {
        let minutes: Vec<Vec<(String, u64)>> = (0..30)
            .map(|m| {
                minute(&[
                    ("GET /cart/1 200", 10 + m),
                    ("cache miss for key alpha", 1 + m % 3),
                    (
                        if m > 20 {
                            "timeout calling payment"
                        } else {
                            "all good"
                        },
                        2,
                    ),
                ])
            })
            .collect();
        let mut whole = ServiceTemplates::default();
        let straight: Vec<MinedPane> = minutes
            .iter()
            .enumerate()
            .map(|(m, l)| whole.mine(m as Pane + 1, l))
            .collect();
        let mut first = ServiceTemplates::default();
        for (m, lines) in minutes.iter().enumerate().take(12) {
            first.mine(m as Pane + 1, lines);
        }
        let bytes = postcard::to_allocvec(&first).expect("encodes");
        let mut restored: ServiceTemplates = postcard::from_bytes(&bytes).expect("decodes");
        let resumed: Vec<MinedPane> = minutes
            .iter()
            .enumerate()
            .skip(12)
            .map(|(m, l)| restored.mine(m as Pane + 1, l))
            .collect();
        assert_eq!(&straight[12..], &resumed[..]);
        assert_eq!(whole, restored);
    }

    fn at(code: &str, body: &str) -> String {
        let mut out = String::new();
        mask(Some(code), body, &mut out);
        out
    }

    #[test]
    fn a_code_location_keeps_alike_lines_of_two_statements_apart() {
        assert_eq!(at("Cart.add#53", "took 5 ms"), "Cart.add#53 took <*> ms");
        let mut miner = ServiceTemplates::default();
        let mut lines = vec![
            (at("Cart.add#47", "query start for 12"), 3),
            (at("Cart.add#53", "query start for 12"), 3),
        ];
        lines.sort();
        miner.mine(1, &lines);
        assert_eq!(miner.templates.len(), 2);
    }

    #[test]
    fn a_statement_no_longer_reached_shifts_the_mix_and_more_load_does_not() {
        let mut miner = ServiceTemplates::default();
        let steady = |n: u64| {
            let mut lines = vec![
                (at("Route.query#47", "query by ids start"), n),
                (at("Route.query#53", "found routes"), n),
            ];
            lines.sort();
            lines
        };
        for pane in 1..=30 {
            assert_eq!(miner.mine(pane, &steady(10)).shift, 0.0, "{pane}");
        }
        let busier = miner.mine(31, &steady(30)).shift;
        assert!(busier < 1.0, "three times the load, the same mix: {busier}");
        let thrown = miner.mine(32, &minute(&[])).shift;
        assert_eq!(thrown, 0.0, "no lines, no mix");
        let mut skipped = steady(20);
        skipped.retain(|(line, _)| line.starts_with("Route.query#47"));
        let shift = miner.mine(33, &skipped).shift;
        // 20 lines where half were expected: 10 expected of the vanished one, (0-10)/sqrt(11).
        assert!((shift - 10.0 / 11f64.sqrt()).abs() < 0.5, "{shift}");
    }

    #[test]
    fn a_template_new_after_warmup_shifts_by_its_count() {
        let expected = [5.0, 5.0, 0.0];
        assert_eq!(mix_shift(expected.into_iter(), &[5, 5, 4]), 4.0);
        assert_eq!(mix_shift([0.0, 0.0].into_iter(), &[3, 1]), 0.0);
    }
}
