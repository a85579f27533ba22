//! insta snapshots of answers, with tokens and UUIDs redacted so that only behaviour shows.
//!
//! A changed snapshot fails its case. Outside CI insta writes the new version beside the old
//! one as `.snap.new` for `cargo insta review`; with `CI=true` it writes nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use serde_json::Value;

use crate::http::HttpResponse;

/// The text stored for an answer: status, media type and the redacted body.
pub fn render(response: &HttpResponse, json: &Result<Value, String>) -> String {
    let content_type = response.content_type.as_deref().unwrap_or("(none)");
    let body = match json {
        Ok(value) => serde_json::to_string_pretty(&redact(value)).unwrap_or_default(),
        Err(_) if response.body.is_empty() => "(empty)".to_owned(),
        Err(_) => String::from_utf8_lossy(&response.body).into_owned(),
    };
    format!(
        "status: {}\ncontent-type: {content_type}\nbody:\n{body}",
        response.status
    )
}

/// Replaces what changes from run to run: the value of every `token` field and every
/// string shaped like a UUID.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, v)| {
                    let v = if key == "token" && v.is_string() {
                        Value::String("[token]".to_owned())
                    } else {
                        redact(v)
                    };
                    (key.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(text) if looks_like_uuid(text) => Value::String("[uuid]".to_owned()),
        other => other.clone(),
    }
}

fn looks_like_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Compares `content` with the snapshot `name` under `dir`; the snapshot records the case
/// file it came from.
pub fn check(dir: &Path, name: &str, case_file: &Path, content: &str) -> Result<(), String> {
    // insta settings are per thread and trials run on worker threads: bind them here.
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_input_file(case_file);
    let outcome = settings.bind(|| {
        catch_unwind(AssertUnwindSafe(|| {
            insta::assert_snapshot!(name.to_owned(), content)
        }))
    });
    outcome.map_err(|_| {
        let stored = dir.join(format!("{name}.snap"));
        let what = if stored.exists() {
            format!(
                "the answer differs from snapshot {} (insta's diff above, except with \
                 --format json)",
                stored.display()
            )
        } else {
            format!("there is no snapshot {} yet", stored.display())
        };
        let next = if std::env::var_os("CI").is_some_and(|v| v != "false" && v != "0") {
            "CI is set, so nothing was written; run locally to record it".to_owned()
        } else {
            "the answer was written beside it as .snap.new: accept it with `cargo insta review` \
             or by renaming it to .snap"
                .to_owned()
        };
        format!("{what}; {next}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_and_uuids_are_redacted() {
        let value = json!({
            "token": "0123456789abcdef0123456789abcdef",
            "found": [{"uuid": "123e4567-e89b-42d3-a456-426614174000", "type": "ssh"}]
        });
        assert_eq!(
            redact(&value),
            json!({"token": "[token]", "found": [{"uuid": "[uuid]", "type": "ssh"}]})
        );
    }
}
