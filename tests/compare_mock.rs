//! `--compare-mock` against a daemon that differs from the mock only where the document allows:
//! the comparison shows the difference, and the verdicts stay green.

use std::collections::BTreeSet;

use reqwest::Url;
use xpipe_conformance::compare::compare_with_mock;
use xpipe_conformance::mock::{MockConfig, MockDaemon};
use xpipe_conformance::suite::{Outcome, SuiteConfig};

#[test]
fn a_case_insensitive_daemon_differs_only_in_case_folding_matches() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut config = MockConfig::new("compare-key");
    config.case_insensitive = true;
    let daemon = runtime.block_on(MockDaemon::start(config)).unwrap();

    let comparison = compare_with_mock(SuiteConfig {
        target: Some(Url::parse(&daemon.url()).unwrap()),
        api_key: Some("compare-key".into()),
        auth_file: Some(daemon.auth_file().to_owned()),
        ..SuiteConfig::default()
    })
    .unwrap();

    let report = comparison.render();
    assert!(comparison.connections > 0, "{report}");
    let differing: BTreeSet<&str> = comparison
        .cases
        .iter()
        .filter(|c| !c.differences.is_empty())
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        differing.contains("connection_query::case_swapped_names_agree_either_way"),
        "{report}"
    );
    for case in &comparison.cases {
        assert!(!matches!(case.daemon, Outcome::Failed(_)), "{report}");
        for line in &case.differences {
            assert!(
                line.contains("matched"),
                "only matches should differ: {line}\n{report}"
            );
        }
    }
    runtime.block_on(daemon.shutdown());
}
