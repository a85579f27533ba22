//! Peak memory of a default run and of the idle mock daemon.
//!
//! `cargo bench --bench memory` (options after `--`: `--runs 5`, `--idle-secs 1`).
//!
//! - default run: the built binary with no arguments (every case against the embedded mock),
//!   its maximum resident set size from `wait4` (the kernel's `ru_maxrss` for that one child),
//!   and, when `/usr/bin/time` exists, from `/usr/bin/time -v` as a check;
//! - idle mock: `xpipe-conformance mock --port 0`, `VmRSS` and `VmHWM` from `/proc/PID/status`
//!   after it has listened for `--idle-secs` seconds with no request.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `command` to its end and returns its peak resident set in KiB (`ru_maxrss`).
fn peak_kib(mut command: Command) -> u64 {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 only writes to the two pointers, which
    // live until it returns.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the run did not exit 0 (wait status {status})"
    );
    // The child is reaped already; its handle must not wait for it again.
    drop(child);
    u64::try_from(usage.ru_maxrss).expect("a size")
}

fn default_run() -> Command {
    let mut command = Command::new(common::BINARY);
    command.current_dir(common::CRATE_DIR);
    command
}

/// The peak `/usr/bin/time -v` reports for a default run, in KiB.
fn time_v() -> Option<u64> {
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        return None;
    }
    let output = Command::new(time)
        .arg("-v")
        .arg(common::BINARY)
        .current_dir(common::CRATE_DIR)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

fn main() {
    let args = common::args();
    let runs: usize = common::flag(&args, "--runs", 5);
    let idle: f64 = common::flag(&args, "--idle-secs", 1.0);
    println!("{}", common::machine_line());
    println!("binary: {}", common::BINARY);

    // The default run.
    let peaks: Vec<f64> = (0..runs).map(|_| peak_kib(default_run()) as f64).collect();
    println!(
        "default run, maximum resident set (wait4 ru_maxrss): median {:.1} MiB, max {:.1} MiB \
         ({runs} runs)",
        mib(common::median(&peaks)),
        mib(common::quantile(&peaks, 1.0))
    );
    let timed: Vec<f64> = (0..runs)
        .filter_map(|_| time_v())
        .map(|k| k as f64)
        .collect();
    if !timed.is_empty() {
        println!(
            "default run, /usr/bin/time -v maximum resident set size: median {:.1} MiB, \
             max {:.1} MiB ({} runs)",
            mib(common::median(&timed)),
            mib(common::quantile(&timed, 1.0)),
            timed.len()
        );
    }

    // The idle mock.
    let mut rss = Vec::new();
    let mut hwm = Vec::new();
    for _ in 0..runs {
        let mock = common::MockProcess::start("bench-memory-key");
        std::thread::sleep(Duration::from_secs_f64(idle));
        let (r, h) = common::rss_kib(mock.pid()).expect("/proc/PID/status of the mock");
        rss.push(r as f64);
        hwm.push(h as f64);
    }
    println!(
        "idle mock after {idle} s: VmRSS median {:.1} MiB, VmHWM median {:.1} MiB, max {:.1} MiB \
         ({runs} starts)",
        mib(common::median(&rss)),
        mib(common::median(&hwm)),
        mib(common::quantile(&hwm, 1.0))
    );
    println!("{}", common::load_line());
}
