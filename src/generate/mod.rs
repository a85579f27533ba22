//! Cases generated from the request models: valid and invalid bodies for each operation, drawn
//! deterministically from a seed and run as ordinary cases; a failing one is shrunk to a small
//! case file that can be saved under `cases/`.
//!
//! What is generated follows the schema files the run loads ([`model`]), so a change of a
//! schema changes the cases. The generator owns no list of fields; it owns the table of
//! operations (which model each path takes and answers with), the credential kinds, and the
//! reviewed list of required fields whose absence the document leaves open.

mod bodies;
mod case_file;
mod model;
mod rng;
mod shrink;
mod strings;

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub use bodies::{Candidate, Category, Expectation, OPEN_REQUIRED, Payload};
pub use case_file::case_file_text;
pub use model::SchemaFiles;
pub use rng::Rng;
pub use shrink::{
    FailureClass, MAX_ATTEMPTS, MAX_ATTEMPTS_WITHOUT_ANSWER, MAX_TIME, explain_failure, run_case,
};

use crate::case::{Case, CaseFile, Requirement};
use crate::loader::LoadError;
use crate::runner::Credentials;

/// How many cases a plain run generates.
pub const DEFAULT_COUNT: usize = 24;

/// The seed of a plain run, so that plain runs are reproducible.
pub const DEFAULT_SEED: u64 = 1;

/// The prefix of every generated case's name.
pub const NAME_PREFIX: &str = "generated::";

/// One operation of the document, as the generator needs it.
#[derive(Debug)]
pub struct Operation {
    /// The name in case names and tags, as the case folders spell it.
    pub name: &'static str,
    /// The path.
    pub path: &'static str,
    /// The model of the request body.
    pub request_model: &'static str,
    /// The model of a successful answer; `None` for an answer with no meaningful body.
    pub answer_model: Option<&'static str>,
    /// Whether the request needs a session.
    pub authenticated: bool,
    /// Whether it has visible effects on a desktop daemon (the `side-effects` tag).
    pub side_effects: bool,
    /// Whether the daemon may refuse a valid body: the document lets a daemon refuse a filter
    /// it cannot use (NOTES.md), so valid queries expect a 2xx or a 4xx.
    pub may_refuse_valid: bool,
}

/// The operations of the document.
pub const OPERATIONS: [Operation; 3] = [
    Operation {
        name: "handshake",
        path: "/handshake",
        request_model: "HandshakeRequest",
        answer_model: Some("HandshakeResponse"),
        authenticated: false,
        side_effects: false,
        may_refuse_valid: false,
    },
    Operation {
        name: "connection_query",
        path: "/connection/query",
        request_model: "ConnectionQueryRequest",
        answer_model: Some("ConnectionQueryResponse"),
        authenticated: true,
        side_effects: false,
        may_refuse_valid: true,
    },
    Operation {
        name: "daemon_open",
        path: "/daemon/open",
        request_model: "DaemonOpenRequest",
        answer_model: None,
        authenticated: true,
        side_effects: true,
        may_refuse_valid: false,
    },
];

/// How many cases to generate, and from which seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    /// The most cases to generate; 0 generates none.
    pub count: usize,
    /// The seed every choice is drawn from.
    pub seed: u64,
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "generated: {} cases from the request models, --seed {} (the same seed generates \
             them again)",
            self.count, self.seed
        )
    }
}

/// One generated body with its operation, before it becomes a case.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The operation it is sent to.
    pub operation: &'static Operation,
    /// The body and what it tests.
    pub candidate: Candidate,
    /// The credential kinds its body names, as requirements.
    pub requires: Vec<Requirement>,
}

impl Generation {
    /// The generated cases, in selection order; an operation whose models the generator
    /// cannot follow gives one failing entry instead, named after it.
    pub fn cases(
        &self,
        schemas_dir: &Path,
        credentials: &Credentials,
    ) -> Vec<Result<Case, LoadError>> {
        if self.count == 0 {
            return Vec::new();
        }
        let files = match SchemaFiles::load(schemas_dir) {
            Ok(files) => files,
            Err(message) => {
                return OPERATIONS
                    .iter()
                    .map(|o| Err(self.failure(schemas_dir, o, &message)))
                    .collect();
            }
        };
        let (picked, failures) = self.select(&files, schemas_dir, credentials);
        let mut out: Vec<Result<Case, LoadError>> = failures.into_iter().map(Err).collect();
        for (index, generated) in picked.into_iter().enumerate() {
            let absent = answer_fields(&files, generated.operation);
            out.push(
                self.case(&generated, index, &absent)
                    .map_err(|message| LoadError {
                        name: format!("{NAME_PREFIX}{}", generated.operation.name),
                        file: self.file(),
                        location: None,
                        message,
                    }),
            );
        }
        out
    }

    /// Every body of every operation the run can send, then `count` of them taken in turn
    /// from each family (operation, category and expectation), each family shuffled by the
    /// seed. An operation whose models the generator cannot follow gives a failure instead.
    pub fn select(
        &self,
        files: &SchemaFiles,
        schemas_dir: &Path,
        credentials: &Credentials,
    ) -> (Vec<Generated>, Vec<LoadError>) {
        let mut families: Vec<Vec<Generated>> = Vec::new();
        let mut failures = Vec::new();
        for (index, operation) in OPERATIONS.iter().enumerate() {
            match population(files, operation, index, self.seed, credentials) {
                Ok(bodies) => {
                    // A family: one category with one expectation, so that bodies the
                    // document fully defines are not outnumbered by those it leaves open.
                    let mut by_family: Vec<((Category, bool), Vec<Generated>)> = Vec::new();
                    for generated in bodies {
                        let key = (
                            generated.candidate.category,
                            generated.candidate.expectation == Expectation::SuccessOrRefusal,
                        );
                        match by_family.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, family)) => family.push(generated),
                            None => by_family.push((key, vec![generated])),
                        }
                    }
                    by_family.sort_by_key(|(k, _)| *k);
                    families.extend(by_family.into_iter().map(|(_, f)| f));
                }
                Err(message) => failures.push(self.failure(schemas_dir, operation, &message)),
            }
        }

        // Each family shuffled, then one from each in turn: a small count still reaches every
        // operation and every kind of body, and a larger count with the same seed starts with
        // the same cases.
        let mut rng = Rng::new(self.seed ^ 0x5e1e_c7ed_5e1e_c7ed);
        for family in &mut families {
            rng.shuffle(family);
        }
        let mut picked = Vec::new();
        let longest = families.iter().map(Vec::len).max().unwrap_or(0);
        'rounds: for round in 0..longest {
            for family in &families {
                if picked.len() >= self.count {
                    break 'rounds;
                }
                if let Some(generated) = family.get(round) {
                    picked.push(generated.clone());
                }
            }
        }
        (picked, failures)
    }

    /// The failing entry of an operation whose models the generator cannot follow.
    fn failure(&self, schemas_dir: &Path, operation: &Operation, message: &str) -> LoadError {
        LoadError {
            name: format!("{NAME_PREFIX}{}", operation.name),
            file: schemas_dir.join(format!("{}.json", operation.request_model)),
            location: None,
            message: format!("cannot generate cases (--seed {}): {message}", self.seed),
        }
    }

    /// What generated cases name as their file: the seed that makes them again.
    fn file(&self) -> PathBuf {
        PathBuf::from(format!("generated with --seed {}", self.seed))
    }

    fn case(&self, generated: &Generated, index: usize, absent: &[String]) -> Result<Case, String> {
        let Generated {
            operation,
            candidate,
            requires,
        } = generated;
        let mut request = json!({"path": operation.path});
        if !operation.authenticated {
            request["session"] = json!("none");
        }
        match &candidate.payload {
            Payload::Json(body) => request["body"] = body.clone(),
            Payload::Raw(raw) => {
                request["raw_body"] = json!(raw);
                request["headers"] = json!({"Content-Type": "application/json"});
            }
        }

        let answer = match operation.answer_model {
            Some(model) => json!({"model": model}),
            None => json!({"body": "empty_or_json"}),
        };
        let answer_words = match operation.answer_model {
            Some(model) => format!("a {model}"),
            None => "an empty or JSON body".to_owned(),
        };
        let (expect, rule) = match candidate.expectation {
            Expectation::Success => {
                let mut expect = json!({"status": "2xx"});
                merge(&mut expect, &answer);
                let rule = format!(
                    "A valid body with the run's credentials: a 2xx with {answer_words}, never a \
                     4xx, a 5xx or a timeout."
                );
                (expect, rule)
            }
            Expectation::SuccessOrRefusal => (
                json!({"status": ["2xx", "4xx"], "if_2xx": answer}),
                format!(
                    "A valid body that the document lets a daemon refuse: a 2xx with \
                     {answer_words}, or a 4xx; never a 5xx or a timeout."
                ),
            ),
            Expectation::Refusal => {
                let mut expect = json!({"status": "4xx"});
                if !absent.is_empty() {
                    expect["absent"] = json!(absent);
                }
                let why = match candidate.category {
                    Category::WrongCredentials => "Credentials that are not the daemon's",
                    _ => "A body the model does not allow",
                };
                (
                    expect,
                    format!("{why}: refused with a 4xx, never a 2xx, a 5xx or a timeout."),
                )
            }
        };

        let mut tags = vec!["generated".to_owned(), operation.name.to_owned()];
        if candidate.expectation == Expectation::Refusal
            && candidate.category != Category::WrongCredentials
        {
            tags.push("malformed".to_owned());
        }
        if operation.side_effects {
            tags.push("side-effects".to_owned());
        }
        let spec = json!({
            "description": format!(
                "Generated from {} with --seed {}: {}. {rule}",
                operation.request_model, self.seed, candidate.what
            ),
            "level": "must",
            "tags": tags,
            "requires": requires,
            "steps": [{"request": request, "expect": expect}],
        });
        let spec: CaseFile = serde_json::from_value(spec)
            .map_err(|e| format!("a generated case does not fit the case format: {e}"))?;
        Ok(Case {
            name: format!(
                "{NAME_PREFIX}{}_{}_{index}",
                operation.name, candidate.label
            ),
            file: self.file(),
            spec,
        })
    }
}

/// Every body the generator makes for one operation that this run can send, without repeats.
fn population(
    files: &SchemaFiles,
    operation: &'static Operation,
    index: usize,
    seed: u64,
    credentials: &Credentials,
) -> Result<Vec<Generated>, String> {
    let shape = files.shape(operation.request_model)?;
    // Each operation draws from its own stream, so that one model's change leaves the bodies
    // of the others as they were.
    let mut rng = Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(index as u64 + 1));
    let all = bodies::candidates(&shape, operation.may_refuse_valid, &mut rng)?;

    let mut seen_labels = Vec::new();
    let mut seen_payloads = Vec::new();
    let mut out = Vec::new();
    for candidate in all {
        let requires = requirements(&candidate.payload);
        let usable = requires.iter().all(|r| match r {
            Requirement::ApiKey => credentials.api_key.is_some(),
            Requirement::LocalAuth => credentials.auth_file_content.is_some(),
            _ => true,
        });
        // Without a kind of credentials its bodies are not sent; a label the first kind could
        // not use may still come from the second.
        if !usable
            || seen_labels.contains(&candidate.label)
            || seen_payloads.contains(&candidate.payload)
        {
            continue;
        }
        seen_labels.push(candidate.label.clone());
        seen_payloads.push(candidate.payload.clone());
        out.push(Generated {
            operation,
            candidate,
            requires,
        });
    }
    Ok(out)
}

/// The requirements a body's credential variables put on the run.
fn requirements(payload: &Payload) -> Vec<Requirement> {
    let text = match payload {
        Payload::Json(body) => body.to_string(),
        Payload::Raw(raw) => raw.clone(),
    };
    bodies::CREDENTIAL_KINDS
        .iter()
        .filter(|kind| text.contains(&format!("${{{}}}", kind.variable)))
        .map(|kind| kind.requirement)
        .collect()
}

/// JSON pointers to the fields a successful answer must hold, which a refusal must not.
fn answer_fields(files: &SchemaFiles, operation: &Operation) -> Vec<String> {
    let Some(model) = operation.answer_model else {
        return Vec::new();
    };
    match files.shape(model) {
        Ok(model::Shape::Object(object)) => object
            .alternatives
            .first()
            .map(|alternative| {
                alternative
                    .properties
                    .iter()
                    .filter(|p| p.required())
                    .map(|p| format!("/{}", p.name.replace('~', "~0").replace('/', "~1")))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn merge(into: &mut Value, from: &Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

#[cfg(test)]
mod tests;
