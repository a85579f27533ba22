//! The mock's routes driven without a socket, plus one daemon on a real port-0 listener.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

use super::{ConnectionStore, Fault, MockConfig, MockDaemon, MockState, router};

const API_KEY: &str = "test-api-key";
const LOCAL_SECRET: &str = "6f1c2a5e-3b7d-4e9f-8a0b-1c2d3e4f5a6b";

/// An answer of the router, body parsed as JSON when there is one.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap())
    }

    /// Asserts an error answer (this status, a JSON `{"message": ...}` body); returns the message.
    fn error(&self, status: StatusCode) -> String {
        assert_eq!(
            self.status,
            status,
            "body: {:?}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.content_type(), Some("application/json"));
        let body = self.json();
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        body["message"]
            .as_str()
            .expect("a string message")
            .to_string()
    }
}

fn app_with(config: MockConfig) -> Router {
    router(MockState::new(config, LOCAL_SECRET))
}

fn app() -> Router {
    app_with(MockConfig::new(API_KEY))
}

async fn send(app: &Router, method: Method, path: &str, auth: Option<&str>, body: &str) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    let request = request.body(Body::from(body.to_string())).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap().to_vec();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

async fn post(app: &Router, path: &str, auth: Option<&str>, body: Value) -> Answer {
    send(app, Method::POST, path, auth, &body.to_string()).await
}

fn api_key_handshake(key: &str) -> Value {
    json!({"auth": {"type": "ApiKey", "key": key}, "client": {"type": "Api", "name": "tests"}})
}

fn local_handshake(content: &str) -> Value {
    json!({
        "auth": {"type": "Local", "authFileContent": content},
        "client": {"type": "Api", "name": "tests"}
    })
}

/// A handshake that must succeed; returns `Bearer <token>`.
async fn bearer(app: &Router) -> String {
    let answer = post(app, "/handshake", None, api_key_handshake(API_KEY)).await;
    assert_eq!(answer.status, StatusCode::OK);
    format!("Bearer {}", answer.json()["token"].as_str().unwrap())
}

async fn query(app: &Router, category: &str, connection: &str, kind: &str) -> Vec<String> {
    let auth = bearer(app).await;
    let body =
        json!({"categoryFilter": category, "connectionFilter": connection, "typeFilter": kind});
    let answer = post(app, "/connection/query", Some(&auth), body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), Some("application/json"));
    let body = answer.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let keys: Vec<_> = item
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, ["category", "connection", "type", "uuid"], "{item}");
            item["connection"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn api_key_handshake_opens_a_session() {
    let answer = post(&app(), "/handshake", None, api_key_handshake(API_KEY)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), Some("application/json"));
    let body = answer.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(
        token.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{token}"
    );
}

#[tokio::test]
async fn local_handshake_opens_a_session() {
    let app = app();
    for client in [
        json!({"type": "Api", "name": "x"}),
        json!({"type": "Cli"}),
        json!({"type": "Daemon"}),
    ] {
        let body =
            json!({"auth": {"type": "Local", "authFileContent": LOCAL_SECRET}, "client": client});
        let answer = post(&app, "/handshake", None, body).await;
        assert_eq!(answer.status, StatusCode::OK, "{client}");
    }
}

#[tokio::test]
async fn credentials_are_compared_after_trimming_white_space() {
    let app = app();
    let answer = post(
        &app,
        "/handshake",
        None,
        api_key_handshake(&format!("  {API_KEY}\n")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = post(
        &app,
        "/handshake",
        None,
        local_handshake(&format!("{LOCAL_SECRET}\r\n")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_credentials_are_400() {
    let app = app();
    for body in [
        api_key_handshake("wrong"),
        api_key_handshake(""),
        // The two secrets are not interchangeable.
        api_key_handshake(LOCAL_SECRET),
        local_handshake(API_KEY),
        local_handshake(&LOCAL_SECRET[..35]),
    ] {
        let message = post(&app, "/handshake", None, body.clone())
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(
            message.starts_with("authentication failed"),
            "{body}: {message}"
        );
        assert!(!message.contains(API_KEY) && !message.contains(LOCAL_SECRET));
    }
}

#[tokio::test]
async fn an_empty_api_key_accepts_no_handshake() {
    let app = app_with(MockConfig::new(" "));
    let answer = post(&app, "/handshake", None, api_key_handshake("")).await;
    answer.error(StatusCode::BAD_REQUEST);
    let answer = post(&app, "/handshake", None, api_key_handshake(" ")).await;
    answer.error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn malformed_handshakes_are_400_with_a_message_saying_why() {
    let app = app();
    let cases = [
        ("", "request body is empty"),
        ("not json", "request body is not valid JSON"),
        ("[1]", "request body must be a JSON object, found an array"),
        (
            r#"{"auth": {"type": "ApiKey"}, "client": {"type": "Api", "name": "n"}}"#,
            "missing field \"key\" at /auth",
        ),
        (
            r#"{"auth": {"type": "Basic", "key": "k"}, "client": {"type": "Api", "name": "n"}}"#,
            "unknown auth type \"Basic\"",
        ),
        (
            r#"{"auth": {"type": "ApiKey", "key": "test-api-key"}, "client": {"type": "Api"}}"#,
            "missing field \"name\" at /client",
        ),
        (
            r#"{"auth": {"type": "ApiKey", "key": "test-api-key"}}"#,
            "missing field \"client\"",
        ),
        (
            r#"{"auth": {"type": "ApiKey", "key": "test-api-key"}, "client": {"type": 1}}"#,
            "/client/type must be a string",
        ),
    ];
    for (body, expected) in cases {
        let message = send(&app, Method::POST, "/handshake", None, body)
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(message.starts_with(expected), "{body}: {message}");
    }
}

#[tokio::test]
async fn handshake_ignores_content_type_and_unknown_fields() {
    let request = Request::post("/handshake")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(
            json!({
                "auth": {"type": "ApiKey", "key": API_KEY, "more": [1]},
                "client": {"type": "Api", "name": "n"},
                "extra": true
            })
            .to_string(),
        ))
        .unwrap();
    let response = app().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn several_sessions_stay_valid_at_once() {
    let state = MockState::new(MockConfig::new(API_KEY), LOCAL_SECRET);
    let app = router(state.clone());
    let first = bearer(&app).await;
    let second = bearer(&app).await;
    assert_ne!(first, second);
    assert_eq!(state.session_count(), 2);
    for auth in [&first, &second] {
        let answer = post(&app, "/daemon/open", Some(auth), json!({"arguments": []})).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_missing_authorization_header_is_401() {
    let app = app();
    let query = json!({"categoryFilter": "**", "connectionFilter": "**", "typeFilter": "*"});
    let message = post(&app, "/connection/query", None, query)
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert!(message.contains("Authorization"), "{message}");
    post(&app, "/daemon/open", None, json!({"arguments": []}))
        .await
        .error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_header_without_a_known_bearer_token_is_403() {
    let app = app();
    let token = bearer(&app).await["Bearer ".len()..].to_string();
    for auth in [
        "Bearer 00000000000000000000000000000000".to_string(),
        format!("Basic {token}"),
        token.clone(),
        "Bearer ".to_string(),
        "Bearer".to_string(),
        String::new(),
        format!("Bearer {}", token.to_uppercase()),
    ] {
        let answer = post(&app, "/daemon/open", Some(&auth), json!({"arguments": []})).await;
        let message = answer.error(StatusCode::FORBIDDEN);
        assert!(!message.contains(&token), "{message}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_read_regardless_of_case() {
    let app = app();
    let token = bearer(&app).await["Bearer ".len()..].to_string();
    for auth in [format!("bearer {token}"), format!("BEARER  {token}")] {
        let answer = post(&app, "/daemon/open", Some(&auth), json!({"arguments": []})).await;
        assert_eq!(answer.status, StatusCode::OK, "{auth}");
    }
}

#[tokio::test]
async fn authentication_is_checked_before_the_body() {
    let app = app();
    send(&app, Method::POST, "/connection/query", None, "not json")
        .await
        .error(StatusCode::UNAUTHORIZED);
    send(&app, Method::POST, "/daemon/open", Some("Bearer nope"), "{")
        .await
        .error(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn query_matches_all_three_filters_in_store_order() {
    let app = app();
    assert_eq!(
        query(&app, "**", "servers/*", "*").await,
        ["servers/web-01", "servers/web.01"]
    );
    assert_eq!(
        query(&app, "**", "servers/**", "*").await,
        ["servers/web-01", "servers/web.01", "servers/eu/web-02"]
    );
    assert_eq!(
        query(&app, "servers/*", "**", "ssh").await,
        ["servers/web-01", "servers/web.01", "db.primary"]
    );
    assert_eq!(
        query(&app, "**", "servers/web.01", "*").await,
        ["servers/web.01"]
    );
    assert_eq!(query(&app, "**", "nginx", "*").await, ["nginx", "nginx"]);
    assert_eq!(query(&app, "containers", "nginx", "*").await, ["nginx"]);
    assert_eq!(
        query(&app, "containers", "**", "docker").await,
        ["docker-host/redis", "nginx"]
    );
    assert_eq!(
        query(&app, "Lab [old]", "lab[1]", "proxmox*").await,
        ["lab[1]"]
    );
    assert_eq!(query(&app, "**", "build (old)", "*").await, ["build (old)"]);
    assert_eq!(query(&app, "**", "router", "*").await, ["router"]);
    assert_eq!(query(&app, "**", "web-01", "*").await, Vec::<String>::new());
    assert_eq!(
        query(&app, "**", "**", "**").await.len(),
        ConnectionStore::default_fixture().connections().len()
    );
}

#[tokio::test]
async fn query_answers_the_stored_fields() {
    let app = app();
    let auth = bearer(&app).await;
    let body = json!({
        "categoryFilter": "default",
        "connectionFilter": "local machine",
        "typeFilter": "local"
    });
    let answer = post(&app, "/connection/query", Some(&auth), body).await;
    assert_eq!(
        answer.json(),
        json!({"found": [{
            "uuid": "1129d1e4-5d3b-4e85-bce2-de8bdac85024",
            "category": "default",
            "connection": "local machine",
            "type": "local"
        }]})
    );
}

#[tokio::test]
async fn an_empty_filter_matches_nothing() {
    let app = app();
    assert!(query(&app, "", "**", "*").await.is_empty());
    assert!(query(&app, "**", "", "*").await.is_empty());
    assert!(query(&app, "**", "**", "").await.is_empty());
}

#[tokio::test]
async fn case_folding_follows_the_config() {
    assert_eq!(
        query(&app(), "**", "ROUTER", "*").await,
        Vec::<String>::new()
    );
    let mut config = MockConfig::new(API_KEY);
    config.case_insensitive = true;
    let app = app_with(config);
    assert_eq!(
        query(&app, "**", "ROUTER", "SSH").await,
        ["Router", "router"]
    );
    assert_eq!(
        query(&app, "lab [OLD]", "LAB[1]", "PROXMOXvm").await,
        ["lab[1]"]
    );
    assert_eq!(
        query(&app, "DEV.TEAM", "mixedcase box", "*").await,
        ["MixedCase Box"]
    );
}

#[tokio::test]
async fn a_query_without_its_three_filters_is_400() {
    let app = app();
    let auth = bearer(&app).await;
    for (body, expected) in [
        (
            json!({"categoryFilter": "**", "connectionFilter": "**"}),
            "missing field \"typeFilter\"",
        ),
        (
            json!({"categoryFilter": "**", "typeFilter": "*"}),
            "missing field \"connectionFilter\"",
        ),
        (
            json!({"categoryFilter": 1, "connectionFilter": "**", "typeFilter": "*"}),
            "/categoryFilter must be a string",
        ),
        (json!([]), "request body must be a JSON object"),
    ] {
        let message = post(&app, "/connection/query", Some(&auth), body)
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(message.starts_with(expected), "{message}");
    }
}

#[tokio::test]
async fn open_accepts_a_list_of_strings_and_answers_an_empty_200() {
    let app = app();
    let auth = bearer(&app).await;
    for arguments in [json!([]), json!(["xpipe://launch/abc", "second"])] {
        let answer = post(
            &app,
            "/daemon/open",
            Some(&auth),
            json!({"arguments": arguments}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.body.is_empty());
        assert_eq!(answer.content_type(), None);
    }
}

#[tokio::test]
async fn open_without_a_list_of_strings_is_400() {
    let app = app();
    let auth = bearer(&app).await;
    for (body, expected) in [
        (json!({}), "missing field \"arguments\""),
        (
            json!({"arguments": null}),
            "/arguments must be an array, found null",
        ),
        (
            json!({"arguments": ["a", {}]}),
            "/arguments/1 must be a string, found an object",
        ),
    ] {
        let message = post(&app, "/daemon/open", Some(&auth), body)
            .await
            .error(StatusCode::BAD_REQUEST);
        assert_eq!(message, expected);
    }
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let app = app();
    for path in [
        "/handshakeX",
        "/handshake/",
        "/",
        "/connection",
        "/connection/query/x",
        "/daemon/version",
    ] {
        let message = send(&app, Method::POST, path, None, "{}")
            .await
            .error(StatusCode::NOT_FOUND);
        assert_eq!(message, format!("unknown path {path}"));
    }
    let long = format!("/{}", "x".repeat(5000));
    let message = send(&app, Method::GET, &long, None, "")
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.len() < 300, "{message}");
}

#[tokio::test]
async fn other_methods_on_known_paths_are_405() {
    let app = app();
    for path in ["/handshake", "/connection/query", "/daemon/open"] {
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::HEAD] {
            let answer = send(&app, method.clone(), path, None, "").await;
            assert_eq!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(answer.headers.get(header::ALLOW).unwrap(), "POST");
            if method != Method::HEAD {
                let message = answer.error(StatusCode::METHOD_NOT_ALLOWED);
                assert!(message.contains(method.as_str()), "{message}");
            }
        }
    }
}

#[tokio::test]
async fn an_oversized_body_is_a_client_error() {
    let body = format!(r#"{{"arguments": ["{}"]}}"#, "x".repeat(3 << 20));
    let app = app();
    let auth = bearer(&app).await;
    let answer = send(&app, Method::POST, "/daemon/open", Some(&auth), &body).await;
    answer.error(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn odd_input_never_gets_a_server_error() {
    let app = app();
    let auth = bearer(&app).await;
    let bodies = [
        "\u{0}",
        "\u{feff}{}",
        "{\"arguments\": [\"\u{0}\"]}",
        &"[".repeat(10_000),
        r#"{"categoryFilter": "[", "connectionFilter": "(", "typeFilter": "\\"}"#,
        r#"{"categoryFilter": "***/**/*", "connectionFilter": "*a*a*a*a*a*b", "typeFilter": "**"}"#,
        r#"{"auth": {"type": "ApiKey", "key": "\ud800"}}"#,
    ];
    for path in ["/handshake", "/connection/query", "/daemon/open"] {
        for body in bodies {
            let answer = send(&app, Method::POST, path, Some(&auth), body).await;
            assert!(
                answer.status.is_client_error() || answer.status.is_success(),
                "{path} {body:?}"
            );
        }
    }
}

/// Sends one HTTP/1.1 request over `stream` and reads the answer's status and body.
async fn raw_request(stream: &mut TcpStream, request: &str) -> (u16, String) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    // The answers are small and carry a Content-Length; read until the whole body is in.
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length || n == 0 {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return (status, body.to_string());
            }
        }
        assert!(n > 0, "connection closed before a full answer: {text:?}");
    }
}

fn handshake_request(addr: std::net::SocketAddr, body: &Value) -> String {
    let body = body.to_string();
    format!(
        "POST /handshake HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn daemon_serves_a_handshake_on_a_real_socket_and_cleans_up() {
    let daemon = MockDaemon::start(MockConfig::new(API_KEY)).await.unwrap();
    let addr = daemon.addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    assert_eq!(daemon.url(), format!("http://127.0.0.1:{}", addr.port()));
    let auth_file = daemon.auth_file().to_path_buf();
    let secret = std::fs::read_to_string(&auth_file).unwrap();
    assert_eq!(secret.len(), 36, "{secret:?}");

    // The Local secret from the file opens a session; the connection stays open (keep-alive).
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let (status, body) = raw_request(
            &mut stream,
            &handshake_request(addr, &local_handshake(&secret)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let token: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(token["token"].as_str().unwrap().len(), 32);
        let (status, _) = raw_request(
            &mut stream,
            &handshake_request(addr, &local_handshake("wrong")),
        )
        .await;
        assert_eq!(status, 400);
        stream
    };
    let idle = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("answers in time");

    // Shutdown closes the idle keep-alive connection instead of waiting for it.
    tokio::time::timeout(Duration::from_secs(3), daemon.shutdown())
        .await
        .expect("prompt shutdown");
    assert!(!auth_file.exists());
    assert!(!auth_file.parent().unwrap().exists());
    drop(idle);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

// Seeded faults: each hook changes what it should and nothing else.

fn app_with_faults(faults: &[Fault]) -> Router {
    let mut config = MockConfig::new(API_KEY);
    config.faults = faults.iter().copied().collect();
    app_with(config)
}

#[tokio::test]
async fn authentication_faults_let_wrong_credentials_through() {
    let app = app_with_faults(&[Fault::ApiKeyPrefixAccepted, Fault::AnyTokenAccepted]);
    let answer = post(&app, "/handshake", None, api_key_handshake("test-")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = post(&app, "/handshake", None, api_key_handshake("wrong")).await;
    answer.error(StatusCode::BAD_REQUEST);
    let body = json!({"categoryFilter": "**", "connectionFilter": "**", "typeFilter": "*"});
    let answer = post(&app, "/connection/query", Some("Bearer nonsense"), body).await;
    assert_eq!(answer.status, StatusCode::OK);

    let app = app_with_faults(&[Fault::TokensForgottenAfterNextHandshake]);
    let first = bearer(&app).await;
    let _second = bearer(&app).await;
    let answer = post(&app, "/daemon/open", Some(&first), json!({"arguments": []})).await;
    answer.error(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refusals_that_carry_data() {
    let app = app_with_faults(&[Fault::RefusedHandshakeCarriesToken]);
    let answer = post(&app, "/handshake", None, api_key_handshake("wrong")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let token = answer.json()["token"].as_str().unwrap().to_owned();
    let body = json!({"arguments": []});
    let answer = post(&app, "/daemon/open", Some(&format!("Bearer {token}")), body).await;
    assert_eq!(answer.status, StatusCode::OK, "the leaked token works");

    let app = app_with_faults(&[Fault::RefusedQueryCarriesListing]);
    let body = json!({"categoryFilter": "**", "connectionFilter": "**", "typeFilter": "*"});
    let answer = post(&app, "/connection/query", None, body).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["found"].as_array().unwrap().len(), 19);
}

#[tokio::test]
async fn filter_and_body_faults_change_the_query() {
    let app = app_with_faults(&[Fault::StarCrossesSlash]);
    assert!(
        query(&app, "**", "servers/*", "*")
            .await
            .contains(&"servers/eu/web-02".to_string())
    );
    let app = app_with_faults(&[Fault::TypeFilterIgnored]);
    assert_eq!(query(&app, "**", "**", "nothing").await.len(), 19);

    let app = app_with_faults(&[Fault::StarGets500]);
    let auth = bearer(&app).await;
    let body = json!({"categoryFilter": "**", "connectionFilter": "**", "typeFilter": "*"});
    let answer = post(&app, "/connection/query", Some(&auth), body).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);

    let app = app_with_faults(&[Fault::MissingFilterMatchesAll]);
    let auth = bearer(&app).await;
    let body = json!({"categoryFilter": "**", "connectionFilter": "**"});
    let answer = post(&app, "/connection/query", Some(&auth), body).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn transport_faults_rewrite_status_and_headers() {
    let app = app_with_faults(&[Fault::RefusalRedirects, Fault::MalformedRequestGets200]);
    let answer = post(&app, "/connection/query", None, json!({})).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(answer.headers[header::LOCATION], "/login");
    let answer = send(&app, Method::POST, "/handshake", None, "{not json").await;
    assert_eq!(answer.status, StatusCode::OK);

    let app = app_with_faults(&[Fault::JsonDeclaredAsHtml]);
    let answer = post(&app, "/handshake", None, api_key_handshake(API_KEY)).await;
    assert_eq!(answer.content_type(), Some("text/html; charset=utf-8"));
    assert!(answer.json()["token"].is_string(), "the body is unchanged");
}

/// Sends a handshake over a fresh connection and reads until the server closes it.
async fn read_to_close(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = handshake_request(addr, &api_key_handshake(API_KEY))
        .replace("HTTP/1.1\r\n", "HTTP/1.1\r\nConnection: close\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the server closes the connection")
        .unwrap_or_default();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn connection_faults_send_less_than_they_declare() {
    for fault in [Fault::ConnectionClosedMidBody, Fault::ContentLengthTooLong] {
        let mut config = MockConfig::new(API_KEY);
        config.faults.insert(fault);
        let daemon = MockDaemon::start(config).await.unwrap();
        let answer = read_to_close(daemon.addr()).await;
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
        let declared: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(str::to_owned)
            })
            .expect("a Content-Length")
            .trim()
            .parse()
            .unwrap();
        assert!(body.len() < declared, "{fault}: {answer:?}");
        daemon.shutdown().await;
    }
}

#[tokio::test]
async fn answers_held_back_end_when_the_daemon_stops() {
    let mut config = MockConfig::new(API_KEY);
    config.faults.insert(Fault::QueryAnswerNeverComes);
    let daemon = MockDaemon::start(config).await.unwrap();
    let addr = daemon.addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = r#"{"categoryFilter": "**", "connectionFilter": "**", "typeFilter": "*"}"#;
    let request = format!(
        "POST /connection/query HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut chunk = [0u8; 64];
    let silent = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut chunk)).await;
    assert!(silent.is_err(), "no answer comes");

    // Without the release the server would wait out its grace period for this request.
    tokio::time::timeout(Duration::from_secs(3), daemon.shutdown())
        .await
        .expect("prompt shutdown despite the request held back");
}

// Limits: the session cap, the read timeouts, malformed HTTP and oversized bodies.

#[tokio::test]
async fn a_handshake_beyond_the_session_cap_ends_the_oldest_session() {
    let mut config = MockConfig::new(API_KEY);
    config.max_sessions = 2;
    let app = app_with(config);
    let (first, second, third) = (bearer(&app).await, bearer(&app).await, bearer(&app).await);

    let body = json!({"arguments": []});
    let answer = post(&app, "/daemon/open", Some(&first), body.clone()).await;
    answer.error(StatusCode::FORBIDDEN);
    for token in [&second, &third] {
        let answer = post(&app, "/daemon/open", Some(token), body.clone()).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn the_session_cap_bounds_the_sessions_held() {
    let mut config = MockConfig::new(API_KEY);
    config.max_sessions = 5;
    let state = MockState::new(config, LOCAL_SECRET);
    let app = router(state.clone());
    for _ in 0..50 {
        bearer(&app).await;
    }
    assert_eq!(state.session_count(), 5);
}

/// Reads until the server closes the connection or `limit` passes; what it sent.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

async fn handshake_still_works(addr: std::net::SocketAddr) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = handshake_request(addr, &api_key_handshake(API_KEY));
    let answer = tokio::time::timeout(Duration::from_secs(5), raw_request(&mut stream, &request));
    let (status, body) = answer.await.expect("an answer in time");
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn malformed_http_gets_400_and_a_closed_connection() {
    let daemon = MockDaemon::start(MockConfig::new(API_KEY)).await.unwrap();
    for garbage in [
        "GARBAGE\r\n\r\n",
        "POST /handshake HTTP/9.9\r\n\r\n",
        "POST /handshake HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "\0\0\0\0\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(daemon.addr()).await.unwrap();
        stream.write_all(garbage.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{garbage:?}: the connection stays open"));
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 400 "),
            "{garbage:?}: {answer:?}"
        );
    }
    handshake_still_works(daemon.addr()).await;
    daemon.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stalls_in_its_headers_is_cut_off() {
    let mut config = MockConfig::new(API_KEY);
    config.header_read_timeout = Duration::from_millis(300);
    let daemon = MockDaemon::start(config).await.unwrap();
    let addr = daemon.addr();

    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /handshake HTTP/1.1\r\nHost: {addr}\r\nContent-Len");
    stalled.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stalled, Duration::from_secs(5)).await;
    let answer = answer.expect("the connection is closed after the header timeout");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408 "),
        "{answer:?}"
    );

    // A connection that never sends anything is closed the same way.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let answer = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(answer.is_some(), "a silent connection stays open");

    handshake_still_works(addr).await;
    daemon.shutdown().await;
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408_and_closes_the_connection() {
    let mut config = MockConfig::new(API_KEY);
    config.body_read_timeout = Duration::from_millis(300);
    let daemon = MockDaemon::start(config).await.unwrap();
    let addr = daemon.addr();

    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /handshake HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\n{{");
    stalled.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stalled, Duration::from_secs(5)).await;
    let answer = answer.expect("the connection is closed after the body timeout");
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    assert!(answer.contains("did not arrive in time"), "{answer:?}");

    handshake_still_works(addr).await;
    daemon.shutdown().await;
}

#[tokio::test]
async fn a_declared_body_above_the_limit_is_413_before_it_is_sent() {
    let daemon = MockDaemon::start(MockConfig::new(API_KEY)).await.unwrap();
    let addr = daemon.addr();

    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /handshake HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        3 << 20
    );
    let (status, body) =
        tokio::time::timeout(Duration::from_secs(5), raw_request(&mut stream, &head))
            .await
            .expect("an answer without the body");
    assert_eq!(status, 413, "{body}");

    handshake_still_works(addr).await;
    daemon.shutdown().await;
}

#[tokio::test]
async fn the_body_limit_is_the_one_the_routes_apply() {
    let limit = super::daemon::BODY_LIMIT;
    let app = app();
    // A JSON string of exactly `limit` bytes: too long a key, but read and parsed.
    let at_limit = format!("\"{}\"", "x".repeat(limit - 2));
    let answer = send(&app, Method::POST, "/handshake", None, &at_limit).await;
    answer.error(StatusCode::BAD_REQUEST);
    let above = format!("\"{}\"", "x".repeat(limit - 1));
    let answer = send(&app, Method::POST, "/handshake", None, &above).await;
    answer.error(StatusCode::PAYLOAD_TOO_LARGE);
}
