//! Presence toggles: one client joins and leaves a room of a few members many times; how many
//! `presence` frames each member got.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use serde::Serialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::cli::{AttackArgs, secs};
use crate::conn::{self, Target, Ws};
use crate::scenarios::requests::{self, Answers};
use crate::scenarios::watch::{RssSpan, RssWatch};

use super::{REQUEST_WINDOW, RSS_EVERY, say};

/// How long the presence counts must stay still to count as final, and the longest wait.
const QUIET: Duration = Duration::from_secs(1);
const QUIET_LIMIT: Duration = Duration::from_secs(15);
const TOGGLER: &str = "toggler";

/// What the presence toggles did.
#[derive(Debug, Serialize)]
pub struct PresenceReport {
    pub toggles: u64,
    pub answers: Answers,
    /// `presence` frames about the toggler that each member received (join + leave).
    pub per_member: Vec<MemberPresence>,
    pub rss: RssSpan,
}

/// One member's count of the toggler's presence.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MemberPresence {
    pub joins: u64,
    pub leaves: u64,
    /// How the member's connection ended, if it did before the run's end.
    pub ended: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PresenceEvent {
    Join,
    Leave,
}

/// The event of a `presence` frame about `user` (by display name), if `text` is one.
pub(super) fn presence_of(text: &str, user: &str) -> Option<PresenceEvent> {
    if !text.starts_with(r#"{"type":"presence""#) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v["user"]["name"].as_str() != Some(user) {
        return None;
    }
    match v["event"].as_str()? {
        "join" => Some(PresenceEvent::Join),
        "leave" => Some(PresenceEvent::Leave),
        _ => None,
    }
}

/// One member's live counts of the toggler's presence.
#[derive(Debug, Default)]
struct Counts {
    joins: AtomicU64,
    leaves: AtomicU64,
}

pub(super) async fn run(
    args: &AttackArgs,
    target: &Target,
    prefix: &str,
) -> anyhow::Result<PresenceReport> {
    let common = &args.common;
    let opts = common.connect_options(0);
    let room = format!("{prefix}-presence");
    let rss = RssWatch::start(common.pid, RSS_EVERY);
    let stop = CancellationToken::new();
    let mut members = Vec::new();
    for i in 0..args.presence_members {
        let ws = conn::connect_and_join(target, &format!("member{i}"), &room, None, opts)
            .await
            .with_context(|| format!("member {i} did not join"))?
            .ws;
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn(count_presence(ws, Arc::clone(&counts), stop.clone()));
        members.push((counts, task));
    }
    say(common, &format!("toggling {} times", args.toggles));
    let mut ws = conn::connect_and_join(target, TOGGLER, &room, None, opts)
        .await
        .context("the toggler did not join")?
        .ws;
    // The first join is done: leave, then join and leave again toggles - 1 times.
    let frames = (0..args.toggles).flat_map(|i| {
        let leave = requests::leave(&room);
        if i == 0 {
            vec![leave]
        } else {
            vec![requests::join(&room, None), leave]
        }
    });
    let deadline = Instant::now() + secs(args.deadline);
    let answers = requests::pipeline(&mut ws, frames, REQUEST_WINDOW, deadline, |_| {}).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    drop(ws);
    // Held presence arrives late: wait until the counts stop moving.
    let total = || -> u64 {
        members
            .iter()
            .map(|(c, _)| c.joins.load(Relaxed) + c.leaves.load(Relaxed))
            .sum()
    };
    let limit = Instant::now() + QUIET_LIMIT;
    let mut last = total();
    while Instant::now() < limit {
        tokio::time::sleep(QUIET).await;
        let now = total();
        if now == last {
            break;
        }
        last = now;
    }
    stop.cancel();
    let mut per_member = Vec::new();
    for (counts, task) in members {
        let ended = task.await.unwrap_or_else(|e| Some(format!("task: {e}")));
        per_member.push(MemberPresence {
            joins: counts.joins.load(Relaxed),
            leaves: counts.leaves.load(Relaxed),
            ended,
        });
    }
    Ok(PresenceReport {
        toggles: args.toggles,
        answers,
        per_member,
        rss: rss.stop(common.pid),
    })
}

/// A member counting the toggler's presence until `stop`; returns how its connection ended
/// if the server ended it first.
async fn count_presence(
    mut ws: Ws,
    counts: Arc<Counts>,
    stop: CancellationToken,
) -> Option<String> {
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                return None;
            }
            f = ws.next() => f,
        };
        match frame {
            Some(Ok(Message::Text(text))) => match presence_of(&text, TOGGLER) {
                Some(PresenceEvent::Join) => counts.joins.fetch_add(1, Relaxed),
                Some(PresenceEvent::Leave) => counts.leaves.fetch_add(1, Relaxed),
                None => 0,
            },
            Some(Ok(Message::Close(f))) => {
                return Some(format!("closed {}", f.map_or(1005, |f| u16::from(f.code))));
            }
            Some(Ok(_)) => 0,
            Some(Err(e)) => return Some(format!("read error: {e}")),
            None => return Some("ended".to_owned()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_is_read_by_name() {
        let join =
            r#"{"type":"presence","room":"r","event":"join","user":{"id":"u_1","name":"toggler"}}"#;
        let leave = r#"{"type":"presence","room":"r","event":"leave","user":{"id":"u_1","name":"toggler"}}"#;
        let other =
            r#"{"type":"presence","room":"r","event":"leave","user":{"id":"u_2","name":"x"}}"#;
        assert_eq!(presence_of(join, TOGGLER), Some(PresenceEvent::Join));
        assert_eq!(presence_of(leave, TOGGLER), Some(PresenceEvent::Leave));
        assert_eq!(presence_of(other, TOGGLER), None);
        assert_eq!(presence_of(r#"{"type":"left","room":"r"}"#, TOGGLER), None);
    }
}
