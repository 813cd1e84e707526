//! Running the chat-bench binary in the tests, as an operator would.
#![allow(dead_code, unreachable_pub)]

use std::{process::Stdio, time::Duration};

use serde_json::Value;

/// Runs `chat-bench ARGS --json --pid <this process>` (the server runs in this process, so its
/// CPU, RSS and descriptors are this process's), waiting at most `limit`, and returns its one
/// JSON line; a failed run fails the test with what it printed on stderr.
pub async fn run_json(args: &[&str], limit: Duration) -> Value {
    let pid = std::process::id().to_string();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-bench"))
        .args(args)
        .args(["--json", "--pid", &pid])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("chat-bench starts");
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .expect("chat-bench ends by itself")
        .expect("chat-bench output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chat-bench failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "one JSON line on stdout ({e}): {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The count `key` of a report.
pub fn count(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is a count in {v}"))
}
