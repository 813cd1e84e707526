//! `attack`: the hostile clients of issue 23, replayed against a server, and what they did
//! to it (RSS from `--pid`, the other rooms, the attacker's fate):
//!
//! - **flood**: a room is filled with messages of control characters (6 bytes each once
//!   JSON-escaped), then an attacker that never reads asks for `history` (limit 200) many
//!   times and `join`s with `since: 0`, while a calm room (one sender, paced) measures its
//!   delivery latency and loss. The attacker should be cut off with 4008; when is seen by
//!   another member of the room (its `presence` `leave`), since the attacker reads nothing.
//! - **rooms**: one connection joins and leaves many distinct room names: RSS before/after.
//! - **presence**: one client toggles `join`/`leave` in a room of a few members: how many
//!   `presence` frames each member got.
//!
//! One file per attack ([`flood`], [`rooms`], [`presence`]) and one for the report's text.

mod flood;
mod presence;
mod rooms;
mod text;

pub use flood::FloodReport;
pub use presence::{MemberPresence, PresenceReport};
pub use rooms::RoomsReport;

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::cli::{AttackArgs, Attacks, Common};
use crate::conn::Target;
use crate::scenarios::setup;

/// How often the server's RSS is sampled.
const RSS_EVERY: Duration = Duration::from_millis(100);
/// Unanswered requests of the rooms and presence attacks.
const REQUEST_WINDOW: usize = 64;

/// The `--json` line of an attack run.
#[derive(Debug, Serialize)]
pub struct AttackReport {
    pub scenario: &'static str,
    pub url: String,
    pub server_pid: Option<u32>,
    pub flood: Option<FloodReport>,
    pub rooms: Option<RoomsReport>,
    pub presence: Option<PresenceReport>,
}

pub async fn run(args: AttackArgs) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    setup::check_pid(common.pid)?;
    let [url] = common.url.as_slice() else {
        anyhow::bail!("attack runs against one server: give --url once");
    };
    let target = Target::resolve(url, common.ca_cert.as_deref()).await?;
    let prefix = setup::room_prefix();
    let which = args.which();
    let mut report = AttackReport {
        scenario: "attack",
        url: url.clone(),
        server_pid: common.pid,
        flood: None,
        rooms: None,
        presence: None,
    };
    if which.contains(&Attacks::Flood) {
        report.flood = Some(flood::run(&args, &target, &prefix).await?);
    }
    if which.contains(&Attacks::Rooms) {
        report.rooms = Some(rooms::run(&args, &target, &prefix).await?);
    }
    if which.contains(&Attacks::Presence) {
        report.presence = Some(presence::run(&args, &target, &prefix).await?);
    }
    if common.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", text::format_attack(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a progress line on stderr unless quiet.
fn say(common: &Common, line: &str) {
    if common.show_progress() {
        eprintln!("attack: {line}");
    }
}
