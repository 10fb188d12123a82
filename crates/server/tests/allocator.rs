//! The `tandem` binary runs on jemalloc with its background purge threads, which is what gives
//! memory back after a connection storm (the figures are in docs/BENCHMARKS.md, measured with
//! `tandem-bench idle --rounds`).
#![cfg(all(feature = "jemalloc", target_os = "linux"))]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn the_binary_runs_jemalloc_background_threads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("tandem.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--addr", "127.0.0.1:0", "--database-url", &db, "--jwt-secret", "s"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tandem");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    // Wait for the "listening" line (bounded: the child is killed if it never comes).
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let listening = loop {
        match lines_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains("tandem listening") => break true,
            Ok(_) => {}
            Err(_) => break false,
        }
    };
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task list")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "tandem did not start within 30 s");
    assert!(threads.iter().any(|name| name.starts_with("jemalloc_bg_thd")), "no jemalloc purge thread in {threads:?}");
}
