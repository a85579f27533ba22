//! The whole default suite against the embedded mock, process start to exit, and what each
//! added case costs.
//!
//! `cargo bench --bench suite_run` (options after `--`: `--runs 20`, `--copies 10,100,1000`,
//! `--case connection_query/category_filter_is_applied.yaml`, `--no-hyperfine`).
//!
//! Runs the built binary (`target/release/xpipe-conformance`, no arguments: every case file,
//! 24 generated cases, the embedded mock) from the crate's folder, timed with
//! `std::process::Command` from spawn to exit. Then the same binary with `--cases DIR`, where DIR
//! is a copy of `cases/` with 0, 10, 100 and 1000 copies of one representative case added; every
//! size is run once per round, in turn, so drift in the machine's load hits all sizes alike.
//! Every run must exit 0. When hyperfine is on the PATH it times the default run too, as a check
//! on the figure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// One run of the binary; its wall time in milliseconds. Panics unless it exits 0.
fn run_once(cases: Option<&Path>) -> f64 {
    let mut command = Command::new(common::BINARY);
    command
        .current_dir(common::CRATE_DIR)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(dir) = cases {
        command.arg("--cases").arg(dir);
    }
    let started = Instant::now();
    let output = command.output().expect("the binary starts");
    let elapsed = common::ms(started.elapsed());
    assert!(
        output.status.success(),
        "{} exited with {}: {}",
        common::BINARY,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

/// How many trials the default run passes and ignores, from its closing line.
fn trial_counts() -> String {
    let output = Command::new(common::BINARY)
        .current_dir(common::CRATE_DIR)
        .output()
        .expect("the binary starts");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or("no closing line")
        .trim()
        .to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a folder");
    for entry in std::fs::read_dir(from).expect("a readable folder") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
}

/// A copy of `cases/` with `copies` copies of `case` added beside it.
fn case_folder(root: &Path, case: &str, copies: usize) -> PathBuf {
    let dir = root.join(format!("cases-{copies}"));
    copy_dir(&common::crate_dir().join("cases"), &dir);
    let original = common::crate_dir().join("cases").join(case);
    let text = std::fs::read_to_string(&original).expect("the representative case");
    let folder = dir.join(Path::new(case).parent().expect("an operation folder"));
    for i in 0..copies {
        std::fs::write(folder.join(format!("bench_copy_{i:04}.yaml")), &text).expect("a case");
    }
    dir
}

/// The median wall time hyperfine measures for the default run, in milliseconds.
fn hyperfine(runs: usize) -> Option<f64> {
    common::on_path("hyperfine")?;
    let export = tempfile::NamedTempFile::new().ok()?;
    let status = Command::new("hyperfine")
        .current_dir(common::CRATE_DIR)
        .args([
            "-N",
            "--warmup",
            "2",
            "--runs",
            &runs.to_string(),
            "--style",
            "none",
        ])
        .arg("--export-json")
        .arg(export.path())
        .arg(common::BINARY)
        .stdout(Stdio::null())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.path()).ok()?).ok()?;
    Some(json["results"][0]["median"].as_f64()? * 1000.0)
}

fn main() {
    let args = common::args();
    let runs: usize = common::flag(&args, "--runs", 20);
    let copies: String = common::flag(&args, "--copies", "10,100,1000".to_owned());
    let case: String = common::flag(
        &args,
        "--case",
        "connection_query/category_filter_is_applied.yaml".to_owned(),
    );
    let sizes: Vec<usize> = std::iter::once(0)
        .chain(
            copies
                .split(',')
                .map(|c| c.trim().parse().expect("a number of copies")),
        )
        .collect();

    println!("{}", common::machine_line());
    println!("binary: {}", common::BINARY);
    println!("default run: {}", trial_counts());

    // The default run: two untimed runs warm the page cache, then `runs` timed ones.
    run_once(None);
    run_once(None);
    let default_runs: Vec<f64> = (0..runs).map(|_| run_once(None)).collect();
    println!(
        "default suite, process start to exit: median {:.1} ms, min {:.1} ms, max {:.1} ms \
         ({runs} runs; {})",
        common::median(&default_runs),
        common::quantile(&default_runs, 0.0),
        common::quantile(&default_runs, 1.0),
        common::load_line()
    );
    if !common::switch(&args, "--no-hyperfine")
        && let Some(median) = hyperfine(runs)
    {
        println!("hyperfine, same command: median {median:.1} ms ({runs} runs)");
    }

    // Added cases: one folder per size, each size timed once per round.
    let root = tempfile::tempdir().expect("a temp folder");
    let folders: Vec<PathBuf> = sizes
        .iter()
        .map(|&n| case_folder(root.path(), &case, n))
        .collect();
    for folder in &folders {
        run_once(Some(folder));
    }
    let mut times = vec![Vec::new(); sizes.len()];
    for _ in 0..runs {
        for (i, folder) in folders.iter().enumerate() {
            times[i].push(run_once(Some(folder)));
        }
    }

    println!(
        "\nadded copies of {case} ({runs} runs each, {})",
        common::load_line()
    );
    println!("| added cases | median ms | min ms | max ms | ms per added case |");
    println!("|---:|---:|---:|---:|---:|");
    let base = common::median(&times[0]);
    for (n, samples) in sizes.iter().zip(&times) {
        let median = common::median(samples);
        let per_case = if *n == 0 {
            "-".to_owned()
        } else {
            format!("{:.3}", (median - base) / *n as f64)
        };
        println!(
            "| {n} | {median:.1} | {:.1} | {:.1} | {per_case} |",
            common::quantile(samples, 0.0),
            common::quantile(samples, 1.0)
        );
    }
}
