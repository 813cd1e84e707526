//! `chat-bench attack` and `chat-bench soak` run as the binary against a real chat server on
//! 127.0.0.1:0 (started in this process, so its RSS and descriptors are this process's), in
//! tiny sizes: each ends by itself and reports what it did to the server.

mod support;

use std::time::Duration;

use chat_config::{HistoryBackend, Settings};
use serde_json::Value;
use support::count;

/// The longest one chat-bench run may take here.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// A server with memory history, a send rate no client here trips, the request rate given,
/// and the smallest outbound byte bound (a reader that stops is cut off soon).
async fn server(requests_per_sec: u32) -> chat_server::Background {
    let toml = format!(
        "[limits]\nmessages_per_sec = 1000000\nburst = 1000000\n\
         requests_per_sec = {requests_per_sec}\nrequests_burst = {requests_per_sec}\n\
         [ws]\noutbound_queue_bytes = 65536\n"
    );
    let mut settings = Settings::from_toml_str(&toml).expect("test settings are valid");
    settings.history.backend = HistoryBackend::Memory;
    chat_server::Background::start(settings)
        .await
        .expect("bind port 0")
}

async fn stop(server: chat_server::Background) {
    tokio::time::timeout(RUN_LIMIT, server.stop())
        .await
        .expect("server stops")
        .expect("server ran cleanly");
}

/// Runs `chat-bench ARGS --url URL` against `server` and returns its JSON line.
async fn chat_bench(server: &chat_server::Background, args: &[&str]) -> Value {
    let url = format!("ws://{}/ws", server.addr());
    let mut all = args.to_vec();
    all.extend(["--url", &url]);
    support::run_json(&all, RUN_LIMIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_flood_gets_the_reader_that_never_reads_cut_off() {
    let server = server(1_000_000).await;
    let out = chat_bench(
        &server,
        &[
            "attack",
            "--only",
            "flood",
            "--messages",
            "50",
            "--history-requests",
            "200",
            "--since-joins",
            "2",
            "--calm-members",
            "5",
            "--calm-rate",
            "20",
            "--warmup",
            "0.3",
            "--duration",
            "2",
            "--drain",
            "3",
            "--settle",
            "0.2",
        ],
    )
    .await;
    let flood = &out["flood"];
    assert_eq!(count(flood, "messages"), 50, "{out}");
    assert_eq!(count(flood, "written"), 202, "{out}");
    // Past 64 KiB queued the server cuts it off: the others see it leave, it reads 4008.
    assert_eq!(count(flood, "close_code"), 4008, "{out}");
    assert!(flood["evicted_after_secs"].is_f64(), "{out}");
    // What it read is the kernel's buffers and a frame at most, not 200 answers of 512 KiB.
    assert!(count(flood, "bytes_read") < 50 << 20, "{out}");
    let calm = &flood["calm"];
    assert!(count(calm, "published") > 0, "{out}");
    assert_eq!(count(calm, "lost"), 0, "{out}");
    assert_eq!(
        count(calm, "received_deliveries"),
        count(calm, "published") * 5
    );
    let rss = &flood["rss_attack"];
    assert!(
        count(rss, "peak_bytes") >= count(rss, "start_bytes"),
        "{out}"
    );
    assert!(out["rooms"].is_null() && out["presence"].is_null(), "{out}");
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_rooms_and_presence_are_answered_and_counted() {
    let server = server(1_000_000).await;
    let out = chat_bench(
        &server,
        &[
            "attack",
            "--only",
            "rooms,presence",
            "--rooms",
            "300",
            "--toggles",
            "200",
            "--settle",
            "0.2",
        ],
    )
    .await;
    let rooms = &out["rooms"];
    let answers = &rooms["answers"]["by_kind"];
    assert_eq!(
        (count(answers, "joined"), count(answers, "left")),
        (300, 300)
    );
    assert!(rooms["answers"]["stopped"].is_null(), "{out}");
    assert!(count(rooms, "fds_after") > 0, "{out}");

    let presence = &out["presence"];
    let answers = &presence["answers"]["by_kind"];
    // The first join is the connect's; 199 more, and 200 leaves.
    assert_eq!(
        (count(answers, "joined"), count(answers, "left")),
        (199, 200)
    );
    let members = presence["per_member"].as_array().expect("members");
    assert_eq!(members.len(), 5, "{out}");
    for m in members {
        let (joins, leaves) = (count(m, "joins"), count(m, "leaves"));
        // The toggler ends outside the room: every join announced is followed by its leave,
        // however many a hold merged away.
        assert_eq!(joins, leaves, "{out}");
        assert!(joins <= 200, "{out}");
        assert!(m["ended"].is_null(), "{out}");
    }
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_requests_over_the_rate_are_refused() {
    let server = server(5).await;
    let out = chat_bench(
        &server,
        &[
            "attack", "--only", "rooms", "--rooms", "50", "--settle", "0",
        ],
    )
    .await;
    let answers = &out["rooms"]["answers"];
    assert_eq!(count(answers, "written"), 100, "{out}");
    let by_kind = &answers["by_kind"];
    let refused = count(by_kind, "error rate_limited");
    assert!(refused > 0, "{out}");
    // Every request has its one answer.
    let all: u64 = by_kind
        .as_object()
        .expect("answers")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(all, 100, "{out}");
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_churns_and_stable_members_lose_nothing() {
    let server = server(1_000_000).await;
    let out = chat_bench(
        &server,
        &[
            "soak",
            "--conns",
            "20",
            "--stable-pct",
            "50",
            "--rooms",
            "2",
            "--duration",
            "3",
            "--warmup",
            "1",
            "--every",
            "1",
            "--dwell",
            "0.3",
            "--pause",
            "0.3",
            "--drain",
            "3",
        ],
    )
    .await;
    assert_eq!((count(&out, "stable"), count(&out, "churners")), (10, 10));
    assert!(
        out["connect_failures"]
            .as_object()
            .is_some_and(|f| f.is_empty()),
        "{out}"
    );
    assert!(count(&out, "cycles") > 0, "{out}");
    assert!(
        count(&out, "messages_sent") >= 3 * count(&out, "cycles"),
        "{out}"
    );
    let loss = &out["stable_loss"];
    assert_eq!(count(loss, "members"), 10, "{out}");
    assert_eq!(count(loss, "ended_early"), 0, "{out}");
    // Every message stored while they were members, churners' included, reached them.
    assert!(count(loss, "expected") > 0, "{out}");
    assert_eq!(count(loss, "received"), count(loss, "expected"), "{out}");
    assert_eq!(count(loss, "lost"), 0, "{out}");
    assert!(
        out["samples"].as_array().is_some_and(|s| s.len() >= 2),
        "{out}"
    );
    assert!(out["rss_last_over_first"].is_f64(), "{out}");
    // Every connection closed: the server holds no more descriptors than before the run.
    assert!(count(&out, "fds_end") <= count(&out, "fds_start"), "{out}");
    stop(server).await;
}
