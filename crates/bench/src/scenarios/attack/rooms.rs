//! Many rooms: one connection joins and leaves many distinct room names; the server's RSS
//! and descriptors before and after.

use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use tokio::time::Instant;

use crate::cli::{AttackArgs, secs};
use crate::conn::{self, Target};
use crate::scenarios::requests::{self, Answers};
use crate::scenarios::watch::{self, RssSpan, RssWatch};

use super::{REQUEST_WINDOW, RSS_EVERY, say};

/// What joining and leaving many rooms did.
#[derive(Debug, Serialize)]
pub struct RoomsReport {
    pub rooms: u64,
    pub answers: Answers,
    pub rss: RssSpan,
    /// After the settle, with the connection closed.
    pub rss_settled_bytes: Option<u64>,
    pub fds_before: Option<u64>,
    pub fds_after: Option<u64>,
}

pub(super) async fn run(
    args: &AttackArgs,
    target: &Target,
    prefix: &str,
) -> anyhow::Result<RoomsReport> {
    let common = &args.common;
    let opts = common.connect_options(0);
    let home = format!("{prefix}-home");
    let fds_before = watch::open_fds(common.pid);
    let rss = RssWatch::start(common.pid, RSS_EVERY);
    say(common, &format!("joining and leaving {} rooms", args.rooms));
    let mut ws = conn::connect_and_join(target, "roamer", &home, None, opts)
        .await
        .context("the roamer did not join")?
        .ws;
    let frames = (0..args.rooms).flat_map(|i| {
        let room = format!("{prefix}-r{i}");
        [requests::join(&room, None), requests::leave(&room)]
    });
    let deadline = Instant::now() + secs(args.deadline);
    let answers = requests::pipeline(&mut ws, frames, REQUEST_WINDOW, deadline, |_| {}).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    drop(ws);
    let rss = rss.stop(common.pid);
    tokio::time::sleep(secs(args.settle)).await;
    Ok(RoomsReport {
        rooms: args.rooms,
        answers,
        rss,
        rss_settled_bytes: watch::rss(common.pid),
        fds_before,
        fds_after: watch::open_fds(common.pid),
    })
}
