//! The suite's detection power: the whole catalogue of seeded faults, each run against the
//! embedded mock through the library, must be caught by some `must` case, and the faithful mock
//! must pass every case. On failure the test prints the table `xpipe-conformance mutants` shows.

use xpipe_conformance::mock::Fault;
use xpipe_conformance::mutants::{self, MutantsConfig, Verdict};
use xpipe_conformance::suite::Outcome;

#[test]
fn every_seeded_fault_is_caught_and_the_faithful_mock_passes() {
    let report = mutants::run(&MutantsConfig::default()).expect("the suite prepares its runs");
    let table = report.table();
    // Shown with --nocapture, and always with a failure below.
    println!("{table}{}", report.score_line());
    println!(
        "{} suite runs, {} at a time, in {:.1} s",
        report.mutants.len() + 1,
        report.parallelism,
        report.elapsed.as_secs_f64()
    );

    let clean_failures: Vec<String> = report
        .clean
        .failures
        .iter()
        .map(|verdict| match &verdict.outcome {
            Outcome::Failed(why) => format!("--- {} [{}]\n{why}", verdict.name, verdict.level),
            other => format!("--- {}: {other:?}", verdict.name),
        })
        .collect();
    assert!(
        clean_failures.is_empty(),
        "the faithful mock fails cases:\n{}\n\n{table}",
        clean_failures.join("\n")
    );

    assert_eq!(report.mutants.len(), Fault::ALL.len());
    let missed: Vec<String> = report
        .mutants
        .iter()
        .filter(|m| m.verdict != Verdict::Caught)
        .map(|m| format!("{} ({:?})", m.fault, m.verdict))
        .collect();
    assert!(
        missed.is_empty(),
        "faults no must case catches: {missed:?}\n\n{table}{}",
        report.score_line()
    );
}
