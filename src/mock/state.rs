//! What the mock's handlers share: the secrets, the connection store, the open sessions and
//! the seeded faults; the authentication hook of the faults lives here.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::MockConfig;
use super::fault::{Fault, Faults};
use super::store::ConnectionStore;

/// The cloneable state behind [`router`](super::router): cheap to clone, shared by all requests.
#[derive(Clone)]
pub struct MockState {
    shared: Arc<Shared>,
}

struct Shared {
    api_key: Secret,
    local_secret: Secret,
    store: ConnectionStore,
    case_insensitive: bool,
    sessions: Mutex<Sessions>,
    faults: Faults,
    /// Turns true when the daemon stops, so that answers a fault holds back end.
    stopping: watch::Sender<bool>,
}

impl MockState {
    /// The state for `config` with `local_secret` as the content `Local` handshakes must present.
    ///
    /// `config.bind` and `config.auth_file` are not used here: [`MockDaemon`](super::MockDaemon)
    /// binds the socket and writes the secret to the file.
    pub fn new(config: MockConfig, local_secret: impl Into<String>) -> MockState {
        MockState {
            shared: Arc::new(Shared {
                api_key: Secret(config.api_key),
                local_secret: Secret(local_secret.into()),
                store: config.store,
                case_insensitive: config.case_insensitive,
                sessions: Mutex::new(Sessions::new(config.max_sessions)),
                faults: Faults::from(config.faults),
                stopping: watch::Sender::new(false),
            }),
        }
    }

    /// The connections the daemon holds.
    pub fn store(&self) -> &ConnectionStore {
        &self.shared.store
    }

    /// Whether filters match regardless of letter case.
    pub fn case_insensitive(&self) -> bool {
        self.shared.case_insensitive
    }

    /// How many sessions handshakes have opened so far.
    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }

    /// The seeded faults; empty for a faithful mock.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Tells answers that a fault holds back to end: the daemon is stopping.
    pub(crate) fn stop(&self) {
        self.shared.stopping.send_replace(true);
    }

    /// Resolves once [`stop`](Self::stop) was called.
    pub(crate) async fn stopped(&self) {
        let mut stopping = self.shared.stopping.subscribe();
        // An error means the sender is gone, which only happens with the state itself.
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }

    // The authentication hook: each check below is where the faults of that check apply.

    pub(crate) fn api_key_matches(&self, given: &str) -> bool {
        let faults = self.faults();
        let (key, secret) = (&self.shared.api_key, &self.shared.local_secret);
        key.matches(given)
            || (faults.has(Fault::ApiKeyPrefixAccepted) && key.has_prefix(given))
            || (faults.has(Fault::ApiKeyExtensionAccepted) && key.is_prefix_of(given))
            || (faults.has(Fault::AuthKindsInterchangeable) && secret.matches(given))
    }

    pub(crate) fn local_secret_matches(&self, given: &str) -> bool {
        let faults = self.faults();
        let (key, secret) = (&self.shared.api_key, &self.shared.local_secret);
        secret.matches(given)
            || faults.has(Fault::WrongLocalSecretAccepted)
            || (faults.has(Fault::LocalSecretExtensionAccepted) && secret.is_prefix_of(given))
            || (faults.has(Fault::AuthKindsInterchangeable) && key.matches(given))
    }

    /// Opens a session and returns its token with the number of sessions now open.
    pub(crate) fn open_session(&self) -> Result<(String, usize), getrandom::Error> {
        let token = random_token()?;
        let mut sessions = self.sessions();
        if self.faults().has(Fault::TokensForgottenAfterNextHandshake) {
            sessions.clear();
        }
        if sessions.insert(token.clone()).is_some() {
            tracing::debug!(
                cap = sessions.cap,
                "session cap reached: the oldest session ends"
            );
        }
        Ok((token, sessions.len()))
    }

    pub(crate) fn is_session(&self, token: &str) -> bool {
        let faults = self.faults();
        if faults.has(Fault::AnyTokenAccepted) {
            return true;
        }
        let sessions = self.sessions();
        sessions.contains(token)
            || (faults.has(Fault::ExtendedTokenAccepted)
                && sessions
                    .known
                    .iter()
                    .any(|known| token.starts_with(known.as_str())))
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // The sessions stay consistent even if a holder panicked: no method panics halfway.
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockState")
            .field("connections", &self.shared.store.connections().len())
            .field("case_insensitive", &self.shared.case_insensitive)
            .field("sessions", &self.session_count())
            .field("faults", &self.shared.faults)
            .finish_non_exhaustive()
    }
}

/// The open sessions, oldest first, at most `cap` of them: a new session beyond the cap ends the
/// oldest one, so that a client that never stops shaking hands cannot grow the daemon's memory.
struct Sessions {
    /// The tokens in the order their handshakes came.
    order: VecDeque<String>,
    /// The same tokens, for lookups.
    known: HashSet<String>,
    /// The most sessions kept; at least 1.
    cap: usize,
}

impl Sessions {
    fn new(cap: usize) -> Sessions {
        Sessions {
            order: VecDeque::new(),
            known: HashSet::new(),
            cap: cap.max(1),
        }
    }

    fn len(&self) -> usize {
        self.known.len()
    }

    fn contains(&self, token: &str) -> bool {
        self.known.contains(token)
    }

    /// Adds `token`; returns the oldest token when it had to go to keep within the cap.
    fn insert(&mut self, token: String) -> Option<String> {
        if !self.known.insert(token.clone()) {
            return None;
        }
        self.order.push_back(token);
        if self.order.len() <= self.cap {
            return None;
        }
        let oldest = self.order.pop_front()?;
        self.known.remove(&oldest);
        Some(oldest)
    }

    fn clear(&mut self) {
        self.order.clear();
        self.known.clear();
    }
}

/// A credential the daemon checks; never shown by `Debug`.
struct Secret(String);

impl Secret {
    /// Compares after trimming white space on both sides, in time that does not depend on where
    /// the first difference is. An empty secret matches nothing.
    fn matches(&self, given: &str) -> bool {
        let expected = self.0.trim().as_bytes();
        !expected.is_empty() && constant_time_eq(given.trim().as_bytes(), expected)
    }

    /// Whether `given` (trimmed) starts the secret: the faulty comparison that stops where the
    /// given value ends.
    fn has_prefix(&self, given: &str) -> bool {
        let expected = self.0.trim();
        !expected.is_empty() && expected.starts_with(given.trim())
    }

    /// Whether the secret starts `given` (trimmed): the faulty comparison that stops where the
    /// secret ends.
    fn is_prefix_of(&self, given: &str) -> bool {
        let expected = self.0.trim();
        !expected.is_empty() && given.trim().starts_with(expected)
    }
}

/// Whether `given == expected`, reading every byte of `expected` whatever `given` holds. Only the
/// length of `expected` (fixed for a daemon run) shows in the timing.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, &e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!e);
        diff |= usize::from(g ^ e);
    }
    std::hint::black_box(diff) == 0
}

/// A session token: 32 lowercase hex digits from 16 random bytes.
fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

/// A random UUID in the version 4 layout, as the reference daemon writes to its auth file.
pub(crate) fn random_uuid() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex(&bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Lowercase hex digits, two per byte.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_beyond_the_cap_end_the_oldest() {
        let mut sessions = Sessions::new(3);
        for token in ["a", "b", "c"] {
            assert_eq!(sessions.insert(token.to_string()), None);
        }
        assert_eq!(sessions.insert("d".to_string()).as_deref(), Some("a"));
        assert_eq!(sessions.insert("e".to_string()).as_deref(), Some("b"));
        assert_eq!(sessions.len(), 3);
        assert!(!sessions.contains("a") && !sessions.contains("b"));
        assert!(["c", "d", "e"].iter().all(|t| sessions.contains(t)));
        // A token already known neither grows the set nor ends another session.
        assert_eq!(sessions.insert("c".to_string()), None);
        assert_eq!(sessions.len(), 3);
        assert_eq!(sessions.order.len(), 3);
    }

    #[test]
    fn a_cap_of_zero_keeps_one_session() {
        let mut sessions = Sessions::new(0);
        assert_eq!(sessions.insert("a".to_string()), None);
        assert_eq!(sessions.insert("b".to_string()).as_deref(), Some("a"));
        assert!(sessions.contains("b"));
    }

    #[test]
    fn secrets_compare_after_trimming() {
        let secret = Secret(" key-1\n".to_string());
        assert!(secret.matches("key-1"));
        assert!(secret.matches("\tkey-1  \r\n"));
        assert!(!secret.matches("key-"));
        assert!(!secret.matches("key-12"));
        assert!(!secret.matches("KEY-1"));
        assert!(!secret.matches(""));
    }

    #[test]
    fn an_empty_secret_matches_nothing() {
        assert!(!Secret(String::new()).matches(""));
        assert!(!Secret("  ".to_string()).matches(" "));
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"\0"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn tokens_are_32_lowercase_hex_digits_and_differ() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn uuids_have_the_v4_layout() {
        let uuid = random_uuid().unwrap();
        let parts: Vec<_> = uuid.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&uuid[14..15], "4");
        assert!("89ab".contains(&uuid[19..20]), "{uuid}");
    }
}
