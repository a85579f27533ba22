//! What the benchmark binaries share: their arguments, the machine line, medians, the built
//! binary, a synthetic connection store and a mock daemon in a child process.

// Each bench binary uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// The `xpipe-conformance` binary, built by `cargo bench` with the bench profile (release).
pub const BINARY: &str = env!("CARGO_BIN_EXE_xpipe-conformance");

/// The crate's folder, where the default cases, schemas and snapshots live.
pub const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The benchmark's own arguments: what follows `--` on the cargo command line, without the
/// `--bench` flag cargo adds.
pub fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect()
}

/// The value after `--name` in `args`, parsed, or `default`.
pub fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    match args.iter().position(|a| a == name) {
        None => default,
        Some(i) => {
            let value = args
                .get(i + 1)
                .unwrap_or_else(|| panic!("{name} needs a value"));
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name}: cannot parse {value:?}"))
        }
    }
}

/// Whether `--name` was given.
pub fn switch(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

/// One line naming the machine: cores, processor model and load average right now.
pub fn machine_line() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown processor".to_owned());
    format!("machine: {cores} cores, {model}; {}", load_line())
}

/// The load averages of the last 1, 5 and 15 minutes, from /proc/loadavg.
pub fn load_line() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let parts: Vec<&str> = loadavg.split_whitespace().take(3).collect();
    format!("load average {}", parts.join(" "))
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// The `p`-th quantile (0..=1) of `values`, nearest rank; 0 for none.
pub fn quantile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A fixture of `n` connections in four shapes, one in four under `servers/*`:
/// `servers/web-N` (category `servers`, ssh), `servers/eu/db-N` (`servers/eu`, ssh),
/// `local machine N` (`default`, local) and `docker/containers/app-N` (`docker`, docker).
pub fn synthetic_fixture(n: usize) -> String {
    let connections: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let (category, connection, kind) = match i % 4 {
                0 => ("servers", format!("servers/web-{i:06}"), "ssh"),
                1 => ("servers/eu", format!("servers/eu/db-{i:06}"), "ssh"),
                2 => ("default", format!("local machine {i}"), "local"),
                _ => ("docker", format!("docker/containers/app-{i}"), "docker"),
            };
            serde_json::json!({
                "uuid": format!("00000000-0000-4000-8000-{i:012}"),
                "category": category,
                "connection": connection,
                "type": kind,
            })
        })
        .collect();
    serde_json::json!({ "connections": connections }).to_string()
}

/// A mock daemon in a child process (`xpipe-conformance mock --port 0`), killed on drop.
pub struct MockProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    // Kept open so the mock never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl MockProcess {
    /// Starts the built binary's mock with `api_key` on a free loopback port and waits for the
    /// line that names its address.
    pub fn start(api_key: &str) -> MockProcess {
        Self::start_with(api_key, &[])
    }

    /// As [`start`](Self::start), with more arguments for `mock` (a `--fixture`, say).
    pub fn start_with(api_key: &str, extra: &[&str]) -> MockProcess {
        let mut child = Command::new(BINARY)
            .args([
                "mock",
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--api-key",
                api_key,
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BINARY} mock: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let url = read_url(&mut stdout, "mock daemon listening at ").unwrap_or_else(|| {
            let _ = child.kill();
            panic!("the mock printed no address")
        });
        MockProcess {
            child,
            url,
            _stdout: stdout,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines until one starts with `prefix` and returns the rest of it; None at the end.
pub fn read_url(stdout: &mut impl BufRead, prefix: &str) -> Option<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(url) = line.trim_end().strip_prefix(prefix) {
            return Some(url.to_owned());
        }
    }
}

/// `VmRSS` and `VmHWM` of a process in KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Whether an executable named `name` is on the PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Milliseconds of a duration, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The crate folder as a path.
pub fn crate_dir() -> &'static Path {
    Path::new(CRATE_DIR)
}
