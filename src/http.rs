//! The HTTP layer: sends one request to the target and returns its answer or why there is none.
//!
//! It knows nothing of cases. Every request ends within the configured timeout, redirects are
//! answers rather than something to follow, and a body is read only up to a cap.

use std::fmt;
use std::sync::Once;
use std::time::{Duration, Instant};

use reqwest::Url;

/// How the client talks to the target.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The most one request may take, from sending to the last byte of the answer.
    pub timeout: Duration,
    /// The most connecting (TCP and TLS) may take.
    pub connect_timeout: Duration,
    /// Accept certificates that do not verify (self-signed daemons).
    pub insecure: bool,
    /// The largest answer body read; a longer one is an error.
    pub max_body: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            insecure: false,
            max_body: 16 * 1024 * 1024,
        }
    }
}

/// A request as the HTTP layer sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, such as `POST`.
    pub method: String,
    /// The path and query, starting with `/`, joined to the target URL.
    pub path: String,
    /// Headers in the order given.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

/// An answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header, if the answer had one (lossy if not UTF-8).
    pub content_type: Option<String>,
    /// The `Location` header of a redirect, if any.
    pub location: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
    /// From sending the request to the last byte of the answer.
    pub elapsed: Duration,
}

/// Why a request got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Nothing answered within the timeout.
    Timeout(Duration),
    /// The connection could not be made.
    Connect(String),
    /// The answer's body was longer than the cap.
    BodyTooLarge(usize),
    /// The connection broke while the answer was on its way.
    Broken(String),
    /// The request could not be built (a bad header name or value, say).
    BadRequest(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Timeout(after) => {
                write!(
                    f,
                    "no complete answer within {:.1} s (timeout)",
                    after.as_secs_f64()
                )
            }
            HttpError::Connect(detail) => write!(f, "cannot connect: {detail}"),
            HttpError::BodyTooLarge(cap) => {
                write!(
                    f,
                    "answer body is longer than the cap of {cap} bytes (--max-body)"
                )
            }
            HttpError::Broken(detail) => write!(f, "connection broke during the answer: {detail}"),
            HttpError::BadRequest(detail) => write!(f, "cannot build the request: {detail}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Sends requests to one target.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    base: Url,
    settings: HttpSettings,
}

impl HttpClient {
    /// Builds a client for the target at `base` (an `http://` or `https://` URL).
    pub fn new(base: &Url, settings: HttpSettings) -> Result<Self, HttpError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            // A pooled connection that the daemon closed while idle fails the next request
            // on it; a daemon may close idle connections as soon as it likes, so every
            // request gets a connection of its own.
            .pool_max_idle_per_host(0)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tls_danger_accept_invalid_certs(settings.insecure)
            .build()
            .map_err(|e| HttpError::BadRequest(error_chain(&e)))?;
        Ok(Self {
            client,
            base: base.clone(),
            settings,
        })
    }

    /// The target URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Sends one request and reads the whole answer, within the timeout.
    pub async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        let url = join(&self.base, &request.path);
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| HttpError::BadRequest(format!("invalid method {:?}", request.method)))?;
        let mut builder = self.client.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }

        let started = Instant::now();
        let exchange = async {
            let mut response = builder.send().await.map_err(|e| self.classify(&e))?;
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            };
            let content_type = header(reqwest::header::CONTENT_TYPE);
            let location = header(reqwest::header::LOCATION);
            let status = response.status().as_u16();

            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(&e))? {
                if body.len() + chunk.len() > self.settings.max_body {
                    return Err(HttpError::BodyTooLarge(self.settings.max_body));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse {
                status,
                content_type,
                location,
                body,
                elapsed: started.elapsed(),
            })
        };
        // reqwest's own timeout covers the same span; this outer one also bounds anything
        // reqwest might not, so a request can never outlive its timeout by much.
        let limit = self.settings.timeout + Duration::from_millis(250);
        tokio::time::timeout(limit, exchange)
            .await
            .unwrap_or(Err(HttpError::Timeout(self.settings.timeout)))
    }

    fn classify(&self, error: &reqwest::Error) -> HttpError {
        if error.is_timeout() {
            HttpError::Timeout(self.settings.timeout)
        } else if error.is_connect() {
            let mut detail = error_chain(error);
            if self.base.scheme() == "https"
                && (detail.contains("corrupt message") || detail.contains("InvalidContentType"))
            {
                detail.push_str(" (the target may speak plain HTTP: try http://)");
            }
            HttpError::Connect(detail)
        } else if error.is_builder() {
            HttpError::BadRequest(error_chain(error))
        } else {
            HttpError::Broken(error_chain(error))
        }
    }
}

/// Joins a path to the target URL, keeping any path prefix the target URL has.
fn join(base: &Url, path: &str) -> String {
    let base = base.as_str().trim_end_matches('/');
    format!("{base}{path}")
}

/// The messages of an error and its sources, most specific last, without repeats.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = inner.source();
    }
    parts.join(": ")
}

/// reqwest is built without a default TLS crypto provider; install ring once per process.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error only means another part of the process installed one first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_a_path_prefix() {
        let base = Url::parse("http://127.0.0.1:1/api/").unwrap();
        assert_eq!(
            join(&base, "/handshake"),
            "http://127.0.0.1:1/api/handshake"
        );
        let base = Url::parse("http://127.0.0.1:1").unwrap();
        assert_eq!(join(&base, "/handshake"), "http://127.0.0.1:1/handshake");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let holder = tokio::spawn(async move {
            // Accept and keep the connection open without ever answering.
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(socket);
        });
        let settings = HttpSettings {
            timeout: Duration::from_millis(300),
            ..Default::default()
        };
        let client =
            HttpClient::new(&Url::parse(&format!("http://{addr}")).unwrap(), settings).unwrap();
        let request = HttpRequest {
            method: "POST".into(),
            path: "/handshake".into(),
            headers: vec![],
            body: Some(b"{}".to_vec()),
        };
        let error = client.send(&request).await.unwrap_err();
        assert_eq!(error, HttpError::Timeout(Duration::from_millis(300)));
        holder.abort();
    }
}
