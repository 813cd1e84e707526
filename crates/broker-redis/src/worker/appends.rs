//! The hub's appends: every room's drafts of a batch packed into as few script calls as Redis
//! allows, and the script's answers turned into outcomes, each event through its room's feed.

use std::{ops::Range, sync::Arc, time::Instant};

use chat_ws::{
    broker::{Failed, Origin, Outcome},
    log::{Draft, Event},
    protocol::RoomName,
};
use foldhash::{HashMap, HashMapExt};
use futures_util::future::join_all;
use redis::{RedisError, Value};

use super::{Worker, failed};
use crate::script::{self, AppendSettings, Appended, MAX_PER_CALL};

impl Worker {
    /// The batch's appends in as few script calls as Redis allows, all at once: every room's
    /// in one call on a single Redis (at most [`MAX_PER_CALL`] drafts a call), one call per
    /// room on a cluster. What a call costs Redis besides its commands is paid per call.
    pub(super) async fn append(&mut self, appends: Vec<(Origin, Draft)>) {
        // Each room's drafts (in parts of at most MAX_PER_CALL), in the order of its first.
        let mut rooms: Vec<(RoomName, Vec<Origin>, Vec<Draft>)> = Vec::new();
        let mut open: HashMap<RoomName, usize> = HashMap::new();
        for (origin, draft) in appends {
            let at = match open.get(&draft.room) {
                Some(&at) if rooms[at].2.len() < MAX_PER_CALL => at,
                _ => {
                    open.insert(draft.room.clone(), rooms.len());
                    rooms.push((draft.room.clone(), Vec::new(), Vec::new()));
                    rooms.len() - 1
                }
            };
            rooms[at].1.push(origin);
            rooms[at].2.push(draft);
        }
        let calls = calls(&rooms, &self.settings.append);
        let started = Instant::now();
        let replies: Vec<Result<Value, RedisError>> = match self.commands.connect().await {
            Ok(()) => {
                let settings = &self.settings;
                join_all(calls.iter().map(|range| {
                    let parts = rooms[range.clone()].iter();
                    let call = script::invocation(
                        &settings.keys,
                        parts.map(|(room, _, drafts)| (room, drafts.as_slice())),
                        &settings.append,
                    );
                    let mut conn = self.commands.clone();
                    async move { call.invoke_async(&mut conn).await }
                }))
                .await
            }
            Err(error) => calls.iter().map(|_| Err(error.clone())).collect(),
        };
        self.settings
            .append_seconds
            .record(started.elapsed().as_secs_f64());
        let mut ready = Vec::new();
        let mut rooms = rooms.into_iter();
        for (range, reply) in calls.into_iter().zip(replies) {
            let parts: Vec<_> = rooms.by_ref().take(range.len()).collect();
            let drafts = parts.iter().map(|(_, _, drafts)| drafts.len()).sum();
            let answers = reply
                .and_then(|value| script::answers(value, drafts).ok_or_else(unexpected_answer));
            let mut offset = 0;
            for (room, origins, drafts) in parts {
                let count = drafts.len();
                let references: Vec<_> = drafts.iter().map(|d| d.client_id.clone()).collect();
                let answered = match &answers {
                    Ok((ts, items)) => {
                        script::outcomes(&room, drafts, (*ts, &items[offset..offset + count]))
                            .ok_or_else(unexpected_answer)
                    }
                    Err(error) => Err(error.clone()),
                };
                offset += count;
                match answered {
                    Ok(appended) => {
                        let answers = origins.into_iter().zip(appended).zip(references);
                        for ((origin, appended), reference) in answers {
                            let refused = (room.clone(), reference);
                            self.appended(origin, appended, refused, &mut ready);
                        }
                    }
                    Err(error) => {
                        self.failed_call(&error);
                        for (origin, reference) in origins.into_iter().zip(references) {
                            self.send(failed(origin, &room, Failed::Store, reference, &error));
                        }
                    }
                }
            }
        }
    }

    /// This node's own append came back: its event joins the room's feed; a resend is
    /// answered once the feed has passed it (before that, the sender gets it live); a change
    /// that stored nothing is answered at once (`refused`: the room and `ref` of its error).
    pub(super) fn appended(
        &mut self,
        origin: Origin,
        appended: Appended,
        refused: (RoomName, Option<Arc<str>>),
        ready: &mut Vec<Arc<Event>>,
    ) {
        match appended {
            Appended::Stored(mut event) => {
                // The files go once, from here: the channel's copy of a delete names none.
                if let Some(files) = event.released() {
                    self.send(Outcome::Released(files.clone()));
                    event = event.kept();
                }
                let room = event.room.clone();
                if let Some(feed) = self.feeds.get_mut(&room) {
                    feed.offer(event, false, ready);
                    self.deliver(ready);
                    self.note_hole(&room);
                }
            }
            Appended::Unchanged(target) => self.send(Outcome::Unchanged { origin, target }),
            Appended::Refused(refusal) => {
                let (room, reference) = refused;
                self.send(Outcome::Refused {
                    origin,
                    room,
                    refusal,
                    reference,
                });
            }
            Appended::Resent(event) => {
                let delivered = self
                    .feeds
                    .get(&event.room)
                    .is_none_or(|feed| feed.last() >= event.seq);
                if delivered {
                    self.send(Outcome::Resent { origin, event });
                }
            }
        }
    }
}

/// Which of `rooms` (consecutive) each script call takes: as many as fit in [`MAX_PER_CALL`]
/// drafts, or one each when a call may hold one room only.
fn calls(
    rooms: &[(RoomName, Vec<Origin>, Vec<Draft>)],
    settings: &AppendSettings,
) -> Vec<Range<usize>> {
    let mut calls: Vec<Range<usize>> = Vec::new();
    let mut size = 0;
    for (at, (_, _, drafts)) in rooms.iter().enumerate() {
        match calls.last_mut() {
            Some(call) if !settings.one_room_per_call && size + drafts.len() <= MAX_PER_CALL => {
                call.end = at + 1;
                size += drafts.len();
            }
            _ => {
                calls.push(at..at + 1);
                size = drafts.len();
            }
        }
    }
    calls
}

fn unexpected_answer() -> RedisError {
    RedisError::from((redis::ErrorKind::Client, "unexpected script answer"))
}
