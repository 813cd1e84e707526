//! The real `chat-server` binary as a child process.

use std::{
    net::SocketAddr,
    path::Path,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStderr, Command},
    time::timeout,
};

use super::WAIT;

/// A running `chat-server` process and the address it logged.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: tokio::io::Lines<BufReader<ChildStderr>>,
}

/// The built binary, with no configuration but what the test passes. History is kept in
/// memory unless the test sets a `CHAT__HISTORY__*` variable: the default SQLite file
/// `data/chat.db` would otherwise land in the shared temporary folder.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-server"));
    command.args(args).env_clear();
    if !env
        .iter()
        .any(|(key, _)| key.starts_with("CHAT__HISTORY__"))
    {
        command.env("CHAT__HISTORY__BACKEND", "memory");
    }
    command
        .envs(env.iter().copied())
        // Run where no config/default.toml exists, so only the test's settings apply.
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

impl ServerProcess {
    /// Starts the binary on 127.0.0.1:0 and waits for its `listening on ADDR` line.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_in(&std::env::temp_dir(), args, env).await
    }

    /// Like [`Self::start`], with `dir` as the working directory.
    pub async fn start_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut full_args = vec!["--listen", "127.0.0.1:0"];
        full_args.extend_from_slice(args);
        let mut child = command(&full_args, env)
            .current_dir(dir)
            .spawn()
            .expect("spawn chat-server");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.expect("read stderr") {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    // Text or JSON logs: the address runs up to the first character that
                    // cannot be part of one.
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || ".:[]".contains(c)))
                        .unwrap_or(rest.len());
                    let addr = &rest[..end];
                    return addr.parse::<SocketAddr>().expect("a socket address");
                }
            }
            panic!("chat-server exited before listening");
        })
        .await
        .expect("chat-server listens in time");
        Self {
            child,
            addr,
            stderr: lines,
        }
    }

    /// Sends a signal (e.g. "TERM") to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        timeout(limit, self.child.wait())
            .await
            .expect("exits in time")
            .expect("wait for the child")
    }
}
