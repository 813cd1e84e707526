//! `chat-bench` run as its binary against a real chat server on 127.0.0.1:0 (started in this
//! process): every scenario ends by itself, counts what the server delivered and reads the
//! server's usage from `/proc` (this process's, since the server runs here).

mod support;

use std::time::Duration;

use chat_config::{HistoryBackend, Settings};
use serde_json::Value;
use support::count;

/// The longest one chat-bench run may take here; they are sized to take a few seconds.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A server with memory history and a rate limit senders here cannot trip; over TLS with
/// `tls`'s files (`wss://localhost`).
struct Server(chat_server::Background, Option<(tempfile::TempDir, String)>);

impl Server {
    async fn start() -> Self {
        Self::start_with("", None).await
    }

    /// A server on a TLS port with a certificate for `localhost` made now.
    async fn start_tls() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, made.cert.pem()).expect("write cert");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("write key");
        let toml = format!(
            "[server]\ntls_cert = {:?}\ntls_key = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        );
        let cert = cert.display().to_string();
        Self::start_with(&toml, Some((dir, cert))).await
    }

    async fn start_with(extra: &str, tls: Option<(tempfile::TempDir, String)>) -> Self {
        let mut settings = Settings::from_toml_str(&format!(
            "{extra}[limits]\nmessages_per_sec = 1000000\nburst = 1000000\n"
        ))
        .expect("test settings are valid");
        settings.history.backend = HistoryBackend::Memory;
        let server = chat_server::Background::start(settings)
            .await
            .expect("bind port 0");
        Self(server, tls)
    }

    fn url(&self) -> String {
        match &self.1 {
            None => format!("ws://{}/ws", self.0.addr()),
            Some(_) => format!("wss://localhost:{}/ws", self.0.addr().port()),
        }
    }

    async fn stop(self) {
        tokio::time::timeout(RUN_LIMIT, self.0.stop())
            .await
            .expect("server stops")
            .expect("server ran cleanly");
    }
}

/// Runs `chat-bench SCENARIO` against `server` with `args`, plus `--json` (no progress bars)
/// and this process as the server's PID, and returns its one JSON line.
async fn chat_bench(server: &Server, scenario: &str, args: &[&str]) -> Value {
    let url = server.url();
    let ca = server
        .1
        .as_ref()
        .map(|(_, cert)| ["--ca-cert", cert.as_str()]);
    let mut all = vec![scenario, "--url", &url];
    all.extend(ca.iter().flatten());
    all.extend(args);
    support::run_json(&all, RUN_LIMIT).await
}

/// A measured window where every delivery arrived once, in order, and was timed.
fn assert_clean_window(result: &Value, members: u64) {
    let published = count(result, "published");
    assert!(published > 0, "nothing published: {result}");
    assert_eq!(count(result, "expected_deliveries"), published * members);
    assert_eq!(
        count(result, "received_deliveries"),
        count(result, "expected_deliveries"),
        "{result}"
    );
    assert_eq!(count(&result["latency"], "count"), published * members);
    for key in ["lost", "gaps", "duplicates", "reorders", "send_errors"] {
        assert_eq!(count(result, key), 0, "{key} in {result}");
    }
    // A trip through a server and two sockets takes more than 10 µs: less means the
    // receive time was read before the frame arrived.
    let p50 = count(&result["latency"], "p50_us");
    let max = count(&result["latency"], "max_us");
    assert!(p50 >= 10 && p50 <= max, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_over_wss_counts_every_delivery() {
    let server = Server::start_tls().await;
    let out = chat_bench(
        &server,
        "fanout",
        &[
            "--clients",
            "10",
            "--senders",
            "2",
            "--warmup",
            "0.3",
            "--rate",
            "100",
            "--duration",
            "1",
            "--drain",
            "3",
        ],
    )
    .await;
    assert_eq!(count(&out["setup"], "joined"), 10);
    assert_clean_window(&out["result"], 10);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_counts_and_times_every_delivery() {
    let server = Server::start().await;
    let out = chat_bench(
        &server,
        "fanout",
        &[
            "--rooms",
            "2",
            "--clients",
            "20",
            "--senders",
            "2",
            "--warmup",
            "0.3",
            "--rate",
            "200",
            "--duration",
            "1",
            "--drain",
            "3",
        ],
    )
    .await;
    assert_eq!(count(&out["setup"], "joined"), 40);
    let result = &out["result"];
    assert_clean_window(result, 20);
    // 200 msg/s for one second, paced on absolute deadlines (a send that a busy machine
    // delays past the window's end is not counted in it).
    let published = count(result, "published");
    assert!((160..=205).contains(&published), "published {published}");
    let usage = &result["server"];
    assert!(
        usage["cpu_secs"].as_f64().is_some_and(|s| s > 0.0),
        "{usage}"
    );
    let all = usage["us_per_delivery"].as_f64().unwrap_or_default();
    assert!(all > 0.0, "{usage}");
    // The server's own code is a part of its CPU (ticks of 10 ms: a 1 s window may hold none).
    assert!(
        usage["user_us_per_delivery"]
            .as_f64()
            .is_some_and(|user| (0.0..=all).contains(&user)),
        "{usage}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_with_changes_edits_and_reacts_to_its_own_messages() {
    let server = Server::start().await;
    // Two senders in each room: each must find its own messages among the other's.
    let out = chat_bench(
        &server,
        "fanout",
        &[
            "--rooms",
            "2",
            "--clients",
            "10",
            "--senders",
            "2",
            "--changes",
            "mix",
            "--warmup",
            "0.5",
            "--rate",
            "200",
            "--duration",
            "1",
            "--drain",
            "3",
        ],
    )
    .await;
    assert_eq!(count(&out["setup"], "joined"), 20);
    let result = &out["result"];
    // Every change was stored and delivered to every member, timed (edits by their text,
    // reacts by their id) and in seq order with the messages: a refused change would be an
    // `error` event and lost deliveries, a react that changed nothing a duplicate.
    assert_clean_window(result, 10);
    assert!(
        result["events"].as_object().is_some_and(|e| e.is_empty()),
        "{result}"
    );
    // Every other turn is a change once the sender has its first echo (in the warm-up): the
    // window may begin and end on either kind of turn, one more or less for each sender.
    let (published, changes) = (count(result, "published"), count(result, "changes"));
    assert!(
        published.abs_diff(changes * 2) <= 8,
        "{changes} changes of {published}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_raises_the_rate_step_by_step() {
    let server = Server::start().await;
    let out = chat_bench(
        &server,
        "ramp",
        &[
            "--clients",
            "10",
            "--senders",
            "2",
            "--warmup",
            "0.2",
            "--start",
            "50",
            "--factor",
            "2",
            "--step-secs",
            "0.5",
            "--max-steps",
            "3",
            "--p99-ms",
            "5000",
            // The test's server shares this machine with other tests: only the rates are checked.
            "--max-generator-wait",
            "100",
            "--drain",
            "3",
        ],
    )
    .await;
    let steps = out["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3, "{out}");
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step["verdict"], "pass", "{step}");
        // 10 members: 50, 100, 200 msg/s offered.
        let offered = step["offered_deliveries_per_sec"]
            .as_f64()
            .expect("offered");
        assert!((offered - 500.0 * f64::from(1 << i)).abs() < 1e-6, "{step}");
        assert_clean_window(&step["result"], 10);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_joins_every_connection_and_reads_rss() {
    let server = Server::start().await;
    let out = chat_bench(
        &server,
        "idle",
        &["--conns", "60", "--rooms", "6", "--settle", "0.2"],
    )
    .await;
    assert_eq!(count(&out, "joined"), 60, "{out}");
    assert!(
        out["connect_failures"]
            .as_object()
            .is_some_and(|f| f.is_empty()),
        "{out}"
    );
    assert!(count(&out, "rss_after_bytes") > 0, "{out}");
    // Every stage is timed; a join waits at least for the server's answer.
    let stages = &out["connect_stages"];
    for stage in ["tcp", "upgrade", "welcome", "joined"] {
        assert!(stages[stage]["p99_us"].is_u64(), "{stage}: {out}");
    }
    assert!(
        stages["joined"]["mean_us"]
            .as_f64()
            .is_some_and(|m| m > 0.0),
        "{out}"
    );
    server.stop().await;
}
