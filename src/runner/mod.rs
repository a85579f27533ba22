//! Runs one case against a target: sessions, steps, derived values and captures.
//!
//! The runner turns a [`Case`] into a verdict. It sends through [`HttpClient`], checks through
//! [`checks`], and says why a case is ignored before anything is sent.

pub mod checks;
pub mod derive;
pub mod redact;
pub mod template;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::case::{Case, LaneSessions, Parallel, Requirement, Session, Step};
use crate::http::{HttpClient, HttpRequest, HttpResponse};
use crate::schema::SchemaSet;
use crate::snapshot;
use checks::{Answer, Sent};
use redact::Redactor;
use template::{API_KEY, AUTH_FILE_CONTENT, Variables};

/// The client name the harness gives in its own handshakes.
pub const CLIENT_NAME: &str = "xpipe-conformance";

/// The credentials of a run; neither is ever printed.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The API key for `ApiKey` handshakes.
    pub api_key: Option<String>,
    /// The contents of the daemon's auth file, for `Local` handshakes.
    pub auth_file_content: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field(
                "auth_file_content",
                &self.auth_file_content.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Credentials {
    /// The handshake body that opens a session with these credentials, API key first.
    pub fn handshake_body(&self) -> Option<Value> {
        let auth = match (&self.api_key, &self.auth_file_content) {
            (Some(key), _) => json!({"type": "ApiKey", "key": key}),
            (None, Some(content)) => json!({"type": "Local", "authFileContent": content}),
            (None, None) => return None,
        };
        Some(json!({"auth": auth, "client": {"type": "Api", "name": CLIENT_NAME}}))
    }

    /// Registers both credentials with `redactor`, so that no report shows them.
    fn register_with(&self, redactor: &Redactor) {
        if let Some(key) = &self.api_key {
            redactor.add(key, "<api-key>");
        }
        if let Some(content) = &self.auth_file_content {
            redactor.add(content, "<auth-file-content>");
        }
    }
}

/// What is known about the target before any case runs.
#[derive(Debug, Clone)]
pub struct TargetFacts {
    /// A short name for reports, `mock` for the embedded mock.
    pub label: String,
    /// Whether the target is the embedded mock serving its default fixture.
    pub serves_mock_fixture: bool,
    /// Whether the target holds connections; `None` when the probe could not tell.
    pub has_connections: Option<bool>,
}

/// Everything a case needs to run, shared by all trials of a run.
pub struct RunContext {
    /// Sends requests to the target.
    pub client: HttpClient,
    /// The compiled models.
    pub schemas: Arc<SchemaSet>,
    /// The run's credentials.
    pub credentials: Credentials,
    /// What the probe found out about the target.
    pub target: TargetFacts,
    /// Where snapshots live; `None` skips snapshot checks.
    pub snapshots: Option<PathBuf>,
    /// Masks the run's secrets in every report: the credentials and every token any answer of
    /// the run carried, whichever case met it. Cases register with it as they run.
    pub redactor: Redactor,
}

impl RunContext {
    /// Why a case cannot run against this target, if it cannot.
    pub fn ignore_reason(&self, case: &Case) -> Option<String> {
        case.spec
            .requires
            .iter()
            .find_map(|requirement| match requirement {
                Requirement::MockData if !self.target.serves_mock_fixture => Some(format!(
                    "needs the embedded mock's fixture data; the target is {}",
                    self.target.label
                )),
                Requirement::Connections if self.target.has_connections == Some(false) => {
                    Some("the target holds no connections".to_owned())
                }
                Requirement::ApiKey if self.credentials.api_key.is_none() => {
                    Some("needs an API key (--api-key or XPIPE_API_KEY)".to_owned())
                }
                Requirement::LocalAuth if self.credentials.auth_file_content.is_none() => {
                    Some("needs the daemon's auth file (--auth-file)".to_owned())
                }
                _ => None,
            })
    }

    /// Runs a case; the error is the report of the first failing step.
    pub async fn run_case(&self, case: &Case) -> Result<(), String> {
        self.run_case_traced(case).await.0
    }

    /// Runs a case and also returns what each request got, for comparing two targets.
    pub async fn run_case_traced(&self, case: &Case) -> (Result<(), String>, Vec<Exchange>) {
        let mut run = CaseRun::new(self, case);
        let mut verdict = Ok(());
        for (index, step) in case.spec.steps.iter().enumerate() {
            if let Err(report) = run.run_step(index, step).await {
                verdict = Err(report);
                break;
            }
        }
        if verdict.is_ok() && !run.snapshot_failures.is_empty() {
            verdict = Err(run.snapshot_failures.join("\n"));
        }
        (verdict, run.trace)
    }

    /// Opens a session with the run's credentials and returns its token.
    pub async fn open_session(&self) -> Result<String, String> {
        open_session(&self.client, &self.credentials, &self.redactor).await
    }
}

/// Opens a session with `credentials` and returns its token; `redactor` learns the token, and
/// any other the answer carries, before an error can show them.
pub async fn open_session(
    client: &HttpClient,
    credentials: &Credentials,
    redactor: &Redactor,
) -> Result<String, String> {
    {
        let body = credentials.handshake_body().ok_or_else(|| {
            "no credentials to open a session: pass --api-key (or XPIPE_API_KEY) or --auth-file"
                .to_owned()
        })?;
        credentials.register_with(redactor);
        let request = json_request("/handshake", &body, None);
        let response = client
            .send(&request)
            .await
            .map_err(|e| redactor.apply(&e.to_string()))?;
        let token = response
            .json()
            .ok()
            .and_then(|v| v.get("token")?.as_str().map(str::to_owned));
        if let Some(token) = &token {
            redactor.add(token, "<session-token>");
        }
        // A refused handshake may still carry a working token, and an answer that is not
        // strictly JSON one that the parse above missed.
        redactor.learn_tokens(&response.body);
        match token {
            Some(token) if response.status == 200 => Ok(token),
            _ => Err(format!(
                "the handshake with the run's credentials answered {} without a token{}",
                response.status,
                answer_details(&response, redactor)
            )),
        }
    }
}

/// What a report needs of an answer that is not the expected one: its `Location` and how its
/// body begins, with secrets masked and control characters escaped.
fn answer_details(response: &HttpResponse, redactor: &Redactor) -> String {
    let mut text = String::new();
    if let Some(location) = &response.location {
        let location = checks::printable(&redactor.apply(location));
        let _ = write!(text, " (Location: {location})");
    }
    if response.body.is_empty() {
        text.push_str("; the body is empty");
        return text;
    }
    // Masked before it is cut, so that no part of a secret survives the cut.
    let body = redactor.apply(&redact_tokens(&response.body));
    let body = checks::printable(&checks::shorten(&body, 200));
    let _ = match response.json() {
        Err(why) => write!(text, "; {why}; it begins: {body}"),
        Ok(_) => write!(text, "; the body: {body}"),
    };
    text
}

/// Builds a JSON POST request, with a bearer token if given.
pub fn json_request(path: &str, body: &Value, token: Option<&str>) -> HttpRequest {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let Some(token) = token {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    HttpRequest {
        method: "POST".to_owned(),
        path: path.to_owned(),
        headers,
        body: Some(body.to_string().into_bytes()),
    }
}

/// The state of one case while it runs.
/// What one request of a case got, in the terms two targets are compared in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The step and, for derived steps, the value: `step 2 (name) "value"`.
    pub step: String,
    /// The status, or why there was no answer.
    pub status: Result<u16, String>,
    /// The body as JSON; `None` for an empty body or one that is not JSON.
    pub body: Option<Value>,
    /// How the body looks when it is not JSON: `empty` or `not JSON`.
    pub raw: &'static str,
    /// The UUIDs of `found`, for query answers.
    pub found: Option<Vec<String>>,
}

struct CaseRun<'a> {
    context: &'a RunContext,
    case: &'a Case,
    vars: Variables,
    redactor: Redactor,
    session: Option<String>,
    snapshot_failures: Vec<String>,
    trace: Vec<Exchange>,
}

impl<'a> CaseRun<'a> {
    fn new(context: &'a RunContext, case: &'a Case) -> Self {
        let mut vars = Variables::default();
        let credentials = &context.credentials;
        if let Some(key) = &credentials.api_key {
            vars.set(API_KEY, Value::String(key.clone()));
        }
        if let Some(content) = &credentials.auth_file_content {
            vars.set(AUTH_FILE_CONTENT, Value::String(content.clone()));
        }
        credentials.register_with(&context.redactor);
        Self {
            context,
            case,
            vars,
            redactor: context.redactor.clone(),
            session: None,
            snapshot_failures: Vec::new(),
            trace: Vec::new(),
        }
    }

    async fn run_step(&mut self, index: usize, step: &Step) -> Result<(), String> {
        let values: Vec<Option<String>> = match &step.for_each {
            None => vec![None],
            Some(each) => {
                let listing = self.vars.get(&each.from).ok_or_else(|| {
                    self.failure(
                        index,
                        step,
                        None,
                        &format!("unknown variable ${{{}}}", each.from),
                    )
                })?;
                let items = derive::items(listing);
                derive::derive(each.derive, &items, each.limit)
                    .into_iter()
                    .map(Some)
                    .collect()
            }
        };
        if let Some(parallel) = &step.parallel {
            return self.run_parallel(index, step, parallel).await;
        }
        for value in values {
            if let (Some(each), Some(value)) = (&step.for_each, &value) {
                self.vars.set(&each.binding, Value::String(value.clone()));
            }
            self.run_once(index, step, value.as_deref()).await?;
        }
        Ok(())
    }

    async fn run_once(
        &mut self,
        index: usize,
        step: &Step,
        value: Option<&str>,
    ) -> Result<(), String> {
        // Build the request; a fresh session is opened the first time a step needs one.
        let (request, sent_body) = self
            .build_request(step)
            .await
            .map_err(|why| self.failure(index, step, value, &why))?;

        let sent = self.context.client.send(&request).await;
        self.record(index, step, value, &sent);
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                let error = checks::printable(&error.to_string());
                let report = format!("{}\n  no answer: {error}", self.describe_request(&request));
                return Err(self.failure(index, step, value, &report));
            }
        };
        // Any report from here on, this case's or another's, masks what the answer hands out.
        self.redactor.learn_tokens(&response.body);

        // Check the answer, then capture from it for later steps.
        let answer = Answer::new(&response);
        let sent = Sent {
            path: &request.path,
            body: sent_body.as_ref(),
        };
        let mut problems = checks::check_answer(
            &step.expect,
            &sent,
            &answer,
            &self.vars,
            &self.context.schemas,
        );
        if problems.is_empty()
            && let Some(name) = &step.expect.snapshot
            && let Some(dir) = &self.context.snapshots
        {
            let snapshot_name = format!("{}__{name}", self.case.name.replace("::", "__"));
            let content = snapshot::render(&response, &answer.json);
            if let Err(why) = snapshot::check(dir, &snapshot_name, &self.case.file, &content) {
                // A changed snapshot is not a reason to stop: the later steps still run, so
                // that one review shows every snapshot of the case.
                let report = self.failure(index, step, value, &format!("  - {why}"));
                self.snapshot_failures.push(report);
            }
        }
        if problems.is_empty() && !step.capture.is_empty() {
            let captured = match &answer.json {
                Ok(body) => self.capture(step, body),
                Err(why) => Err(format!("nothing to capture: {why}")),
            };
            problems.extend(captured.err());
        }
        if problems.is_empty() {
            return Ok(());
        }

        let mut report = self.describe_request(&request);
        report.push('\n');
        report.push_str(&self.describe_response(&response));
        for problem in problems {
            let _ = write!(report, "\n  - {}", self.redactor.apply(&problem));
        }
        Err(self.failure(index, step, value, &report))
    }

    async fn build_request(&mut self, step: &Step) -> Result<(HttpRequest, Option<Value>), String> {
        self.build_request_with(step, None).await
    }

    /// Builds a step's request; `lane_token` replaces the case's session for a parallel lane
    /// that opened its own.
    async fn build_request_with(
        &mut self,
        step: &Step,
        lane_token: Option<&str>,
    ) -> Result<(HttpRequest, Option<Value>), String> {
        let spec = &step.request;
        let mut headers = Vec::new();
        let mut has_content_type = false;
        for (name, value) in &spec.headers {
            has_content_type |= name.eq_ignore_ascii_case("content-type");
            headers.push((name.clone(), self.vars.render(value)?));
        }
        // A case that writes its own Authorization header means exactly that header.
        let own_authorization = spec
            .headers
            .keys()
            .any(|n| n.eq_ignore_ascii_case("authorization"));
        let token = match &spec.session {
            _ if own_authorization => None,
            Session::Fresh if lane_token.is_some() => lane_token.map(str::to_owned),
            Session::None => None,
            Session::Token(literal) => Some(self.vars.render(literal)?),
            Session::Fresh => Some(self.fresh_session().await?),
        };
        if let Some(token) = token {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }

        let (body, sent_json) = match (&spec.body, &spec.raw_body) {
            (Some(json), _) => {
                let rendered = self.vars.render_value(json)?;
                if !has_content_type {
                    headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
                }
                (Some(rendered.to_string().into_bytes()), Some(rendered))
            }
            (None, Some(raw)) => (Some(self.vars.render(raw)?.into_bytes()), None),
            (None, None) => (None, None),
        };
        let request = HttpRequest {
            method: spec.method.clone(),
            path: self.vars.render(&spec.path)?,
            headers,
            body,
        };
        Ok((request, sent_json))
    }

    async fn fresh_session(&mut self) -> Result<String, String> {
        if let Some(token) = &self.session {
            return Ok(token.clone());
        }
        let token = self
            .context
            .open_session()
            .await
            .map_err(|why| format!("cannot open a session for this case: {why}"))?;
        self.redactor.add(&token, "<session-token>");
        self.session = Some(token.clone());
        Ok(token)
    }

    async fn run_parallel(
        &mut self,
        index: usize,
        step: &Step,
        parallel: &Parallel,
    ) -> Result<(), String> {
        // Open the lanes' own sessions all at once: that alone is N concurrent handshakes.
        let mut lane_tokens: Vec<Option<String>> = vec![None; parallel.count];
        if parallel.sessions == LaneSessions::Own && step.request.session == Session::Fresh {
            let mut opening = tokio::task::JoinSet::new();
            for lane in 0..parallel.count {
                let client = self.context.client.clone();
                let credentials = self.context.credentials.clone();
                let redactor = self.redactor.clone();
                opening.spawn(async move {
                    (lane, open_session(&client, &credentials, &redactor).await)
                });
            }
            for (lane, token) in opening.join_all().await {
                let token = token.map_err(|why| {
                    self.failure(
                        index,
                        step,
                        None,
                        &format!("lane {lane}: cannot open its session: {why}"),
                    )
                })?;
                self.redactor.add(&token, "<session-token>");
                lane_tokens[lane] = Some(token);
            }
        }

        // Build every request first, then send them all together.
        let mut requests = Vec::with_capacity(parallel.count);
        for token in &lane_tokens {
            let built = self
                .build_request_with(step, token.as_deref())
                .await
                .map_err(|why| self.failure(index, step, None, &why))?;
            requests.push(built);
        }
        let mut sending = tokio::task::JoinSet::new();
        for (lane, (request, _)) in requests.iter().enumerate() {
            let client = self.context.client.clone();
            let request = request.clone();
            sending.spawn(async move { (lane, client.send(&request).await) });
        }
        let mut responses: Vec<(usize, Result<HttpResponse, crate::http::HttpError>)> =
            sending.join_all().await;
        responses.sort_by_key(|(lane, _)| *lane);
        if let Some((_, first)) = responses.first() {
            self.record(index, step, None, first);
        }

        // Check each answer on its own, then the answers against each other.
        let mut problems = Vec::new();
        let mut bodies: Vec<Option<Value>> = Vec::new();
        for (lane, response) in &responses {
            let (request, sent_body) = &requests[*lane];
            let response = match response {
                Ok(response) => response,
                Err(error) => {
                    let error = checks::printable(&error.to_string());
                    problems.push(format!("lane {lane}: no answer: {error}"));
                    bodies.push(None);
                    continue;
                }
            };
            self.redactor.learn_tokens(&response.body);
            let answer = Answer::new(response);
            let sent = Sent {
                path: &request.path,
                body: sent_body.as_ref(),
            };
            for problem in checks::check_answer(
                &step.expect,
                &sent,
                &answer,
                &self.vars,
                &self.context.schemas,
            ) {
                problems.push(format!("lane {lane}: {problem}"));
            }
            bodies.push(answer.json.ok());
        }
        problems.extend(compare_lanes(parallel, &bodies));
        if problems.is_empty() {
            if let Some(Some(first)) = bodies.first() {
                self.capture(step, first)?;
            }
            return Ok(());
        }

        let (request, _) = &requests[0];
        let mut report = format!(
            "{} (sent {} times at once)",
            self.describe_request(request),
            parallel.count
        );
        // One answer shows what the lanes got (its status, Location, first bytes); the
        // problems below say where the others differ.
        if let Some((lane, Ok(response))) = responses.iter().find(|(_, r)| r.is_ok()) {
            let answer = self.describe_response(response);
            let answer = answer.replacen("answer:  ", &format!("answer:  (lane {lane}) "), 1);
            let _ = write!(report, "\n{answer}");
        }
        for problem in problems {
            let _ = write!(report, "\n  - {}", self.redactor.apply(&problem));
        }
        Err(self.failure(index, step, None, &report))
    }

    fn record(
        &mut self,
        index: usize,
        step: &Step,
        value: Option<&str>,
        sent: &Result<HttpResponse, crate::http::HttpError>,
    ) {
        let mut label = format!("step {}", index + 1);
        if let Some(name) = &step.name {
            let _ = write!(label, " ({})", self.step_name(name));
        }
        if let Some(value) = value {
            let _ = write!(label, " {:?}", self.redactor.apply_to_value(value));
        }
        let exchange = match sent {
            Err(error) => Exchange {
                step: label,
                status: Err(self.redactor.apply(&error.to_string())),
                body: None,
                raw: "none",
                found: None,
            },
            Ok(response) => {
                let json = response.json().ok();
                let found = json.as_ref().and_then(|j| j.get("found")).map(|found| {
                    let mut uuids: Vec<String> = derive::items(found)
                        .into_iter()
                        .map(|item| item.uuid)
                        .collect();
                    uuids.sort();
                    uuids
                });
                let raw = if response.body.is_empty() {
                    "empty"
                } else {
                    "not JSON"
                };
                Exchange {
                    step: label,
                    status: Ok(response.status),
                    body: json,
                    raw,
                    found,
                }
            }
        };
        self.trace.push(exchange);
    }

    /// Sets the step's captured variables from an answer body.
    fn capture(&mut self, step: &Step, body: &Value) -> Result<(), String> {
        for (var, pointer) in &step.capture {
            let captured = body
                .pointer(pointer)
                .ok_or_else(|| format!("nothing at {pointer} to capture as ${{{var}}}"))?;
            if (var.contains("token") || pointer.ends_with("token"))
                && let Some(token) = captured.as_str()
            {
                self.redactor.add(token, "<token>");
            }
            self.vars.set(var, captured.clone());
        }
        Ok(())
    }

    /// A step name with its variables filled in where they are known.
    fn step_name(&self, name: &str) -> String {
        let rendered = self.vars.render(name).unwrap_or_else(|_| name.to_owned());
        self.redactor.apply(&rendered)
    }

    fn describe_request(&self, request: &HttpRequest) -> String {
        let mut text = format!("  request: {} {}", request.method, request.path);
        for (name, value) in &request.headers {
            let _ = write!(
                text,
                "\n           {name}: {}",
                self.redactor.apply_to_value(value)
            );
        }
        if let Some(body) = &request.body {
            let body = self.redactor.apply(&String::from_utf8_lossy(body));
            let _ = write!(text, "\n           {}", checks::shorten(&body, 400));
        }
        text
    }

    fn describe_response(&self, response: &HttpResponse) -> String {
        // Headers are the target's text like the body: masked, then escaped.
        let header = |value: &str| checks::printable(&self.redactor.apply_to_value(value));
        let content_type = response
            .content_type
            .as_deref()
            .map_or_else(|| "no Content-Type".to_owned(), header);
        let mut text = format!(
            "  answer:  {} ({content_type}), {} bytes in {} ms",
            response.status,
            response.body.len(),
            response.elapsed.as_millis()
        );
        if let Some(location) = &response.location {
            let _ = write!(text, ", Location: {} (not followed)", header(location));
        }
        if let Some(encoding) = response.content_encoding.as_deref().map(header) {
            let _ = match response.encoded_size {
                Some(size) => write!(
                    text,
                    ", Content-Encoding: {encoding} (decoded from {size} bytes)"
                ),
                None => write!(text, ", Content-Encoding: {encoding} (not decoded)"),
            };
        }
        if !response.body.is_empty() {
            // Redacted before it is cut, so that no part of a secret survives the cut; escaped
            // after, so that a large body costs no more than what is shown.
            let body = self.redactor.apply(&redact_tokens(&response.body));
            let body = checks::printable(&checks::shorten(&body, 600));
            let _ = write!(text, "\n           {body}");
        }
        text
    }

    fn failure(&self, index: usize, step: &Step, value: Option<&str>, detail: &str) -> String {
        let mut head = format!("step {} of {}", index + 1, self.case.spec.steps.len());
        if let Some(name) = &step.name {
            let _ = write!(head, " ({})", self.step_name(name));
        }
        if let Some(value) = value {
            let _ = write!(
                head,
                " with derived value {:?}",
                self.redactor.apply_to_value(value)
            );
        }
        let _ = write!(head, " in {}", self.case.file.display());
        let detail = self.redactor.apply(detail);
        if detail.starts_with("  ") {
            format!("{head}\n{detail}")
        } else {
            format!("{head}\n  {detail}")
        }
    }
}

/// The checks between the answers of a parallel step: values that must differ, bodies that
/// must agree.
fn compare_lanes(parallel: &Parallel, bodies: &[Option<Value>]) -> Vec<String> {
    let mut problems = Vec::new();
    for pointer in &parallel.distinct {
        let mut seen: Vec<(&Value, usize)> = Vec::new();
        for (lane, body) in bodies.iter().enumerate() {
            let Some(value) = body.as_ref().and_then(|b| b.pointer(pointer)) else {
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(v, _)| *v == value) {
                problems.push(format!(
                    "lanes {first} and {lane} got the same value at {pointer}, which must differ"
                ));
            } else {
                seen.push((value, lane));
            }
        }
    }
    if parallel.consistent
        && let Some(Some(first)) = bodies.first()
    {
        // The document promises no order for lists, so lanes may list items differently.
        let first = unordered(first);
        for (lane, body) in bodies.iter().enumerate().skip(1) {
            if body.as_ref().map(unordered).as_ref() != Some(&first) {
                problems.push(format!("lane {lane} got another body than lane 0"));
            }
        }
    }
    problems
}

/// A JSON value with every array sorted, for comparisons that ignore order.
fn unordered(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(unordered).collect();
            items.sort_by_cached_key(|item| item.to_string());
            Value::Array(items)
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), unordered(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The most memory parsing a body for a report may take (an estimate, see
/// [`crate::budget::parsed_size_estimate`]).
const REPORT_PARSE_LIMIT: usize = 4 * 1024 * 1024;
/// How much of a body too large to parse for a report is kept as text: far more than any report
/// shows.
const REPORT_TEXT_LIMIT: usize = 64 * 1024;

/// The body as text for a report, with the value of every member whose name holds `token`
/// replaced: a handshake answer that fails a check still carries a live session token.
fn redact_tokens(body: &[u8]) -> String {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(fields) => {
                for (key, member) in fields.iter_mut() {
                    if key.to_ascii_lowercase().contains("token") && member.is_string() {
                        *member = Value::String("<token>".to_owned());
                    } else {
                        walk(member);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    // Reports show a few hundred characters of a body. One that would take much memory to
    // parse is shown from its first bytes, which the redactor still masks.
    if crate::budget::parsed_size_estimate(body) > REPORT_PARSE_LIMIT {
        let start = &body[..body.len().min(REPORT_TEXT_LIMIT)];
        return String::from_utf8_lossy(start).into_owned();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut json) => {
            walk(&mut json);
            json.to_string()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}
