//! A bounded load test of the mock daemon: no errors, valid answers and flat memory under load.
//!
//! `cargo bench --bench load` (options after `--`: `--seconds 5`, `--clients 64`, `--rounds 4`,
//! `--client-threads 1`, `--validate-every 1`).
//!
//! The mock is the built binary's `xpipe-conformance mock --port 0`, in a child process so that
//! its memory (`VmRSS` from `/proc/PID/status`) is its own. Each round, `--clients` tokio tasks in
//! this process each hold one keep-alive HTTP/1.1 connection (hyper's client) and go round a
//! cycle of requests for `--seconds`: an `ApiKey` handshake (which opens a session), queries with
//! its token (everything with `**`, a name and a type that match nothing, an empty filter, two
//! narrower ones) and `/daemon/open`. Each task starts at another place in the cycle, so every
//! kind of request is in flight at once. A connection that breaks is counted and opened again.
//!
//! It fails (exit status 1) on:
//! - any error: a connection refused, a request that breaks or takes more than 5 s, any non-2xx
//!   answer (all three operations expect a 2xx here), counted per kind;
//! - any invalid answer: a handshake or query body that is not JSON or breaks its schema in
//!   `schemas/` (`HandshakeResponse`, `ConnectionQueryResponse`, validated with the harness's own
//!   `SchemaSet`, every answer unless `--validate-every N`), a query answer that differs from the
//!   answer to the same filters at rest, an open answer that is not 200 with an empty body or `{}`;
//! - memory that grows: the mock's `VmRSS` after the last round (once the load stopped and 0.5 s
//!   passed) is above its `VmRSS` after the reference round by more than 2 MiB or 10 %, whichever
//!   is larger. The reference round is the first after which the handshakes so far reached the
//!   mock's session cap (`DEFAULT_MAX_SESSIONS`): until then the sessions table grows by design.
//!
//! Generator and mock share the machine's cores, so req/s is what one machine does as both.
//! Only 127.0.0.1 is ever contacted; every loop ends after `--seconds` or a fixed request count.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use xpipe_conformance::mock::{ConnectionStore, DEFAULT_MAX_SESSIONS};
use xpipe_conformance::schema::SchemaSet;

const API_KEY: &str = "bench-load-key";
/// Most requests one client sends in one round, whatever the time.
const MAX_REQUESTS_PER_CLIENT: u64 = 2_000_000;
/// Most one request may take, answer included, before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the mock is left alone before its memory is read: freed memory goes back to the
/// allocator, and the connections of the round close.
const SETTLE: Duration = Duration::from_millis(500);
/// Growth of `VmRSS` from the reference round to the last one that still passes.
const RSS_TOLERANCE_KIB: u64 = 2 * 1024;
const RSS_TOLERANCE_RATIO: f64 = 0.10;
/// How many failing answers are shown in full, over the whole run.
const EXAMPLES_SHOWN: usize = 5;

/// The filters the queries send: category, connection, type.
const FILTERS: [(&str, &str, &str); 6] = [
    ("**", "**", "*"),
    ("**", "no-such-connection", "*"),
    ("**", "**", "no-such-type"),
    ("", "**", "*"),
    ("servers/**", "**", "ssh"),
    ("containers", "docker-host/*", "*"),
];

/// One request of a client's cycle.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Handshake,
    /// A query with `FILTERS[i]`.
    Query(usize),
    Open,
}

/// Two handshakes, every filter and one open per round of the cycle.
const CYCLE: [Step; 10] = [
    Step::Handshake,
    Step::Query(0),
    Step::Query(1),
    Step::Open,
    Step::Query(2),
    Step::Handshake,
    Step::Query(3),
    Step::Query(4),
    Step::Query(5),
    Step::Query(0),
];

impl Step {
    fn path(self) -> &'static str {
        match self {
            Step::Handshake => "/handshake",
            Step::Query(_) => "/connection/query",
            Step::Open => "/daemon/open",
        }
    }

    fn body(self) -> Bytes {
        let body = match self {
            Step::Handshake => json!({
                "auth": {"type": "ApiKey", "key": API_KEY},
                "client": {"type": "Api", "name": "bench-load"},
            }),
            Step::Query(i) => {
                let (category, connection, kind) = FILTERS[i];
                json!({"categoryFilter": category, "connectionFilter": connection, "typeFilter": kind})
            }
            Step::Open => json!({"arguments": []}),
        };
        Bytes::from(body.to_string())
    }
}

/// The kinds of error, in the order they are printed.
#[derive(Clone, Copy)]
enum ErrorKind {
    Connect,
    Transport,
    Timeout,
    Status4xx,
    Status5xx,
    StatusOther,
}

const ERROR_KINDS: [ErrorKind; 6] = [
    ErrorKind::Connect,
    ErrorKind::Transport,
    ErrorKind::Timeout,
    ErrorKind::Status4xx,
    ErrorKind::Status5xx,
    ErrorKind::StatusOther,
];

impl ErrorKind {
    fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Transport => "transport",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Status4xx => "4xx",
            ErrorKind::Status5xx => "5xx",
            ErrorKind::StatusOther => "other non-2xx",
        }
    }
}

/// What the clients of one round saw.
#[derive(Default)]
struct Tally {
    /// Requests that got an answer (any status).
    answered: u64,
    /// Answers that were handshakes with a 2xx.
    handshakes: u64,
    /// Errors per [`ErrorKind`], by its index in [`ERROR_KINDS`].
    errors: [u64; ERROR_KINDS.len()],
    /// 2xx answers whose body broke its check.
    invalid: u64,
    /// 2xx answers whose body was checked against its schema.
    validated: u64,
    /// The first failures in words, for the report.
    examples: Vec<String>,
}

impl Tally {
    fn error(&mut self, kind: ErrorKind, detail: impl FnOnce() -> String) {
        self.errors[kind as usize] += 1;
        self.example(detail);
    }

    fn example(&mut self, detail: impl FnOnce() -> String) {
        if self.examples.len() < EXAMPLES_SHOWN {
            self.examples.push(detail());
        }
    }

    fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    fn add(&mut self, other: Tally) {
        self.answered += other.answered;
        self.handshakes += other.handshakes;
        for (total, n) in self.errors.iter_mut().zip(other.errors) {
            *total += n;
        }
        self.invalid += other.invalid;
        self.validated += other.validated;
        let room = EXAMPLES_SHOWN.saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
    }

    /// `connect 0, transport 2, ...` for the kinds that occurred, or `none`.
    fn errors_line(&self) -> String {
        let parts: Vec<String> = ERROR_KINDS
            .iter()
            .filter(|kind| self.errors[**kind as usize] > 0)
            .map(|kind| format!("{} {}", kind.name(), self.errors[*kind as usize]))
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// What every client shares: where to go, what to send and how to judge the answers.
struct Plan {
    addr: SocketAddr,
    schemas: SchemaSet,
    /// The body of each step of [`Step::Query`], by filter index, and of the others.
    query_bodies: Vec<Bytes>,
    handshake_body: Bytes,
    open_body: Bytes,
    /// The answer to each query at rest, by filter index.
    at_rest: Vec<Value>,
    /// Validate every Nth answer of each client against its schema (1 = every answer).
    validate_every: u64,
}

impl Plan {
    fn body(&self, step: Step) -> Bytes {
        match step {
            Step::Handshake => self.handshake_body.clone(),
            Step::Query(i) => self.query_bodies[i].clone(),
            Step::Open => self.open_body.clone(),
        }
    }

    /// Checks a 2xx answer to `step`; Ok holds the token of a handshake.
    fn check(
        &self,
        step: Step,
        status: StatusCode,
        body: &[u8],
        validate: bool,
    ) -> Result<Option<String>, String> {
        if step == Step::Open {
            let empty =
                body.is_empty() || serde_json::from_slice::<Value>(body).ok() == Some(json!({}));
            return if status == StatusCode::OK && empty {
                Ok(None)
            } else {
                Err(format!("open answered {status} with {}", show(body)))
            };
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            format!(
                "{} answered JSON that does not parse ({e}): {}",
                step.path(),
                show(body)
            )
        })?;
        let model = match step {
            Step::Handshake => "HandshakeResponse",
            _ => "ConnectionQueryResponse",
        };
        if validate {
            self.schemas.validate(model, &value).map_err(|violations| {
                format!("{} breaks {model}: {}", step.path(), violations[0])
            })?;
        }
        match step {
            Step::Query(i) if value != self.at_rest[i] => Err(format!(
                "query {:?} answered {} instead of its answer at rest",
                FILTERS[i],
                show(body)
            )),
            Step::Handshake => match value["token"].as_str() {
                Some(token) if !token.is_empty() => Ok(Some(token.to_owned())),
                _ => Err(format!("handshake answered no token: {}", show(body))),
            },
            _ => Ok(None),
        }
    }
}

/// The first 200 characters of a body, for a report.
fn show(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        format!("{short:?}...")
    } else {
        format!("{short:?}")
    }
}

async fn connect(addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(sender)
}

/// Sends one request; Err is a transport error or a timeout (true).
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), (bool, String)> {
    let exchange = async {
        sender.ready().await.map_err(|e| (false, e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| (false, e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| (false, format!("body: {e}")))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err((true, format!("no answer within {REQUEST_TIMEOUT:?}"))))
}

/// One client: a keep-alive connection going round [`CYCLE`] from `start` until `deadline`.
async fn client(plan: Arc<Plan>, start: usize, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let host = plan.addr.to_string();
    let mut sender = None;
    let mut token: Option<String> = None;
    let mut answers = 0u64;
    let mut position = start;
    let mut attempts = 0u64;

    while attempts < MAX_REQUESTS_PER_CLIENT && Instant::now() < deadline {
        attempts += 1;
        let step = CYCLE[position % CYCLE.len()];
        position += 1;
        // Without a session (its handshake failed) the cycle goes on to the next handshake.
        if step != Step::Handshake && token.is_none() {
            continue;
        }
        let Some(connection) = sender.as_mut() else {
            match connect(plan.addr).await {
                Some(new) => sender = Some(new),
                None => {
                    tally.error(ErrorKind::Connect, || format!("cannot connect to {host}"));
                    // Not a busy loop against a daemon that refuses: wait a little.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            position -= 1;
            continue;
        };

        let mut request = Request::post(step.path())
            .header(HOST, &host)
            .header(CONTENT_TYPE, "application/json");
        if let (Some(token), false) = (&token, step == Step::Handshake) {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Full::new(plan.body(step))).expect("a request");
        let (status, body) = match send(connection, request).await {
            Ok(answer) => answer,
            Err((timed_out, detail)) => {
                let kind = if timed_out {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Transport
                };
                tally.error(kind, || format!("{}: {detail}", step.path()));
                // The connection is in an unknown state: the next request opens another.
                sender = None;
                continue;
            }
        };
        tally.answered += 1;

        if !status.is_success() {
            let kind = match status.as_u16() {
                400..=499 => ErrorKind::Status4xx,
                500..=599 => ErrorKind::Status5xx,
                _ => ErrorKind::StatusOther,
            };
            tally.error(kind, || {
                format!("{} answered {status}: {}", step.path(), show(&body))
            });
            if step == Step::Handshake {
                token = None;
            }
            continue;
        }
        let validate = answers.is_multiple_of(plan.validate_every) && step != Step::Open;
        answers += 1;
        match plan.check(step, status, &body, validate) {
            Ok(new_token) => {
                if step == Step::Handshake {
                    tally.handshakes += 1;
                    token = new_token;
                }
                tally.validated += u64::from(validate);
            }
            Err(detail) => {
                tally.invalid += 1;
                tally.example(|| detail);
                if step == Step::Handshake {
                    token = None;
                }
            }
        }
    }
    tally
}

/// One round: `clients` clients until `duration` has passed.
fn round(
    runtime: &tokio::runtime::Runtime,
    plan: &Arc<Plan>,
    clients: usize,
    duration: Duration,
) -> (Tally, Duration) {
    runtime.block_on(async {
        let started = Instant::now();
        let deadline = started + duration;
        let tasks: Vec<_> = (0..clients)
            .map(|i| tokio::spawn(client(plan.clone(), i % CYCLE.len(), deadline)))
            .collect();
        let mut tally = Tally::default();
        for task in tasks {
            tally.add(task.await.expect("a client task"));
        }
        (tally, started.elapsed())
    })
}

/// The answers at rest: one handshake, then each query once, on one connection.
fn answers_at_rest(runtime: &tokio::runtime::Runtime, addr: SocketAddr) -> Vec<Value> {
    runtime.block_on(async {
        let mut sender = connect(addr).await.expect("the mock answers");
        let mut post = async |step: Step, token: Option<&str>| {
            let mut request = Request::post(step.path())
                .header(HOST, addr.to_string())
                .header(CONTENT_TYPE, "application/json");
            if let Some(token) = token {
                request = request.header(AUTHORIZATION, format!("Bearer {token}"));
            }
            let request = request.body(Full::new(step.body())).expect("a request");
            let (status, body) = send(&mut sender, request)
                .await
                .unwrap_or_else(|(_, e)| panic!("{} at rest: {e}", step.path()));
            assert!(
                status.is_success(),
                "{} at rest answered {status}",
                step.path()
            );
            serde_json::from_slice::<Value>(&body).expect("a JSON answer at rest")
        };
        let handshake = post(Step::Handshake, None).await;
        let token = handshake["token"].as_str().expect("a token").to_owned();
        let mut answers = Vec::new();
        for i in 0..FILTERS.len() {
            answers.push(post(Step::Query(i), Some(&token)).await);
        }
        answers
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let args = common::args();
    let seconds: f64 = common::flag(&args, "--seconds", 5.0);
    let clients: usize = common::flag(&args, "--clients", 64);
    let rounds: usize = common::flag(&args, "--rounds", 4).max(1);
    let client_threads: usize = common::flag(&args, "--client-threads", 1);
    let validate_every: u64 = common::flag(&args, "--validate-every", 1).max(1);
    let duration = Duration::from_secs_f64(seconds);

    println!("{}", common::machine_line());
    println!(
        "mock: child process; load: {clients} keep-alive clients on {client_threads} client \
         thread(s), {seconds} s per round, {rounds} rounds; schema check: {}",
        if validate_every == 1 {
            "every answer".to_owned()
        } else {
            format!("every {validate_every}th answer of each client")
        }
    );

    // The mock, the schemas and the answers at rest.
    let mock = common::MockProcess::start(API_KEY);
    let addr: SocketAddr = mock
        .url
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .expect("an http://IP:PORT address");
    assert!(
        addr.ip().is_loopback(),
        "load goes to the loopback interface only"
    );
    let schemas = SchemaSet::load(&common::crate_dir().join("schemas"))
        .unwrap_or_else(|e| panic!("the schemas do not load: {e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let at_rest = answers_at_rest(&runtime, addr);
    let fixture_size = ConnectionStore::default_fixture().connections().len();
    let counts: Vec<usize> = at_rest
        .iter()
        .map(|a| a["found"].as_array().map_or(0, Vec::len))
        .collect();
    // The answers under load are compared with these, so these must be right themselves.
    assert_eq!(counts[0], fixture_size, "`**` at rest answered {counts:?}");
    assert_eq!(
        &counts[1..4],
        &[0, 0, 0],
        "filters matching nothing answered {counts:?}"
    );
    println!(
        "query answers at rest ({} filters): {counts:?} connections",
        FILTERS.len()
    );
    let plan = Arc::new(Plan {
        addr,
        schemas,
        query_bodies: (0..FILTERS.len()).map(|i| Step::Query(i).body()).collect(),
        handshake_body: Step::Handshake.body(),
        open_body: Step::Open.body(),
        at_rest,
        validate_every,
    });

    std::thread::sleep(SETTLE);
    let (idle_rss, _) = common::rss_kib(mock.pid()).expect("the mock's /proc status");

    // The rounds, each followed by a pause and a reading of the mock's memory.
    let mut total = Tally::default();
    let mut rss_after = Vec::new();
    let mut handshakes_so_far = 1;
    let mut cap_reached_in = None;
    let mut rows = Vec::new();
    for r in 0..rounds {
        eprintln!("round {}/{rounds}, {}", r + 1, common::load_line());
        let (tally, elapsed) = round(&runtime, &plan, clients, duration);
        std::thread::sleep(SETTLE);
        let rss = common::rss_kib(mock.pid()).map(|(rss, _)| rss);
        handshakes_so_far += tally.handshakes;
        if cap_reached_in.is_none() && handshakes_so_far >= DEFAULT_MAX_SESSIONS as u64 {
            cap_reached_in = Some(r);
        }
        if tally.error_count() > 0 {
            eprintln!("round {}: errors {}", r + 1, tally.errors_line());
        }
        rows.push(format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} |",
            r + 1,
            tally.answered,
            tally.answered as f64 / elapsed.as_secs_f64(),
            tally.handshakes,
            tally.error_count(),
            tally.invalid,
            tally.validated,
            rss.map_or("(mock gone)".to_owned(), |kib| format!("{:.1}", mib(kib))),
        ));
        rss_after.push(rss);
        total.add(tally);
    }

    // The table.
    println!(
        "\n| round | requests | req/s | handshakes | errors | invalid | validated | RSS after (MiB) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!("| idle | - | - | - | - | - | - | {:.1} |", mib(idle_rss));
    for row in rows {
        println!("{row}");
    }
    println!("\nerrors by kind: {}", total.errors_line());
    for example in &total.examples {
        println!("  e.g. {example}");
    }
    if let Some((_, hwm)) = common::rss_kib(mock.pid()) {
        println!("mock VmHWM (peak): {:.1} MiB", mib(hwm));
    }

    // The verdict.
    let mut failures = Vec::new();
    if total.error_count() > 0 {
        failures.push(format!("{} errors", total.error_count()));
    }
    if total.invalid > 0 {
        failures.push(format!("{} invalid answers", total.invalid));
    }
    let last = rss_after[rounds - 1];
    let reference = cap_reached_in.unwrap_or_else(|| {
        println!(
            "note: {handshakes_so_far} handshakes in all, under the session cap of \
             {DEFAULT_MAX_SESSIONS}: memory is compared with round 1 while the table still grows"
        );
        0
    });
    match (rss_after[reference], last) {
        (Some(first), Some(last)) => {
            let allowed = RSS_TOLERANCE_KIB.max((first as f64 * RSS_TOLERANCE_RATIO) as u64);
            let growth = last.saturating_sub(first);
            println!(
                "memory: VmRSS after round {} {:.1} MiB, after round {rounds} {:.1} MiB, \
                 growth {:.1} MiB, allowed {:.1} MiB (the larger of 2 MiB and 10 %)",
                reference + 1,
                mib(first),
                mib(last),
                mib(growth),
                mib(allowed)
            );
            if growth > allowed {
                failures.push(format!("VmRSS grew by {:.1} MiB", mib(growth)));
            }
        }
        _ => failures.push("the mock exited during the load".to_owned()),
    }
    if rss_after.iter().any(Option::is_none) {
        failures.push("the mock exited during the load".to_owned());
        failures.dedup();
    }

    drop(mock);
    if failures.is_empty() {
        println!(
            "PASS: {} requests, 0 errors, 0 invalid answers, memory flat",
            total.answered
        );
    } else {
        println!("FAIL: {}", failures.join("; "));
        std::process::exit(1);
    }
}
