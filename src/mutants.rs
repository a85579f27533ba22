//! The mutation score: the whole suite run against the embedded mock once per seeded fault (and
//! once without), to show which violations of the document some `must` case catches.
//!
//! The cases are loaded and the schemas compiled once, for every run. Suites run on their own
//! threads, at most as many at once as the machine has cores, plus one thread for each fault
//! that stalls answers, since those runs mostly wait; each run builds its own runtime and mock.
//! A short request timeout keeps faults that stall answers from stretching the run.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::case::Level;
use crate::http::HttpSettings;
use crate::mock::Fault;
use crate::suite::{
    CaseVerdict, Outcome, PreparedCases, SetupError, Suite, SuiteConfig, default_dir,
};

/// How many catching cases the table names before it counts the rest.
const NAMED_CASES: usize = 3;

/// How many cases of one suite run at once. Higher than a normal run's, so that faults which
/// stall every query cost one timeout per few dozen cases rather than per sixteen.
const CASES_AT_ONCE: usize = 32;

/// How many cases run at once against a fault that stalls answers: they only wait, so nearly
/// all of them can wait together.
const STALLED_CASES_AT_ONCE: usize = 128;

/// The shortest request timeout of the run against the faithful mock: it holds nothing back,
/// so only a busy machine could make it slow, and that must not fail it.
const CLEAN_TIMEOUT: Duration = Duration::from_secs(5);

/// How to measure.
#[derive(Debug, Clone)]
pub struct MutantsConfig {
    /// The faults to seed, one suite run each; the whole catalogue when empty.
    pub faults: Vec<Fault>,
    /// The most one request may take in the runs with a fault (at least 5 s in the run
    /// without).
    pub timeout: Duration,
    /// Whether a fault that only `should` cases catch counts as caught.
    pub strict: bool,
    /// How many suites run at once, besides those against faults that stall answers (which
    /// mostly wait, each on a thread of its own); the machine's available parallelism when
    /// `None`.
    pub parallelism: Option<usize>,
    /// The case folder.
    pub cases_dir: PathBuf,
    /// The schema folder.
    pub schemas_dir: PathBuf,
}

impl Default for MutantsConfig {
    fn default() -> Self {
        Self {
            faults: Vec::new(),
            timeout: Duration::from_secs(1),
            strict: false,
            parallelism: None,
            cases_dir: default_dir("cases"),
            schemas_dir: default_dir("schemas"),
        }
    }
}

/// What became of one seeded fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// At least one `must` case failed.
    Caught,
    /// No `must` case failed, but these `should` cases did.
    OnlyShould,
    /// No case failed.
    Missed,
    /// The suite could not run against the faulty mock, for this reason.
    NotRun(String),
}

/// The suite's verdict on one seeded fault.
#[derive(Debug, Clone)]
pub struct MutantResult {
    /// The fault the mock committed.
    pub fault: Fault,
    /// Caught or not.
    pub verdict: Verdict,
    /// The `must` cases that failed, the most telling first: those that fail for the fewest
    /// faults of the run (then in case order).
    pub must_cases: Vec<String>,
    /// The `should` cases that failed, in the same order.
    pub should_cases: Vec<String>,
    /// How long binding the suite to its mock and running it took (the cases load once, before).
    pub elapsed: Duration,
}

impl MutantResult {
    /// Whether the fault counts as caught; with `strict`, `should` cases catch too.
    pub fn caught(&self, strict: bool) -> bool {
        match self.verdict {
            Verdict::Caught => true,
            Verdict::OnlyShould => strict,
            Verdict::Missed | Verdict::NotRun(_) => false,
        }
    }
}

/// The suite against the faithful mock: every case must pass there.
#[derive(Debug, Clone)]
pub struct CleanRun {
    /// The cases that failed, `must` or `should`, with their reports.
    pub failures: Vec<CaseVerdict>,
    /// How many cases passed.
    pub passed: usize,
    /// How long binding the suite to its mock and running it took (the cases load once, before).
    pub elapsed: Duration,
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct MutationReport {
    /// The run without faults.
    pub clean: CleanRun,
    /// One result per fault, in catalogue order.
    pub mutants: Vec<MutantResult>,
    /// Whether `should` cases count as catching.
    pub strict: bool,
    /// How many suites ran at once, besides those against faults that stall answers.
    pub parallelism: usize,
    /// The wall-clock time of the whole measurement.
    pub elapsed: Duration,
}

impl MutationReport {
    /// How many faults were caught.
    pub fn caught(&self) -> usize {
        self.mutants
            .iter()
            .filter(|m| m.caught(self.strict))
            .count()
    }

    /// The faults that were not caught.
    pub fn missed(&self) -> Vec<&MutantResult> {
        self.mutants
            .iter()
            .filter(|m| !m.caught(self.strict))
            .collect()
    }

    /// Whether the faithful mock passes every case and every fault is caught.
    pub fn passed(&self) -> bool {
        self.clean.failures.is_empty() && self.missed().is_empty()
    }

    /// `mutation score: caught X of Y faults (Z%)`.
    pub fn score_line(&self) -> String {
        let total = self.mutants.len();
        let caught = self.caught();
        let percent = (caught * 100).checked_div(total).unwrap_or(100);
        format!("mutation score: caught {caught} of {total} faults ({percent}%)")
    }

    /// One row per fault, after one for the faithful mock: fault | verdict | caught by | time.
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "fault".to_owned(),
            "verdict".to_owned(),
            "caught by".to_owned(),
            "time".to_owned(),
        ]];
        let clean_verdict = if self.clean.failures.is_empty() {
            format!("passes all {} cases", self.clean.passed)
        } else {
            format!("FAILS {} cases", self.clean.failures.len())
        };
        let clean_failures: Vec<String> =
            self.clean.failures.iter().map(|v| v.name.clone()).collect();
        rows.push([
            "(none: the faithful mock)".to_owned(),
            clean_verdict,
            named(&clean_failures),
            seconds(self.clean.elapsed),
        ]);
        for mutant in &self.mutants {
            let (verdict, by) = match &mutant.verdict {
                Verdict::Caught => ("caught".to_owned(), named(&mutant.must_cases)),
                Verdict::OnlyShould if self.strict => (
                    "caught (should only)".to_owned(),
                    named(&mutant.should_cases),
                ),
                Verdict::OnlyShould => (
                    "MISSED at the default level".to_owned(),
                    format!(
                        "only should cases catch it: {}",
                        named(&mutant.should_cases)
                    ),
                ),
                Verdict::Missed => ("MISSED".to_owned(), "no case fails".to_owned()),
                Verdict::NotRun(why) => ("NOT RUN".to_owned(), why.clone()),
            };
            rows.push([mutant.fault.name(), verdict, by, seconds(mutant.elapsed)]);
        }

        let mut widths = [0; 4];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for (index, row) in rows.iter().enumerate() {
            let _ = writeln!(
                text,
                "{:w0$} | {:w1$} | {:w2$} | {:>w3$}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            );
            if index == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                let _ = writeln!(text, "{}", rule.join("-|-"));
            }
        }
        text.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }
}

/// The first few names and how many more there are.
fn named(cases: &[String]) -> String {
    let mut text = cases
        .iter()
        .take(NAMED_CASES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if cases.len() > NAMED_CASES {
        let _ = write!(text, ", +{} more", cases.len() - NAMED_CASES);
    }
    text
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.1} s", elapsed.as_secs_f64())
}

/// Runs the suite against the faithful mock and against the mock with each fault.
///
/// # Errors
///
/// The [`SetupError`] of the run against the faithful mock (cases or schemas that do not load,
/// a mock that cannot start); a fault's own setup failure is reported as [`Verdict::NotRun`].
pub fn run(config: &MutantsConfig) -> Result<MutationReport, SetupError> {
    let started = Instant::now();
    let faults: Vec<Fault> = if config.faults.is_empty() {
        Fault::ALL.to_vec()
    } else {
        let unique: BTreeSet<Fault> = config.faults.iter().copied().collect();
        Fault::ALL
            .iter()
            .copied()
            .filter(|f| unique.contains(f))
            .collect()
    };
    // The faithful mock first (`None` stands for it), then the faults in catalogue order.
    let jobs: Vec<Option<Fault>> = std::iter::once(None)
        .chain(faults.iter().copied().map(Some))
        .collect();
    // Runs against faults that stall answers mostly wait for timeouts: each gets a thread of its
    // own, beside the threads that share the other runs, instead of holding one of those.
    let (waiting, working): (Vec<usize>, Vec<usize>) =
        (0..jobs.len()).partition(|&index| jobs[index].is_some_and(stalls));
    // Every run checks with the same cases; cases that do not load fail the whole measurement.
    let prepared = PreparedCases::load(&suite_config(config, None))?;
    let available = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let parallelism = config
        .parallelism
        .unwrap_or(available)
        .clamp(1, working.len());
    tracing::info!(
        runs = jobs.len(),
        parallelism,
        stalling = waiting.len(),
        "running the suite once per fault"
    );

    let outcomes: Mutex<Vec<Option<SuiteRun>>> = Mutex::new(jobs.iter().map(|_| None).collect());
    let run_job = |index: usize| {
        let fault = jobs[index];
        let outcome = run_suite(config, &prepared, fault);
        if let Some(fault) = fault {
            tracing::info!(fault = %fault, elapsed = ?outcome.elapsed, "suite run done");
        }
        outcomes.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(outcome);
    };
    // A shared cursor hands out the working jobs; each thread runs one whole suite at a time.
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for &index in &waiting {
            scope.spawn(move || run_job(index));
        }
        for _ in 0..parallelism {
            scope.spawn(|| {
                while let Some(&index) = working.get(next.fetch_add(1, Ordering::Relaxed)) {
                    run_job(index);
                }
            });
        }
    });
    let mut outcomes = outcomes
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|outcome| outcome.expect("every job ran"));

    let clean_run = outcomes.next().expect("the faithful run is the first job");
    let clean_verdicts = clean_run.verdicts?;
    let clean = CleanRun {
        passed: clean_verdicts
            .iter()
            .filter(|v| v.outcome == Outcome::Passed)
            .count(),
        failures: failures(&clean_verdicts),
        elapsed: clean_run.elapsed,
    };
    let mut mutants: Vec<MutantResult> = faults
        .iter()
        .zip(outcomes)
        .map(|(&fault, run)| judge(fault, run))
        .collect();
    most_telling_first(&mut mutants);

    Ok(MutationReport {
        clean,
        mutants,
        strict: config.strict,
        parallelism,
        elapsed: started.elapsed(),
    })
}

/// Orders each fault's catching cases by how many faults each case catches, fewest first: a
/// case that fails for one fault says more about it than one that fails for every broken token.
fn most_telling_first(mutants: &mut [MutantResult]) {
    let mut catches: HashMap<String, usize> = HashMap::new();
    for mutant in mutants.iter() {
        for case in mutant.must_cases.iter().chain(&mutant.should_cases) {
            *catches.entry(case.clone()).or_default() += 1;
        }
    }
    for mutant in mutants {
        // A stable sort keeps case order among cases that catch as many faults.
        mutant.must_cases.sort_by_key(|case| catches[case]);
        mutant.should_cases.sort_by_key(|case| catches[case]);
    }
}

/// Whether a fault holds answers back until the client's timeout.
fn stalls(fault: Fault) -> bool {
    matches!(
        fault,
        Fault::QueryAnswerNeverComes | Fault::QueryAnswerDrips
    )
}

/// One suite run's verdicts (or why it could not run) and its duration.
struct SuiteRun {
    verdicts: Result<Vec<CaseVerdict>, SetupError>,
    elapsed: Duration,
}

/// The configuration of the run against the mock with `fault`, or without one.
fn suite_config(config: &MutantsConfig, fault: Option<Fault>) -> SuiteConfig {
    let timeout = match fault {
        Some(_) => config.timeout,
        None => config.timeout.max(CLEAN_TIMEOUT),
    };
    let concurrency = match fault {
        Some(fault) if stalls(fault) => STALLED_CASES_AT_ONCE,
        _ => CASES_AT_ONCE,
    };
    SuiteConfig {
        http: HttpSettings {
            timeout,
            connect_timeout: timeout.min(Duration::from_secs(3)),
            ..HttpSettings::default()
        },
        cases_dir: config.cases_dir.clone(),
        schemas_dir: config.schemas_dir.clone(),
        mock_faults: fault.into_iter().collect(),
        concurrency,
        ..SuiteConfig::default()
    }
}

fn run_suite(config: &MutantsConfig, prepared: &PreparedCases, fault: Option<Fault>) -> SuiteRun {
    let started = Instant::now();
    let verdicts = Suite::prepare_with(suite_config(config, fault), prepared).map(|suite| {
        // A fault is judged by which cases fail, not by why: shrinking a failing generated
        // case would only cost requests. The faithful mock's failures keep their full reports.
        let verdicts = match fault {
            Some(_) => suite.verdicts_without_shrinking(),
            None => suite.verdicts(),
        };
        suite.shutdown();
        verdicts
    });
    SuiteRun {
        verdicts,
        elapsed: started.elapsed(),
    }
}

fn failures(verdicts: &[CaseVerdict]) -> Vec<CaseVerdict> {
    verdicts
        .iter()
        .filter(|v| matches!(v.outcome, Outcome::Failed(_)))
        .cloned()
        .collect()
}

fn judge(fault: Fault, run: SuiteRun) -> MutantResult {
    let verdicts = match run.verdicts {
        Ok(verdicts) => verdicts,
        Err(error) => {
            return MutantResult {
                fault,
                verdict: Verdict::NotRun(error.to_string()),
                must_cases: Vec::new(),
                should_cases: Vec::new(),
                elapsed: run.elapsed,
            };
        }
    };
    let failed = failures(&verdicts);
    let names = |level: Level| -> Vec<String> {
        failed
            .iter()
            .filter(|v| v.level == level)
            .map(|v| v.name.clone())
            .collect()
    };
    let (must_cases, should_cases) = (names(Level::Must), names(Level::Should));
    let verdict = if !must_cases.is_empty() {
        Verdict::Caught
    } else if !should_cases.is_empty() {
        Verdict::OnlyShould
    } else {
        Verdict::Missed
    };
    MutantResult {
        fault,
        verdict,
        must_cases,
        should_cases,
        elapsed: run.elapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(fault: Fault, verdict: Verdict, must: &[&str], should: &[&str]) -> MutantResult {
        MutantResult {
            fault,
            verdict,
            must_cases: must.iter().map(|s| s.to_string()).collect(),
            should_cases: should.iter().map(|s| s.to_string()).collect(),
            elapsed: Duration::from_millis(1234),
        }
    }

    fn report(strict: bool) -> MutationReport {
        MutationReport {
            clean: CleanRun {
                failures: Vec::new(),
                passed: 190,
                elapsed: Duration::from_millis(900),
            },
            mutants: vec![
                result(
                    Fault::StarCrossesSlash,
                    Verdict::Caught,
                    &["a::one", "a::two", "a::three", "a::four", "a::five"],
                    &[],
                ),
                result(
                    Fault::TypeFilterIgnored,
                    Verdict::OnlyShould,
                    &[],
                    &["b::x"],
                ),
            ],
            strict,
            parallelism: 2,
            elapsed: Duration::from_secs(3),
        }
    }

    #[test]
    fn the_table_names_three_cases_and_counts_the_rest() {
        let table = report(false).table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("fault "), "{table}");
        assert!(lines[1].starts_with("-----"), "{table}");
        assert!(lines[2].contains("passes all 190 cases"), "{table}");
        assert!(
            lines[3].contains("caught") && lines[3].contains("a::one, a::two, a::three, +2 more"),
            "{table}"
        );
        assert!(lines[3].ends_with("1.2 s"), "{table}");
        assert!(
            lines[4].contains("MISSED at the default level")
                && lines[4].contains("only should cases catch it: b::x"),
            "{table}"
        );
    }

    #[test]
    fn cases_that_catch_fewer_faults_come_first() {
        let mut mutants = vec![
            result(
                Fault::AnyTokenAccepted,
                Verdict::Caught,
                &["a::every", "a::often", "a::only_this"],
                &[],
            ),
            result(
                Fault::StarIsLiteral,
                Verdict::Caught,
                &["a::every", "a::often"],
                &[],
            ),
            result(Fault::StarGets500, Verdict::Caught, &["a::every"], &[]),
        ];
        most_telling_first(&mut mutants);
        assert_eq!(
            mutants[0].must_cases,
            ["a::only_this", "a::often", "a::every"]
        );
        assert_eq!(mutants[1].must_cases, ["a::often", "a::every"]);
    }

    #[test]
    fn strict_counts_should_cases_as_catching() {
        let lenient = report(false);
        assert_eq!(
            lenient.score_line(),
            "mutation score: caught 1 of 2 faults (50%)"
        );
        assert!(!lenient.passed());
        let strict = report(true);
        assert_eq!(
            strict.score_line(),
            "mutation score: caught 2 of 2 faults (100%)"
        );
        assert!(strict.passed());
    }
}
