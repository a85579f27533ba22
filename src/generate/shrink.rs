//! Shrinking a failing generated case: smaller and smaller bodies are sent through the same
//! [`RunContext`] while the case still fails the same way, and the smallest is written out as a
//! case file.
//!
//! "The same way" is the [`FailureClass`] of the report: the first problem the runner names,
//! with the status reduced to its class and numbers blanked, so a body that fails with a 500
//! never shrinks into one that fails with a 400.

use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::NAME_PREFIX;
use super::bodies::CREDENTIAL_KINDS;
use super::case_file::{case_file_text, folder_for};
use crate::case::{Case, CaseFile, Requirement};
use crate::runner::RunContext;

/// The most runs one shrink may take.
pub const MAX_ATTEMPTS: usize = 200;

/// The most time one shrink may take.
pub const MAX_TIME: Duration = Duration::from_secs(20);

/// The most runs a shrink may take when the failure is a missing answer: each run costs a
/// whole timeout, and against a daemon that stalls on everything more runs only make the
/// run longer.
pub const MAX_ATTEMPTS_WITHOUT_ANSWER: usize = 2;

/// Runs a case through `context`; a generated case that fails is shrunk, and its report ends
/// with the smallest case file that still fails the same way.
pub async fn run_case(context: &RunContext, case: &Case) -> Result<(), String> {
    match context.run_case(case).await {
        Ok(()) => Ok(()),
        Err(report) => Err(explain_failure(context, case, report).await),
    }
}

/// The failure report of a case, followed for a generated case by the shrunk case file.
pub async fn explain_failure(context: &RunContext, case: &Case, report: String) -> String {
    if !case.name.starts_with(NAME_PREFIX) {
        return report;
    }
    match shrink(context, case, &report).await {
        Some(shrunk) => format!("{report}\n\n{shrunk}"),
        None => report,
    }
}

/// How a case failed, in terms that survive a smaller body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureClass(String);

impl FailureClass {
    /// The class of a runner report: its first problem or its missing answer. `None` when the
    /// report names neither (the case failed before its request went out).
    pub fn of(report: &str) -> Option<FailureClass> {
        for line in report.lines() {
            if let Some(error) = line.strip_prefix("  no answer: ") {
                return Some(FailureClass(format!("no answer: {}", blank(cut(error)))));
            }
            if let Some(problem) = line.strip_prefix("  - ") {
                return Some(FailureClass(normalize(problem)));
            }
        }
        None
    }
}

impl FailureClass {
    /// Whether the request got no (complete) answer.
    pub fn is_missing_answer(&self) -> bool {
        self.0.starts_with("no answer")
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `expected status 4xx, got 500` becomes `expected status 4xx, got 5xx`; other problems keep
/// their words up to the first colon, numbers blanked.
fn normalize(problem: &str) -> String {
    if let Some(rest) = problem.strip_prefix("expected status ")
        && let Some((expected, got)) = rest.rsplit_once(", got ")
        && let Some(class) = got.chars().next()
    {
        return format!("expected status {expected}, got {class}xx");
    }
    blank(cut(problem))
}

fn cut(text: &str) -> &str {
    text.split(':').next().unwrap_or(text).trim()
}

fn blank(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A body being shrunk.
#[derive(Debug, Clone, PartialEq)]
enum Body {
    Json(Value),
    Raw(String),
}

/// The outcome of a shrink.
struct Shrunk {
    case: Case,
    class: FailureClass,
    attempts: usize,
    reductions: usize,
    /// The most runs it was allowed.
    max_attempts: usize,
    /// Whether the budget ran out before no smaller body failed the same way.
    cut_short: bool,
    origin: String,
}

async fn shrink(context: &RunContext, case: &Case, report: &str) -> Option<Shrunk> {
    let class = FailureClass::of(report)?;
    let [step] = &case.spec.steps[..] else {
        return None;
    };
    let mut current = match (&step.request.body, &step.request.raw_body) {
        (Some(json), _) => Body::Json(json.clone()),
        (None, Some(raw)) => Body::Raw(raw.clone()),
        (None, None) => return None,
    };

    // Greedy: take the first smaller body that still fails the same way, then start over
    // from it, until none does or the budget is spent.
    let started = Instant::now();
    let max_attempts = if class.is_missing_answer() {
        MAX_ATTEMPTS_WITHOUT_ANSWER
    } else {
        MAX_ATTEMPTS
    };
    let mut attempts = 0;
    let mut reductions = 0;
    let mut cut_short = false;
    'search: loop {
        for candidate in smaller(&current) {
            if attempts >= max_attempts || started.elapsed() >= MAX_TIME {
                cut_short = true;
                break 'search;
            }
            attempts += 1;
            let probe = with_body(case, &candidate);
            if let Err(report) = context.run_case(&probe).await
                && FailureClass::of(&report).as_ref() == Some(&class)
            {
                current = candidate;
                reductions += 1;
                continue 'search;
            }
        }
        break;
    }
    tracing::debug!(case = %case.name, attempts, reductions, "shrunk a failing generated case");

    let mut shrunk = with_body(case, &current);
    shrunk.spec = CaseFile {
        description: format!(
            "Shrunk from {} ({}): the smallest body found that still fails the same way ({class}). \
             The generated case: {}",
            case.name,
            case.file.display(),
            case.spec.description
        ),
        tags: vec!["generated".to_owned()],
        requires: still_required(&shrunk.spec.requires, &current),
        ..shrunk.spec
    };
    Some(Shrunk {
        case: shrunk,
        class,
        attempts,
        reductions,
        max_attempts,
        cut_short,
        origin: case.name.clone(),
    })
}

/// The requirements a smaller body still has: a credential the body no longer names is not one.
fn still_required(requires: &[Requirement], body: &Body) -> Vec<Requirement> {
    let text = match body {
        Body::Json(json) => json.to_string(),
        Body::Raw(raw) => raw.clone(),
    };
    requires
        .iter()
        .copied()
        .filter(|requirement| {
            CREDENTIAL_KINDS
                .iter()
                .find(|kind| kind.requirement == *requirement)
                .is_none_or(|kind| text.contains(&format!("${{{}}}", kind.variable)))
        })
        .collect()
}

/// The case with another body in its one step.
fn with_body(case: &Case, body: &Body) -> Case {
    let mut case = case.clone();
    let request = &mut case.spec.steps[0].request;
    match body {
        Body::Json(json) => {
            request.body = Some(json.clone());
            request.raw_body = None;
        }
        Body::Raw(raw) => {
            request.body = None;
            request.raw_body = Some(raw.clone());
        }
    }
    case
}

/// Bodies one step smaller than `body`, most promising first: fields and items removed,
/// containers emptied or nulled, strings emptied or cut, numbers and booleans simplified.
fn smaller(body: &Body) -> Vec<Body> {
    match body {
        Body::Raw(raw) => shorter_strings(raw).into_iter().map(Body::Raw).collect(),
        Body::Json(json) => {
            let mut places = Vec::new();
            collect_pointers(json, String::new(), &mut places);
            let mut out: Vec<Value> = Vec::new();

            // Remove object fields and array items, outermost first.
            for pointer in &places {
                if let Some(removed) = remove(json, pointer) {
                    out.push(removed);
                }
            }
            // Replace containers with simpler values.
            for pointer in &places {
                let simpler: Vec<Value> = match json.pointer(pointer) {
                    Some(Value::Object(fields)) if !fields.is_empty() => {
                        vec![Value::Object(Default::default()), Value::Null]
                    }
                    Some(Value::Array(items)) if !items.is_empty() => {
                        vec![Value::Array(Vec::new()), Value::Null]
                    }
                    _ => Vec::new(),
                };
                for value in simpler {
                    if !pointer.is_empty() || value != Value::Null {
                        out.push(replace(json, pointer, value));
                    }
                }
            }
            // Shorten strings (never inside a `${variable}`), simplify numbers and booleans.
            for pointer in &places {
                let simpler: Vec<Value> = match json.pointer(pointer) {
                    Some(Value::String(text)) if !text.contains("${") => shorter_strings(text)
                        .into_iter()
                        .map(Value::String)
                        .collect(),
                    Some(Value::Number(n)) if n.as_i64() != Some(0) => vec![Value::from(0)],
                    Some(Value::Bool(true)) => vec![Value::Bool(false)],
                    _ => Vec::new(),
                };
                for value in simpler {
                    out.push(replace(json, pointer, value));
                }
            }
            out.dedup();
            out.into_iter()
                .filter(|v| v != json)
                .map(Body::Json)
                .collect()
        }
    }
}

/// Shorter strings, the biggest cuts first: empty, then a half, a quarter, ... down to one
/// character taken off either end, so a long string shrinks in a logarithmic number of steps.
fn shorter_strings(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let mut out = vec![String::new()];
    let mut cut = chars.len() / 2;
    loop {
        let cut_now = cut.max(1);
        out.push(chars[..chars.len() - cut_now].iter().collect());
        out.push(chars[cut_now..].iter().collect());
        if cut <= 1 {
            break;
        }
        cut /= 2;
    }
    let mut unique = Vec::new();
    for s in out {
        if s.len() < text.len() && !unique.contains(&s) {
            unique.push(s);
        }
    }
    unique
}

/// Pointers to every value in `json`, parents before children.
fn collect_pointers(json: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match json {
        Value::Object(fields) => {
            for (key, value) in fields {
                let step = key.replace('~', "~0").replace('/', "~1");
                collect_pointers(value, format!("{at}/{step}"), out);
            }
        }
        Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                collect_pointers(value, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

fn remove(json: &Value, pointer: &str) -> Option<Value> {
    let (parent, last) = pointer.rsplit_once('/')?;
    let mut copy = json.clone();
    match copy.pointer_mut(parent)? {
        Value::Object(fields) => {
            fields.remove(&last.replace("~1", "/").replace("~0", "~"))?;
        }
        Value::Array(items) => {
            let index: usize = last.parse().ok()?;
            if index >= items.len() {
                return None;
            }
            items.remove(index);
        }
        _ => return None,
    }
    Some(copy)
}

fn replace(json: &Value, pointer: &str, value: Value) -> Value {
    let mut copy = json.clone();
    if let Some(slot) = copy.pointer_mut(pointer) {
        *slot = value;
    }
    copy
}

impl fmt::Display for Shrunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let request = &self.case.spec.steps[0].request;
        let body = match (&request.body, &request.raw_body) {
            (Some(json), _) => json.to_string(),
            (None, Some(raw)) => format!("raw {raw:?}"),
            (None, None) => "no body".to_owned(),
        };
        let mut text = String::new();
        if self.cut_short {
            let _ = write!(
                text,
                "shrinking stopped at its limit ({} runs or {} s) after {} smaller bodies; this \
                 one still fails the same way ({}):",
                self.max_attempts,
                MAX_TIME.as_secs(),
                self.reductions,
                self.class
            );
        } else {
            let _ = write!(
                text,
                "shrunk in {} runs ({} smaller bodies) to a minimal body that still fails the \
                 same way ({}):",
                self.attempts, self.reductions, self.class
            );
        }
        let _ = write!(text, "\n  {}", crate::runner::checks::shorten(&body, 600));
        let folder = folder_for(&request.path);
        let stem = self
            .origin
            .strip_prefix(NAME_PREFIX)
            .unwrap_or(&self.origin);
        let stem = stem.strip_prefix(&format!("{folder}_")).unwrap_or(stem);
        match case_file_text(&self.case.spec) {
            Ok(file) => write!(
                f,
                "{text}\nto keep it as a case, save this as cases/{folder}/generated_{stem}.yaml:\n\n{file}"
            ),
            Err(why) => write!(f, "{text}\n({why})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_class_keeps_the_status_class_and_drops_details() {
        let report = "step 1 of 1 in generated with --seed 1\n  request: POST /x\n           \
                      {\"a\": \"- b\"}\n  answer:  503 (no Content-Type), 0 bytes in 3 ms\n  \
                      - expected status 2xx or 4xx, got 503\n  - something else";
        assert_eq!(
            FailureClass::of(report).unwrap().to_string(),
            "expected status 2xx or 4xx, got 5xx"
        );
        let model = "head\n  - the body is not a valid HandshakeResponse:\n    at /token: 5";
        assert_eq!(
            FailureClass::of(model).unwrap().to_string(),
            "the body is not a valid HandshakeResponse"
        );
        let timeout = "head\n  request: POST /x\n  no answer: no complete answer within 2.0 s \
                       (timeout)";
        assert_eq!(
            FailureClass::of(timeout).unwrap().to_string(),
            "no answer: no complete answer within #.# s (timeout)"
        );
        assert_eq!(
            FailureClass::of("step 1\n  cannot open a session for this case"),
            None
        );
    }

    #[test]
    fn smaller_bodies_remove_shorten_and_simplify() {
        let body = Body::Json(json!({"a": "xyz", "b": [1, true], "k": "${api_key}"}));
        let smaller: Vec<Value> = smaller(&body)
            .into_iter()
            .map(|b| match b {
                Body::Json(v) => v,
                Body::Raw(_) => unreachable!(),
            })
            .collect();
        assert!(smaller.contains(&json!({"b": [1, true], "k": "${api_key}"})));
        assert!(smaller.contains(&json!({"a": "xyz", "b": [true], "k": "${api_key}"})));
        assert!(smaller.contains(&json!({"a": "", "b": [1, true], "k": "${api_key}"})));
        assert!(smaller.contains(&json!({"a": "xy", "b": [1, true], "k": "${api_key}"})));
        assert!(smaller.contains(&json!({"a": "xyz", "b": [], "k": "${api_key}"})));
        assert!(smaller.contains(&json!({"a": "xyz", "b": [0, true], "k": "${api_key}"})));
        // A variable is never cut into something the runner cannot render.
        assert!(
            smaller
                .iter()
                .all(|v| v.get("k").is_none_or(|k| k == "${api_key}"))
        );
    }

    #[test]
    fn strings_shrink_by_halves_and_ends() {
        assert_eq!(shorter_strings("a𝄞b"), ["", "a𝄞", "𝄞b"]);
        let long = shorter_strings(&"x".repeat(1024));
        let lengths: Vec<usize> = long.iter().map(String::len).collect();
        assert_eq!(
            lengths,
            [0, 512, 768, 896, 960, 992, 1008, 1016, 1020, 1022, 1023]
        );
        assert!(shorter_strings("").is_empty());
    }
}
