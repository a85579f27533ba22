//! What a run prints: no credential or session token in any report, whichever case met it and
//! in whatever form, headers escaped like bodies, and the exit status that follows from the
//! verdicts.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use xpipe_conformance::mock::{Fault, MockConfig, MockDaemon};
use xpipe_conformance::suite::{CaseVerdict, Outcome, Suite, SuiteConfig};

use common::{API_KEY, TestDaemon, Variant};

fn faults(names: &[&str]) -> std::collections::BTreeSet<Fault> {
    names
        .iter()
        .map(|name| name.parse().expect("a known fault"))
        .collect()
}

/// Every text the verdicts print: failure reports and the reasons of ignored cases, which for
/// a `should` case hold its finding.
fn printed(verdicts: &[CaseVerdict]) -> Vec<String> {
    verdicts
        .iter()
        .filter_map(|verdict| match &verdict.outcome {
            Outcome::Failed(text) | Outcome::Ignored(text) => Some(text.clone()),
            Outcome::Passed => None,
        })
        .collect()
}

fn report_of<'a>(verdicts: &'a [CaseVerdict], name: &str) -> &'a str {
    match &verdicts
        .iter()
        .find(|v| v.name == name)
        .expect(name)
        .outcome
    {
        Outcome::Failed(report) | Outcome::Ignored(report) => report,
        Outcome::Passed => panic!("{name} passed"),
    }
}

/// Asserts that no printed text holds `secret`.
fn assert_never_printed(texts: &[String], secret: &str, what: &str) {
    if let Some(text) = texts.iter().find(|t| t.contains(secret)) {
        panic!("{what} {secret:?} is printed:\n{text}");
    }
}

/// A proxy variant that records the token of every handshake answer.
fn recording_tokens(tokens: &Arc<Mutex<Vec<String>>>) -> impl Fn(&Bytes) + use<> {
    let tokens = Arc::clone(tokens);
    move |body: &Bytes| {
        if let Some(token) = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("token")?.as_str().map(str::to_owned))
        {
            tokens.lock().unwrap().push(token);
        }
    }
}

#[test]
fn no_token_of_any_session_nor_what_templates_derive_from_it_is_printed() {
    let mut config = MockConfig::new(API_KEY);
    config.faults = faults(&["any-token-accepted", "refused-handshake-carries-token"]);
    let daemon = TestDaemon::start_with(config);
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let record = recording_tokens(&tokens);
    let seen = Arc::clone(&tokens);
    let run = daemon.run(Variant::on_answer(move |request, answer| {
        if request.is("/handshake") {
            record(&answer.body);
        } else if request.is("/daemon/open") {
            // Echo the token of the first session the daemon handed out (the probe's, not
            // this case's) in a header and in the body, as a careless daemon might.
            let Some(first) = seen.lock().unwrap().first().cloned() else {
                return;
            };
            answer.set_json(&serde_json::json!({ "previous": first }));
            let location = format!("/sessions/{first}");
            answer
                .headers
                .insert(header::LOCATION, HeaderValue::from_str(&location).unwrap());
        }
    }));
    let texts = printed(&run.verdicts);

    let tokens = tokens.lock().unwrap().clone();
    assert!(tokens.len() > 20, "only {} handshakes", tokens.len());
    for token in &tokens {
        let shortened = &token[..token.len() - 1];
        assert_never_printed(&texts, shortened, "a session token (or it shortened)");
        if token.to_uppercase() != *token {
            assert_never_printed(
                &texts,
                &token.to_uppercase(),
                "an upper-cased session token",
            );
        }
    }
    let shortened = report_of(&run.verdicts, "authentication::shortened_token_is_refused");
    assert!(
        shortened.contains("Bearer <token|drop_last>"),
        "{shortened}"
    );
    let refused = report_of(&run.verdicts, "authentication::wrong_api_key_is_refused");
    assert!(
        refused.contains(r#"at /token: expected nothing, found "<token>""#),
        "{refused}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Location: /sessions/<session-token>")),
        "no report shows the echoed token masked"
    );
}

#[test]
fn a_token_in_a_handshake_answer_that_is_not_strict_json_is_not_printed() {
    let daemon = TestDaemon::start();
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let record = recording_tokens(&tokens);
    let run = daemon.run(Variant::on_answer(move |request, answer| {
        if request.is("/handshake") {
            record(&answer.body);
            let mut body = "\u{feff}".as_bytes().to_vec();
            body.extend_from_slice(&answer.body);
            answer.body = Bytes::from(body);
        }
    }));
    let texts = printed(&run.verdicts);

    let tokens = tokens.lock().unwrap().clone();
    assert!(tokens.len() > 20, "only {} handshakes", tokens.len());
    for token in &tokens {
        assert_never_printed(&texts, token, "a token behind a byte-order mark");
    }
    assert!(
        texts
            .iter()
            .any(|t| t.contains("is not JSON") && t.contains(r#""token":"<token>""#)),
        "no report shows the masked answer"
    );
}

/// The reports of a run against the embedded mock with `api_key` and `faults`.
fn reports_with_key(api_key: &str, fault_names: &[&str]) -> Vec<String> {
    let suite = Suite::prepare(SuiteConfig {
        api_key: Some(api_key.to_owned()),
        mock_faults: faults(fault_names),
        generated: 0,
        ..SuiteConfig::default()
    })
    .expect("the run prepares");
    let verdicts = suite.verdicts();
    suite.shutdown();
    printed(&verdicts)
}

#[test]
fn a_key_with_quotes_and_backslashes_is_not_printed_in_any_escaped_form() {
    let key = r#"k"ey\with-quote"#;
    let texts = reports_with_key(key, &["api-key-extension-accepted", "any-token-accepted"]);
    assert_never_printed(&texts, key, "the key");
    assert_never_printed(&texts, r#"k\"ey\\with-quote"#, "the JSON-escaped key");
    assert_never_printed(
        &texts,
        r#"k\"ey\\with-quot"#,
        "the shortened JSON-escaped key",
    );
    assert!(
        texts.iter().any(|t| t.contains(r#""key":"<api-key>0""#)),
        "no report shows the extended key masked"
    );
}

#[test]
fn a_key_shorter_than_four_characters_is_masked_where_it_stands_alone() {
    let texts = reports_with_key("ab1", &["any-token-accepted", "token-null"]);
    assert_never_printed(&texts, r#""ab1""#, "the short key as a JSON string");
    assert_never_printed(&texts, "Bearer ab1", "the short key as a bearer token");
    assert!(texts.iter().any(|t| t.contains(r#""key":"<api-key>""#)));
    assert!(texts.iter().any(|t| t.contains("Bearer <api-key>")));
}

/// A server on 127.0.0.1 that answers every request (at most `MAX_REQUESTS`) with `answer`.
fn serve_fixed_answer(runtime: &Runtime, answer: &'static [u8]) -> SocketAddr {
    const MAX_REQUESTS: usize = 4096;
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        for _ in 0..MAX_REQUESTS {
            let Ok((mut stream, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(async move {
                // The whole request, so that closing after the answer resets nothing.
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while let Ok(read) = stream.read(&mut buffer).await {
                    if read == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..read]);
                    if request_is_complete(&request) {
                        break;
                    }
                }
                let _ = stream.write_all(answer).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

fn request_is_complete(request: &[u8]) -> bool {
    let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    request.len() >= head_end + 4 + length
}

#[test]
fn header_values_are_escaped_like_bodies() {
    let runtime = Runtime::new().unwrap();
    let answer = "HTTP/1.1 400 Bad Request\r\n\
                  Content-Type: text/\u{202e}lmth\u{9b}31m\r\n\
                  Location: /x\u{2066}y\r\n\
                  Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    let addr = serve_fixed_answer(&runtime, answer.as_bytes());
    let suite = Suite::prepare(SuiteConfig {
        target: Some(Url::parse(&format!("http://{addr}")).unwrap()),
        api_key: Some("header-test-key".to_owned()),
        generated: 0,
        ..SuiteConfig::default()
    })
    .expect("the run prepares");
    let texts = printed(&suite.verdicts());
    suite.shutdown();

    assert!(texts.len() > 100, "only {} cases failed", texts.len());
    for raw in ['\u{202e}', '\u{9b}', '\u{2066}'] {
        if let Some(text) = texts.iter().find(|t| t.contains(raw)) {
            panic!("{raw:?} reaches a report raw:\n{text}");
        }
    }
    assert!(
        texts
            .iter()
            .any(|t| t.contains(r"text/\u{202e}lmth\u{9b}31m") && t.contains(r"/x\u{2066}y"))
    );
}

/// Runs the built binary from the crate folder; its exit code and standard output.
fn run_binary(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xpipe-conformance"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env_remove("XPIPE_API_KEY")
        .env_remove("XPIPE_AUTH_FILE")
        .env_remove("XPIPE_TARGET")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), stdout)
}

#[test]
fn a_lone_failing_should_case_counts_as_run() {
    let runtime = Runtime::new().unwrap();
    let mut config = MockConfig::new("exit-code-key");
    config.faults = faults(&["refusal-gets-500"]);
    let mock = runtime
        .block_on(MockDaemon::start(config))
        .expect("the mock starts");
    let url = mock.url();
    let case = "handshake::wrong_api_key_gets_400_with_message";
    let args = [
        "run",
        "--target",
        &url,
        "--api-key",
        "exit-code-key",
        case,
        "--exact",
    ];

    let (code, stdout) = run_binary(&args);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("should-level findings (1)"), "{stdout}");
    let (code, stdout) = run_binary(&[&args[..], &["--strict"]].concat());
    assert_eq!(code, Some(1), "{stdout}");

    runtime.block_on(mock.shutdown());
}
