//! Conformance harness for daemons that speak the XPipe API v10.0.
//!
//! The crate loads declarative cases and JSON Schemas at run time, runs the cases against a
//! daemon (or the embedded mock daemon) and reports one libtest-mimic trial per case.

pub mod budget;
pub mod case;
pub mod cli;
pub mod compare;
pub mod generate;
pub mod glob;
pub mod http;
pub mod loader;
pub mod mock;
pub mod mutants;
pub mod runner;
pub mod schema;
pub mod snapshot;
pub mod suite;
