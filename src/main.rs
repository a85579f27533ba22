//! The `xpipe-conformance` binary: parses the command line, runs the suite or serves the
//! mock, and sets the exit code.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use xpipe_conformance::cli::{Cli, Command, MockArgs, RunArgs};
use xpipe_conformance::compare::compare_with_mock;
use xpipe_conformance::mock::{ConnectionStore, MockConfig, MockDaemon};
use xpipe_conformance::suite::{SetupError, Suite};

/// Every must case passed (and every should case, with `--strict`).
const EXIT_PASSED: u8 = 0;
/// At least one case failed.
const EXIT_CASES_FAILED: u8 = 1;
/// The arguments do not make a run (clap uses the same code for its own errors).
const EXIT_USAGE: u8 = 2;
/// Cases or schemas could not be loaded, or the embedded mock could not start.
const EXIT_NOT_LOADED: u8 = 3;
/// Nothing listens at the target.
const EXIT_UNREACHABLE: u8 = 4;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Mock(args)) => serve_mock(&args),
        Some(Command::Run(args)) => run(*args),
        None => run(cli.run),
    };
    ExitCode::from(code)
}

fn run(mut args: RunArgs) -> u8 {
    // Cases wait on the network, not the processor: more threads than cores keep a slow
    // target from stretching the run.
    if args.libtest.test_threads.is_none() {
        args.libtest.test_threads = Some(8);
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

    let listing_only = args.libtest.list;
    if !listing_only {
        println!("target: {}", suite.target_url());
    }
    let conclusion = libtest_mimic::run(&args.libtest, suite.trials());
    let findings = suite.findings();
    suite.shutdown();

    if !findings.is_empty() {
        println!(
            "should-level findings ({}), reported without failing the run (--strict makes them fail):",
            findings.len()
        );
        for finding in &findings {
            println!("\n---- {} ----\n{}", finding.case, finding.report);
        }
    }
    if conclusion.has_failed() {
        EXIT_CASES_FAILED
    } else {
        EXIT_PASSED
    }
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
