//! Daemon variants for the end-to-end tests: an embedded mock daemon behind a small reverse
//! proxy on a real socket, where each variant changes requests or answers in one way, and the
//! whole suite run against it.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use reqwest::Url;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use xpipe_conformance::case::Level;
use xpipe_conformance::http::HttpSettings;
use xpipe_conformance::mock::{Connection, MockConfig, MockDaemon};
use xpipe_conformance::suite::{CaseVerdict, Outcome, Suite, SuiteConfig};

/// The API key every test daemon is started with.
pub const API_KEY: &str = "conformance-test-key";

/// How long the suite waits for one answer; short, so a stalled variant ends the run quickly.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest request or answer body the proxy passes on.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Headers that belong to one hop and are rebuilt by the proxy's own HTTP stack.
const HOP_HEADERS: [header::HeaderName; 5] = [
    header::HOST,
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// A request as the proxy received it, to be changed before it is forwarded.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    /// The method.
    pub method: Method,
    /// The path and query.
    pub path: String,
    /// The headers, without those of the hop.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl ProxyRequest {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Replaces the body by `value`.
    pub fn set_json(&mut self, value: &Value) {
        self.body = Bytes::from(value.to_string());
    }

    /// Whether this is a `POST` to `path`.
    pub fn is(&self, path: &str) -> bool {
        self.method == Method::POST && self.path == path
    }
}

/// An answer on its way back to the suite.
#[derive(Debug, Clone)]
pub struct ProxyAnswer {
    /// The status.
    pub status: StatusCode,
    /// The headers, without those of the hop.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl ProxyAnswer {
    /// A JSON answer with the header the document declares.
    pub fn json(status: StatusCode, value: &Value) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        ProxyAnswer {
            status,
            headers,
            body: Bytes::from(value.to_string()),
        }
    }

    /// The body as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Replaces the body by `value`, keeping the headers.
    pub fn set_json(&mut self, value: &Value) {
        self.body = Bytes::from(value.to_string());
    }

    /// Whether the answer declares a JSON body.
    pub fn declares_json(&self) -> bool {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().unwrap_or("").trim() == "application/json")
    }
}

/// What the proxy does with a request once the variant has seen it.
#[derive(Debug, Clone)]
pub enum Action {
    /// Forward it (as the variant left it) and pass the answer through the answer hook.
    Forward,
    /// Forward it after this pause.
    ForwardAfter(Duration),
    /// Answer in the daemon's place; the daemon never sees the request.
    Reply(ProxyAnswer),
}

type RequestHook = dyn Fn(&mut ProxyRequest) -> Action + Send + Sync;
type AnswerHook = dyn Fn(&ProxyRequest, &mut ProxyAnswer) + Send + Sync;

/// One daemon variant: the mock daemon with one change to what goes in or what comes out.
#[derive(Clone, Default)]
pub struct Variant {
    request: Option<Arc<RequestHook>>,
    answer: Option<Arc<AnswerHook>>,
}

impl Variant {
    /// The mock daemon as it is.
    pub fn pass_through() -> Self {
        Variant::default()
    }

    /// A variant that changes (or answers) requests before the daemon sees them.
    pub fn on_request(hook: impl Fn(&mut ProxyRequest) -> Action + Send + Sync + 'static) -> Self {
        Variant {
            request: Some(Arc::new(hook)),
            answer: None,
        }
    }

    /// A variant that changes the daemon's answers; it sees the request as forwarded.
    pub fn on_answer(
        hook: impl Fn(&ProxyRequest, &mut ProxyAnswer) + Send + Sync + 'static,
    ) -> Self {
        Variant {
            request: None,
            answer: Some(Arc::new(hook)),
        }
    }
}

/// An embedded mock daemon on its own runtime, which outlives the suite runs against it.
pub struct TestDaemon {
    // Dropped before the runtime it serves on.
    mock: Option<MockDaemon>,
    runtime: Option<Runtime>,
    upstream: reqwest::Client,
    connections: Vec<Connection>,
}

impl TestDaemon {
    /// Starts the mock with the default fixture and [`API_KEY`].
    pub fn start() -> Self {
        Self::start_with(MockConfig::new(API_KEY))
    }

    /// Starts the mock with `config`, whose key must be [`API_KEY`].
    pub fn start_with(config: MockConfig) -> Self {
        assert_eq!(config.api_key, API_KEY, "the suite runs with API_KEY");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the mock and the proxy");
        let connections = config.store.connections().to_vec();
        // reqwest is built with rustls but no provider, and refuses to build a client, even
        // for plain HTTP, until one is installed. An error means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mock = runtime
            .block_on(MockDaemon::start(config))
            .expect("the mock starts");
        let upstream = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client for the proxy");
        TestDaemon {
            mock: Some(mock),
            runtime: Some(runtime),
            upstream,
            connections,
        }
    }

    /// The connections the mock holds, as `/connection/query` lists them.
    pub fn connections(&self) -> &[Connection] {
        &self.connections
    }

    /// A valid session token, from a handshake of the test's own.
    pub fn session_token(&self) -> String {
        let url = format!("{}/handshake", self.mock().url());
        let body = json!({
            "auth": {"type": "ApiKey", "key": API_KEY},
            "client": {"type": "Api", "name": "variant-proxy"},
        });
        let request = self
            .upstream
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .timeout(REQUEST_TIMEOUT);
        // The request's timer needs the runtime, so it is sent from inside.
        let answer = self
            .runtime()
            .block_on(async { request.send().await?.error_for_status()?.bytes().await })
            .expect("the mock answers a handshake");
        let answer: Value = serde_json::from_slice(&answer).expect("the handshake answer is JSON");
        answer["token"]
            .as_str()
            .expect("the handshake answer holds a token")
            .to_owned()
    }

    /// Runs the whole suite against the mock behind a proxy that applies `variant`.
    pub fn run(&self, variant: Variant) -> Run {
        let (url, serving) = self.start_proxy(variant);
        let config = SuiteConfig {
            target: Some(url),
            api_key: Some(API_KEY.to_owned()),
            auth_file: Some(self.auth_file()),
            http: HttpSettings {
                timeout: REQUEST_TIMEOUT,
                ..HttpSettings::default()
            },
            ..SuiteConfig::default()
        };

        // The suite drives its own runtime; the proxy and the mock keep serving on ours.
        let started = Instant::now();
        let suite = Suite::prepare(config).expect("the suite prepares a run against the proxy");
        let verdicts = suite.verdicts();
        let elapsed = started.elapsed();
        suite.shutdown();

        serving.abort();
        Run { verdicts, elapsed }
    }

    fn start_proxy(&self, variant: Variant) -> (Url, JoinHandle<()>) {
        let upstream = Upstream {
            client: self.upstream.clone(),
            base: self.mock().url(),
            variant,
        };
        let app = Router::new().fallback(proxy).with_state(Arc::new(upstream));
        let runtime = self.runtime();
        let listener = runtime
            .block_on(TcpListener::bind(SocketAddr::from((
                Ipv4Addr::LOCALHOST,
                0,
            ))))
            .expect("the proxy binds a loopback port");
        let addr = listener.local_addr().expect("the proxy's address");
        let serving = runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = Url::parse(&format!("http://{addr}")).expect("a proxy URL");
        (url, serving)
    }

    fn auth_file(&self) -> PathBuf {
        self.mock().auth_file().to_owned()
    }

    fn mock(&self) -> &MockDaemon {
        self.mock
            .as_ref()
            .expect("the mock runs until the daemon is dropped")
    }

    fn runtime(&self) -> &Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives until the daemon is dropped")
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let (Some(mock), Some(runtime)) = (self.mock.take(), self.runtime.as_ref()) {
            // A graceful stop removes the auth file; requests a variant holds back are still
            // in the proxy, so the mock has nothing open to wait for.
            runtime.block_on(mock.shutdown());
        }
        // Requests a variant holds back are dropped, not waited for.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What the proxy forwards to.
struct Upstream {
    client: reqwest::Client,
    base: String,
    variant: Variant,
}

async fn proxy(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(e) => return reply(proxy_fault(&format!("cannot read the request body: {e}"))),
    };
    let mut headers = parts.headers;
    strip_hop_headers(&mut headers);
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut request = ProxyRequest {
        method: parts.method,
        path,
        headers,
        body,
    };

    // The variant sees the request first and may answer it itself.
    let action = match &upstream.variant.request {
        Some(hook) => hook(&mut request),
        None => Action::Forward,
    };
    match action {
        Action::Forward => {}
        Action::ForwardAfter(pause) => tokio::time::sleep(pause).await,
        Action::Reply(answer) => return reply(answer),
    }

    let mut answer = match forward(&upstream, &request).await {
        Ok(answer) => answer,
        Err(e) => return reply(proxy_fault(&format!("the mock did not answer: {e}"))),
    };
    if let Some(hook) = &upstream.variant.answer {
        hook(&request, &mut answer);
    }
    reply(answer)
}

async fn forward(upstream: &Upstream, request: &ProxyRequest) -> reqwest::Result<ProxyAnswer> {
    let url = format!("{}{}", upstream.base, request.path);
    let sent = upstream
        .client
        .request(request.method.clone(), url)
        .headers(request.headers.clone())
        .body(request.body.clone())
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let status = sent.status();
    let mut headers = sent.headers().clone();
    strip_hop_headers(&mut headers);
    let body = sent.bytes().await?;
    Ok(ProxyAnswer {
        status,
        headers,
        body,
    })
}

fn strip_hop_headers(headers: &mut HeaderMap) {
    for name in HOP_HEADERS {
        headers.remove(name);
    }
}

/// A failure of the proxy itself; it shows as a 502, which no case accepts.
fn proxy_fault(message: &str) -> ProxyAnswer {
    ProxyAnswer::json(StatusCode::BAD_GATEWAY, &json!({"message": message}))
}

fn reply(answer: ProxyAnswer) -> Response {
    // Built by hand so that no header is added: an answer without Content-Type stays so.
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    response
}

/// The verdicts of one suite run.
pub struct Run {
    /// One per case, in case order.
    pub verdicts: Vec<CaseVerdict>,
    /// How long preparing and running the suite took.
    pub elapsed: Duration,
}

impl Run {
    /// The `must` cases that failed.
    pub fn must_failures(&self) -> Vec<&CaseVerdict> {
        self.verdicts
            .iter()
            .filter(|v| v.level == Level::Must && matches!(v.outcome, Outcome::Failed(_)))
            .collect()
    }

    /// The verdict on the case named `name`; panics when the suite has no such case.
    pub fn verdict(&self, name: &str) -> &CaseVerdict {
        self.verdicts
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| {
                let names: Vec<&str> = self.verdicts.iter().map(|v| v.name.as_str()).collect();
                panic!("the suite has no case {name}; it has {names:?}")
            })
    }

    /// Asserts that the variant failed at least one `must` case, among them each of `cases`.
    pub fn assert_caught(&self, variant: &str, cases: &[&str]) {
        let failed = self.must_failures();
        let names: Vec<&str> = failed.iter().map(|v| v.name.as_str()).collect();
        // Shown with --nocapture: what the variant was caught by, and how fast.
        println!("{variant}: caught in {:?} by {names:?}", self.elapsed);
        assert!(
            !failed.is_empty(),
            "{variant}: no must case failed\n{}",
            self.summary()
        );
        for case in cases {
            // Fails loudly if the case was renamed or removed.
            self.verdict(case);
            assert!(
                names.contains(case),
                "{variant}: {case} did not fail; the failing must cases are {names:?}\n{}",
                self.summary()
            );
        }
    }

    /// Asserts that no `must` case failed, printing each failure report otherwise.
    pub fn assert_conformant(&self, variant: &str) {
        let failed = self.must_failures();
        // Shown with --nocapture: how the run went, should-level findings included.
        let count =
            |f: fn(&Outcome) -> bool| self.verdicts.iter().filter(|v| f(&v.outcome)).count();
        println!(
            "{variant}: {} passed, {} ignored, {} failed in {:?}",
            count(|o| *o == Outcome::Passed),
            count(|o| matches!(o, Outcome::Ignored(_))),
            count(|o| matches!(o, Outcome::Failed(_))),
            self.elapsed
        );
        for verdict in &self.verdicts {
            if let (Outcome::Failed(report), Level::Should) = (&verdict.outcome, verdict.level) {
                let first = report.lines().find(|l| l.trim_start().starts_with("- "));
                println!(
                    "  should-level failure {}: {}",
                    verdict.name,
                    first.unwrap_or("")
                );
            }
        }
        if failed.is_empty() {
            return;
        }
        let mut reports = String::new();
        for verdict in &failed {
            if let Outcome::Failed(report) = &verdict.outcome {
                let _ = writeln!(reports, "--- {}\n{report}\n", verdict.name);
            }
        }
        let names: Vec<&str> = failed.iter().map(|v| v.name.as_str()).collect();
        panic!("{variant}: conformant, yet these must cases failed: {names:?}\n\n{reports}");
    }

    /// One line per case: its outcome and, for a failure, the first line of its report.
    pub fn summary(&self) -> String {
        let mut text = String::new();
        for verdict in &self.verdicts {
            let (word, detail) = match &verdict.outcome {
                Outcome::Passed => ("passed", String::new()),
                Outcome::Ignored(why) => ("ignored", why.clone()),
                Outcome::Failed(report) => ("FAILED", report.lines().last().unwrap_or("").into()),
            };
            let _ = writeln!(
                text,
                "  {word:7} {} [{}] {detail}",
                verdict.name, verdict.level
            );
        }
        text
    }
}
