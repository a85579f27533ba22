//! The whole suite as a test target: the same trials as `xpipe-conformance run`, against the
//! embedded mock, or against the daemon at `XPIPE_TARGET` (with `XPIPE_API_KEY` and
//! `XPIPE_AUTH_FILE` as its credentials).

use std::process::ExitCode;

use reqwest::Url;
use xpipe_conformance::suite::{Suite, SuiteConfig};

fn main() -> ExitCode {
    let mut args = libtest_mimic::Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(8);
    }

    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let target = match env("XPIPE_TARGET").map(|t| Url::parse(&t)) {
        None => None,
        Some(Ok(url)) => Some(url),
        Some(Err(error)) => {
            eprintln!("error: XPIPE_TARGET is not a URL: {error}");
            return ExitCode::from(2);
        }
    };
    let config = SuiteConfig {
        target,
        api_key: env("XPIPE_API_KEY"),
        auth_file: env("XPIPE_AUTH_FILE").map(Into::into),
        ..SuiteConfig::default()
    };

    let suite = match Suite::prepare(config) {
        Ok(suite) => suite,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(3);
        }
    };
    let conclusion = libtest_mimic::run(&args, suite.trials());
    for finding in suite.findings() {
        eprintln!(
            "should-level finding in {}:\n{}\n",
            finding.case, finding.report
        );
    }
    suite.shutdown();
    conclusion.exit_code()
}
