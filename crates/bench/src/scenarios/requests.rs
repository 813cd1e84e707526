//! Requests written many at a time on one connection (`join`, `leave`, `history`): a window of
//! them in flight, each finished by its one answer (`joined`, `left`, `history` or `error`),
//! so one connection goes as fast as the server answers without queueing unboundedly. Used
//! by `attack` (room churn, presence flood) and `soak` (the end-of-run probe).

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::conn::Ws;
use crate::wire;

/// How long one wait for an answer may take before the run counts the rest as unanswered.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The `join` frame for `room`, with `since` when given.
pub fn join(room: &str, since: Option<u64>) -> String {
    match since {
        Some(s) => format!(r#"{{"type":"join","room":"{room}","since":{s}}}"#),
        None => wire::join(room),
    }
}

/// The `leave` frame for `room`.
pub fn leave(room: &str) -> String {
    format!(r#"{{"type":"leave","room":"{room}"}}"#)
}

/// The `history` frame for `room`.
pub fn history(room: &str, limit: u32) -> String {
    format!(r#"{{"type":"history","room":"{room}","limit":{limit}}}"#)
}

/// What came back for a run of requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Answers {
    /// Requests written.
    pub written: u64,
    /// Answers by type, errors by `error <code>`.
    pub by_kind: BTreeMap<String, u64>,
    /// Why the run stopped before every answer came (deadline, timeout, close...), if it did.
    pub stopped: Option<String>,
    pub secs: f64,
}

impl Answers {
    /// Answers received in all.
    pub fn answered(&self) -> u64 {
        self.by_kind.values().sum()
    }

    /// Answers of one kind (`joined`, `left`, `error rate_limited`...).
    pub fn count(&self, kind: &str) -> u64 {
        self.by_kind.get(kind).copied().unwrap_or(0)
    }
}

/// Writes `frames` on `ws` with at most `window` unanswered at once, until every one is
/// answered, `deadline` passes (no more are written; the answers in flight are still read
/// for up to [`ANSWER_TIMEOUT`]), or the connection ends. `on_other` sees every other frame
/// (presence, message...).
pub async fn pipeline(
    ws: &mut Ws,
    frames: impl IntoIterator<Item = String>,
    window: usize,
    deadline: Instant,
    mut on_other: impl FnMut(&str),
) -> Answers {
    let started = Instant::now();
    let mut frames = frames.into_iter().peekable();
    let mut answers = Answers::default();
    let window = window.max(1) as u64;
    loop {
        let in_flight = answers.written - answers.answered();
        if Instant::now() < deadline && in_flight < window && frames.peek().is_some() {
            let mut fed = 0;
            while answers.written - answers.answered() < window {
                let Some(frame) = frames.next() else { break };
                if let Err(e) = ws.feed(Message::text(frame)).await {
                    answers.stopped = Some(format!("write: {e}"));
                    break;
                }
                answers.written += 1;
                fed += 1;
            }
            if fed > 0
                && let Err(e) = ws.flush().await
            {
                answers.stopped = Some(format!("write: {e}"));
            }
            if answers.stopped.is_some() {
                break;
            }
        }
        if answers.written == answers.answered() {
            if frames.peek().is_none() {
                break;
            }
            if Instant::now() >= deadline {
                answers.stopped = Some("deadline".to_owned());
                break;
            }
            continue;
        }
        match tokio::time::timeout(ANSWER_TIMEOUT, ws.next()).await {
            Err(_) => {
                answers.stopped = Some("no answer within 10 s".to_owned());
                break;
            }
            Ok(None) => {
                answers.stopped = Some("connection ended".to_owned());
                break;
            }
            Ok(Some(Err(e))) => {
                answers.stopped = Some(format!("read: {e}"));
                break;
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                let code = frame.map_or(1005, |f| u16::from(f.code));
                answers.stopped = Some(format!("closed {code}"));
                break;
            }
            Ok(Some(Ok(Message::Text(text)))) => match answer_kind(&text) {
                Some(kind) => *answers.by_kind.entry(kind).or_insert(0) += 1,
                None => on_other(&text),
            },
            Ok(Some(Ok(_))) => {}
        }
    }
    if answers.stopped.is_none() && frames.peek().is_some() {
        answers.stopped = Some("deadline".to_owned());
    }
    answers.secs = started.elapsed().as_secs_f64();
    answers
}

/// The kind of an answer to a request, or `None` for any other frame.
fn answer_kind(text: &str) -> Option<String> {
    if wire::scan_message(text).is_some() {
        return None;
    }
    let frame = wire::parse(text).ok()?;
    match frame.kind.as_ref() {
        "joined" | "left" | "history" => Some(frame.kind.into_owned()),
        "error" => Some(format!("error {}", frame.code.as_deref().unwrap_or("?"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_answers() {
        let f: serde_json::Value = serde_json::from_str(&join("r", Some(0))).expect("json");
        assert_eq!(
            (f["type"].as_str(), f["since"].as_u64()),
            (Some("join"), Some(0))
        );
        let f: serde_json::Value = serde_json::from_str(&history("r", 200)).expect("json");
        assert_eq!(f["limit"], 200);
        let f: serde_json::Value = serde_json::from_str(&leave("r")).expect("json");
        assert_eq!(f["type"], "leave");
        assert_eq!(
            answer_kind(r#"{"type":"left","room":"r"}"#).as_deref(),
            Some("left")
        );
        assert_eq!(
            answer_kind(r#"{"type":"error","code":"rate_limited","message":"x"}"#).as_deref(),
            Some("error rate_limited")
        );
        assert_eq!(
            answer_kind(r#"{"type":"presence","room":"r","event":"join"}"#),
            None
        );
        assert_eq!(
            answer_kind(r#"{"type":"message","room":"r","seq":1,"text":"x"}"#),
            None
        );
    }
}
