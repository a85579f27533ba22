//! Property tests of the embedded mock: arbitrary bytes and arbitrary JSON values as the body of
//! every route, with and without a valid bearer token, never get a 5xx or a panic, and the mock
//! still answers a valid handshake afterwards. Driven through the router, without a socket.
//!
//! At the end, the built binary's `mock` command: its auth file is owner-only and gone after
//! SIGTERM, and with `RUST_LOG=trace` no key, secret or token shows in what it prints.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Number, Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;
use xpipe_conformance::mock::{MockConfig, MockState, router};

const API_KEY: &str = "property-api-key";
const LOCAL_SECRET: &str = "0c6a1f0e-8d3b-4b7e-9f2a-5e4d3c2b1a09";

/// Cases per property: enough to reach every route and token kind many times, in a few seconds.
const CASES: u32 = 256;

const PATHS: [&str; 4] = [
    "/handshake",
    "/connection/query",
    "/daemon/open",
    "/no/such/operation",
];

/// The field names and values of the request models, so that generated objects often have the
/// right shape and reach the checks behind the parsing.
const WORDS: [&str; 16] = [
    "auth",
    "type",
    "ApiKey",
    "Local",
    "key",
    "authFileContent",
    "client",
    "Api",
    "name",
    "categoryFilter",
    "connectionFilter",
    "typeFilter",
    "arguments",
    "*",
    "**",
    API_KEY,
];

/// Which `Authorization` header a request carries.
#[derive(Debug, Clone, Copy)]
enum Token {
    None,
    Valid,
    Unknown,
}

fn token() -> impl Strategy<Value = Token> {
    prop_oneof![Just(Token::None), Just(Token::Valid), Just(Token::Unknown)]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(&WORDS[..]).prop_map(str::to_owned),
        any::<String>(),
        "[*./#a-z\\[\\]{}()?\\\\]{0,12}",
    ]
}

/// Any JSON value, at most 4 levels deep and about 64 nodes.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            btree_map(string(), inner, 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A router over a fresh faithful mock, and a valid bearer token for it.
struct Mock {
    runtime: Runtime,
    app: Router,
    bearer: String,
}

impl Mock {
    fn new() -> Mock {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let state = MockState::new(MockConfig::new(API_KEY), LOCAL_SECRET);
        let app = router(state);
        let token = runtime.block_on(valid_handshake(&app));
        Mock {
            runtime,
            app,
            bearer: format!("Bearer {token}"),
        }
    }

    /// POSTs `body` to `path` with the `Authorization` that `token` says; the status.
    fn post(&self, path: &str, token: Token, body: Vec<u8>) -> StatusCode {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        match token {
            Token::None => {}
            Token::Valid => request = request.header(header::AUTHORIZATION, &self.bearer),
            Token::Unknown => {
                request = request.header(header::AUTHORIZATION, "Bearer 0123456789abcdef")
            }
        }
        let request = request.body(Body::from(body)).unwrap();
        self.runtime.block_on(async {
            let response = self.app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            // The whole answer is produced, so that a panic while writing it shows too.
            to_bytes(response.into_body(), usize::MAX).await.unwrap();
            status
        })
    }

    fn post_checked(&self, path: &str, token: Token, body: Vec<u8>) -> Result<(), TestCaseError> {
        let status = self.post(path, token, body);
        prop_assert!(
            !status.is_server_error(),
            "{path} with {token:?} answered {status}"
        );
        Ok(())
    }

    /// Fails unless the mock still opens a session for the right API key.
    fn assert_still_serving(&self) {
        self.runtime.block_on(valid_handshake(&self.app));
    }
}

async fn valid_handshake(app: &Router) -> String {
    let body = json!({"auth": {"type": "ApiKey", "key": API_KEY}, "client": {"type": "Api", "name": "properties"}});
    let request = Request::post("/handshake")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    answer["token"].as_str().expect("a token").to_owned()
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn arbitrary_bytes_never_get_a_server_error() {
    let mock = Mock::new();
    let bytes = prop_oneof![
        vec(any::<u8>(), 0..512),
        // Bytes behind the start of a JSON object reach deeper into the parser.
        vec(any::<u8>(), 0..256).prop_map(|tail| [b"{\"auth\": ".as_slice(), &tail].concat()),
    ];
    let input = (proptest::sample::select(&PATHS[..]), token(), bytes);
    runner()
        .run(&input, |(path, token, body)| {
            mock.post_checked(path, token, body)
        })
        .unwrap();
    mock.assert_still_serving();
}

#[test]
fn arbitrary_json_never_gets_a_server_error() {
    let mock = Mock::new();
    let input = (proptest::sample::select(&PATHS[..]), token(), json_value());
    runner()
        .run(&input, |(path, token, body)| {
            mock.post_checked(path, token, body.to_string().into_bytes())
        })
        .unwrap();
    mock.assert_still_serving();
}

#[test]
fn requests_of_the_right_shape_with_arbitrary_values_never_get_a_server_error() {
    let mock = Mock::new();
    let auth = (
        proptest::sample::select(&["ApiKey", "Local", "Other"][..]),
        json_value(),
    )
        .prop_map(|(kind, value)| json!({"type": kind, "key": value, "authFileContent": value}));
    let handshake = (auth, json_value()).prop_map(|(auth, client)| {
        (
            "/handshake",
            json!({"auth": auth, "client": {"type": "Api", "name": client}}),
        )
    });
    let query = (json_value(), string(), string()).prop_map(|(category, connection, kind)| {
        let body = json!({
            "categoryFilter": category,
            "connectionFilter": connection,
            "typeFilter": kind,
        });
        ("/connection/query", body)
    });
    let open = vec(json_value(), 0..6)
        .prop_map(|arguments| ("/daemon/open", json!({"arguments": arguments})));
    let input = (prop_oneof![handshake, query, open], token());
    runner()
        .run(&input, |((path, body), token)| {
            mock.post_checked(path, token, body.to_string().into_bytes())
        })
        .unwrap();
    mock.assert_still_serving();
}

// The built binary: `xpipe-conformance mock` as a child process.

#[cfg(unix)]
mod binary {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    const KEY: &str = "binary-test-api-key-5b1e";

    /// A running `mock` child with its address and auth file, and threads collecting its output.
    struct MockProcess {
        child: Child,
        addr: SocketAddr,
        auth_file: PathBuf,
        stdout: JoinHandle<String>,
        stderr: JoinHandle<String>,
    }

    impl MockProcess {
        fn start() -> MockProcess {
            let mut child = Command::new(env!("CARGO_BIN_EXE_xpipe-conformance"))
                .args(["mock", "--port", "0", "--api-key", KEY])
                .env("RUST_LOG", "trace")
                .env_remove("XPIPE_API_KEY")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the built binary starts");
            let mut stderr = child.stderr.take().unwrap();
            let stderr = std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            });

            // The first lines name the address and the auth file; the rest is read to the end.
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let (mut seen, mut addr, mut auth_file) = (String::new(), None, None);
            while addr.is_none() || auth_file.is_none() {
                let mut line = String::new();
                if stdout.read_line(&mut line).unwrap() == 0 {
                    let _ = child.kill();
                    panic!("the mock ended before it was ready: {seen}");
                }
                seen.push_str(&line);
                let line = line.trim();
                if let Some(url) = line.strip_prefix("mock daemon listening at http://") {
                    addr = Some(url.parse().unwrap());
                }
                if let Some(path) = line.strip_prefix("local auth file: ") {
                    auth_file = Some(PathBuf::from(path));
                }
            }
            let stdout = std::thread::spawn(move || {
                let mut rest = String::new();
                let _ = stdout.read_to_string(&mut rest);
                seen + &rest
            });
            MockProcess {
                child,
                addr: addr.unwrap(),
                auth_file: auth_file.unwrap(),
                stdout,
                stderr,
            }
        }

        /// Sends SIGTERM and waits (bounded) for the exit; the exit status, stdout and stderr.
        fn terminate(mut self) -> (std::process::ExitStatus, String, String) {
            let pid = self.child.id().to_string();
            let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            assert!(sent.success(), "kill -TERM {pid}");
            let deadline = Instant::now() + Duration::from_secs(15);
            let status = loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    panic!("the mock did not exit within 15 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            (
                status,
                self.stdout.join().unwrap(),
                self.stderr.join().unwrap(),
            )
        }
    }

    /// One POST over a fresh connection; the status and the body.
    fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &Value) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let body = body.to_string();
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_owned())
    }

    fn handshake(addr: SocketAddr, auth: Value) -> String {
        let body = json!({"auth": auth, "client": {"type": "Api", "name": "binary-test"}});
        let (status, body) = post(addr, "/handshake", None, &body);
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        answer["token"].as_str().unwrap().to_owned()
    }

    #[test]
    fn sigterm_removes_the_owner_only_auth_file_and_no_secret_is_logged() {
        let mock = MockProcess::start();
        let mode = std::fs::metadata(&mock.auth_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", mock.auth_file.display());
        let secret = std::fs::read_to_string(&mock.auth_file).unwrap();

        // Both kinds of handshake, a query, a refused handshake and a refused token.
        let api_token = handshake(mock.addr, json!({"type": "ApiKey", "key": KEY}));
        let local_token = handshake(
            mock.addr,
            json!({"type": "Local", "authFileContent": secret}),
        );
        let filters = json!({"categoryFilter": "**", "connectionFilter": "**", "typeFilter": "*"});
        let (status, body) = post(mock.addr, "/connection/query", Some(&api_token), &filters);
        assert_eq!(status, 200, "{body}");
        let wrong_key = format!("{KEY}-wrong");
        let refused = json!({"auth": {"type": "ApiKey", "key": wrong_key}, "client": {"type": "Api", "name": "t"}});
        assert_eq!(post(mock.addr, "/handshake", None, &refused).0, 400);
        let unknown_token = format!("{local_token}ff");
        assert_eq!(
            post(
                mock.addr,
                "/daemon/open",
                Some(&unknown_token),
                &json!({"arguments": []})
            )
            .0,
            403
        );

        let auth_file = mock.auth_file.clone();
        let (status, stdout, stderr) = mock.terminate();
        assert!(status.success(), "{status}; stderr: {stderr}");
        assert!(
            !auth_file.exists(),
            "{} is left behind",
            auth_file.display()
        );
        assert!(
            !auth_file.parent().unwrap().exists(),
            "its private folder is left behind"
        );

        // The trace level logs something, so that silence does not pass for discretion.
        assert!(stderr.contains("session opened"), "{stderr}");
        for (what, value) in [
            ("api key", KEY),
            ("local secret", secret.trim()),
            ("session token", api_token.as_str()),
            ("session token", local_token.as_str()),
        ] {
            assert!(!stdout.contains(value), "the {what} is on stdout: {stdout}");
            assert!(!stderr.contains(value), "the {what} is on stderr");
        }
    }
}
