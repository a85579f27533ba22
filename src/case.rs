//! The declarative case format: what a case file under `cases/` may say, as plain values.
//!
//! A case is an ordered list of steps; a step is one request (or one request per derived value)
//! and the expectations on its answer. Nothing here knows HTTP or how a case is run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A case as loaded from its file, with the name the report gives it.
#[derive(Debug, Clone)]
pub struct Case {
    /// The trial name: the folder and the file stem, joined by `::`.
    pub name: String,
    /// The file the case was read from.
    pub file: PathBuf,
    /// What the file says.
    pub spec: CaseFile,
}

/// The contents of one case file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What the case checks and why, in a sentence or two.
    pub description: String,
    /// How much weight a failure carries.
    pub level: Level,
    /// Free words for selecting or skipping cases from the command line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Conditions without which the case is ignored, with the reason, instead of run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<Requirement>,
    /// The requests, in order.
    pub steps: Vec<Step>,
}

/// How much weight a failing case carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The document or its OpenAPI source requires it: a failure fails the run.
    Must,
    /// Reference behaviour the document leaves open: reported, failing only with `--strict`.
    Should,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "must",
            Level::Should => "should",
        })
    }
}

/// A condition a case needs from the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// The target is the embedded mock with its default fixture, whose data the case names.
    MockData,
    /// The target holds at least one connection.
    Connections,
    /// The run has an API key (`--api-key` or `XPIPE_API_KEY`).
    ApiKey,
    /// The run can read the daemon's auth file (`--auth-file`).
    LocalAuth,
}

/// One request and what its answer must be.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A short name for the report; defaults to the step's position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Repeats the step once per value derived from a captured listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<ForEach>,
    /// Sends the request several times at once instead of once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Parallel>,
    /// What to send.
    pub request: Request,
    /// What the answer must be.
    #[serde(default)]
    pub expect: Expect,
    /// Variables to set from the answer: name to JSON pointer into the answer body.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture: BTreeMap<String, String>,
}

/// The request of a step. Strings in `path`, `headers` and `body` may name variables as
/// `${name}`: captured values, `${value}` inside `for_each`, and the run's credentials
/// `${api_key}` and `${auth_file_content}`, which the report never prints.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The HTTP method; every operation of the document is `POST`.
    #[serde(default = "default_method", skip_serializing_if = "is_default_method")]
    pub method: String,
    /// The path, starting with `/`.
    pub path: String,
    /// Extra headers, sent as given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Which `Authorization` header to send.
    #[serde(default, skip_serializing_if = "is_default")]
    pub session: Session,
    /// A JSON body, sent with `Content-Type: application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A body sent byte for byte, for malformed input; no `Content-Type` unless in `headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<String>,
}

fn default_method() -> String {
    "POST".to_owned()
}

fn is_default_method(method: &str) -> bool {
    method == "POST"
}

/// Whether a value is its type's default, so that a written case file leaves it out.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The `Authorization` a request carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Session {
    /// `Bearer` with the case's own session, opened by a handshake with the run's credentials
    /// the first time a step needs it.
    #[default]
    Fresh,
    /// No `Authorization` header.
    None,
    /// `Bearer` with this literal token (variables allowed).
    Token(String),
}

/// Expectations on an answer; each one that is given must hold.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The status: a code, a class such as `4xx`, or a list of either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusSet>,
    /// The media type the answer declares, compared by essence (parameters such as a charset
    /// are allowed). An absent header passes unless `content_type_required` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Whether the `Content-Type` header must be present.
    #[serde(default, skip_serializing_if = "is_default")]
    pub content_type_required: bool,
    /// What the body must be as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyShape>,
    /// The model (a file stem under `schemas/`) the JSON body must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// JSON values the body must hold: JSON pointer to value (variables allowed in strings).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub json: BTreeMap<String, Value>,
    /// JSON pointers that must not exist in the body (no data for a refused request).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    /// JSON pointers whose value must differ from the given one (variables allowed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_equal: BTreeMap<String, Value>,
    /// Checks on the `found` list of a connection query answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<FoundCheck>,
    /// Compare the status and the redacted body with a stored insta snapshot of this name.
    /// Checked against the embedded mock, and against other targets only with `--snapshots`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Further expectations that apply only when the status is 2xx, for steps whose `status`
    /// allows both a success and a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_2xx: Option<Box<Expect>>,
}

/// A set of acceptable statuses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StatusSet {
    /// One code or class.
    One(StatusPattern),
    /// Any of these codes or classes.
    Any(Vec<StatusPattern>),
}

/// A status code (`200`) or a class (`"4xx"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StatusPattern {
    /// Exactly this code.
    Code(u16),
    /// A class written as a digit followed by `xx`.
    Class(String),
}

impl StatusPattern {
    /// Whether `status` fits this pattern; a malformed class fits nothing.
    pub fn accepts(&self, status: u16) -> bool {
        match self {
            StatusPattern::Code(code) => *code == status,
            StatusPattern::Class(class) => {
                let class = class.to_ascii_lowercase();
                match class.strip_suffix("xx").and_then(|d| d.parse::<u16>().ok()) {
                    Some(digit) if class.len() == 3 => status / 100 == digit,
                    _ => false,
                }
            }
        }
    }
}

impl StatusSet {
    /// Whether `status` fits any of the patterns.
    pub fn accepts(&self, status: u16) -> bool {
        self.patterns().iter().any(|p| p.accepts(status))
    }

    /// The patterns, one or many.
    pub fn patterns(&self) -> &[StatusPattern] {
        match self {
            StatusSet::One(one) => std::slice::from_ref(one),
            StatusSet::Any(many) => many,
        }
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .patterns()
            .iter()
            .map(|p| match p {
                StatusPattern::Code(code) => code.to_string(),
                StatusPattern::Class(class) => class.clone(),
            })
            .collect();
        f.write_str(&parts.join(" or "))
    }
}

/// What a body must be as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyShape {
    /// Any JSON document.
    Json,
    /// No bytes at all.
    Empty,
    /// No bytes, or any JSON document.
    EmptyOrJson,
    /// No bytes, or an empty JSON object.
    EmptyOrEmptyObject,
}

/// Checks on `found`, the list a connection query answers with.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FoundCheck {
    /// A variable holding a full listing (captured `found` of a `**`/`**`/`*` query): the
    /// answer must be exactly the listing's items that the sent filters match, computed
    /// locally. Matching may ignore case or not; both are allowed by the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agrees_with: Option<String>,
    /// The `connection` paths the answer must hold, in any order, and nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<Vec<String>>,
    /// How many items the answer must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

/// Sends a step's request several times at once; every answer must meet the expectations.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Parallel {
    /// How many requests to send at once (at most 64).
    pub count: usize,
    /// Whether the requests share the case's session or each opens its own (concurrently,
    /// before the requests go out); only for `session: fresh`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub sessions: LaneSessions,
    /// JSON pointers whose values must differ between every two answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distinct: Vec<String>,
    /// Whether every answer must carry the same body.
    #[serde(default, skip_serializing_if = "is_default")]
    pub consistent: bool,
}

/// Which session the parallel requests of a step use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneSessions {
    /// All use the case's one session.
    #[default]
    Shared,
    /// Each opens its own session first.
    Own,
}

/// Repeats a step once per value derived from a captured listing.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForEach {
    /// Which values to derive.
    pub derive: Derivation,
    /// The variable holding the listing to derive them from.
    pub from: String,
    /// The variable each value is bound to; `value` unless given.
    #[serde(
        default = "default_binding",
        skip_serializing_if = "is_default_binding"
    )]
    pub binding: String,
    /// The most values to try, spread evenly over all there are.
    #[serde(default = "default_limit", skip_serializing_if = "is_default_limit")]
    pub limit: usize,
}

fn default_binding() -> String {
    "value".to_owned()
}

fn is_default_binding(binding: &str) -> bool {
    binding == default_binding()
}

fn default_limit() -> usize {
    24
}

fn is_default_limit(limit: &usize) -> bool {
    *limit == default_limit()
}

/// A family of filter values derived from what a daemon holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Derivation {
    /// Each full connection path, as it is.
    ConnectionNames,
    /// Each full category path, as it is.
    CategoryPaths,
    /// Each type identifier, as it is.
    Types,
    /// The first part of each connection path that has more than one part.
    ConnectionFirstParts,
    /// The first part of each category path that has more than one part.
    CategoryFirstParts,
    /// A star per part: `*`, `*/*`, ... up to one part deeper than the deepest connection.
    ConnectionDepths,
    /// A star per part, for category paths.
    CategoryDepths,
    /// Each connection path with one character turned into `.` (a regex would match it).
    ConnectionRegexDots,
    /// Each connection path holding a regular-expression metacharacter, as it is.
    ConnectionMetacharNames,
    /// Each connection path with `[` appended (an unclosed class to a regex engine).
    ConnectionOpenBrackets,
    /// Each connection path without its first and last character (a substring).
    ConnectionInnerParts,
    /// Each connection path's first and last character with `*` between.
    ConnectionFirstLastStar,
    /// Each connection path's first and last character with `**` between.
    #[serde(alias = "connection_first_last_globstar")]
    ConnectionFirstLastGlobStar,
    /// The first half of each type identifier followed by `*`.
    TypePrefixes,
    /// `*` followed by the second half of each type identifier.
    TypeSuffixes,
    /// The middle of each type identifier between two `*`.
    TypeInfixes,
    /// Each connection path followed by `*` (a star that must match the empty run).
    ConnectionTrailingStar,
    /// `*` followed by each connection path.
    ConnectionLeadingStar,
    /// Each connection path with `*` inserted in its middle, no character replaced.
    ConnectionInsertedStar,
    /// Each connection path followed by `**`.
    ConnectionTrailingGlobStar,
    /// Each connection path with the case of its letters swapped.
    ConnectionCaseSwapped,
}
