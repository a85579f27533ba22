//! The outermost layer of the mock: the transport hook of the faults. It changes the status
//! line, the headers, the timing and the bytes of answers after the handlers made them, and
//! passes everything through untouched when the mock commits no transport fault.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use tokio::sync::mpsc;

use super::error::Refusal;
use super::fault::{Fault, Faults, Hook};
use super::state::MockState;

/// The path whose answers the timing faults hold back.
const QUERY_PATH: &str = "/connection/query";

/// How long a dripping answer waits between two bytes.
const DRIP_PAUSE: Duration = Duration::from_secs(1);

/// How long a broken answer waits after its last bytes before it breaks off, so that the server
/// sends what it has before it drops the connection.
const FLUSH_PAUSE: Duration = Duration::from_millis(50);

/// How many bytes past the body [`Fault::ContentLengthTooLong`] declares.
const EXTRA_LENGTH: usize = 16;

/// The largest answer body the layer buffers to rewrite it; the mock's answers are far smaller.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The middleware: runs the handlers, then applies the transport faults to their answer.
pub(crate) async fn layer(
    State(state): State<MockState>,
    request: Request,
    next: Next,
) -> Response {
    let faults = state.faults();
    if !faults.any_at(Hook::Transport) {
        return next.run(request).await;
    }
    let is_query = request.method() == Method::POST && request.uri().path() == QUERY_PATH;

    // Timing: an answer that never comes ends only when the daemon stops.
    if is_query && faults.has(Fault::QueryAnswerNeverComes) {
        state.stopped().await;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut response = next.run(request).await;

    // The status line, by the kind of refusal the handlers chose.
    let refusal = response.extensions().get::<Refusal>().copied();
    match refusal {
        Some(Refusal::Malformed) if faults.has(Fault::MalformedRequestGets200) => {
            *response.status_mut() = StatusCode::OK;
        }
        Some(Refusal::Malformed) if faults.has(Fault::MalformedRequestGets500) => {
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
        Some(Refusal::Unauthorized) if faults.has(Fault::RefusalGets500) => {
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
        Some(Refusal::Unauthorized) if faults.has(Fault::RefusalRedirects) => {
            let mut redirect = Response::new(Body::empty());
            *redirect.status_mut() = StatusCode::FOUND;
            redirect
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/login"));
            return redirect;
        }
        _ => {}
    }

    // Headers.
    let declares_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if declares_json && faults.has(Fault::JsonDeclaredAsHtml) {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }

    // The bytes on the connection.
    let dripping = is_query && faults.has(Fault::QueryAnswerDrips);
    let broken = declares_json && breaks_connection(faults);
    if dripping || broken {
        return rewrite_body(response, &state, dripping).await;
    }
    response
}

fn breaks_connection(faults: &Faults) -> bool {
    faults.has(Fault::ConnectionClosedMidBody) || faults.has(Fault::ContentLengthTooLong)
}

/// Sends the answer's body as the faults say: a byte a second, cut off, or short of its
/// declared length.
async fn rewrite_body(response: Response, state: &MockState, dripping: bool) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let faults = state.faults();
    let declared = if faults.has(Fault::ContentLengthTooLong) {
        bytes.len() + EXTRA_LENGTH
    } else {
        bytes.len()
    };
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(declared));

    let (sender, receiver) = mpsc::channel(1);
    if dripping {
        tokio::spawn(drip(bytes, sender, state.clone()));
    } else if faults.has(Fault::ConnectionClosedMidBody) {
        // The error makes the server drop the connection halfway through the body.
        let half = bytes.slice(..bytes.len() / 2);
        let error = io::Error::other("connection closed mid-body");
        tokio::spawn(break_off(half, Some(error), sender));
    } else {
        // The body ends short of the declared length; the server then drops the connection.
        tokio::spawn(break_off(bytes, None, sender));
    }
    Response::from_parts(parts, Body::new(ChannelBody(receiver)))
}

/// Sends `bytes`, waits until they are out, then ends the body with `error` or, without one,
/// ends it where it is.
async fn break_off(
    bytes: Bytes,
    error: Option<io::Error>,
    sender: mpsc::Sender<io::Result<Bytes>>,
) {
    if sender.send(Ok(bytes)).await.is_err() {
        return;
    }
    tokio::time::sleep(FLUSH_PAUSE).await;
    if let Some(error) = error {
        let _ = sender.send(Err(error)).await;
    }
}

/// Sends one byte a second until the body is out, the client is gone or the daemon stops.
async fn drip(bytes: Bytes, sender: mpsc::Sender<io::Result<Bytes>>, state: MockState) {
    for at in 0..bytes.len() {
        if sender.send(Ok(bytes.slice(at..=at))).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(DRIP_PAUSE) => {}
            () = sender.closed() => return,
            () = state.stopped() => {
                let _ = sender.send(Err(io::Error::other("the daemon stops"))).await;
                return;
            }
        }
    }
}

/// An answer body fed through a channel; its length is unknown to the server, so a declared
/// `Content-Length` is taken as it is.
struct ChannelBody(mpsc::Receiver<io::Result<Bytes>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data)))
    }
}
