//! The mock daemon on a real listener: binding, the auth file, serving and graceful shutdown.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::state::{self, MockState};
use super::{MockConfig, router};

/// How long [`MockDaemon::shutdown`] waits for open connections before it stops waiting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
        let state = MockState::new(config, secret);
        let app = router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            // A dropped sender ends the wait as a sent signal does.
            let signal = async {
                let _ = stopped.await;
            };
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::error!(%err, "mock daemon stopped serving");
            }
        });
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
