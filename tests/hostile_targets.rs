//! The harness against hostile targets: small servers on 127.0.0.1 that never answer, drip,
//! break the connection, send what is not JSON, too much, nested too deep or not UTF-8,
//! redirect in a loop, stall or fail TLS, or compress. Every request must end within its
//! timeout with a message that names what happened, never a panic and never unbounded memory;
//! each behaviour is tested on the HTTP layer and, for the important ones, through a whole run.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_rustls::TlsAcceptor;
use xpipe_conformance::case::Level;
use xpipe_conformance::http::{
    HttpClient, HttpError, HttpRequest, HttpResponse, HttpSettings, Overflow,
};
use xpipe_conformance::mock::{MockConfig, MockDaemon};
use xpipe_conformance::suite::{CaseVerdict, Outcome, SetupError, Suite, SuiteConfig};

use common::{TestDaemon, Variant};

/// The request timeout of every test here: short, so that each hostile target costs little.
const TIMEOUT: Duration = Duration::from_secs(1);

/// The body cap of every test here.
const CAP: usize = 1024 * 1024;

/// 1 GiB: the body the huge-body servers offer, lazily.
const GIB: u64 = 1024 * 1024 * 1024;

/// The most connections one hostile server accepts, and how long it keeps one.
const MAX_CONNECTIONS: usize = 4096;
const CONNECTION_LIFETIME: Duration = Duration::from_secs(20);

/// The longest a whole run against a hostile target may take: the probe's request, then every
/// case at once, each within its timeout, with room for a busy two-core machine.
const RUN_BOUND: Duration = Duration::from_secs(12);

/// What a hostile server does with each connection.
#[derive(Debug, Clone)]
enum Hostile {
    /// Reads the request and never answers.
    Silent,
    /// Sends the status line, then the rest of its head one byte a second.
    DripHead,
    /// Sends a whole head declaring 100 body bytes, then one byte every 200 ms.
    DripBody,
    /// Declares 1000 body bytes, sends 10 and resets the connection (SO_LINGER 0).
    ResetMidBody,
    /// Declares 1000 body bytes, sends 10 and closes the connection cleanly.
    CloseMidBody,
    /// Answers with this status line, these headers and this body (Content-Length added).
    Answer {
        status: &'static str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Declares a body of 1 GiB and streams zeros until the client goes away.
    HugeDeclared,
    /// Streams chunks of `0` characters in a chunked body without end (up to 1 GiB).
    EndlessChunked,
    /// Streams zeros with neither length nor chunks, until the client goes away (up to 1 GiB).
    EndlessUntilClose,
    /// Answers every request with 302 and a Location of the very URL asked.
    RedirectToItself,
    /// A gzip body of about 1 MiB that decodes to 1 GiB of zeros (1024 members of 1 MiB).
    GzipBomb(Arc<Vec<u8>>),
    /// A plain HTTP server: answers 400 to the first bytes it gets, whatever they are.
    PlainBadRequest,
}

/// A hostile server on its own runtime; dropping it stops it.
struct Server {
    addr: SocketAddr,
    runtime: Runtime,
}

impl Server {
    /// Serves `behaviour` over plain TCP.
    fn plain(behaviour: Hostile) -> Server {
        Server::start(behaviour, None)
    }

    /// Serves `behaviour` over TLS with a fresh self-signed certificate.
    fn tls(behaviour: Hostile) -> Server {
        Server::start(behaviour, Some(self_signed_acceptor()))
    }

    fn start(behaviour: Hostile, tls: Option<TlsAcceptor>) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the hostile server");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let addr = listener.local_addr().expect("the server's address");
        runtime.spawn(async move {
            for _ in 0..MAX_CONNECTIONS {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let behaviour = behaviour.clone();
                let tls = tls.clone();
                tokio::spawn(tokio::time::timeout(CONNECTION_LIFETIME, async move {
                    match tls {
                        None => {
                            if matches!(behaviour, Hostile::ResetMidBody) {
                                // Closing then sends RST instead of FIN.
                                let _ = stream.set_zero_linger();
                            }
                            behaviour.act(stream).await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                behaviour.act(stream).await;
                            }
                        }
                    }
                }));
            }
        });
        Server { addr, runtime }
    }

    fn url(&self, scheme: &str) -> Url {
        Url::parse(&format!("{scheme}://{}", self.addr)).unwrap()
    }

    /// One request through the HTTP layer: its outcome and how long it took.
    fn send(
        &self,
        scheme: &str,
        settings: HttpSettings,
    ) -> (Result<HttpResponse, HttpError>, Duration) {
        let client = HttpClient::new(&self.url(scheme), settings).expect("a client");
        let request = HttpRequest {
            method: "POST".into(),
            path: "/handshake".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(br#"{"auth": {"type": "ApiKey", "key": "x"}}"#.to_vec()),
        };
        let started = Instant::now();
        let outcome = self.runtime.block_on(client.send(&request));
        (outcome, started.elapsed())
    }

    /// A request through the HTTP layer that must fail within the timeout; its error.
    fn send_failing(&self, scheme: &str, settings: HttpSettings) -> HttpError {
        let limit = settings.timeout + Duration::from_millis(600);
        let (outcome, took) = self.send(scheme, settings);
        assert!(took < limit, "the request took {took:?}");
        match outcome {
            Ok(response) => panic!("expected no usable answer, got {}", response.status),
            Err(error) => error,
        }
    }
}

impl Hostile {
    async fn act<S: AsyncRead + AsyncWrite + Unpin + Send>(self, mut stream: S) {
        // Whatever came, HTTP or a TLS hello: a silent server holds the connection, a plain
        // one refuses it.
        let request = read_request(&mut stream).await;
        match self {
            Hostile::Silent => return tokio::time::sleep(CONNECTION_LIFETIME).await,
            Hostile::PlainBadRequest => {
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                return;
            }
            _ => {}
        }
        let Some(request) = request else {
            return;
        };
        match self {
            Hostile::Silent | Hostile::PlainBadRequest => unreachable!("answered above"),
            Hostile::DripHead => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n").await;
                for byte in b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}" {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if stream.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                }
            }
            Hostile::DripBody => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Content-Length: 100\r\n\r\n";
                let _ = stream.write_all(head.as_bytes()).await;
                for _ in 0..100 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if stream.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            }
            Hostile::ResetMidBody | Hostile::CloseMidBody => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Content-Length: 1000\r\n\r\n";
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(b"{\"token\": ").await;
                let _ = stream.flush().await;
                // Let the head and the first bytes arrive before the connection goes.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Hostile::Answer {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("Connection: close\r\n\r\n");
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            }
            Hostile::HugeDeclared | Hostile::EndlessUntilClose => {
                let length = match self {
                    Hostile::HugeDeclared => format!("Content-Length: {GIB}\r\n"),
                    _ => "Connection: close\r\n".to_owned(),
                };
                let head =
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}\r\n");
                let _ = stream.write_all(head.as_bytes()).await;
                let zeros = vec![0u8; 64 * 1024];
                for _ in 0..GIB / zeros.len() as u64 {
                    if stream.write_all(&zeros).await.is_err() {
                        return;
                    }
                }
            }
            Hostile::EndlessChunked => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Transfer-Encoding: chunked\r\n\r\n";
                let _ = stream.write_all(head.as_bytes()).await;
                let mut chunk = b"10000\r\n".to_vec();
                chunk.extend_from_slice(&[b'0'; 0x10000]);
                chunk.extend_from_slice(b"\r\n");
                for _ in 0..GIB / 0x10000 {
                    if stream.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            }
            Hostile::RedirectToItself => {
                let location = format!("http://{}{}", request.host, request.path);
                let head = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\
                     Connection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
            Hostile::GzipBomb(member) => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Content-Encoding: gzip\r\nConnection: close\r\n\r\n";
                let _ = stream.write_all(head.as_bytes()).await;
                for _ in 0..1024 {
                    if stream.write_all(&member).await.is_err() {
                        return;
                    }
                }
                let _ = stream.shutdown().await;
            }
        }
    }
}

/// What a hostile server needs of a request.
struct Request {
    path: String,
    host: String,
}

/// Reads one HTTP request, head and body (bounded); `None` when what came is not one.
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Request> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if data.len() > 64 * 1024 {
            return None;
        }
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..read]);
        // A TLS hello is not HTTP: a plain server answers it at once.
        if data[0] == 0x16 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body_read = data.len() - head_end;
    while body_read < length.min(1024 * 1024) {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        body_read += read;
    }
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    Some(Request {
        path,
        host: header("host").unwrap_or_default(),
    })
}

/// A TLS acceptor with a fresh self-signed certificate for localhost and 127.0.0.1.
fn self_signed_acceptor() -> TlsAcceptor {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a self-signed certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("a server certificate");
    TlsAcceptor::from(Arc::new(config))
}

fn settings() -> HttpSettings {
    HttpSettings {
        timeout: TIMEOUT,
        max_body: CAP,
        ..HttpSettings::default()
    }
}

fn json_answer(body: impl Into<Vec<u8>>) -> Hostile {
    Hostile::Answer {
        status: "200 OK",
        headers: vec![("Content-Type", "application/json".to_owned())],
        body: body.into(),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    gzip_at(data, flate2::Compression::fast())
}

fn gzip_at(data: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The process's peak resident memory, where the system tells it.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A whole run against a hostile target: the suite's config for it.
fn run_config(url: Url) -> SuiteConfig {
    SuiteConfig {
        target: Some(url),
        api_key: Some("hostile-test-key".to_owned()),
        http: settings(),
        // Generated cases would only add more of the same requests.
        generated: 0,
        ..SuiteConfig::default()
    }
}

/// [`run_suite`] for a target that answers nothing in time: every case at once, so that the
/// run takes about two timeouts (the probe's, then the cases') instead of one per sixteen.
fn run_suite_at_once(url: Url) -> Vec<CaseVerdict> {
    run_suite_with(SuiteConfig {
        concurrency: 512,
        ..run_config(url)
    })
}

/// Prepares and runs the whole suite; its verdicts, checked to end within [`RUN_BOUND`].
fn run_suite(url: Url) -> Vec<CaseVerdict> {
    run_suite_with(run_config(url))
}

/// [`run_suite`] with a config of the test's own.
fn run_suite_with(config: SuiteConfig) -> Vec<CaseVerdict> {
    let started = Instant::now();
    let suite = Suite::prepare(config).expect("the run prepares");
    let verdicts = suite.verdicts();
    suite.shutdown();
    let took = started.elapsed();
    assert!(took < RUN_BOUND, "the run took {took:?}");
    verdicts
}

/// The failure reports of a run, of which there must be many: a case that checks only what
/// the hostile answer gets right (its Content-Type, say) may pass.
fn failure_reports(verdicts: Vec<CaseVerdict>) -> Vec<String> {
    let reports: Vec<String> = verdicts
        .into_iter()
        .filter_map(|verdict| match verdict.outcome {
            Outcome::Failed(report) => Some(report),
            Outcome::Passed | Outcome::Ignored(_) => None,
        })
        .collect();
    assert!(reports.len() > 100, "only {} cases failed", reports.len());
    reports
}

/// Asserts that every report names the cause.
fn assert_every_report_names(reports: &[String], cause: &str) {
    if let Some(report) = reports.iter().find(|r| !r.contains(cause)) {
        panic!("a report does not name {cause:?}:\n{report}");
    }
}

// 1. An answer that never comes.

#[test]
fn a_silent_server_times_out() {
    let server = Server::plain(Hostile::Silent);
    let error = server.send_failing("http", settings());
    assert_eq!(
        error.to_string(),
        "no complete answer within 1.0 s (timeout): its status line and headers had not arrived"
    );

    let reports = failure_reports(run_suite_at_once(server.url("http")));
    assert_every_report_names(&reports, "(timeout)");
}

// 2. An answer that drips.

#[test]
fn a_dripping_head_times_out() {
    let server = Server::plain(Hostile::DripHead);
    let error = server.send_failing("http", settings());
    assert!(
        matches!(error, HttpError::Timeout { progress: None, .. }),
        "{error}"
    );

    let reports = failure_reports(run_suite_at_once(server.url("http")));
    assert_every_report_names(&reports, "(timeout)");
}

#[test]
fn a_dripping_body_times_out_and_says_how_much_came() {
    let server = Server::plain(Hostile::DripBody);
    let error = server.send_failing("http", settings());
    let HttpError::Timeout {
        progress: Some(progress),
        ..
    } = &error
    else {
        panic!("expected a timeout during the body, got {error:?}");
    };
    assert_eq!((progress.status, progress.declared), (200, Some(100)));
    assert!((2..=6).contains(&progress.body_bytes), "{error}");
    let message = error.to_string();
    assert!(message.starts_with("no complete answer within 1.0 s (timeout): status 200 and "));
    assert!(
        message.ends_with(" of 100 body bytes had arrived"),
        "{message}"
    );
}

// 3. A connection that breaks mid-body.

#[test]
fn a_reset_mid_body_says_the_connection_broke() {
    let server = Server::plain(Hostile::ResetMidBody);
    let error = server.send_failing("http", settings());
    let message = error.to_string();
    assert!(
        message.starts_with(
            "connection broke during the answer: status 200 and 10 of 1000 body bytes had arrived; "
        ),
        "{message}"
    );

    let reports = failure_reports(run_suite(server.url("http")));
    assert_every_report_names(&reports, "connection broke during the answer");
}

#[test]
fn a_close_mid_body_says_the_connection_broke() {
    let server = Server::plain(Hostile::CloseMidBody);
    let message = server.send_failing("http", settings()).to_string();
    assert!(
        message.starts_with(
            "connection broke during the answer: status 200 and 10 of 1000 body bytes had arrived; "
        ),
        "{message}"
    );
}

// 4. A body that is not JSON.

#[test]
fn a_body_that_is_not_json_is_shown_by_its_first_bytes() {
    let page = format!(
        "<!DOCTYPE html>\n<html><body>\u{1b}[31mService Unavailable{}</body></html>",
        " padding".repeat(200)
    );
    let server = Server::plain(Hostile::Answer {
        status: "200 OK",
        headers: vec![("Content-Type", "text/html".to_owned())],
        body: page.into_bytes(),
    });
    let (outcome, _) = server.send("http", settings());
    assert_eq!(outcome.expect("an answer").status, 200);

    let reports = failure_reports(run_suite(server.url("http")));
    // Shown from its first bytes, with its line breaks and escape sequences made visible.
    assert_every_report_names(&reports, "<!DOCTYPE html>\\n<html><body>\\u{1b}[31mService");
    assert!(reports.iter().all(|r| !r.contains('\u{1b}')));
    assert!(
        reports.iter().any(|r| r.contains("the body is not JSON")),
        "no report says the body is not JSON"
    );
}

// 5. A body too large to keep.

#[test]
fn a_declared_body_over_the_cap_fails_before_reading() {
    let server = Server::plain(Hostile::HugeDeclared);
    let (outcome, took) = server.send("http", settings());
    let error = outcome.unwrap_err();
    assert_eq!(
        error,
        HttpError::BodyTooLarge {
            cap: CAP,
            overflow: Overflow::Declared(GIB)
        }
    );
    assert!(took < Duration::from_millis(500), "took {took:?}");
    assert_eq!(
        error.to_string(),
        "answer body is longer than the cap of 1048576 bytes (--max-body): its Content-Length \
         declares 1073741824 bytes, so none was read"
    );
}

#[test]
fn endless_bodies_stop_at_the_cap_and_memory_stays_bounded() {
    for behaviour in [Hostile::EndlessChunked, Hostile::EndlessUntilClose] {
        let server = Server::plain(behaviour.clone());
        let error = server.send_failing("http", settings());
        assert_eq!(
            error,
            HttpError::BodyTooLarge {
                cap: CAP,
                overflow: Overflow::Received
            },
            "{behaviour:?}"
        );
        assert!(
            error
                .to_string()
                .contains("cap of 1048576 bytes (--max-body)")
        );
    }

    let server = Server::plain(Hostile::EndlessChunked);
    let config = SuiteConfig {
        http: HttpSettings {
            max_body: 64 * 1024,
            ..settings()
        },
        ..run_config(server.url("http"))
    };
    let reports = failure_reports(run_suite_with(config));
    assert_every_report_names(&reports, "cap of 65536 bytes (--max-body)");

    // Holding any of those bodies whole would have taken a GiB.
    if let Some(peak) = peak_memory() {
        assert!(peak < GIB, "peak memory {peak} bytes");
    }
}

#[test]
fn json_that_would_parse_to_far_more_than_its_size_is_not_parsed() {
    // Under the cap as text, but as parsed JSON about thirty times the run's memory budget
    // (eight times the cap), which every case in flight would otherwise multiply.
    let zeros = vec!["0"; CAP / 2 - 32].join(",");
    let body = format!(r#"{{"token": "t", "found": [{zeros}]}}"#);
    assert!(body.len() <= CAP);
    let server = Server::plain(json_answer(body));

    let response = server
        .send("http", settings())
        .0
        .expect("an answer under the cap");
    let why = response.json().expect_err("too large to parse");
    assert!(
        why.starts_with("the body is too large to check: parsed as JSON it could take up to"),
        "{why}"
    );
    assert!(
        why.contains("budget of 8.0 MiB (8 times --max-body)"),
        "{why}"
    );

    let reports = failure_reports(run_suite(server.url("http")));
    assert!(
        reports
            .iter()
            .any(|r| r.contains("the body is too large to check")),
        "{reports:#?}"
    );
}

// 6. A body that is not UTF-8.

#[test]
fn a_body_that_is_not_utf8_is_reported_lossily() {
    // Not under `token`: the value of a token member is masked, UTF-8 or not.
    let server = Server::plain(json_answer(b"{\"message\": \"\xff\xfe\xc3\x28\"}".to_vec()));
    let (outcome, _) = server.send("http", settings());
    assert_eq!(outcome.expect("an answer").body.len(), 19);

    let reports = failure_reports(run_suite(server.url("http")));
    assert_every_report_names(&reports, "{\"message\": \"\u{fffd}\u{fffd}\u{fffd}(\"}");
    assert!(
        reports
            .iter()
            .any(|r| r.contains("invalid unicode code point"))
    );
}

// 7. JSON nested 100,000 deep.

#[test]
fn json_nested_too_deep_stops_at_the_recursion_limit() {
    let depth = 100_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let server = Server::plain(json_answer(nested));
    let (outcome, _) = server.send("http", settings());
    assert_eq!(outcome.expect("an answer").body.len(), 2 * depth);

    // Every place that parses an answer sees it: the handshake, the checks, the report.
    let reports = failure_reports(run_suite(server.url("http")));
    assert_every_report_names(&reports, "[[[[[[[[");
    assert!(
        reports
            .iter()
            .any(|r| r.contains("recursion limit exceeded"))
    );
}

#[test]
fn json_just_inside_the_recursion_limit_is_walked_without_overflow() {
    // 120 levels parse; sessions open with the token, and every check, the token redaction of
    // the reports and the schema validation then walk the deep `found`.
    let depth = 120;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let body = format!(r#"{{"token": "t", "found": {deep}, "message": {deep}}}"#);
    let server = Server::plain(json_answer(body));

    let reports = failure_reports(run_suite(server.url("http")));
    assert!(reports.iter().any(|r| r.contains("[[[[[[[[")));
    assert!(reports.iter().all(|r| !r.contains("recursion limit")));
}
// 8. A redirect loop.

#[test]
fn a_redirect_to_itself_is_not_followed() {
    let server = Server::plain(Hostile::RedirectToItself);
    let (outcome, took) = server.send("http", settings());
    let response = outcome.expect("the redirect is the answer");
    assert_eq!(response.status, 302);
    let location = format!("http://{}/handshake", server.addr);
    assert_eq!(response.location.as_deref(), Some(location.as_str()));
    assert!(took < Duration::from_millis(500), "took {took:?}");

    let reports = failure_reports(run_suite(server.url("http")));
    assert_every_report_names(&reports, "302");
    assert_every_report_names(&reports, &format!("Location: http://{}/", server.addr));
}

// 9. TLS that never completes, and plain HTTP addressed as https.

#[test]
fn a_tls_handshake_that_never_completes_suggests_plain_http() {
    let server = Server::plain(Hostile::Silent);
    let error = server.send_failing("https", settings());
    let message = error.to_string();
    assert!(
        message.starts_with(
            "cannot connect: the TCP connection or its TLS handshake did not complete within 0.9 s"
        ),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("try http://{}/", server.addr)),
        "{message}"
    );

    let started = Instant::now();
    let Err(SetupError::Unreachable(message)) = Suite::prepare(run_config(server.url("https")))
    else {
        panic!("expected the run to stop before any case");
    };
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(message.contains("try http://"), "{message}");
}

#[test]
fn plain_http_addressed_as_https_suggests_plain_http() {
    let server = Server::plain(Hostile::PlainBadRequest);
    let message = server.send_failing("https", settings()).to_string();
    assert!(message.starts_with("cannot connect: "), "{message}");
    assert!(
        message.ends_with(&format!("try http://{}/", server.addr)),
        "{message}"
    );

    let Err(SetupError::Unreachable(message)) = Suite::prepare(run_config(server.url("https")))
    else {
        panic!("expected the run to stop before any case");
    };
    assert!(message.contains("try http://"), "{message}");
}

// 10. A certificate that does not verify.

#[test]
fn a_self_signed_certificate_suggests_insecure_and_works_with_it() {
    let server = Server::tls(json_answer(r#"{"token": "t"}"#));
    let message = server.send_failing("https", settings()).to_string();
    assert!(message.starts_with("cannot connect: "), "{message}");
    assert!(message.contains("certificate"), "{message}");
    assert!(message.ends_with("pass --insecure"), "{message}");

    let insecure = HttpSettings {
        insecure: true,
        ..settings()
    };
    let (outcome, _) = server.send("https", insecure);
    let response = outcome.expect("with --insecure the same server answers");
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &br#"{"token": "t"}"#[..])
    );

    let Err(SetupError::Unreachable(message)) = Suite::prepare(run_config(server.url("https")))
    else {
        panic!("expected the run to stop before any case");
    };
    assert!(message.contains("--insecure"), "{message}");
}

#[test]
fn a_whole_run_over_tls_passes_with_insecure() {
    // The embedded mock behind a TLS proxy with a self-signed certificate.
    let runtime = Runtime::new().unwrap();
    let mock = runtime
        .block_on(MockDaemon::start(MockConfig::new("tls-test-key")))
        .expect("the mock starts");
    let upstream: SocketAddr = mock.url().trim_start_matches("http://").parse().unwrap();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = self_signed_acceptor();
    runtime.spawn(async move {
        for _ in 0..MAX_CONNECTIONS {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(tokio::time::timeout(CONNECTION_LIFETIME, async move {
                let (Ok(mut tls), Ok(mut plain)) = (
                    acceptor.accept(stream).await,
                    TcpStream::connect(upstream).await,
                ) else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            }));
        }
    });

    let config = SuiteConfig {
        target: Some(Url::parse(&format!("https://{addr}")).unwrap()),
        api_key: Some("tls-test-key".to_owned()),
        auth_file: Some(mock.auth_file().to_path_buf()),
        http: HttpSettings {
            insecure: true,
            timeout: Duration::from_secs(5),
            ..HttpSettings::default()
        },
        generated: 0,
        ..SuiteConfig::default()
    };
    let suite = Suite::prepare(config).expect("the run prepares over TLS");
    let verdicts = suite.verdicts();
    suite.shutdown();
    let failed: Vec<String> = verdicts
        .iter()
        .filter(|v| matches!(v.outcome, Outcome::Failed(_)) && v.level == Level::Must)
        .map(|v| format!("{}: {:?}", v.name, v.outcome))
        .collect();
    assert!(
        failed.is_empty(),
        "must cases failed over TLS:\n{}",
        failed.join("\n")
    );
    assert!(
        verdicts
            .iter()
            .filter(|v| v.outcome == Outcome::Passed)
            .count()
            > 100
    );
    runtime.block_on(mock.shutdown());
}

// 11. gzip-encoded answers.

#[test]
fn a_gzip_answer_is_decoded_and_noted() {
    let body = br#"{"token": "abc"}"#;
    let server = Server::plain(Hostile::Answer {
        status: "200 OK",
        headers: vec![
            ("Content-Type", "application/json".to_owned()),
            ("Content-Encoding", "gzip".to_owned()),
        ],
        body: gzip(body),
    });
    let (outcome, _) = server.send("http", settings());
    let response = outcome.expect("an answer");
    assert_eq!(response.body, body);
    assert_eq!(response.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(response.encoded_size, Some(gzip(body).len()));
}

#[test]
fn a_gzip_bomb_stops_at_the_cap_of_what_it_decodes_to() {
    // About 1 KiB that decodes to 1 MiB; the server sends it 1024 times.
    let member = gzip_at(&vec![0u8; 1024 * 1024], flate2::Compression::best());
    assert!(member.len() < 2048, "{} bytes", member.len());
    let member = Arc::new(member);
    let server = Server::plain(Hostile::GzipBomb(Arc::clone(&member)));
    let error = server.send_failing("http", settings());
    assert_eq!(
        error,
        HttpError::BodyTooLarge {
            cap: CAP,
            overflow: Overflow::Decoded("gzip".to_owned())
        }
    );
    assert!(
        error
            .to_string()
            .contains("gzip-encoded and decodes to more")
    );
    if let Some(peak) = peak_memory() {
        assert!(peak < GIB, "peak memory {peak} bytes");
    }
}

#[test]
fn a_daemon_that_gzips_every_answer_is_still_conformant() {
    let daemon = TestDaemon::start();
    let variant = Variant::on_answer(|_, answer| {
        answer.body = gzip(&answer.body).into();
        let gzip = axum::http::HeaderValue::from_static("gzip");
        answer
            .headers
            .insert(axum::http::header::CONTENT_ENCODING, gzip);
    });
    daemon
        .run(variant)
        .assert_conformant("gzip-encoded answers");
}

// 12. Unreachable targets, through the binary.

fn run_binary(target: &str) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_xpipe-conformance"))
        .args(["--target", target, "--api-key", "x", "--timeout", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr, started.elapsed())
}

#[test]
fn the_binary_says_once_that_nothing_listens() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let target = format!("http://127.0.0.1:{port}");
    let (code, stderr, took) = run_binary(&target);
    assert_eq!(code, Some(4), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: nothing listens at {target}/: ")),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn the_binary_says_once_that_tls_never_completes() {
    let server = Server::plain(Hostile::Silent);
    let target = format!("https://{}", server.addr);
    let (code, stderr, took) = run_binary(&target);
    assert_eq!(code, Some(4), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: no TLS connection with {target}/: ")),
        "{stderr}"
    );
    assert!(
        stderr
            .trim_end()
            .ends_with(&format!("try http://{}/", server.addr)),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
