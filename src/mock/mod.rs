//! The embedded mock daemon: a faithful implementation of the API document and NOTES.md.
//!
//! [`router`] builds the routes over a [`MockState`] for tests without a socket; [`MockDaemon`]
//! serves them on a real listener, writes the `Local` auth file and shuts down when the embedding
//! code says so. [`ConnectionStore`] holds the connections and reads the fixture format.
//! [`Fault`] is the catalogue of violations the mock commits on request (none by default), for
//! measuring what the suite catches.

mod answer;
mod daemon;
mod error;
pub mod fault;
mod filter;
mod request;
mod routes;
mod state;
mod store;
mod transport;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use daemon::{MockDaemon, MockError};
pub use fault::{Fault, Faults, UnknownFault};
pub(crate) use request::kind as json_kind;
pub use routes::router;
pub use state::MockState;
pub use store::{Connection, ConnectionStore, StoreError};

/// How to run a [`MockDaemon`].
#[derive(Clone)]
pub struct MockConfig {
    /// Address to bind; 127.0.0.1:0 by default (any free port).
    pub bind: SocketAddr,
    /// The API key `ApiKey` handshakes must present. An empty key (after trimming) matches no
    /// handshake.
    pub api_key: String,
    /// Where to write the Local auth secret; None = `xpipe_auth` inside a fresh private temp dir
    /// (owner-only, removed on shutdown). Never defaults to the user's real $TEMP/xpipe_auth. A
    /// given path must not exist yet, so a real daemon's file is never overwritten; the mock
    /// removes it on shutdown.
    pub auth_file: Option<PathBuf>,
    /// The connections the daemon holds.
    pub store: ConnectionStore,
    /// Match filters regardless of letter case (the document allows both).
    pub case_insensitive: bool,
    /// Violations of the document to commit on purpose; empty (a faithful mock) by default.
    pub faults: BTreeSet<Fault>,
    /// The most sessions open at once ([`DEFAULT_MAX_SESSIONS`] by default, at least 1). A
    /// handshake beyond it ends the OLDEST session, whose token then gets 403: the newest
    /// client always gets a working token, and a client that keeps shaking hands cannot grow the
    /// daemon's memory. (Refusing the new handshake instead would lock every client out once a
    /// runaway client filled the table; the document says nothing about session lifetimes.)
    pub max_sessions: usize,
    /// How long a client may take to send a request's line and headers before the connection is
    /// closed ([`DEFAULT_READ_TIMEOUT`] by default). Applies on a real listener only.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body, counted from its headers, before
    /// the request gets 408 and the connection is closed ([`DEFAULT_READ_TIMEOUT`] by default).
    /// Applies on a real listener only.
    pub body_read_timeout: Duration,
}

/// The default of [`MockConfig::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;

/// The default of [`MockConfig::header_read_timeout`] and [`MockConfig::body_read_timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl MockConfig {
    /// The default fixture on 127.0.0.1 (any free port), case-sensitive matching.
    pub fn new(api_key: impl Into<String>) -> Self {
        MockConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api_key: api_key.into(),
            auth_file: None,
            store: ConnectionStore::default_fixture(),
            case_insensitive: false,
            faults: BTreeSet::new(),
            max_sessions: DEFAULT_MAX_SESSIONS,
            header_read_timeout: DEFAULT_READ_TIMEOUT,
            body_read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

impl fmt::Debug for MockConfig {
    // The API key stays out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockConfig")
            .field("bind", &self.bind)
            .field("api_key", &"<redacted>")
            .field("auth_file", &self.auth_file)
            .field("connections", &self.store.connections().len())
            .field("case_insensitive", &self.case_insensitive)
            .field("faults", &self.faults)
            .field("max_sessions", &self.max_sessions)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .finish()
    }
}
