//! Side-by-side runs: every case against a daemon and against the embedded mock loaded with
//! the daemon's own listing, and where their statuses, shapes or matched connections differ.
//!
//! Where the two disagree, either the daemon or the suite's reading of the document is off;
//! the report puts both answers next to each other so that a person can tell which.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::mock::ConnectionStore;
use crate::mock::json_kind as kind;
use crate::runner::Exchange;
use crate::runner::derive;
use crate::suite::{CaseTrace, Outcome, SetupError, Suite, SuiteConfig};

/// How one case went on both sides.
#[derive(Debug, Clone)]
pub struct CaseComparison {
    /// The trial name.
    pub name: String,
    /// The verdict against the daemon.
    pub daemon: Outcome,
    /// The verdict against the mock.
    pub mock: Outcome,
    /// Where the exchanges differ, one line each; empty when they agree.
    pub differences: Vec<String>,
}

/// The whole comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The daemon's URL.
    pub target: String,
    /// How many connections the daemon listed (and the mock was loaded with).
    pub connections: usize,
    /// One entry per case, in case order.
    pub cases: Vec<CaseComparison>,
}

/// Runs every case against the daemon of `config.target` and against an embedded mock holding
/// the daemon's listing.
pub fn compare_with_mock(config: SuiteConfig) -> Result<Comparison, SetupError> {
    let daemon = Suite::prepare(config.clone())?;
    let listing = daemon
        .fetch_listing()
        .map_err(|why| SetupError::Usage(format!("cannot read the target's listing: {why}")))?;
    let store = ConnectionStore::from_json(&json!({ "connections": listing }).to_string())
        .map_err(|e| {
            SetupError::Usage(format!(
                "cannot load the target's listing into the mock: {e}"
            ))
        })?;
    let connections = store.connections().len();

    let mock = Suite::prepare(SuiteConfig {
        target: None,
        api_key: None,
        auth_file: None,
        snapshots: None,
        mock_store: Some(store),
        ..config
    })?;
    let target = daemon.target_url().to_string();
    let daemon_traces = daemon.traces();
    let mock_traces: BTreeMap<String, CaseTrace> = mock
        .traces()
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    daemon.shutdown();
    mock.shutdown();

    let names = uuid_names(&listing);
    let cases = daemon_traces
        .into_iter()
        .filter_map(|daemon| {
            let mock = mock_traces.get(&daemon.name)?;
            Some(CaseComparison {
                name: daemon.name.clone(),
                differences: differences(&daemon.exchanges, &mock.exchanges, &names),
                daemon: daemon.outcome,
                mock: mock.outcome.clone(),
            })
        })
        .collect();
    Ok(Comparison {
        target,
        connections,
        cases,
    })
}

/// Connection names by UUID, to name the connections only one side matched.
fn uuid_names(listing: &serde_json::Value) -> BTreeMap<String, String> {
    derive::items(listing)
        .into_iter()
        .map(|item| (item.uuid, item.connection))
        .collect()
}

fn differences(
    daemon: &[Exchange],
    mock: &[Exchange],
    names: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (ours, theirs) in daemon.iter().zip(mock) {
        let step = &ours.step;
        if ours.status != theirs.status {
            lines.push(format!(
                "{step}: status {} (daemon) vs {} (mock)",
                status_text(&ours.status),
                status_text(&theirs.status)
            ));
            continue;
        }
        match (&ours.body, &theirs.body) {
            (Some(a), Some(b)) => {
                if let Some(difference) = shape_difference("", a, b) {
                    lines.push(format!("{step}: {difference}"));
                }
            }
            (None, None) if ours.raw == theirs.raw => {}
            (a, b) => lines.push(format!(
                "{step}: body {} (daemon) vs {} (mock)",
                a.as_ref().map_or(ours.raw, kind),
                b.as_ref().map_or(theirs.raw, kind)
            )),
        }
        if let (Some(a), Some(b)) = (&ours.found, &theirs.found) {
            let a: BTreeSet<&String> = a.iter().collect();
            let b: BTreeSet<&String> = b.iter().collect();
            let name =
                |uuid: &&String| names.get(*uuid).cloned().unwrap_or_else(|| (*uuid).clone());
            let only_daemon: Vec<String> = a.difference(&b).map(name).collect();
            let only_mock: Vec<String> = b.difference(&a).map(name).collect();
            if !only_daemon.is_empty() {
                lines.push(format!("{step}: only the daemon matched {only_daemon:?}"));
            }
            if !only_mock.is_empty() {
                lines.push(format!("{step}: only the mock matched {only_mock:?}"));
            }
        }
    }
    if daemon.len() != mock.len() {
        lines.push(format!(
            "the daemon's run made {} requests, the mock's {}",
            daemon.len(),
            mock.len()
        ));
    }
    lines
}

/// The first place where two bodies differ in shape: a JSON type, or a member one side lacks.
/// Values are data and may differ; an empty list fits any list.
fn shape_difference(at: &str, daemon: &Value, mock: &Value) -> Option<String> {
    match (daemon, mock) {
        (Value::Object(a), Value::Object(b)) => {
            let only = |x: &serde_json::Map<String, Value>, y: &serde_json::Map<String, Value>| {
                x.keys()
                    .filter(|k| !y.contains_key(*k))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let (only_daemon, only_mock) = (only(a, b), only(b, a));
            if !only_daemon.is_empty() || !only_mock.is_empty() {
                return Some(format!(
                    "at {}: members only the daemon sends {only_daemon:?}, only the mock {only_mock:?}",
                    if at.is_empty() { "/" } else { at }
                ));
            }
            a.iter()
                .find_map(|(key, value)| shape_difference(&format!("{at}/{key}"), value, &b[key]))
        }
        (Value::Array(a), Value::Array(b)) => match (a.first(), b.first()) {
            (Some(x), Some(y)) => shape_difference(&format!("{at}/0"), x, y),
            _ => None,
        },
        (a, b) if kind(a) == kind(b) => None,
        (a, b) => Some(format!(
            "at {}: {} (daemon) vs {} (mock)",
            if at.is_empty() { "/" } else { at },
            kind(a),
            kind(b)
        )),
    }
}

fn status_text(status: &Result<u16, String>) -> String {
    match status {
        Ok(code) => code.to_string(),
        Err(why) => format!("no answer ({why})"),
    }
}

fn outcome_text(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed(_) => "FAILED",
        Outcome::Ignored(_) => "ignored",
    }
}

impl Comparison {
    /// The report: each case where the two sides differ, then a summary line.
    pub fn render(&self) -> String {
        let mut text = format!(
            "comparing {} with the embedded mock holding its {} connections\n",
            self.target, self.connections
        );
        let mut differing = 0;
        // A case ignored against the daemon (no Local credentials, say) has nothing to compare.
        for case in self
            .cases
            .iter()
            .filter(|c| !matches!(c.daemon, Outcome::Ignored(_)))
        {
            let verdicts_differ = outcome_text(&case.daemon) != outcome_text(&case.mock);
            if case.differences.is_empty() && !verdicts_differ {
                continue;
            }
            differing += 1;
            let _ = write!(
                text,
                "\n{}: daemon {}, mock {}",
                case.name,
                outcome_text(&case.daemon),
                outcome_text(&case.mock)
            );
            for line in &case.differences {
                let _ = write!(text, "\n    {line}");
            }
        }
        let ignored = self
            .cases
            .iter()
            .filter(|c| matches!(c.daemon, Outcome::Ignored(_)))
            .count();
        let _ = write!(
            text,
            "\n\n{differing} of {} cases differ; {} agree; {ignored} ignored against the daemon\n",
            self.cases.len() - ignored,
            self.cases.len() - ignored - differing
        );
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(status: u16, body: Value, found: Option<&[&str]>) -> Exchange {
        Exchange {
            step: "step 1".into(),
            status: Ok(status),
            body: Some(body),
            raw: "",
            found: found.map(|f| f.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn statuses_shapes_and_matches_are_compared() {
        let names = BTreeMap::from([("u1".to_owned(), "web".to_owned())]);
        let lines = differences(
            &[exchange(401, json!({}), None)],
            &[exchange(400, json!({}), None)],
            &names,
        );
        assert_eq!(lines, vec!["step 1: status 401 (daemon) vs 400 (mock)"]);

        let lines = differences(
            &[exchange(
                200,
                json!({"found": [{"uuid": "u1"}]}),
                Some(&["u1"]),
            )],
            &[exchange(200, json!({"found": []}), Some(&[]))],
            &names,
        );
        assert_eq!(lines, vec!["step 1: only the daemon matched [\"web\"]"]);

        let same = [exchange(200, json!({"token": "a"}), None)];
        assert!(differences(&same, &same, &names).is_empty());

        let lines = differences(
            &[exchange(200, json!({"token": 1, "extra": true}), None)],
            &[exchange(200, json!({"token": "a"}), None)],
            &names,
        );
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("[\"extra\"]"), "{lines:?}");
    }
}
