//! Requests per second of the mock daemon per operation, side by side with bare servers that
//! answer the same bytes without doing the work.
//!
//! `cargo bench --bench throughput` (options after `--`: `--seconds 3`, `--rounds 3`,
//! `--connections 16`, `--client-threads 1`, `--in-process`, `--no-wrk`, `--op query`).
//!
//! Servers, each in its own process unless `--in-process` (then on a second runtime of this one):
//! - `mock`: the built binary's `xpipe-conformance mock --port 0`, the default fixture;
//! - `axum-bare`: an axum router with the three paths that reads the body and answers the bytes
//!   the mock answers (this binary run again with `--serve axum`);
//! - `hyper-bare`: the same with hyper 1 alone, no router (`--serve hyper`).
//!
//! Operations: `handshake` (an ApiKey handshake, which opens a session each time),
//! `query` (`/connection/query` with `**`/`**`/`*`, the 19 fixture connections answered) and
//! `open` (`/daemon/open` with no arguments). The load generator is in this process: N keep-alive
//! HTTP/1.1 connections (hyper's client, one tokio task each) sending requests back to back for a
//! fixed time, on a runtime of `--client-threads` workers. Every (operation, server) pair is
//! measured once per round, in turn, and the table gives the median of the rounds. When `wrk` is
//! on the PATH it measures the same pairs as an independent load generator (`-t1`, same number of
//! connections and seconds). Generator and server share the machine's cores: the figures are
//! what one machine does as client and server at once, not what the server does alone.
//!
//! Only 127.0.0.1 is ever contacted; every loop ends after `--seconds` or 10 million requests.

mod common;

use std::convert::Infallible;
use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use xpipe_conformance::mock::{ConnectionStore, MockConfig, MockDaemon};

/// The mock binary's allocator, for the bare servers too: the comparison is of the work done
/// per request, not of allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const API_KEY: &str = "bench-throughput-key";
/// Most requests one connection sends in one measurement, whatever the time.
const MAX_REQUESTS_PER_CONNECTION: u64 = 10_000_000;
/// Most one request may take before the measurement gives up on that connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const WARMUP: Duration = Duration::from_millis(300);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Handshake,
    Query,
    Open,
}

const OPS: [Op; 3] = [Op::Handshake, Op::Query, Op::Open];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Handshake => "handshake",
            Op::Query => "query",
            Op::Open => "open",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Op::Handshake => "/handshake",
            Op::Query => "/connection/query",
            Op::Open => "/daemon/open",
        }
    }

    fn body(self) -> String {
        match self {
            Op::Handshake => json!({
                "auth": {"type": "ApiKey", "key": API_KEY},
                "client": {"type": "Api", "name": "bench"},
            }),
            Op::Query => {
                json!({"categoryFilter": "**", "connectionFilter": "**", "typeFilter": "*"})
            }
            Op::Open => json!({"arguments": []}),
        }
        .to_string()
    }
}

/// The answers the bare servers give: the bytes the mock gives for the default fixture.
#[derive(Clone)]
struct BareAnswers {
    handshake: Bytes,
    query: Bytes,
}

impl BareAnswers {
    fn new() -> BareAnswers {
        let store = ConnectionStore::default_fixture();
        let token = "0123456789abcdef0123456789abcdef";
        BareAnswers {
            handshake: Bytes::from(json!({ "token": token }).to_string()),
            query: Bytes::from(
                serde_json::to_vec(&json!({ "found": store.connections() })).expect("JSON"),
            ),
        }
    }

    /// The status, body and whether it is JSON for `path`.
    fn answer(&self, path: &str) -> (StatusCode, Bytes, bool) {
        match path {
            "/handshake" => (StatusCode::OK, self.handshake.clone(), true),
            "/connection/query" => (StatusCode::OK, self.query.clone(), true),
            "/daemon/open" => (StatusCode::OK, Bytes::new(), false),
            _ => (StatusCode::NOT_FOUND, Bytes::new(), false),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mock,
    AxumBare,
    HyperBare,
}

const KINDS: [Kind; 3] = [Kind::Mock, Kind::AxumBare, Kind::HyperBare];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Mock => "mock",
            Kind::AxumBare => "axum-bare",
            Kind::HyperBare => "hyper-bare",
        }
    }
}

/// The bare hyper server: reads each request's body, answers the fixed bytes for its path.
async fn serve_hyper(listener: TcpListener, answers: BareAnswers) {
    let answers = Arc::new(answers);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let answers = answers.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let answers = answers.clone();
                async move {
                    let path = request.uri().path().to_owned();
                    let _ = request.into_body().collect().await;
                    let (status, body, is_json) = answers.answer(&path);
                    let mut response = Response::new(Full::new(body));
                    *response.status_mut() = status;
                    if is_json {
                        response
                            .headers_mut()
                            .insert(CONTENT_TYPE, "application/json".parse().expect("a value"));
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The bare axum server: the mock's three routes, each answering fixed bytes.
async fn serve_axum(listener: TcpListener, answers: BareAnswers) {
    let route = |path: &'static str| {
        let answers = answers.clone();
        post(move |_body: Bytes| async move {
            let (status, body, is_json) = answers.answer(path);
            let mut response = axum::response::Response::new(axum::body::Body::from(body));
            *response.status_mut() = status;
            if is_json {
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, "application/json".parse().expect("a value"));
            }
            response
        })
    };
    let app = Router::new()
        .route("/handshake", route("/handshake"))
        .route("/connection/query", route("/connection/query"))
        .route("/daemon/open", route("/daemon/open"));
    let _ = axum::serve(listener, app).await;
}

/// `--serve hyper|axum`: a bare server in this process, for the parent bench to load. It prints
/// its address and stops when its standard input closes (the parent ended).
fn serve_child(kind: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        println!(
            "bare server listening at http://{}",
            listener.local_addr().expect("an address")
        );
        let _ = std::io::stdout().flush();
        let answers = BareAnswers::new();
        let server = match kind {
            "hyper" => tokio::spawn(serve_hyper(listener, answers)),
            "axum" => tokio::spawn(serve_axum(listener, answers)),
            other => panic!("unknown server {other:?}"),
        };
        // Standard input closes when the parent ends, whatever way it ends.
        let _ =
            tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
        server.abort();
    });
}

/// A server under load, in a child process or in this one.
enum Server {
    MockChild(common::MockProcess),
    BareChild {
        child: Child,
        _stdout: BufReader<ChildStdout>,
        url: String,
    },
    InProcess {
        url: String,
        _mock: Option<MockDaemon>,
    },
}

impl Server {
    fn url(&self) -> &str {
        match self {
            Server::MockChild(m) => &m.url,
            Server::BareChild { url, .. } | Server::InProcess { url, .. } => url,
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Server::MockChild(m) => Some(m.pid()),
            Server::BareChild { child, .. } => Some(child.id()),
            Server::InProcess { .. } => None,
        }
    }

    fn spawn(kind: Kind) -> Server {
        let serve = match kind {
            Kind::Mock => return Server::MockChild(common::MockProcess::start(API_KEY)),
            Kind::AxumBare => "axum",
            Kind::HyperBare => "hyper",
        };
        let exe = std::env::current_exe().expect("this bench's path");
        let mut child = Command::new(exe)
            .args(["--serve", serve])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the bare server starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let url = common::read_url(&mut stdout, "bare server listening at ")
            .expect("the bare server prints its address");
        Server::BareChild {
            child,
            _stdout: stdout,
            url,
        }
    }

    fn start_in(runtime: &tokio::runtime::Runtime, kind: Kind) -> Server {
        runtime.block_on(async {
            if kind == Kind::Mock {
                let mock = MockDaemon::start(MockConfig::new(API_KEY))
                    .await
                    .expect("the mock starts");
                return Server::InProcess {
                    url: mock.url(),
                    _mock: Some(mock),
                };
            }
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
            let url = format!("http://{}", listener.local_addr().expect("an address"));
            let answers = BareAnswers::new();
            match kind {
                Kind::AxumBare => tokio::spawn(serve_axum(listener, answers)),
                _ => tokio::spawn(serve_hyper(listener, answers)),
            };
            Server::InProcess { url, _mock: None }
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::BareChild { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What one load measurement gave.
struct Load {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    /// Latencies of the requests, in microseconds.
    latencies: Vec<f64>,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// One keep-alive connection sending `op` back to back until `deadline`.
async fn connection_loop(
    addr: SocketAddr,
    op: Op,
    token: Arc<String>,
    deadline: Instant,
) -> (u64, u64, Vec<f64>) {
    let (mut count, mut errors, mut latencies) = (0u64, 0u64, Vec::with_capacity(1 << 16));
    let Ok(stream) = TcpStream::connect(addr).await else {
        return (0, 1, latencies);
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await
    else {
        return (0, 1, latencies);
    };
    let driver = tokio::spawn(connection);
    let body = Bytes::from(op.body());
    let host = addr.to_string();
    let bearer = format!("Bearer {token}");

    while count < MAX_REQUESTS_PER_CONNECTION && Instant::now() < deadline {
        let mut request = Request::post(op.path())
            .header(HOST, &host)
            .header(CONTENT_TYPE, "application/json");
        if op != Op::Handshake {
            request = request.header(AUTHORIZATION, &bearer);
        }
        let request = request.body(Full::new(body.clone())).expect("a request");
        let started = Instant::now();
        let answered = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let response = sender.send_request(request).await.ok()?;
            let status = response.status();
            response.into_body().collect().await.ok()?;
            Some(status)
        })
        .await;
        match answered {
            Ok(Some(status)) if status.is_success() => {
                latencies.push(started.elapsed().as_secs_f64() * 1e6);
                count += 1;
            }
            Ok(Some(_)) => errors += 1,
            // A broken or stuck connection ends this loop; the others go on.
            _ => {
                errors += 1;
                break;
            }
        }
    }
    driver.abort();
    (count, errors, latencies)
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    op: Op,
    token: &str,
    connections: usize,
    duration: Duration,
) -> Load {
    let addr: SocketAddr = url
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .expect("an http://IP:PORT address");
    assert!(
        addr.ip().is_loopback(),
        "load goes to the loopback interface only"
    );
    let token = Arc::new(token.to_owned());
    runtime.block_on(async {
        let started = Instant::now();
        let deadline = started + duration;
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(connection_loop(addr, op, token.clone(), deadline)))
            .collect();
        let mut load = Load {
            requests: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
        };
        for task in tasks {
            let (count, errors, latencies) = task.await.expect("a load task");
            load.requests += count;
            load.errors += errors;
            load.latencies.extend(latencies);
        }
        load.elapsed = started.elapsed();
        load
    })
}

/// One request, for the session token and for the size of the answer.
fn one_request(runtime: &tokio::runtime::Runtime, url: &str, op: Op, token: &str) -> Bytes {
    let addr: SocketAddr = url
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .unwrap();
    runtime.block_on(async {
        let stream = TcpStream::connect(addr).await.expect("the server answers");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .expect("an HTTP connection");
        let driver = tokio::spawn(connection);
        let request = Request::post(op.path())
            .header(HOST, addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(Full::new(Bytes::from(op.body())))
            .expect("a request");
        let response = tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(request))
            .await
            .expect("an answer in time")
            .expect("an answer");
        assert!(
            response.status().is_success(),
            "{} got {}",
            op.name(),
            response.status()
        );
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        driver.abort();
        body
    })
}

/// Requests per second that wrk measures for `op`, or None when it fails.
fn wrk(url: &str, op: Op, token: &str, connections: usize, seconds: u64) -> Option<f64> {
    let script = tempfile::Builder::new()
        .suffix(".lua")
        .tempfile()
        .expect("a temp file");
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.path = \"{}\"\nwrk.body = [==[{}]==]\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n",
        op.path(),
        op.body()
    );
    std::fs::write(script.path(), lua).expect("the wrk script is written");
    let output = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "-s",
        ])
        .arg(script.path())
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
    {
        // wrk counts refusals and errors as requests: such a figure means nothing.
        eprintln!("wrk {} on {url}: {}", op.name(), line.trim());
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

fn main() {
    let args = common::args();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve_child(args.get(i + 1).map_or("", String::as_str));
        return;
    }
    let seconds: u64 = common::flag(&args, "--seconds", 3);
    let rounds: usize = common::flag(&args, "--rounds", 3);
    let connections: usize = common::flag(&args, "--connections", 16);
    let client_threads: usize = common::flag(&args, "--client-threads", 1);
    let in_process = common::switch(&args, "--in-process");
    let only: String = common::flag(&args, "--op", String::new());
    let ops: Vec<Op> = OPS
        .into_iter()
        .filter(|op| only.is_empty() || op.name() == only)
        .collect();
    let wrk_path = (!common::switch(&args, "--no-wrk"))
        .then(|| common::on_path("wrk"))
        .flatten();
    let duration = Duration::from_secs(seconds);

    println!("{}", common::machine_line());
    println!(
        "servers in {}; load: {connections} keep-alive connections on {client_threads} client \
         thread(s), {seconds} s per measurement, {rounds} rounds; wrk: {}",
        if in_process {
            "this process (own runtime)"
        } else {
            "child processes"
        },
        if wrk_path.is_some() {
            "yes (-t1)"
        } else {
            "not on PATH, skipped"
        },
    );

    // Start the servers and the client runtime.
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server_runtime = in_process.then(|| tokio::runtime::Runtime::new().expect("a runtime"));
    let servers: Vec<Server> = KINDS
        .iter()
        .map(|&kind| match &server_runtime {
            Some(runtime) => Server::start_in(runtime, kind),
            None => Server::spawn(kind),
        })
        .collect();

    // A session for the query and open loads (the bare servers ignore it). The mock caps its
    // sessions and ends the oldest, so each measurement takes a fresh one after the handshakes.
    let session = || {
        let answer = one_request(&client, servers[0].url(), Op::Handshake, "");
        let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
        answer["token"].as_str().expect("a token").to_owned()
    };
    let token = session();
    for op in OPS {
        let sizes: Vec<String> = servers
            .iter()
            .map(|s| one_request(&client, s.url(), op, &token).len().to_string())
            .collect();
        println!(
            "answer bytes for {} (mock, axum-bare, hyper-bare): {}",
            op.name(),
            sizes.join(", ")
        );
    }

    // Rounds of every (operation, server) pair in turn, so drift in the load hits all alike.
    let mut rates = vec![vec![Vec::new(); KINDS.len()]; OPS.len()];
    let mut latencies = vec![vec![Vec::new(); KINDS.len()]; OPS.len()];
    let mut wrk_rates = vec![vec![Vec::new(); KINDS.len()]; OPS.len()];
    let mut failed = vec![vec![false; KINDS.len()]; OPS.len()];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}, {}", round + 1, common::load_line());
        for (o, &op) in OPS.iter().enumerate() {
            if !ops.contains(&op) {
                continue;
            }
            for (k, server) in servers.iter().enumerate() {
                let token = session();
                let _ = measure(&client, server.url(), op, &token, connections, WARMUP);
                let load = measure(&client, server.url(), op, &token, connections, duration);
                if load.errors > 0 {
                    eprintln!("{} {}: {} errors", op.name(), KINDS[k].name(), load.errors);
                    failed[o][k] = true;
                }
                rates[o][k].push(load.per_second());
                latencies[o][k].extend(load.latencies);
                if wrk_path.is_some() {
                    let token = session();
                    match wrk(server.url(), op, &token, connections, seconds) {
                        Some(rate) => wrk_rates[o][k].push(rate),
                        None => failed[o][k] = true,
                    }
                }
            }
        }
    }

    // The table: medians per pair, the mock against each bare server.
    println!("{}", common::load_line());
    println!(
        "\n| operation | server | req/s (median of {rounds}) | p50 / p99 latency (µs) | mock ÷ this | wrk req/s | mock ÷ this (wrk) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (o, op) in OPS.iter().enumerate() {
        if !ops.contains(op) {
            continue;
        }
        let mock_rate = common::median(&rates[o][0]);
        let mock_wrk = common::median(&wrk_rates[o][0]);
        for (k, kind) in KINDS.iter().enumerate() {
            let rate = common::median(&rates[o][k]);
            let wrk_rate = common::median(&wrk_rates[o][k]);
            let (p50, p99) = (
                common::quantile(&latencies[o][k], 0.5),
                common::quantile(&latencies[o][k], 0.99),
            );
            let ratio = |a: f64, b: f64| {
                if b > 0.0 && *kind != Kind::Mock {
                    format!("{:.2}", a / b)
                } else {
                    "-".to_owned()
                }
            };
            // A pair whose load saw errors is marked: its rate counts only the good answers.
            let mark = if failed[o][k] {
                " (errors, see above)"
            } else {
                ""
            };
            println!(
                "| {} | {}{mark} | {rate:.0} | {p50:.0} / {p99:.0} | {} | {} | {} |",
                op.name(),
                kind.name(),
                ratio(mock_rate, rate),
                if wrk_rate > 0.0 {
                    format!("{wrk_rate:.0}")
                } else {
                    "-".into()
                },
                ratio(mock_wrk, wrk_rate),
            );
        }
    }

    // What the servers hold after the load (the mock keeps every session it opened).
    for (server, kind) in servers.iter().zip(KINDS) {
        if let Some((rss, hwm)) = server.pid().and_then(common::rss_kib) {
            println!(
                "{} after the load: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
                kind.name(),
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            );
        }
    }
    drop(servers);
    if let Some(runtime) = server_runtime {
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}
