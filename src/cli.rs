//! The command line: every flag, its help text and its environment variable, in one place.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use reqwest::Url;

use crate::generate;
use crate::http::HttpSettings;
use crate::mock::Fault;
use crate::suite::{SuiteConfig, default_dir};

/// Checks whether a daemon speaks the XPipe API v10.0 correctly, case by case.
///
/// Without a subcommand it runs the suite, against the embedded mock daemon unless --target
/// names another.
#[derive(Debug, Parser)]
#[command(
    name = "xpipe-conformance",
    version,
    disable_version_flag = false,
    args_conflicts_with_subcommands = true,
    after_help = "Exit status: 0 all must cases passed, 1 a case failed, 2 bad arguments or \
                  nothing selected, 3 cases or schemas not loadable, 4 nothing listens at the \
                  target."
)]
pub struct Cli {
    /// What to do; `run` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The options of `run`, accepted without the word `run`.
    #[command(flatten)]
    pub run: RunArgs,
}

impl Cli {
    /// The command line as users see it: libtest's own help layout and the flags it has for
    /// benchmarks and output capture mean nothing here, so both give way, at the top level
    /// and in `run`.
    pub fn command_line() -> clap::Command {
        fn tidy(command: clap::Command) -> clap::Command {
            let hidden = [
                "test",
                "bench",
                "nocapture",
                "show_output",
                "unstable_flags",
            ];
            hidden
                .into_iter()
                .fold(command, |command, id| command.mut_arg(id, |a| a.hide(true)))
                .mut_arg("ignored", |a| a.help("Run only the ignored cases"))
                .help_template(
                    "{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}",
                )
        }
        tidy(<Cli as clap::CommandFactory>::command()).mut_subcommand("run", tidy)
    }

    /// Parses the process's arguments, exiting with a message on bad ones.
    pub fn parse_args() -> Cli {
        let matches = Self::command_line().get_matches();
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// Parses the given arguments.
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::command_line().try_get_matches_from(args)?;
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the suite against a daemon, or against the embedded mock without --target.
    Run(Box<RunArgs>),
    /// Serve the embedded mock daemon until interrupted, as a stand-in for client developers.
    Mock(MockArgs),
    /// Measure the suite's power: run it against the embedded mock once per seeded fault (and
    /// once without) and show which faults some must case catches.
    Mutants(MutantsArgs),
}

/// Options of a run, followed by libtest's own (filter, --exact, --list, --ignored, ...).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The daemon to check, e.g. http://127.0.0.1:21721; the embedded mock when left out.
    #[arg(long, env = "XPIPE_TARGET", value_name = "URL", value_parser = http_url)]
    pub target: Option<Url>,
    /// API key for `ApiKey` handshakes.
    #[arg(
        long,
        env = "XPIPE_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// The daemon's auth file ($TEMP/xpipe_auth) for `Local` handshakes.
    #[arg(long, env = "XPIPE_AUTH_FILE", value_name = "PATH")]
    pub auth_file: Option<PathBuf>,
    /// Seconds one request may take, answer included.
    #[arg(long, default_value_t = 5.0, value_name = "SECS", value_parser = positive_seconds)]
    pub timeout: f64,
    /// Accept TLS certificates that do not verify (self-signed daemons).
    #[arg(long)]
    pub insecure: bool,
    /// The largest answer body to read, in bytes; answers share a memory budget of 8 times it.
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "BYTES",
          value_parser = at_least_one)]
    pub max_body: usize,
    /// Let `should` cases fail the run too.
    #[arg(long)]
    pub strict: bool,
    /// Snapshot folder for this target (default: snapshots/mock for the embedded mock, none
    /// otherwise).
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// The case folder.
    #[arg(long, value_name = "DIR")]
    pub cases: Option<PathBuf>,
    /// The schema folder.
    #[arg(long, value_name = "DIR")]
    pub schemas: Option<PathBuf>,
    /// Run only cases with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Leave out cases with this tag (repeatable), e.g. side-effects on a desktop daemon.
    #[arg(long = "skip-tag", value_name = "TAG")]
    pub skip_tags: Vec<String>,
    /// Run every case against the target and against the embedded mock loaded with the
    /// target's own listing, and report where their statuses, shapes or matched connections
    /// differ (instead of the usual report).
    #[arg(long, requires = "target")]
    pub compare_mock: bool,
    /// How many cases to generate from the request models (0 for none).
    #[arg(long, env = "XPIPE_GENERATED", value_name = "N", default_value_t = generate::DEFAULT_COUNT)]
    pub generated: usize,
    /// The seed the generated cases are drawn from: a number (decimal or 0x hex), or `random`
    /// for a new one, which the run prints.
    #[arg(long, env = "XPIPE_SEED", value_name = "S", default_value_t = generate::DEFAULT_SEED, value_parser = seed)]
    pub seed: u64,
    /// libtest's options: FILTER, --exact, --list, --ignored, --include-ignored, --skip,
    /// --format, --test-threads, ...
    #[command(flatten)]
    pub libtest: libtest_mimic::Arguments,
}

impl RunArgs {
    /// The suite configuration these options describe.
    pub fn suite_config(&self) -> SuiteConfig {
        SuiteConfig {
            target: self.target.clone(),
            api_key: self.api_key.clone().filter(|k| !k.is_empty()),
            auth_file: self.auth_file.clone(),
            http: HttpSettings {
                timeout: Duration::from_secs_f64(self.timeout),
                connect_timeout: Duration::from_secs_f64(self.timeout.min(3.0)),
                insecure: self.insecure,
                max_body: self.max_body,
            },
            strict: self.strict,
            snapshots: self.snapshots.clone(),
            cases_dir: self.cases.clone().unwrap_or_else(|| default_dir("cases")),
            schemas_dir: self
                .schemas
                .clone()
                .unwrap_or_else(|| default_dir("schemas")),
            tags: self.tags.clone(),
            skip_tags: self.skip_tags.clone(),
            mock_store: None,
            concurrency: self.libtest.test_threads.unwrap_or(8),
            mock_faults: BTreeSet::new(),
            generated: self.generated,
            seed: self.seed,
        }
    }
}

/// A seed: a number, or `random` for one drawn now (and printed by the run).
fn seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None if text == "random" => {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes).map_err(|e| format!("no random seed: {e}"))?;
            Some(u64::from_le_bytes(bytes))
        }
        None => text.parse().ok(),
    };
    parsed.ok_or_else(|| format!("{text:?} is not a seed: give a number or `random`"))
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() && secs <= 86_400.0 => Ok(secs),
        _ => Err(format!(
            "{text:?} is not a number of seconds above 0 and at most 86400"
        )),
    }
}

fn http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!(
            "{text:?} uses {other}://; the daemon speaks http:// or https://"
        )),
    }
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{text:?} is not a whole number of at least 1")),
    }
}

/// Options of the standalone mock.
#[derive(Debug, Clone, Args)]
pub struct MockArgs {
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 21721)]
    pub port: u16,
    /// The address to listen on; only loopback unless you say otherwise.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// The API key clients must present (random, and printed, when left out).
    #[arg(long, env = "XPIPE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Where to write the Local auth secret (default: a private temp folder).
    #[arg(long, value_name = "PATH")]
    pub auth_file: Option<PathBuf>,
    /// The connections to serve, as {"connections": [...]} (default: the built-in fixture).
    #[arg(long, value_name = "FILE")]
    pub fixture: Option<PathBuf>,
    /// Match query filters regardless of letter case.
    #[arg(long)]
    pub case_insensitive: bool,
    /// Commit this seeded violation of the API document (repeatable; see --list-faults).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<Fault>,
    /// Print the catalogue of seeded faults, name and description, and exit.
    #[arg(long)]
    pub list_faults: bool,
    /// The most sessions open at once; a handshake beyond it ends the oldest session.
    #[arg(long, default_value_t = crate::mock::DEFAULT_MAX_SESSIONS, value_name = "N",
          value_parser = at_least_one)]
    pub max_sessions: usize,
    /// Seconds a client may take to send a request's line and headers; then the connection
    /// closes.
    #[arg(long, default_value_t = crate::mock::DEFAULT_READ_TIMEOUT.as_secs_f64(),
          value_name = "SECS", value_parser = positive_seconds)]
    pub header_timeout: f64,
    /// Seconds a client may take to send a request's body once its headers are in; then it
    /// gets 408 and the connection closes.
    #[arg(long, default_value_t = crate::mock::DEFAULT_READ_TIMEOUT.as_secs_f64(),
          value_name = "SECS", value_parser = positive_seconds)]
    pub body_timeout: f64,
}

/// Options of the mutation score.
#[derive(Debug, Clone, Args)]
pub struct MutantsArgs {
    /// Run only this fault (repeatable); every fault of the catalogue when left out.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<Fault>,
    /// Seconds one request may take; short, so that faults which stall answers end fast.
    #[arg(long, default_value_t = 1.0, value_name = "SECS", value_parser = positive_seconds)]
    pub timeout: f64,
    /// Count a fault as caught when only `should` cases catch it.
    #[arg(long)]
    pub strict: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_args(std::iter::once("xpipe-conformance").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn bare_command_runs_with_libtest_arguments() {
        let cli = parse(&["--list", "handshake", "--exact"]);
        assert!(cli.command.is_none());
        assert!(cli.run.libtest.list && cli.run.libtest.exact);
        assert_eq!(cli.run.libtest.filter.as_deref(), Some("handshake"));
    }

    #[test]
    fn run_takes_target_and_libtest_options_mixed() {
        let cli = parse(&[
            "run",
            "--target",
            "http://127.0.0.1:9",
            "--test-threads",
            "1",
            "--strict",
        ]);
        let Some(Command::Run(run)) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.target.unwrap().as_str(), "http://127.0.0.1:9/");
        assert_eq!(run.libtest.test_threads, Some(1));
        assert!(run.strict);
    }

    #[test]
    fn mock_defaults_to_loopback() {
        let cli = parse(&["mock", "--port", "0"]);
        let Some(Command::Mock(mock)) = cli.command else {
            panic!("not mock")
        };
        assert_eq!(mock.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(mock.port, 0);
        assert_eq!(mock.max_sessions, crate::mock::DEFAULT_MAX_SESSIONS);
        assert_eq!(mock.header_timeout, 10.0);
    }

    #[test]
    fn a_target_must_be_http_or_https() {
        let error = Cli::try_parse_args(["xpipe-conformance", "--target", "ftp://127.0.0.1:1"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("uses ftp://"), "{error}");
        assert!(
            parse(&["--target", "https://127.0.0.1:1"])
                .run
                .target
                .is_some()
        );
    }

    #[test]
    fn mock_limits_are_options_and_zero_is_refused() {
        let cli = parse(&[
            "mock",
            "--max-sessions",
            "2",
            "--header-timeout",
            "0.5",
            "--body-timeout",
            "3",
        ]);
        let Some(Command::Mock(mock)) = cli.command else {
            panic!("not mock")
        };
        assert_eq!(
            (mock.max_sessions, mock.header_timeout, mock.body_timeout),
            (2, 0.5, 3.0)
        );
        for bad in [["--max-sessions", "0"], ["--body-timeout", "0"]] {
            let args = ["xpipe-conformance", "mock", bad[0], bad[1]];
            let error = Cli::try_parse_args(args).unwrap_err().to_string();
            assert!(error.contains(bad[0]), "{error}");
        }
    }

    #[test]
    fn mock_takes_repeated_faults_by_name() {
        let cli = parse(&[
            "mock",
            "--fault",
            "star-crosses-slash",
            "--fault",
            "token-null",
        ]);
        let Some(Command::Mock(mock)) = cli.command else {
            panic!("not mock")
        };
        assert_eq!(mock.faults.len(), 2);
        assert_eq!(mock.faults[0], Fault::StarCrossesSlash);
        assert!(!mock.list_faults);
    }

    #[test]
    fn an_unknown_fault_names_the_valid_ones() {
        let error = Cli::try_parse_args(["xpipe-conformance", "mock", "--fault", "nope"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown fault \"nope\""), "{error}");
        assert!(error.contains("any-token-accepted"), "{error}");
    }

    #[test]
    fn mutants_default_to_a_short_timeout() {
        let cli = parse(&["mutants", "--fault", "type-filter-ignored", "--strict"]);
        let Some(Command::Mutants(mutants)) = cli.command else {
            panic!("not mutants")
        };
        assert_eq!(mutants.timeout, 1.0);
        assert!(mutants.strict);
        assert_eq!(mutants.faults, [Fault::TypeFilterIgnored]);
    }

    #[test]
    fn help_hides_libtest_flags_that_mean_nothing_here() {
        let mut command = Cli::command_line();
        let help = command.render_long_help().to_string();
        assert!(
            help.contains("--target") && !help.contains("--nocapture"),
            "{help}"
        );
        let mut run = Cli::command_line();
        let run = run.find_subcommand_mut("run").unwrap();
        assert!(!run.render_long_help().to_string().contains("--bench"));
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let error = Cli::try_parse_args(["xpipe-conformance", "--timeout", "0"]).unwrap_err();
        assert!(error.to_string().contains("seconds"), "{error}");
    }

    #[test]
    fn generated_cases_default_to_a_fixed_seed() {
        let cli = parse(&[]);
        assert_eq!(cli.run.generated, generate::DEFAULT_COUNT);
        assert_eq!(cli.run.seed, generate::DEFAULT_SEED);
        let config = parse(&["--generated", "0", "--seed", "0x2a"])
            .run
            .suite_config();
        assert_eq!((config.generated, config.seed), (0, 42));
        assert_eq!(parse(&["--seed", "17"]).run.seed, 17);
    }

    #[test]
    fn a_random_seed_is_drawn_and_a_bad_one_refused() {
        let seeds: Vec<u64> = (0..3)
            .map(|_| parse(&["--seed", "random"]).run.seed)
            .collect();
        assert!(seeds[0] != seeds[1] || seeds[1] != seeds[2]);
        let error = Cli::try_parse_args(["xpipe-conformance", "--seed", "soon"]).unwrap_err();
        assert!(error.to_string().contains("not a seed"), "{error}");
    }
}
