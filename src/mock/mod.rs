//! The embedded mock daemon.
