//! Cases generated from the request models, end to end: they pass against the embedded mock,
//! and against a daemon that breaks on one unusual but valid body they fail with a shrunk case
//! file that loads and is as small as the fault allows.
//!
//! The broken daemon is the embedded mock behind a small axum proxy on 127.0.0.1:0 that answers
//! 500 to one body shape and forwards everything else.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use reqwest::Url;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use xpipe_conformance::generate::{self, NAME_PREFIX};
use xpipe_conformance::http::HttpSettings;
use xpipe_conformance::loader::parse_case;
use xpipe_conformance::mock::{MockConfig, MockDaemon};
use xpipe_conformance::suite::{CaseVerdict, Outcome, Suite, SuiteConfig};

const API_KEY: &str = "generated-test-key";

/// The largest request body the proxy reads.
const BODY_LIMIT: usize = 1024 * 1024;

fn generated(verdicts: &[CaseVerdict]) -> Vec<&CaseVerdict> {
    verdicts
        .iter()
        .filter(|v| v.name.starts_with(NAME_PREFIX))
        .collect()
}

fn assert_all_pass(verdicts: &[&CaseVerdict]) {
    let failures: Vec<String> = verdicts
        .iter()
        .filter(|v| v.outcome != Outcome::Passed)
        .map(|v| format!("{}: {:?}", v.name, v.outcome))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_default_generated_cases_pass_against_the_mock() {
    let started = Instant::now();
    let suite = Suite::prepare(SuiteConfig::default()).expect("a run against the mock");
    let generation = suite.generation();
    let verdicts = suite.verdicts();
    suite.shutdown();

    let generated = generated(&verdicts);
    assert_eq!(generation.count, generate::DEFAULT_COUNT);
    assert_eq!(generation.seed, generate::DEFAULT_SEED);
    assert_eq!(generated.len(), generate::DEFAULT_COUNT);
    assert_all_pass(&generated);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn every_generated_case_passes_against_the_mock_for_several_seeds() {
    for seed in [2, 0x5eed, u64::MAX] {
        let suite = Suite::prepare(SuiteConfig {
            tags: vec!["generated".to_owned()],
            generated: usize::MAX,
            seed,
            ..SuiteConfig::default()
        })
        .expect("a run against the mock");
        let verdicts = suite.verdicts();
        suite.shutdown();
        assert!(verdicts.len() > 150, "only {} cases", verdicts.len());
        assert_eq!(generated(&verdicts).len(), verdicts.len());
        assert_all_pass(&generated(&verdicts));
    }
}

/// The embedded mock behind a proxy that answers 500 to the bodies `breaks` picks.
struct BrokenDaemon {
    // Dropped before the runtime it serves on.
    mock: Option<MockDaemon>,
    runtime: Option<Runtime>,
    url: Url,
}

type Breaks = fn(&Value) -> bool;

impl BrokenDaemon {
    fn start(breaks: Breaks) -> BrokenDaemon {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the mock and the proxy");
        // reqwest needs a rustls provider even for plain HTTP; an error means one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mock = runtime
            .block_on(MockDaemon::start(MockConfig::new(API_KEY)))
            .expect("the mock starts");
        let proxy = Proxy {
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("an HTTP client for the proxy"),
            upstream: mock.url(),
            breaks,
        };
        let app = Router::new().fallback(forward).with_state(Arc::new(proxy));
        let listener = runtime
            .block_on(TcpListener::bind(SocketAddr::from((
                Ipv4Addr::LOCALHOST,
                0,
            ))))
            .expect("the proxy binds a loopback port");
        let addr = listener.local_addr().expect("the proxy's address");
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        BrokenDaemon {
            mock: Some(mock),
            runtime: Some(runtime),
            url: Url::parse(&format!("http://{addr}")).expect("a proxy URL"),
        }
    }

    fn config(&self) -> SuiteConfig {
        let mock = self.mock.as_ref().expect("the mock runs");
        SuiteConfig {
            target: Some(self.url.clone()),
            api_key: Some(API_KEY.to_owned()),
            auth_file: Some(mock.auth_file().to_owned()),
            http: HttpSettings {
                timeout: Duration::from_secs(5),
                ..HttpSettings::default()
            },
            tags: vec!["generated".to_owned()],
            generated: usize::MAX,
            ..SuiteConfig::default()
        }
    }
}

impl Drop for BrokenDaemon {
    fn drop(&mut self) {
        if let (Some(mock), Some(runtime)) = (self.mock.take(), self.runtime.as_ref()) {
            runtime.block_on(mock.shutdown());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct Proxy {
    client: reqwest::Client,
    upstream: String,
    breaks: Breaks,
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .unwrap_or_default();
    if serde_json::from_slice::<Value>(&body).is_ok_and(|json| (proxy.breaks)(&json)) {
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"error": {"message": "internal"}}"#))
            .expect("a response");
    }

    let mut sent = proxy
        .client
        .request(
            parts.method,
            format!("{}{}", proxy.upstream, parts.uri.path()),
        )
        .body(body);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = parts.headers.get(&name) {
            sent = sent.header(name, value);
        }
    }
    let answer = match sent.timeout(Duration::from_secs(5)).send().await {
        Ok(answer) => answer,
        Err(_) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::empty())
                .expect("a response");
        }
    };
    let mut response = Response::builder().status(answer.status());
    if let Some(value) = answer.headers().get(header::CONTENT_TYPE) {
        response = response.header(header::CONTENT_TYPE, value);
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).expect("a response")
}

/// A `connectionFilter` holding a character outside the Basic Multilingual Plane.
fn non_bmp_connection_filter(body: &Value) -> bool {
    body.get("connectionFilter")
        .and_then(Value::as_str)
        .is_some_and(|f| f.chars().any(|c| c as u32 > 0xFFFF))
}

/// A client name longer than 1000 bytes.
fn long_client_name(body: &Value) -> bool {
    body.pointer("/client/name")
        .and_then(Value::as_str)
        .is_some_and(|name| name.len() > 1000)
}

/// The case file at the end of a failure report.
fn shrunk_case_file(report: &str) -> &str {
    let start = report
        .find("# yaml-language-server:")
        .unwrap_or_else(|| panic!("no case file in the report:\n{report}"));
    &report[start..]
}

/// The failed generated cases whose names hold `fragment`; every other generated case passed.
fn failures<'a>(verdicts: &'a [CaseVerdict], fragment: &str) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for verdict in generated(verdicts) {
        match &verdict.outcome {
            Outcome::Failed(report) if verdict.name.contains(fragment) => {
                out.push((verdict.name.as_str(), report.as_str()));
            }
            Outcome::Passed => {}
            other => panic!("{} should pass: {other:?}", verdict.name),
        }
    }
    out
}

#[test]
fn a_500_for_a_non_bmp_filter_is_caught_and_shrunk_to_one_field() {
    let daemon = BrokenDaemon::start(non_bmp_connection_filter);
    let suite = Suite::prepare(daemon.config()).expect("a run against the broken daemon");
    let verdicts = suite.verdicts();
    suite.shutdown();

    let failed = failures(
        &verdicts,
        "connection_query_valid_connection_filter_non_bmp",
    );
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let (name, report) = failed[0];
    assert!(report.contains("got 500"), "{report}");
    assert!(report.contains("shrunk in"), "{report}");
    assert!(
        report.contains(
            "save this as cases/connection_query/generated_valid_connection_filter_non_bmp_"
        ),
        "{report}"
    );

    // The case file loads, and its body keeps only what the fault needs.
    let text = shrunk_case_file(report);
    let spec = parse_case(text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert!(spec.description.contains(name), "{}", spec.description);
    assert_eq!(spec.tags, ["generated"]);
    let body = spec.steps[0].request.body.as_ref().expect("a JSON body");
    let fields = body.as_object().expect("an object");
    assert_eq!(fields.len(), 1, "not minimal: {body}");
    let filter = fields["connectionFilter"]
        .as_str()
        .expect("a string filter");
    assert_eq!(filter.chars().count(), 1, "not minimal: {body}");
    assert!(filter.chars().all(|c| c as u32 > 0xFFFF), "{body}");

    // Saved under cases/, it is an ordinary case: it fails against the broken daemon, for the
    // same reason, and passes against the mock.
    let cases = tempfile::tempdir().unwrap();
    std::fs::create_dir(cases.path().join("connection_query")).unwrap();
    std::fs::write(cases.path().join("connection_query/shrunk.yaml"), text).unwrap();
    let saved = |config: SuiteConfig| {
        let suite = Suite::prepare(SuiteConfig {
            cases_dir: cases.path().to_owned(),
            tags: Vec::new(),
            generated: 0,
            ..config
        })
        .expect("a run of the saved case");
        let verdicts = suite.verdicts();
        suite.shutdown();
        assert_eq!(verdicts.len(), 1);
        verdicts.into_iter().next().unwrap().outcome
    };
    let Outcome::Failed(report) = saved(daemon.config()) else {
        panic!("the saved case passes against the broken daemon")
    };
    assert!(report.contains("got 500"), "{report}");
    assert!(
        !report.contains("shrunk in"),
        "only generated cases are shrunk: {report}"
    );
    assert_eq!(saved(SuiteConfig::default()), Outcome::Passed);
}

#[test]
fn a_500_for_a_long_client_name_shrinks_to_the_shortest_name_that_breaks() {
    let daemon = BrokenDaemon::start(long_client_name);
    let suite = Suite::prepare(daemon.config()).expect("a run against the broken daemon");
    let verdicts = suite.verdicts();
    suite.shutdown();

    let failed = failures(&verdicts, "client_name_long");
    // One with each kind of credentials.
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for (_, report) in failed {
        let text = shrunk_case_file(report);
        let spec = parse_case(text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let body = spec.steps[0].request.body.as_ref().expect("a JSON body");
        // Nothing but the name is left, cut to just over the limit, and the credentials the
        // body no longer names are no longer required.
        assert!(report.contains("shrunk in"), "{report}");
        assert_eq!(body.as_object().map(|f| f.len()), Some(1), "{body}");
        assert_eq!(
            body["client"].as_object().map(|f| f.len()),
            Some(1),
            "{body}"
        );
        let name = body["client"]["name"].as_str().expect("a name");
        assert_eq!(name.len(), 1001, "not minimal");
        assert!(spec.requires.is_empty(), "{:?}", spec.requires);
    }
}
