//! Redaction of secrets from everything a report prints: the run's credentials, every token an
//! answer of the run carried, what the template transforms make of them, and the escaped forms
//! in which reports quote them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, RwLock};

use super::template::{TRANSFORMS, apply_transform};

/// Forms of a secret with at least this many characters are masked wherever they occur. A
/// shorter one would blank out ordinary text (`ab` is part of many words), so it is masked only
/// where it stands alone: as a whole JSON or Debug string (`"ab"`), as a whole header value, or
/// after an authorization scheme (`Bearer ab`).
const MIN_MASKED_ANYWHERE: usize = 4;

/// Token values longer than this, found in an answer, are not learned: no daemon issues such
/// tokens, and a hostile one could otherwise make every later report scan for megabytes.
const MAX_LEARNED_TOKEN: usize = 4096;

/// Secrets longer than this (a daemon may hand out a token of megabytes) are kept only as their
/// first this many bytes, and a match of those masks the rest of the run of token characters
/// after it too: keeping every form of every such token whole would take gigabytes.
const LONG_SECRET_KEPT: usize = 256;

/// How far past `token` the rest of a member's name may reach (`"tokenId"`, `"token_v2"`).
const MAX_NAME_REST: usize = 64;

/// Replaces secrets with labels in text meant for people. A run has one, shared by all its
/// cases (a clone is a handle to the same secrets), so that a token handed to one case's session
/// is masked in every other case's report too.
#[derive(Clone, Default)]
pub struct Redactor {
    book: Arc<RwLock<Book>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secrets themselves must not reach a log through `{:?}`.
        let book = self.read();
        f.debug_struct("Redactor")
            .field("secrets", &book.known.len())
            .finish()
    }
}

/// The secrets a run has met and every form in which they are masked.
#[derive(Default)]
struct Book {
    /// The values given to [`Redactor::add`] (a long one as its kept start and its length), so
    /// that a secret met again costs nothing.
    known: HashSet<String>,
    /// Forms masked wherever they occur, with their labels, and whether each is the kept start
    /// of a longer form (see [`LONG_SECRET_KEPT`]).
    anywhere: Vec<(String, String, bool)>,
    /// Indexes into `anywhere` by the form's first four bytes, longest form first.
    by_prefix: HashMap<[u8; 4], Vec<usize>>,
    /// One bit per possible first two bytes of a form in `anywhere`: a quick no for most text.
    first_two: Vec<u64>,
    /// Short forms, masked only where they stand alone, with their labels.
    alone: HashMap<String, String>,
}

impl Redactor {
    /// Adds a secret and the label that stands in for it. What the template transforms make of
    /// it is masked too (`${token|drop_last}` shows as `<token|drop_last>`), as are the forms
    /// JSON and Rust's `{:?}` escape it to. An empty secret hides nothing and is left out.
    pub fn add(&self, secret: &str, label: &str) {
        let key = match kept_start(secret) {
            Some(start) => format!("{}:{start}", secret.len()),
            None => secret.to_owned(),
        };
        if secret.is_empty() || self.read().known.contains(&key) {
            return;
        }
        let mut book = self.book.write().unwrap_or_else(|e| e.into_inner());
        book.known.insert(key);
        // An auth file usually ends with a newline that a daemon may trim before echoing.
        let trimmed = secret.trim();
        let values = if trimmed == secret {
            vec![secret]
        } else {
            vec![secret, trimmed]
        };
        // The secret itself first: where a transform leaves it unchanged, its own label wins.
        for value in &values {
            book.add_value(value, label);
        }
        for value in &values {
            for transform in TRANSFORMS {
                if let Some(derived) = apply_transform(transform, value) {
                    book.add_value(&derived, &derived_label(label, transform));
                }
            }
        }
    }

    /// Learns the token values an answer carries, whether or not its body is valid JSON, so
    /// that no report shows them: see [`token_values`].
    pub fn learn_tokens(&self, body: &[u8]) {
        for token in token_values(body) {
            self.add(&token, "<token>");
        }
    }

    /// The text with every secret replaced by its label.
    pub fn apply(&self, text: &str) -> String {
        let book = self.read();
        let mut text = book.mask_anywhere(text);
        for (form, label) in &book.alone {
            let quoted = format!("\"{form}\"");
            if text.contains(&quoted) {
                text = text.replace(&quoted, &format!("\"{label}\""));
            }
        }
        text
    }

    /// One value, such as a header's or a derived value, masked whole when it is a short secret
    /// alone or after an authorization scheme (`Bearer ab`); otherwise as [`Redactor::apply`].
    pub fn apply_to_value(&self, value: &str) -> String {
        {
            let book = self.read();
            let trimmed = value.trim();
            if let Some(label) = book.alone.get(trimmed) {
                return label.clone();
            }
            if let Some((scheme, credential)) = trimmed.split_once(' ')
                && let Some(label) = book.alone.get(credential.trim())
            {
                return format!("{scheme} {label}");
            }
        }
        self.apply(value)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Book> {
        // A panic elsewhere while adding leaves the book usable: each insert is whole.
        self.book.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Book {
    /// Registers a value and its escaped forms under `label`; a form met before keeps its label.
    fn add_value(&mut self, value: &str, label: &str) {
        if value.is_empty() {
            return;
        }
        let mut forms = vec![value.to_owned()];
        for escaped in [json_escaped(value), debug_escaped(value)] {
            if !forms.contains(&escaped) {
                forms.push(escaped);
            }
        }
        for form in forms {
            if form.chars().count() >= MIN_MASKED_ANYWHERE {
                self.add_anywhere(form, label);
            } else {
                self.alone.entry(form).or_insert_with(|| label.to_owned());
            }
        }
    }

    fn add_anywhere(&mut self, form: String, label: &str) {
        let (form, cut) = match kept_start(&form) {
            Some(start) => (start.to_owned(), true),
            None => (form, false),
        };
        let bytes = form.as_bytes();
        let prefix = [bytes[0], bytes[1], bytes[2], bytes[3]];
        let candidates = self.by_prefix.entry(prefix).or_default();
        if candidates.iter().any(|&i| self.anywhere[i].0 == form) {
            return;
        }
        // Longest first, so that a secret that contains another is replaced whole.
        let at = candidates.partition_point(|&i| self.anywhere[i].0.len() >= form.len());
        candidates.insert(at, self.anywhere.len());
        if self.first_two.is_empty() {
            self.first_two = vec![0; 1 << 10];
        }
        let bit = two_bytes(bytes);
        self.first_two[bit / 64] |= 1 << (bit % 64);
        self.anywhere.push((form, label.to_owned(), cut));
    }

    /// The text with every form in `anywhere` replaced by its label, leftmost and longest
    /// first. A form cut short by a report's `…` is replaced too, since what precedes the cut
    /// is still part of a secret.
    fn mask_anywhere(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let (mut copied, mut at) = (0, 0);
        while at + MIN_MASKED_ANYWHERE <= bytes.len() {
            let rest = &bytes[at..];
            let bit = two_bytes(rest);
            let maybe = self
                .first_two
                .get(bit / 64)
                .is_some_and(|word| word & (1 << (bit % 64)) != 0);
            let found = maybe
                .then(|| self.by_prefix.get(&[rest[0], rest[1], rest[2], rest[3]]))
                .flatten()
                .and_then(|candidates| {
                    candidates.iter().find_map(|&i| {
                        let (form, label, cut) = &self.anywhere[i];
                        let mut length = matched_length(rest, form.as_bytes())?;
                        if *cut {
                            length += rest[length..]
                                .iter()
                                .take_while(|&&b| is_token_byte(b))
                                .count();
                        }
                        Some((length, label))
                    })
                });
            match found {
                Some((length, label)) => {
                    out.push_str(&text[copied..at]);
                    out.push_str(label);
                    at += length;
                    copied = at;
                }
                None => at += 1,
            }
        }
        out.push_str(&text[copied..]);
        out
    }
}

/// The start kept of a secret longer than [`LONG_SECRET_KEPT`], cut at a character boundary;
/// `None` for a shorter one.
fn kept_start(secret: &str) -> Option<&str> {
    if secret.len() <= LONG_SECRET_KEPT {
        return None;
    }
    let mut end = LONG_SECRET_KEPT;
    while !secret.is_char_boundary(end) {
        end -= 1;
    }
    Some(&secret[..end])
}

/// Whether `byte` may continue a token in text: anything but the quotes, escapes, separators
/// and white space that end a value in JSON, headers and reports.
fn is_token_byte(byte: u8) -> bool {
    !matches!(
        byte,
        b'"' | b'\''
            | b'\\'
            | b','
            | b';'
            | b'}'
            | b']'
            | b'<'
            | b'>'
            | b'&'
            | b' '
            | b'\t'
            | b'\r'
            | b'\n'
    )
}

/// How many bytes of `text` are `form`: all of it, or the part before a `…` that cut it.
fn matched_length(text: &[u8], form: &[u8]) -> Option<usize> {
    if text.starts_with(form) {
        return Some(form.len());
    }
    let common = text.iter().zip(form).take_while(|(a, b)| a == b).count();
    (common >= MIN_MASKED_ANYWHERE && text[common..].starts_with("…".as_bytes())).then_some(common)
}

fn two_bytes(bytes: &[u8]) -> usize {
    usize::from(bytes[0]) << 8 | usize::from(bytes[1])
}

/// `<session-token>` with a transform becomes `<session-token|drop_last>`, in the syntax of the
/// template that made the value.
fn derived_label(label: &str, transform: &str) -> String {
    match label.strip_suffix('>') {
        Some(open) => format!("{open}|{transform}>"),
        None => format!("{label}|{transform}"),
    }
}

/// How a string appears inside a JSON string literal.
fn json_escaped(value: &str) -> String {
    let quoted = serde_json::Value::from(value).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// How a string appears inside its `{:?}` form.
fn debug_escaped(value: &str) -> String {
    let quoted = format!("{value:?}");
    quoted[1..quoted.len() - 1].to_owned()
}

/// The string values of members whose name holds `token` (in any letter case), found in the
/// text of a body, both as written and unescaped. The text is searched rather than parsed, so
/// that an answer that is not strictly JSON (a byte-order mark, a trailing comma, a cut-off
/// end) still gives up the token it hands out.
pub fn token_values(body: &[u8]) -> Vec<String> {
    let mut values = Vec::new();
    let mut at = 0;
    while let Some(found) = find_ignoring_case(&body[at..], b"token") {
        at += found + b"token".len();
        let Some(raw) = member_string_value(&body[at..]) else {
            continue;
        };
        let written = String::from_utf8_lossy(raw).into_owned();
        // The unescaped value is the token itself; the written one is what a report may quote.
        if let Ok(unescaped) = serde_json::from_str::<String>(&format!("\"{written}\""))
            && unescaped != written
        {
            values.push(unescaped);
        }
        values.push(written);
    }
    values
}

/// The string value of a member, read from just after `token` in its name: the rest of the
/// name, `"`, `:`, then a string up to its closing quote or the end of the body.
fn member_string_value(text: &[u8]) -> Option<&[u8]> {
    let name_end = text.iter().take(MAX_NAME_REST).position(|&b| b == b'"')?;
    let rest = skip_whitespace(&text[name_end + 1..]);
    let rest = skip_whitespace(rest.strip_prefix(b":")?);
    let value = rest.strip_prefix(b"\"")?;
    let mut end = 0;
    while end < value.len() && value[end] != b'"' {
        end += if value[end] == b'\\' { 2 } else { 1 };
    }
    let value = &value[..end.min(value.len())];
    (!value.is_empty() && value.len() <= MAX_LEARNED_TOKEN).then_some(value)
}

fn skip_whitespace(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    &text[start..]
}

fn find_ignoring_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_longest_first() {
        let redactor = Redactor::default();
        redactor.add("abcd", "<short>");
        redactor.add("abcdefgh", "<long>");
        redactor.add("", "<empty>");
        assert_eq!(
            redactor.apply("key abcdefgh and abcd"),
            "key <long> and <short>"
        );
    }

    #[test]
    fn what_templates_derive_from_a_secret_is_masked() {
        let redactor = Redactor::default();
        redactor.add("b02f6876aa", "<session-token>");
        assert_eq!(
            redactor.apply("Bearer b02f6876a, B02F6876AA, b02f6876aa"),
            "Bearer <session-token|drop_last>, <session-token|upper>, <session-token>"
        );
    }

    #[test]
    fn escaped_forms_of_a_secret_are_masked() {
        let secret = r#"k"ey\with"quotes"#;
        let redactor = Redactor::default();
        redactor.add(secret, "<api-key>");
        let json = serde_json::json!({ "key": secret }).to_string();
        assert_eq!(redactor.apply(&json), r#"{"key":"<api-key>"}"#);
        assert_eq!(redactor.apply(&format!("{secret:?}")), r#""<api-key>""#);
        let control = "line\nbreak\u{1}";
        redactor.add(control, "<token>");
        let json = serde_json::json!({ "token": control }).to_string();
        assert_eq!(redactor.apply(&json), r#"{"token":"<token>"}"#);
    }

    #[test]
    fn a_secret_cut_by_a_report_is_masked_up_to_the_cut() {
        let redactor = Redactor::default();
        redactor.add("0123456789abcdef", "<token>");
        assert_eq!(
            redactor.apply("found \"0123456789… (80 bytes in all)"),
            "found \"<token>… (80 bytes in all)"
        );
        // Less than the minimum before the cut says too little to be masked.
        assert_eq!(redactor.apply("x 012…"), "x 012…");
    }

    #[test]
    fn short_secrets_are_masked_where_they_stand_alone() {
        let redactor = Redactor::default();
        redactor.add("ab1", "<api-key>");
        assert_eq!(
            redactor.apply(r#"{"key":"ab1","name":"lab1","other":"ab"}"#),
            r#"{"key":"<api-key>","name":"lab1","other":"<api-key|drop_last>"}"#
        );
        assert_eq!(redactor.apply_to_value("Bearer ab1"), "Bearer <api-key>");
        assert_eq!(redactor.apply_to_value("ab1"), "<api-key>");
        assert_eq!(redactor.apply_to_value("Bearer xab1"), "Bearer xab1");
    }

    #[test]
    fn a_long_secret_is_kept_short_and_still_masked_whole() {
        let redactor = Redactor::default();
        let token = "t0k".repeat(100_000);
        redactor.add(&token, "<token>");
        let text = format!(
            r#"{{"token":"{token}","next":"{}"}}"#,
            &token[..token.len() - 1]
        );
        // Kept to their start, the token and what drops its last character look alike.
        assert_eq!(
            redactor.apply(&text),
            r#"{"token":"<token>","next":"<token>"}"#
        );
        let book = redactor.read();
        assert!(
            book.anywhere
                .iter()
                .all(|(form, ..)| form.len() <= LONG_SECRET_KEPT)
        );
        assert!(
            book.known
                .iter()
                .all(|key| key.len() < 2 * LONG_SECRET_KEPT)
        );
    }

    #[test]
    fn clones_share_what_is_learned() {
        let redactor = Redactor::default();
        let other_case = redactor.clone();
        other_case.learn_tokens(br#"{"token": "0f1e2d3c4b5a6978"}"#);
        assert_eq!(
            redactor.apply("Location: /x?t=0f1e2d3c4b5a6978"),
            "Location: /x?t=<token>"
        );
        assert!(!format!("{redactor:?}").contains("0f1e"));
    }

    #[test]
    fn tokens_are_found_in_answers_that_are_not_json() {
        let body = "\u{feff}{\"token\" : \"SECRET-1\", \"sessionToken\":\"a\\\"b\", \"tokens\": [1],\n\
                    \"note\": \"token\", \"x\": 1, \"Token\":\"cut-off";
        assert_eq!(
            token_values(body.as_bytes()),
            vec!["SECRET-1", "a\"b", "a\\\"b", "cut-off"]
        );
        assert!(token_values(b"{\"token\": 42, \"token\": \"\"}").is_empty());
    }
}
