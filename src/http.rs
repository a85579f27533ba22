//! The HTTP layer: sends one request to the target and returns its answer or why there is none.
//!
//! It knows nothing of cases. Every request ends within the configured timeout, redirects are
//! answers rather than something to follow, a body is read only up to a cap (a gzip body is
//! decoded on the way, and the cap holds for what it decodes to), and a request that gets no
//! usable answer says how far the answer had come and, where one helps, what to try instead.

use std::error::Error as StdError;
use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use flate2::write::MultiGzDecoder;
use reqwest::Url;
use serde_json::Value;

use crate::budget::{FREE_ALLOWANCE, MemoryBudget, Reservation, parsed_size_estimate};

/// How long a connection may idle in the pool before it is closed rather than reused.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// How the client talks to the target.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The most one request may take, from sending to the last byte of the answer.
    pub timeout: Duration,
    /// The most connecting (TCP and TLS) may take; held a little below `timeout`, so that a
    /// connection that never completes is reported as such.
    pub connect_timeout: Duration,
    /// Accept certificates that do not verify (self-signed daemons).
    pub insecure: bool,
    /// The largest answer body read, after decoding; a longer one is an error.
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

impl HttpSettings {
    /// The connect timeout in force: the configured one, but never more than nine tenths of
    /// the request's, whose own timer would otherwise fire first and hide where it stalled.
    pub fn connect_limit(&self) -> Duration {
        self.connect_timeout.min(self.timeout.mul_f64(0.9))
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
    /// The `Content-Encoding` header, if the answer had one (lossy if not UTF-8). A `gzip`
    /// body has been decoded (see `encoded_size`); any other coding is left as it came.
    pub content_encoding: Option<String>,
    /// The body's size as it came over the wire, when it was decoded.
    pub encoded_size: Option<usize>,
    /// The `Location` header of a redirect, if any.
    pub location: Option<String>,
    /// The whole body, decoded if it was gzip-encoded.
    pub body: Vec<u8>,
    /// From sending the request to the last byte of the answer.
    pub elapsed: Duration,
    /// Why the body is not to be parsed as JSON: parsing it would take more memory than the
    /// run's whole budget (see [`crate::budget`]).
    pub too_large_to_parse: Option<String>,
    /// The part of the run's memory budget this answer holds, for its body and for parsing
    /// it; given back when the last copy of the answer is dropped.
    pub reservation: Option<Arc<Reservation>>,
}

impl HttpResponse {
    /// The body parsed as JSON, or why it is not: it is not JSON, or it is too large to parse.
    pub fn json(&self) -> Result<Value, String> {
        if let Some(why) = &self.too_large_to_parse {
            return Err(why.clone());
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("the body is not JSON: {e}"))
    }
}

/// How far an answer had come when it stopped coming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The status of the answer, whose status line and headers had arrived.
    pub status: u16,
    /// The body bytes that had arrived, as they came over the wire.
    pub body_bytes: u64,
    /// The body length the answer declared (`Content-Length`), if it declared one.
    pub declared: Option<u64>,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status {} and {}", self.status, self.body_bytes)?;
        if let Some(declared) = self.declared {
            write!(f, " of {declared}")?;
        }
        f.write_str(" body bytes had arrived")
    }
}

/// Where an answer body went past the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overflow {
    /// Its `Content-Length` was larger; nothing of the body was read.
    Declared(u64),
    /// More bytes came than the cap; reading stopped there.
    Received,
    /// It decodes (content coding named) to more than the cap; decoding stopped there.
    Decoded(String),
}

/// Why a request got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// No complete answer within the timeout.
    Timeout {
        /// The timeout.
        after: Duration,
        /// How far the answer had come; `None` when its status line and headers had not.
        progress: Option<Progress>,
    },
    /// The connection (TCP, and TLS for `https`) could not be made; the detail ends with a
    /// hint where one helps.
    Connect(String),
    /// The answer's body is longer than the cap (`--max-body`).
    BodyTooLarge {
        /// The cap, in bytes.
        cap: usize,
        /// How the body went past it.
        overflow: Overflow,
    },
    /// The connection broke, or the answer is not HTTP.
    Broken {
        /// What broke, most specific last.
        detail: String,
        /// How far the answer had come; `None` when its status line and headers had not.
        progress: Option<Progress>,
    },
    /// The body does not decode in the content coding its answer names.
    Decode {
        /// The `Content-Encoding`.
        encoding: String,
        /// What the decoder said.
        detail: String,
    },
    /// The request could not be built (a bad header name or value, say).
    BadRequest(String),
    /// Other answers in flight held the run's memory budget until the timeout.
    NoMemory {
        /// The bytes this answer needed in all.
        needed: usize,
        /// The run's whole budget.
        budget: usize,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each message keeps its own words before the first colon and its particulars after:
        // the shrinker tells failures apart by that first part.
        match self {
            HttpError::Timeout { after, progress } => {
                write!(
                    f,
                    "no complete answer within {:.1} s (timeout): ",
                    after.as_secs_f64()
                )?;
                match progress {
                    Some(progress) => write!(f, "{progress}"),
                    None => f.write_str("its status line and headers had not arrived"),
                }
            }
            HttpError::Connect(detail) => write!(f, "cannot connect: {detail}"),
            HttpError::BodyTooLarge { cap, overflow } => match overflow {
                Overflow::Declared(declared) => write!(
                    f,
                    "answer body is longer than the cap of {cap} bytes (--max-body): its \
                     Content-Length declares {declared} bytes, so none was read"
                ),
                Overflow::Received => write!(
                    f,
                    "answer body is longer than the cap of {cap} bytes (--max-body): reading \
                     stopped there"
                ),
                Overflow::Decoded(encoding) => write!(
                    f,
                    "answer body is longer than the cap of {cap} bytes (--max-body): it is \
                     {encoding}-encoded and decodes to more, so decoding stopped there"
                ),
            },
            HttpError::Broken {
                detail,
                progress: Some(progress),
            } => write!(
                f,
                "connection broke during the answer: {progress}; {detail}"
            ),
            HttpError::Broken {
                detail,
                progress: None,
            } => write!(
                f,
                "connection broke before a status line and headers arrived, or they are not \
                 HTTP: {detail}"
            ),
            HttpError::Decode { encoding, detail } => write!(
                f,
                "answer body does not decode: it declares Content-Encoding {encoding}, and \
                 decoding it fails with {detail}"
            ),
            HttpError::BadRequest(detail) => write!(f, "cannot build the request: {detail}"),
            HttpError::NoMemory { needed, budget } => write!(
                f,
                "no memory for the answer within the timeout: it needs {} and the answers in \
                 flight held the rest of the run's budget of {} ({} times --max-body)",
                mib(*needed),
                mib(*budget),
                crate::budget::BUDGET_PER_BODY_CAP
            ),
        }
    }
}

impl std::error::Error for HttpError {}

/// Sends requests to one target.
#[derive(Debug, Clone)]
pub struct HttpClient {
    /// Keeps connections open between requests: a new connection per request costs about as
    /// much as the whole suite's checks.
    pooled: reqwest::Client,
    /// Opens a connection for each request; used to send a request again when a pooled
    /// connection turned out to be closed (see `send`).
    fresh: tokio::sync::OnceCell<reqwest::Client>,
    base: Url,
    settings: HttpSettings,
    budget: MemoryBudget,
}

impl HttpClient {
    /// Builds a client for the target at `base` (an `http://` or `https://` URL).
    pub fn new(base: &Url, settings: HttpSettings) -> Result<Self, HttpError> {
        install_crypto_provider();
        Ok(Self {
            pooled: build_client(base, &settings, true)?,
            fresh: tokio::sync::OnceCell::new(),
            base: base.clone(),
            budget: MemoryBudget::for_body_cap(settings.max_body),
            settings,
        })
    }

    /// The client that opens a connection per request, built the first time one is needed.
    async fn fresh(&self) -> Result<&reqwest::Client, HttpError> {
        self.fresh
            .get_or_try_init(|| async { build_client(&self.base, &self.settings, false) })
            .await
    }

    /// The target URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Sends one request and reads the whole answer, within the timeout.
    ///
    /// The request goes out on a pooled connection. If that connection breaks before any
    /// answer arrives, the daemon most likely closed it while it sat idle, before the request
    /// reached it, so the request is sent once more on a new connection, within what is left
    /// of the timeout; what that second attempt gets is the answer. A daemon that breaks every
    /// connection still gets that reported, from a connection of its own.
    pub async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        let started = Instant::now();
        // reqwest's own timeout covers the same span; this outer one also bounds anything
        // reqwest might not (decoding, say), so a request never outlives its timeout by much.
        let deadline = started + self.settings.timeout + Duration::from_millis(250);
        let first = self.attempt(&self.pooled, request, started, deadline).await;
        match first {
            Err(HttpError::Broken { progress: None, .. })
                if deadline.saturating_duration_since(Instant::now()) > Duration::ZERO =>
            {
                self.attempt(self.fresh().await?, request, started, deadline)
                    .await
            }
            outcome => outcome,
        }
    }

    /// One attempt at `request` on `client`, ending by `deadline`.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        request: &HttpRequest,
        started: Instant,
        deadline: Instant,
    ) -> Result<HttpResponse, HttpError> {
        let url = join(&self.base, &request.path);
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| HttpError::BadRequest(format!("invalid method {:?}", request.method)))?;
        let mut builder = client
            .request(method, url)
            .timeout((started + self.settings.timeout).saturating_duration_since(Instant::now()));
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }

        let cap = self.settings.max_body;
        // How far the answer got, kept outside the exchange so that a timeout can say it.
        let mut progress: Option<Progress> = None;
        // Waiting for memory ends a little before the timeout, so that it is what is reported.
        let memory_deadline = deadline - Duration::from_millis(100).min(self.settings.timeout / 4);
        let mut reservation = self.budget.reservation();
        let exchange = async {
            let mut response = builder.send().await.map_err(|e| self.classify(&e, None))?;
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            };
            let content_type = header(reqwest::header::CONTENT_TYPE);
            let content_encoding = header(reqwest::header::CONTENT_ENCODING);
            let location = header(reqwest::header::LOCATION);
            let status = response.status().as_u16();
            let declared = response.content_length();
            let so_far = progress.insert(Progress {
                status,
                body_bytes: 0,
                declared,
            });

            // A declared length over the cap fails before a byte of the body is read.
            if let Some(declared) = declared.filter(|&d| d > cap as u64) {
                return Err(HttpError::BodyTooLarge {
                    cap,
                    overflow: Overflow::Declared(declared),
                });
            }
            let mut body = BodySink::new(content_encoding.as_deref(), cap);
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| self.classify(&e, Some(*so_far)))?
            {
                so_far.body_bytes += chunk.len() as u64;
                body.push(&chunk)?;
                if body.held() > FREE_ALLOWANCE && reservation.bytes() == 0 {
                    // The whole cap at once: see `crate::budget` for why not piece by piece.
                    self.reserve(&mut reservation, cap, memory_deadline).await?;
                    body.take_whole_cap();
                }
            }
            let (mut body, encoded_size) = body.finish()?;
            // A body that took the whole cap's room gives back what it did not fill.
            body.shrink_to_fit();
            // Reserved before the answer is handed on, so that the checks that parse it stay
            // within the budget too.
            let parsed = parsed_size_estimate(&body);
            let too_large_to_parse = if body.capacity() + parsed > self.budget.bytes() {
                Some(format!(
                    "the body is too large to check: parsed as JSON it could take up to {}, more \
                     than the run's memory budget of {} ({} times --max-body)",
                    mib(parsed),
                    mib(self.budget.bytes()),
                    crate::budget::BUDGET_PER_BODY_CAP
                ))
            } else {
                self.reserve(&mut reservation, body.capacity() + parsed, memory_deadline)
                    .await?;
                None
            };
            reservation
                .shrink_to(body.capacity() + too_large_to_parse.as_ref().map_or(parsed, |_| 0));
            Ok(HttpResponse {
                status,
                content_type,
                content_encoding,
                encoded_size,
                location,
                body,
                elapsed: started.elapsed(),
                too_large_to_parse,
                reservation: None,
            })
        };
        let outcome = tokio::time::timeout_at(deadline.into(), exchange).await;
        let mut response = outcome.unwrap_or(Err(HttpError::Timeout {
            after: self.settings.timeout,
            progress,
        }))?;
        response.reservation = Some(Arc::new(reservation));
        Ok(response)
    }

    /// Grows `reservation` to `bytes`, waiting for other answers until `deadline`.
    async fn reserve(
        &self,
        reservation: &mut Reservation,
        bytes: usize,
        deadline: Instant,
    ) -> Result<(), HttpError> {
        let no_memory = || HttpError::NoMemory {
            needed: bytes,
            budget: self.budget.bytes(),
        };
        match tokio::time::timeout_at(deadline.into(), reservation.grow_to(bytes)).await {
            Ok(true) => Ok(()),
            Ok(false) | Err(_) => Err(no_memory()),
        }
    }

    /// Opens one connection the way requests do (TCP, and TLS for an `https` target) and asks
    /// `GET /`. Only a connection that cannot be made is an error; whatever answers, or
    /// nothing, is left to the cases. Takes at most the connect timeout and a second.
    pub async fn check_connection(&self) -> Result<(), HttpError> {
        let limit = self
            .settings
            .timeout
            .min(self.settings.connect_limit() + Duration::from_secs(1));
        let probe = self.pooled.get(join(&self.base, "/")).timeout(limit).send();
        match tokio::time::timeout(limit + Duration::from_millis(250), probe).await {
            Ok(Err(error)) if error.is_connect() => Err(self.classify(&error, None)),
            _ => Ok(()),
        }
    }

    fn classify(&self, error: &reqwest::Error, progress: Option<Progress>) -> HttpError {
        if error.is_connect() {
            HttpError::Connect(self.connect_detail(error))
        } else if error.is_timeout() {
            HttpError::Timeout {
                after: self.settings.timeout,
                progress,
            }
        } else if error.is_builder() {
            HttpError::BadRequest(error_chain(error))
        } else {
            HttpError::Broken {
                detail: cause(error),
                progress,
            }
        }
    }

    /// Why a connection could not be made, with a hint where the cause suggests one.
    fn connect_detail(&self, error: &reqwest::Error) -> String {
        let https = self.base.scheme() == "https";
        let plain_hint = || {
            let mut plain = self.base.clone();
            let _ = plain.set_scheme("http");
            format!("the target may speak plain HTTP: try {plain}")
        };
        if error.is_timeout() {
            let within = self.settings.connect_limit().as_secs_f64();
            return if https {
                format!(
                    "the TCP connection or its TLS handshake did not complete within \
                     {within:.1} s (connect timeout); {}",
                    plain_hint()
                )
            } else {
                format!(
                    "the TCP connection did not complete within {within:.1} s (connect timeout)"
                )
            };
        }

        let detail = cause(error);
        match tls_error(error) {
            Some(rustls::Error::InvalidCertificate(_)) => format!(
                "{detail}; the certificate does not verify: for a daemon with a self-signed \
                 certificate, pass --insecure"
            ),
            Some(
                rustls::Error::InvalidMessage(_)
                | rustls::Error::InappropriateMessage { .. }
                | rustls::Error::InappropriateHandshakeMessage { .. },
            ) => format!("{detail}; {}", plain_hint()),
            // A peer that closes the connection on a TLS hello is often a plain HTTP server.
            _ if https
                && (detail.contains("corrupt message") || detail.contains("handshake eof")) =>
            {
                format!("{detail}; {}", plain_hint())
            }
            _ => detail,
        }
    }
}

/// A client for the target at `base`, which keeps idle connections if `pool` says so.
fn build_client(
    base: &Url,
    settings: &HttpSettings,
    pool: bool,
) -> Result<reqwest::Client, HttpError> {
    let builder = reqwest::Client::builder();
    let builder = if pool {
        // Daemons may close idle connections whenever they like; the shorter a connection
        // idles here, the less often a request meets one closed under it.
        builder.pool_idle_timeout(POOL_IDLE_TIMEOUT)
    } else {
        builder.pool_max_idle_per_host(0)
    };
    let builder = if base.scheme() == "https" {
        builder.tls_danger_accept_invalid_certs(settings.insecure)
    } else {
        // Redirects are not followed, so a plain HTTP target never needs TLS: an empty set of
        // roots spares reading the system's certificates, a good part of a short run.
        builder.tls_certs_only([])
    };
    builder
        .connect_timeout(settings.connect_limit())
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        // Bodies are decoded here, where the cap and the report can see the coding.
        .no_gzip()
        .no_proxy()
        .build()
        .map_err(|e| HttpError::BadRequest(error_chain(&e)))
}

/// Makes room in `bytes` for `more`, doubling as a `Vec` does but never past `cap`, so that the
/// memory a body takes stays within what it reserved.
fn grow_within(bytes: &mut Vec<u8>, more: usize, cap: usize) {
    let needed = bytes.len() + more;
    if needed > bytes.capacity() {
        let target = (bytes.capacity() * 2).max(needed).min(cap.max(needed));
        bytes.reserve_exact(target - bytes.len());
    }
}

/// `bytes` in MiB, for messages.
fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// An answer body as it arrives: kept as it came, or gzip-decoded on the way; never more than
/// the cap, neither as it came nor decoded.
enum BodySink {
    Plain {
        bytes: Vec<u8>,
        cap: usize,
    },
    Gzip {
        decoder: Box<MultiGzDecoder<CappedBuffer>>,
        encoding: String,
        received: usize,
        cap: usize,
    },
}

impl BodySink {
    fn new(content_encoding: Option<&str>, cap: usize) -> Self {
        match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
            Some(encoding) if encoding == "gzip" || encoding == "x-gzip" => BodySink::Gzip {
                decoder: Box::new(MultiGzDecoder::new(CappedBuffer {
                    bytes: Vec::new(),
                    cap,
                    overflowed: false,
                })),
                encoding,
                received: 0,
                cap,
            },
            _ => BodySink::Plain {
                bytes: Vec::new(),
                cap,
            },
        }
    }

    /// Takes the next piece of the body as it came over the wire.
    fn push(&mut self, chunk: &[u8]) -> Result<(), HttpError> {
        match self {
            BodySink::Plain { bytes, cap } => {
                // Checked before the bytes are kept, so memory never goes past the cap.
                if bytes.len() + chunk.len() > *cap {
                    return Err(HttpError::BodyTooLarge {
                        cap: *cap,
                        overflow: Overflow::Received,
                    });
                }
                grow_within(bytes, chunk.len(), *cap);
                bytes.extend_from_slice(chunk);
                Ok(())
            }
            BodySink::Gzip {
                decoder,
                encoding,
                received,
                cap,
            } => {
                *received += chunk.len();
                if *received > *cap {
                    return Err(HttpError::BodyTooLarge {
                        cap: *cap,
                        overflow: Overflow::Received,
                    });
                }
                // The decoder writes what it decodes in pieces of a few KiB into the capped
                // buffer, which refuses the piece that would pass the cap.
                decoder
                    .write_all(chunk)
                    .map_err(|e| decode_error(decoder, encoding, *cap, &e))
            }
        }
    }

    /// Makes room for the whole cap in one allocation, which the body then fills without
    /// moving: growing by doubling would hold the old and the new buffer at once, half as much
    /// again as was reserved. Pages the body never fills are never touched.
    fn take_whole_cap(&mut self) {
        let (buffer, cap) = match self {
            BodySink::Plain { bytes, cap } => (bytes, *cap),
            BodySink::Gzip { decoder, cap, .. } => (&mut decoder.get_mut().bytes, *cap),
        };
        buffer.reserve_exact(cap.saturating_sub(buffer.len()));
    }

    /// The memory the body takes so far.
    fn held(&self) -> usize {
        match self {
            BodySink::Plain { bytes, .. } => bytes.capacity(),
            BodySink::Gzip { decoder, .. } => decoder.get_ref().bytes.capacity(),
        }
    }

    /// The whole body, and its size as it came when it was decoded.
    fn finish(self) -> Result<(Vec<u8>, Option<usize>), HttpError> {
        match self {
            BodySink::Plain { bytes, .. } => Ok((bytes, None)),
            // An empty body with a coding header (a redirect, say) has nothing to decode.
            BodySink::Gzip { received: 0, .. } => Ok((Vec::new(), Some(0))),
            BodySink::Gzip {
                mut decoder,
                encoding,
                received,
                cap,
            } => {
                decoder
                    .try_finish()
                    .map_err(|e| decode_error(&decoder, &encoding, cap, &e))?;
                let decoded = decoder
                    .finish()
                    .map_err(|e| HttpError::Decode {
                        encoding: encoding.clone(),
                        detail: e.to_string(),
                    })?
                    .bytes;
                Ok((decoded, Some(received)))
            }
        }
    }
}

/// A failed decoding step: the cap, if the buffer refused a piece, else a corrupt stream.
fn decode_error(
    decoder: &MultiGzDecoder<CappedBuffer>,
    encoding: &str,
    cap: usize,
    error: &std::io::Error,
) -> HttpError {
    if decoder.get_ref().overflowed {
        HttpError::BodyTooLarge {
            cap,
            overflow: Overflow::Decoded(encoding.to_owned()),
        }
    } else {
        HttpError::Decode {
            encoding: encoding.to_owned(),
            detail: error.to_string(),
        }
    }
}

/// Decoded bytes, up to a cap; a write that would pass it fails and marks the overflow.
struct CappedBuffer {
    bytes: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl std::io::Write for CappedBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + data.len() > self.cap {
            self.overflowed = true;
            return Err(std::io::Error::other("the decoded body passes the cap"));
        }
        grow_within(&mut self.bytes, data.len(), self.cap);
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Joins a path to the target URL, keeping any path prefix the target URL has.
fn join(base: &Url, path: &str) -> String {
    let base = base.as_str().trim_end_matches('/');
    format!("{base}{path}")
}

/// The messages of an error and its sources, most specific last, without repeats.
fn error_chain(error: &dyn StdError) -> String {
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

/// What went wrong under a reqwest error, without the wrappers that only name the layers it
/// passed (the request's URL, "client error (Connect)", "request or response body error"):
/// the report shows the request, and the HTTP layer's own words say the phase.
fn cause(error: &reqwest::Error) -> String {
    let Some(source) = error.source() else {
        return error.to_string();
    };
    let chain = error_chain(source);
    let parts: Vec<&str> = chain
        .split(": ")
        .filter(|part| {
            !part.starts_with("client error (") && *part != "request or response body error"
        })
        .collect();
    if parts.is_empty() {
        chain
    } else {
        parts.join(": ")
    }
}

/// The TLS error somewhere in an error's sources, if the failure was one. rustls's errors
/// travel inside a `std::io::Error`, itself often boxed, and the `source()` of either skips
/// the error it wraps, so each is opened here.
fn tls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    fn unwrap<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return io.get_ref().and_then(|inner| unwrap(inner));
        }
        None
    }
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = unwrap(error) {
            return Some(tls);
        }
        current = error.source();
    }
    None
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

    #[test]
    fn the_connect_timeout_stays_below_the_request_timeout() {
        let settings = HttpSettings {
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(3),
            ..HttpSettings::default()
        };
        assert_eq!(settings.connect_limit(), Duration::from_millis(900));
        assert_eq!(
            HttpSettings::default().connect_limit(),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn a_gzip_body_is_decoded_and_capped_when_decoded() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[b'x'; 10_000]).unwrap();
        let compressed = encoder.finish().unwrap();

        let mut sink = BodySink::new(Some("gzip"), 10_000);
        sink.push(&compressed).unwrap();
        let (body, encoded) = sink.finish().unwrap();
        assert_eq!(body.len(), 10_000);
        assert_eq!(encoded, Some(compressed.len()));

        let mut sink = BodySink::new(Some("GZIP"), 9_999);
        let overflow = sink
            .push(&compressed)
            .and_then(|()| sink.finish().map(drop));
        assert_eq!(
            overflow.unwrap_err(),
            HttpError::BodyTooLarge {
                cap: 9_999,
                overflow: Overflow::Decoded("gzip".into())
            }
        );
    }

    #[test]
    fn a_corrupt_gzip_body_is_a_decode_error() {
        let mut sink = BodySink::new(Some("gzip"), 1000);
        let outcome = sink
            .push(b"not gzip at all")
            .and_then(|()| sink.finish().map(drop));
        let error = outcome.unwrap_err();
        assert!(matches!(error, HttpError::Decode { .. }), "{error:?}");
        assert!(
            error.to_string().contains("Content-Encoding gzip"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_body_with_a_coding_header_is_empty() {
        let sink = BodySink::new(Some("gzip"), 1000);
        assert_eq!(sink.finish().unwrap(), (Vec::new(), Some(0)));
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
        assert_eq!(
            error,
            HttpError::Timeout {
                after: Duration::from_millis(300),
                progress: None
            }
        );
        holder.abort();
    }
}
