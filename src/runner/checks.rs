//! Expectations applied to one answer: each check returns the problems it found, in words.

use serde_json::Value;

use crate::case::{BodyShape, Expect};
use crate::http::HttpResponse;
use crate::runner::derive::{self, QueryFilters};
use crate::runner::template::Variables;
use crate::schema::SchemaSet;

/// The path of the only operation whose answers are filtered lists.
pub const QUERY_PATH: &str = "/connection/query";

/// An answer together with its body parsed as JSON, if it is JSON.
pub struct Answer<'a> {
    /// The raw answer.
    pub response: &'a HttpResponse,
    /// The body as JSON, or why it is not.
    pub json: Result<Value, String>,
}

impl<'a> Answer<'a> {
    /// Parses the body of an answer once, for all checks.
    pub fn new(response: &'a HttpResponse) -> Self {
        let json = if response.body.is_empty() {
            Err("the body is empty".to_owned())
        } else {
            response.json()
        };
        Self { response, json }
    }
}

/// What a step sent, as far as checks need it.
pub struct Sent<'a> {
    /// The request path.
    pub path: &'a str,
    /// The JSON body sent, if the step sent one.
    pub body: Option<&'a Value>,
}

/// Applies every expectation of a step, and the rule every successful query answer follows;
/// returns the problems, empty when all hold.
pub fn check_answer(
    expect: &Expect,
    sent: &Sent<'_>,
    answer: &Answer<'_>,
    vars: &Variables,
    schemas: &SchemaSet,
) -> Vec<String> {
    let mut problems = check_expectations(expect, sent, answer, vars, schemas);
    problems.extend(check_query_invariants(expect, sent, answer));
    problems
}

fn check_expectations(
    expect: &Expect,
    sent: &Sent<'_>,
    answer: &Answer<'_>,
    vars: &Variables,
    schemas: &SchemaSet,
) -> Vec<String> {
    let mut problems = Vec::new();
    let status = answer.response.status;

    if let Some(expected) = &expect.status
        && !expected.accepts(status)
    {
        problems.push(format!("expected status {expected}, got {status}"));
        // The other expectations describe the answer that status would have carried, so
        // checking them against another answer only adds noise.
        return problems;
    }
    if let Some(media_type) = &expect.content_type {
        problems.extend(check_content_type(
            media_type,
            expect.content_type_required,
            answer,
        ));
    }
    if let Some(shape) = expect.body {
        problems.extend(check_body_shape(shape, answer));
    }
    if let Some(model) = &expect.model {
        problems.extend(check_model(model, answer, schemas));
    }
    problems.extend(check_values(expect, answer, vars));
    problems.extend(check_found(expect, sent, answer, vars));
    if let Some(on_success) = &expect.if_2xx
        && (200..300).contains(&status)
    {
        problems.extend(check_expectations(on_success, sent, answer, vars, schemas));
    }
    problems
}

fn check_content_type(expected: &str, required: bool, answer: &Answer<'_>) -> Option<String> {
    match &answer.response.content_type {
        // An answer without a body needs no header.
        None if answer.response.body.is_empty() => None,
        None if required => Some(format!(
            "expected Content-Type {expected}, the header is missing"
        )),
        None => None,
        Some(actual) if essence(actual) == essence(expected) => None,
        Some(actual) => Some(format!("expected Content-Type {expected}, got {actual:?}")),
    }
}

/// The media type without parameters, lowercase: `application/json; charset=UTF-8` is
/// `application/json`.
pub fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn check_body_shape(shape: BodyShape, answer: &Answer<'_>) -> Option<String> {
    let empty = answer.response.body.is_empty();
    let holds = match shape {
        BodyShape::Json => answer.json.is_ok(),
        BodyShape::Empty => empty,
        BodyShape::EmptyOrJson => empty || answer.json.is_ok(),
        BodyShape::EmptyOrEmptyObject => {
            empty || matches!(&answer.json, Ok(Value::Object(fields)) if fields.is_empty())
        }
    };
    let wanted = match shape {
        BodyShape::Json => "a JSON body",
        BodyShape::Empty => "an empty body",
        BodyShape::EmptyOrJson => "an empty or JSON body",
        BodyShape::EmptyOrEmptyObject => "an empty body or {}",
    };
    (!holds).then(|| match &answer.json {
        Err(why) if !empty => format!("expected {wanted}; {why}"),
        _ => format!("expected {wanted}"),
    })
}

fn check_model(model: &str, answer: &Answer<'_>, schemas: &SchemaSet) -> Vec<String> {
    let json = match &answer.json {
        Ok(json) => json,
        Err(why) => return vec![format!("expected a {model}; {why}")],
    };
    match schemas.validate(model, json) {
        Ok(()) => Vec::new(),
        Err(violations) => {
            let mut lines = vec![format!("the body is not a valid {model}:")];
            // A violation quotes the offending value whole; a large answer would drown the report.
            lines.extend(
                violations
                    .iter()
                    .map(|v| format!("  {}", shorten(&v.to_string(), 300))),
            );
            vec![lines.join("\n")]
        }
    }
}

fn check_values(expect: &Expect, answer: &Answer<'_>, vars: &Variables) -> Vec<String> {
    let mut problems = Vec::new();
    let json = answer.json.as_ref().ok();
    for (pointer, expected) in &expect.json {
        let expected = match vars.render_value(expected) {
            Ok(value) => value,
            Err(why) => {
                problems.push(why);
                continue;
            }
        };
        match json.and_then(|j| j.pointer(pointer)) {
            Some(actual) if *actual == expected => {}
            Some(actual) => {
                problems.push(format!("at {pointer}: expected {expected}, got {actual}"))
            }
            None => problems.push(format!("at {pointer}: expected {expected}, found nothing")),
        }
    }
    for pointer in &expect.absent {
        // An empty value carries no data either: `{"token": null}` refuses as well as `{}`.
        if let Some(actual) = json
            .and_then(|j| j.pointer(pointer))
            .filter(|v| !is_empty(v))
        {
            problems.push(format!(
                "at {pointer}: expected nothing, found {}",
                preview(actual)
            ));
        }
    }
    for (pointer, unwanted) in &expect.not_equal {
        match vars.render_value(unwanted) {
            Ok(unwanted) if json.and_then(|j| j.pointer(pointer)) == Some(&unwanted) => {
                problems.push(format!("at {pointer}: expected anything but {unwanted}"));
            }
            Ok(_) => {}
            Err(why) => problems.push(why),
        }
    }
    problems
}

/// What every successful query answer must be, whatever the case asks: its items match the
/// filters that were sent (ignoring case, which the document leaves open), and no connection
/// is listed twice (`uuid` is "the unique id of the connection").
fn check_query_invariants(expect: &Expect, sent: &Sent<'_>, answer: &Answer<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    if sent.path != QUERY_PATH || !(200..300).contains(&answer.response.status) {
        return problems;
    }
    let Some(found) = answer.json.as_ref().ok().and_then(|j| j.get("found")) else {
        return problems;
    };
    let items = derive::items(found);
    let mut seen = std::collections::BTreeSet::new();
    let repeated: Vec<derive::Item> = items
        .iter()
        .filter(|item| !seen.insert(&item.uuid))
        .cloned()
        .collect();
    if !repeated.is_empty() {
        problems.push(format!(
            "the answer gives one uuid to more than one item: {}",
            labels(&repeated)
        ));
    }
    // `agrees_with` reports the same strays with more context; say it once.
    let compared = expect
        .found
        .as_ref()
        .is_some_and(|f| f.agrees_with.is_some());
    if let (false, Some(filters)) = (compared, sent.body.and_then(QueryFilters::from_body)) {
        let strays = derive::items_not_matching(&items, &filters);
        if !strays.is_empty() {
            problems.push(format!(
                "the answer holds connections the filters do not match: {}",
                labels(&strays)
            ));
        }
    }
    problems
}

/// The checks a case asks for on `found`.
fn check_found(
    expect: &Expect,
    sent: &Sent<'_>,
    answer: &Answer<'_>,
    vars: &Variables,
) -> Vec<String> {
    let found = answer.json.as_ref().ok().and_then(|j| j.get("found"));
    let filters = sent.body.and_then(QueryFilters::from_body);
    let mut problems = Vec::new();

    let Some(check) = &expect.found else {
        return problems;
    };
    let Some(found) = found else {
        problems.push("expected a `found` list, the body has none".to_owned());
        return problems;
    };
    let answered = derive::items(found);
    if let Some(count) = check.count
        && found.as_array().map(Vec::len) != Some(count)
    {
        problems.push(format!(
            "expected {count} connections, got {}",
            preview(found)
        ));
    }
    if let Some(expected) = &check.connections {
        let mut expected = expected.clone();
        let mut actual: Vec<String> = answered.iter().map(|i| i.connection.clone()).collect();
        expected.sort();
        actual.sort();
        if expected != actual {
            // A hostile answer may list millions; the expected list is short.
            let shown = actual.len().min(expected.len() + 8);
            let more = match actual.len() - shown {
                0 => String::new(),
                more => format!(" and {more} more"),
            };
            problems.push(format!(
                "expected the connections {expected:?}, got {:?}{more}",
                &actual[..shown]
            ));
        }
    }
    if let Some(listing_var) = &check.agrees_with {
        match (vars.get(listing_var), &filters) {
            (None, _) => problems.push(format!("unknown variable ${{{listing_var}}}")),
            (_, None) => {
                problems.push("`agrees_with` needs a request body with the three filters".into())
            }
            (Some(listing), Some(filters)) => {
                let listing = derive::items(listing);
                let diff = derive::compare_with_listing(&listing, filters, &answered);
                if !diff.missing.is_empty() {
                    problems.push(format!(
                        "the full listing holds connections these filters match that the answer lacks: {}",
                        labels(&diff.missing)
                    ));
                }
                if !diff.unexpected.is_empty() {
                    problems.push(format!(
                        "the answer holds connections these filters must not match (or that the full listing lacks): {}",
                        labels(&diff.unexpected)
                    ));
                }
            }
        }
    }
    problems
}

fn labels(items: &[derive::Item]) -> String {
    const SHOWN: usize = 8;
    let mut text: Vec<String> = items.iter().take(SHOWN).map(|i| i.label()).collect();
    if items.len() > SHOWN {
        text.push(format!("and {} more", items.len() - SHOWN));
    }
    text.join(", ")
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A JSON value shortened for a message.
pub fn preview(value: &Value) -> String {
    let text = value.to_string();
    shorten(&text, 200)
}

/// Text cut to at most `max` characters, marked when cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

/// Text with its control characters (C0 and C1) and bidirectional formatting characters
/// escaped (`\n`, `\u{1b}`, `\u{202e}`), so that an answer body or header shown in a report can
/// neither break the report's lines, nor send escape sequences to a terminal, nor make the
/// report read in another order than it is written.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_bidi_control(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// The characters of Unicode's `Bidi_Control` property: invisible, they reorder the text
/// around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable("a\nb\u{1b}[31m\u{0}é"), "a\\nb\\u{1b}[31m\\u{0}é");
    }

    #[test]
    fn printable_escapes_c1_controls_and_bidi_overrides() {
        assert_eq!(
            printable("text/html\u{9b}31m\u{85}\u{202e}lmth\u{2066}x\u{2069}"),
            "text/html\\u{9b}31m\\u{85}\\u{202e}lmth\\u{2066}x\\u{2069}"
        );
    }

    #[test]
    fn media_types_compare_by_essence() {
        assert_eq!(
            essence("Application/JSON; charset=UTF-8"),
            "application/json"
        );
        assert_eq!(essence("application/json"), "application/json");
    }

    #[test]
    fn shorten_marks_a_cut() {
        assert_eq!(shorten("abc", 5), "abc");
        assert!(shorten(&"x".repeat(300), 10).starts_with("xxxxxxxxxx…"));
    }
}
