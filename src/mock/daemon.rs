//! The mock daemon on a real listener: binding, the auth file, serving with read timeouts and
//! graceful shutdown.

use std::convert::Infallible;
use std::fmt;
use std::fs;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Sleep;
use tower_service::Service as _;

use super::error::ApiError;
use super::state::{self, MockState};
use super::{MockConfig, router};

/// How long [`MockDaemon::shutdown`] waits for open connections before it stops waiting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The largest request body read: axum's default limit, which the body extractors of the routes
/// apply (a test holds the two together). The daemon refuses a larger declared `Content-Length`
/// before reading any of the body.
pub(crate) const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The name the reference daemon gives its auth file.
const AUTH_FILE_NAME: &str = "xpipe_auth";

/// A running mock daemon. Dropping it without [`shutdown`](MockDaemon::shutdown) also stops the
/// server (without waiting) and removes the auth file.
#[derive(Debug)]
pub struct MockDaemon {
    addr: SocketAddr,
    auth_file: AuthFile,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<()>,
    held_back: ReleaseOnDrop,
}

impl MockDaemon {
    /// Binds, writes the auth file and starts serving on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`MockError`] when the address cannot be bound, the auth file cannot be written (or
    /// exists already) or the system has no random bytes for the secret.
    pub async fn start(config: MockConfig) -> Result<MockDaemon, MockError> {
        // Bind first, so a busy port leaves nothing behind on disk.
        let bind = config.bind;
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| MockError::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MockError::Bind { addr: bind, source })?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "mock daemon listens beyond the loopback interface");
        }
        if config.api_key.trim().is_empty() {
            tracing::warn!("the API key is empty: ApiKey handshakes will be refused");
        }

        let secret = state::random_uuid().map_err(MockError::Random)?;
        let auth_file = AuthFile::write(config.auth_file.clone(), &secret)?;

        let connections = config.store.connections().len();
        if !config.faults.is_empty() {
            let names: Vec<String> = config.faults.iter().map(|f| f.name()).collect();
            tracing::info!(faults = %names.join(", "), "mock daemon commits seeded faults");
        }
        let (header_timeout, body_timeout) = (config.header_read_timeout, config.body_read_timeout);
        let state = MockState::new(config, secret);
        let app = Limited {
            router: router(state.clone()),
            body_timeout,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(serve(listener, app, header_timeout, stopped));
        tracing::debug!(%addr, connections, "mock daemon listening");

        Ok(MockDaemon {
            addr,
            auth_file,
            stop,
            serving,
            held_back: ReleaseOnDrop(state),
        })
    }

    /// The address the daemon listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the daemon, such as `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The file holding the secret `Local` handshakes must present.
    pub fn auth_file(&self) -> &Path {
        &self.auth_file.path
    }

    /// Stops serving, waits for open connections to finish and removes the auth file it created.
    ///
    /// Idle connections are closed at once and requests in flight are answered; a connection
    /// still open after a few seconds is no longer waited for.
    pub async fn shutdown(self) {
        let MockDaemon {
            addr,
            auth_file,
            stop,
            mut serving,
            held_back,
        } = self;
        let _ = stop.send(());
        // Answers a fault holds back end now, so that their connections can close.
        drop(held_back);

        if tokio::time::timeout(SHUTDOWN_GRACE, &mut serving)
            .await
            .is_err()
        {
            tracing::warn!(%addr, "connections still open {SHUTDOWN_GRACE:?} after shutdown");
            serving.abort();
        }

        // The secret goes only once nothing answers to it any more.
        drop(auth_file);
        tracing::debug!(%addr, "mock daemon stopped");
    }
}

/// Accepts connections until `stopped` resolves (a dropped sender counts as a signal), then
/// asks every connection to close once its request in flight is answered and waits for them.
///
/// Each connection is HTTP/1 with a header read timeout: a client that stalls before its
/// headers are complete loses the connection. Malformed requests get hyper's 400 and a closed
/// connection. Aborting this task drops the connections with it.
async fn serve(
    listener: TcpListener,
    app: Limited,
    header_timeout: Duration,
    stopped: oneshot::Receiver<()>,
) {
    let (closing, _) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut stopped = pin!(stopped);
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => break,
            // Reaps finished connections so the set does not grow with every client.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let closing = closing.subscribe();
                connections.spawn(serve_connection(
                    stream,
                    app.clone(),
                    header_timeout,
                    closing,
                ));
            }
            // The peer gave up before it was accepted: nothing to do.
            Err(err) if is_peer_error(&err) => {}
            Err(err) => {
                // Out of file descriptors and the like: wait for some to be freed, not spin.
                tracing::warn!(%err, "cannot accept a connection");
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }

    // No new connections from here on; those open finish what they are answering.
    drop(listener);
    closing.send_replace(());
    while connections.join_next().await.is_some() {}
}

/// Serves one connection until the client closes it, a timeout or malformed request ends it,
/// or `closing` changes (then after the request in flight).
async fn serve_connection(
    stream: TcpStream,
    app: Limited,
    header_timeout: Duration,
    mut closing: watch::Receiver<()>,
) {
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), app);
    let mut connection = pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        // The only change is to true; an error means the serving task is gone.
        _ = closing.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = ended {
        // Stalled and malformed clients end here; hyper's messages carry no request content.
        tracing::debug!(%err, "connection ended");
    }
}

/// Accept errors that concern one peer only.
fn is_peer_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The routes behind the request limits: a declared body above [`BODY_LIMIT`] gets 413 at once,
/// and the body must arrive within `body_timeout` of the request's headers or the request gets
/// 408. Both close the connection, since the rest of the body is not read.
///
/// A hyper service rather than an axum middleware: a middleware boxes every request's
/// continuation, which cost a measurable share of the mock's throughput.
#[derive(Clone)]
struct Limited {
    router: Router,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for Limited {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
            tracing::debug!(?declared, "request body above the limit");
            return Box::pin(std::future::ready(Ok(closing(ApiError::BodyTooLarge))));
        }
        let mut router = self.router.clone();
        // An empty body cannot stall.
        if http_body::Body::is_end_stream(request.body()) {
            return Box::pin(router.call(request.map(Body::new)));
        }

        let limit = self.body_timeout;
        let expired = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| {
            Body::new(DeadlineBody {
                inner: Body::new(body),
                until: tokio::time::Instant::now() + limit,
                timer: None,
                expired: Arc::clone(&expired),
            })
        });
        Box::pin(async move {
            let response = router.call(request).await?;
            if !expired.load(Ordering::Relaxed) {
                return Ok(response);
            }
            tracing::debug!(?limit, "request body did not arrive in time");
            Ok(closing(ApiError::BodyTimeout))
        })
    }
}

/// The answer for `error`, telling the client that the server closes the connection after it.
fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline has passed, and says so through `expired`.
struct DeadlineBody {
    inner: Body,
    until: tokio::time::Instant,
    /// Set the first time the body has to be waited for: most bodies arrive with their
    /// headers, and a timer for each of them would cost every request.
    timer: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

/// The error a [`DeadlineBody`] ends with.
#[derive(Debug)]
struct BodyTimedOut;

impl fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        // What has arrived is taken even when the deadline has passed meanwhile.
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let until = this.until;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        if timer.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    // Passed on, so that a declared length above the limit is refused before any reading.
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Ends the answers that faults hold back when dropped: the daemon is stopping.
#[derive(Debug)]
struct ReleaseOnDrop(MockState);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The auth file the daemon wrote, with the private directory holding it when the daemon made
/// one. Dropping it removes both.
#[derive(Debug)]
struct AuthFile {
    path: PathBuf,
    _dir: Option<TempDir>,
}

impl AuthFile {
    /// Writes `secret` to `path`, or to `xpipe_auth` in a fresh private temp dir.
    fn write(path: Option<PathBuf>, secret: &str) -> Result<AuthFile, MockError> {
        let (path, dir) = match path {
            Some(path) => (path, None),
            None => {
                let dir = private_temp_dir().map_err(MockError::TempDir)?;
                (dir.path().join(AUTH_FILE_NAME), Some(dir))
            }
        };
        write_new_private(&path, secret).map_err(|source| MockError::AuthFile {
            path: path.clone(),
            source,
        })?;
        Ok(AuthFile { path, _dir: dir })
    }
}

impl Drop for AuthFile {
    fn drop(&mut self) {
        if let Err(err) = fs::remove_file(&self.path)
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), %err, "cannot remove the auth file");
        }
    }
}

/// A temp dir only its owner can enter (tempfile uses the umask's mode for directories).
fn private_temp_dir() -> io::Result<TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("xpipe-mock-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o700));
    }
    builder.tempdir()
}

/// Writes a new file readable by its owner only; an existing file is left alone.
fn write_new_private(path: &Path, content: &str) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

/// Why a mock daemon could not start.
#[derive(Debug)]
pub enum MockError {
    /// The address could not be bound.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// No private temp dir could be made for the auth file.
    TempDir(io::Error),
    /// The auth file could not be written, or exists already.
    AuthFile {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The system gave no random bytes for the `Local` secret.
    Random(getrandom::Error),
}

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MockError::Bind { addr, source } => {
                write!(f, "cannot bind the mock daemon to {addr}: {source}")
            }
            MockError::TempDir(source) => {
                write!(
                    f,
                    "cannot create a private temp dir for the auth file: {source}"
                )
            }
            MockError::AuthFile { path, source }
                if source.kind() == io::ErrorKind::AlreadyExists =>
            {
                write!(
                    f,
                    "auth file {} exists already; the mock never overwrites one (remove it or \
                     choose another path)",
                    path.display()
                )
            }
            MockError::AuthFile { path, source } => {
                write!(f, "cannot write the auth file {}: {source}", path.display())
            }
            MockError::Random(source) => {
                write!(f, "cannot draw random bytes for the local secret: {source}")
            }
        }
    }
}

impl std::error::Error for MockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MockError::Bind { source, .. }
            | MockError::TempDir(source)
            | MockError::AuthFile { source, .. } => Some(source),
            MockError::Random(source) => Some(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_file_in_a_private_temp_dir_is_removed_with_its_dir() {
        let file = AuthFile::write(None, "secret").unwrap();
        assert_eq!(fs::read_to_string(&file.path).unwrap(), "secret");
        assert_eq!(file.path.file_name().unwrap(), AUTH_FILE_NAME);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&file.path), 0o600);
            assert_eq!(mode(file.path.parent().unwrap()), 0o700);
        }
        let dir = file.path.parent().unwrap().to_path_buf();
        drop(file);
        assert!(!dir.exists());
    }

    #[test]
    fn a_given_auth_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUTH_FILE_NAME);
        fs::write(&path, "a real daemon's secret").unwrap();
        let err = AuthFile::write(Some(path.clone()), "secret").unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("auth file {} exists already", path.display()))
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "a real daemon's secret");
    }

    #[test]
    fn a_given_auth_file_is_written_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret-file");
        let file = AuthFile::write(Some(path.clone()), "s").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "s");
        drop(file);
        assert!(!path.exists());
        assert!(dir.path().exists());
    }
}
