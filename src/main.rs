//! The `xpipe-conformance` binary: parses the command line, runs the suite or serves the
//! mock, and sets the exit code.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use xpipe_conformance::cli::{Cli, Command, MockArgs, MutantsArgs, RunArgs};
use xpipe_conformance::compare::compare_with_mock;
use xpipe_conformance::mock::{ConnectionStore, Fault, MockConfig, MockDaemon};
use xpipe_conformance::mutants::{self, MutantsConfig};
use xpipe_conformance::suite::{Outcome, SetupError, Suite};

/// Both the harness (parsing and checking answers) and the mock (serving requests) allocate
/// many small values; mimalloc does that in about half the time glibc's allocator takes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every must case passed (and every should case, with `--strict`).
const EXIT_PASSED: u8 = 0;
/// At least one case failed.
const EXIT_CASES_FAILED: u8 = 1;
/// The arguments do not make a run (clap uses the same code for its own errors).
const EXIT_USAGE: u8 = 2;
/// Cases or schemas could not be loaded, or the embedded mock could not start.
const EXIT_NOT_LOADED: u8 = 3;
/// Nothing listens at the target, or no TLS connection can be made with an `https` one.
const EXIT_UNREACHABLE: u8 = 4;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse_args();
    let code = match cli.command {
        Some(Command::Mock(args)) if args.list_faults => list_faults(),
        Some(Command::Mock(args)) => serve_mock(&args),
        Some(Command::Mutants(args)) => measure_mutants(&args),
        Some(Command::Run(args)) => run(*args),
        None => run(cli.run),
    };
    ExitCode::from(code)
}

fn run(mut args: RunArgs) -> u8 {
    if matches!(
        args.libtest.format,
        Some(libtest_mimic::FormatSetting::Json)
    ) && std::env::var_os("INSTA_OUTPUT").is_none()
    {
        // insta prints a changed snapshot's diff on standard output, which `--format json`
        // keeps for libtest's lines alone; the case's report still names the snapshot.
        // SAFETY: nothing has started a thread yet (no runtime, no trial), so no other thread
        // can read the environment while it changes.
        unsafe { std::env::set_var("INSTA_OUTPUT", "none") };
    }
    // Cases wait on the network, not the processor: more threads than cores keep a slow
    // target from stretching the run.
    match args.libtest.test_threads {
        None => args.libtest.test_threads = Some(8),
        Some(0) => {
            eprintln!("error: --test-threads must be at least 1");
            return EXIT_USAGE;
        }
        Some(_) => {}
    }

    if args.compare_mock {
        return match compare_with_mock(args.suite_config()) {
            Ok(comparison) => {
                print!("{}", comparison.render());
                EXIT_PASSED
            }
            Err(error) => setup_failure(&error),
        };
    }

    let suite = match Suite::prepare(args.suite_config()) {
        Ok(suite) => suite,
        Err(error) => return setup_failure(&error),
    };

    // With `--format json` standard output carries libtest's JSON lines and nothing else.
    let json_output = matches!(
        args.libtest.format,
        Some(libtest_mimic::FormatSetting::Json)
    );
    let say = |text: &str| {
        if json_output {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    };
    let listing_only = args.libtest.list;
    if !listing_only {
        say(&format!("target: {}", suite.target_url()));
        if suite.generation().count > 0 {
            say(&suite.generation().to_string());
        }
    }
    if suite.target_facts().has_connections == Some(false) {
        // An empty daemon passes every query case vacuously; say so where it cannot be missed.
        say(
            "warning: the target holds no connections, so the cases that check the query \
             filters on its data are ignored; give it some connections to check them",
        );
    }
    quiet_snapshot_panics();
    let conclusion = libtest_mimic::run(&args.libtest, suite.trials());
    let findings = suite.findings();
    suite.shutdown();

    if !findings.is_empty() {
        say(&format!(
            "should-level findings ({}), reported without failing the run (--strict makes them fail):",
            findings.len()
        ));
        for finding in &findings {
            say(&format!("\n---- {} ----\n{}", finding.case, finding.report));
        }
    }
    // A should case that failed without --strict ran too, though libtest counts it as ignored.
    let ran = conclusion.num_passed + conclusion.num_failed + findings.len() as u64;
    if !listing_only && ran == 0 {
        // A filter or tag that selects nothing would otherwise pass having checked nothing.
        eprintln!(
            "error: no case ran: the filter, --tag, --skip-tag or --ignored selected none \
             (see --list)"
        );
        return EXIT_USAGE;
    }
    if conclusion.has_failed() {
        EXIT_CASES_FAILED
    } else {
        EXIT_PASSED
    }
}

/// insta reports a changed snapshot by panicking, which the default hook would print as a
/// crash in the middle of the report; the runner catches that panic and reports the change
/// itself, so the hook stays quiet for it and only for it.
fn quiet_snapshot_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !message.contains("snapshot assertion") {
            default_hook(info);
        }
    }));
}

/// Reports why a run could not start and returns its exit code.
fn setup_failure(error: &SetupError) -> u8 {
    eprintln!("error: {error}");
    match error {
        SetupError::Load(_) | SetupError::Mock(_) => EXIT_NOT_LOADED,
        SetupError::Unreachable(_) => EXIT_UNREACHABLE,
        SetupError::Usage(_) => EXIT_USAGE,
    }
}

fn list_faults() -> u8 {
    use std::io::Write as _;

    let width = Fault::ALL.iter().map(|f| f.name().len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for fault in Fault::ALL {
        // A closed pipe (`| head`) ends the listing quietly.
        if writeln!(out, "{:width$}  {}", fault.name(), fault.description()).is_err() {
            break;
        }
    }
    EXIT_PASSED
}

fn measure_mutants(args: &MutantsArgs) -> u8 {
    let config = MutantsConfig {
        faults: args.faults.clone(),
        timeout: Duration::from_secs_f64(args.timeout),
        strict: args.strict,
        ..MutantsConfig::default()
    };
    let runs = if config.faults.is_empty() {
        Fault::ALL.len()
    } else {
        config.faults.len()
    };
    eprintln!(
        "running the suite against the embedded mock {} times (once per fault, once without)...",
        runs + 1
    );
    let report = match mutants::run(&config) {
        Ok(report) => report,
        Err(error) => return setup_failure(&error),
    };

    print!("{}", report.table());
    println!("{}", report.score_line());
    println!(
        "{} suite runs, {} at a time, in {:.1} s",
        report.mutants.len() + 1,
        report.parallelism,
        report.elapsed.as_secs_f64()
    );
    for failure in &report.clean.failures {
        if let Outcome::Failed(why) = &failure.outcome {
            println!(
                "\n---- the faithful mock fails {} ----\n{why}",
                failure.name
            );
        }
    }
    if report.passed() {
        EXIT_PASSED
    } else {
        EXIT_CASES_FAILED
    }
}

fn serve_mock(args: &MockArgs) -> u8 {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return EXIT_NOT_LOADED;
        }
    };
    let store = match &args.fixture {
        None => ConnectionStore::default_fixture(),
        Some(path) => match ConnectionStore::load(path) {
            Ok(store) => store,
            Err(error) => {
                eprintln!("error: {error}");
                return EXIT_NOT_LOADED;
            }
        },
    };
    let generated_key = args.api_key.is_none();
    let api_key = args.api_key.clone().unwrap_or_else(|| {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    });
    let mut config = MockConfig::new(api_key.clone());
    config.bind = SocketAddr::new(args.bind, args.port);
    config.auth_file = args.auth_file.clone();
    config.store = store;
    config.case_insensitive = args.case_insensitive;
    config.faults = args.faults.iter().copied().collect();
    config.max_sessions = args.max_sessions;
    config.header_read_timeout = Duration::from_secs_f64(args.header_timeout);
    config.body_read_timeout = Duration::from_secs_f64(args.body_timeout);

    runtime.block_on(async {
        let mock = match MockDaemon::start(config).await {
            Ok(mock) => mock,
            Err(error) => {
                eprintln!("error: {error}");
                return EXIT_NOT_LOADED;
            }
        };
        if !args.bind.is_loopback() {
            eprintln!(
                "warning: listening on {}, reachable from other machines",
                args.bind
            );
        }
        if !args.faults.is_empty() {
            let names: Vec<String> = args.faults.iter().map(|f| f.name()).collect();
            eprintln!(
                "warning: seeded faults: {}; this mock breaks the API document on purpose",
                names.join(", ")
            );
        }
        println!("mock daemon listening at {}", mock.url());
        println!("local auth file: {}", mock.auth_file().display());
        if generated_key {
            // The key is random and exists only while this process runs; a client developer
            // needs it to try ApiKey handshakes, so this one place shows it.
            println!("api key (generated; pass --api-key to choose one): {api_key}");
        }
        println!("press Ctrl-C to stop");
        wait_for_shutdown_signal().await;
        mock.shutdown().await;
        EXIT_PASSED
    })
}

async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct() {
        let codes = [
            EXIT_PASSED,
            EXIT_CASES_FAILED,
            EXIT_USAGE,
            EXIT_NOT_LOADED,
            EXIT_UNREACHABLE,
        ];
        let unique: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len());
    }
}
