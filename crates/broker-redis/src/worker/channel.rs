//! What arrives on the rooms' channels, and keeping every room's feed whole: the probe of
//! both connections, the resubscription and fill after a reconnect, the holes filled from
//! the rooms' streams.

use std::time::Instant;

use chat_ws::{broker::Outcome, protocol::RoomName};
use redis::{PushInfo, PushKind, RedisError, Value};
use tokio::time::timeout;
use tracing::warn;

use super::{FILL_COUNT, HOLE_WAIT, PROBE_TIMEOUT, Worker};
use crate::{
    codec::{self, Published},
    conn::Conn,
    feed::Feed,
};

impl Worker {
    /// Something arrived on the pub/sub connection.
    pub(super) fn on_push(&mut self, push: PushInfo) {
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let [channel, payload] = push.data.as_slice() else {
                    return;
                };
                let (Some(channel), Some(payload)) = (codec::bytes(channel), codec::bytes(payload))
                else {
                    return;
                };
                let Some(room) = self.settings.keys.room_of(channel) else {
                    return;
                };
                let Some(feed) = self.feeds.get_mut(&room) else {
                    return;
                };
                let mut ready = Vec::new();
                let mut told = Vec::new();
                for line in codec::decode_published(&room, payload) {
                    match line {
                        Published::Event(event) => feed.offer(event, true, &mut ready),
                        // This node's own lines reached its members from its calls' answers
                        // (presence) or from its hub (typing).
                        Published::Presence { node, .. } | Published::Typing { node, .. }
                            if node == self.settings.node => {}
                        other => told.push(other),
                    }
                }
                self.deliver(&mut ready);
                self.note_hole(&room);
                for line in told {
                    match line {
                        Published::Presence { user, event, .. } => {
                            self.tell_presence(room.clone(), user, event);
                        }
                        Published::Typing { user, active, .. } => self.send(Outcome::Typing {
                            room: room.clone(),
                            user,
                            active,
                        }),
                        Published::Event(_) => {}
                    }
                }
            }
            PushKind::Disconnection => {
                // Resubscribed on reconnection; what was published meanwhile is read back.
                self.resync = true;
            }
            _ => {}
        }
    }

    /// Probes both connections; once Redis answers after an outage or a dropped pub/sub
    /// connection, fills every room from its last seq.
    pub(super) async fn probe(&mut self) {
        let ping = |mut conn: Conn| async move {
            match timeout(
                PROBE_TIMEOUT,
                redis::cmd("PING").query_async::<Value>(&mut conn),
            )
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(error),
                Err(_) => Err(RedisError::from((
                    redis::ErrorKind::Io,
                    "no answer to PING in time",
                ))),
            }
        };
        // A cluster's connections are made on first use: made here, so the clones share them.
        let connect = async {
            self.commands.connect().await?;
            self.pubsub.connect().await
        };
        let connected = timeout(PROBE_TIMEOUT, connect).await.unwrap_or_else(|_| {
            Err(RedisError::from((
                redis::ErrorKind::Io,
                "no connection in time",
            )))
        });
        if let Err(error) = connected {
            self.reach.set(false, Some(&error));
            self.resync = true;
            return;
        }
        let (commands, pubsub) =
            tokio::join!(ping(self.commands.clone()), ping(self.pubsub.clone()));
        match commands.and(pubsub) {
            Ok(()) => {
                let back = self.reach.set(true, None);
                if back || self.resync {
                    self.resync_all().await;
                }
                if back {
                    // Joins and leaves may have been lost while Redis was away.
                    self.tell_members_again().await;
                }
                if let Err(error) = self.heartbeat().await {
                    self.failed_call(&error);
                }
            }
            Err(error) => {
                self.reach.set(false, Some(&error));
                self.resync = true;
            }
        }
    }

    /// Subscribes every room again (a no-op where the connection kept it), reads what each
    /// missed since its last seq, and tells the members who came and went meanwhile.
    pub(super) async fn resync_all(&mut self) {
        let rooms: Vec<RoomName> = self.feeds.keys().cloned().collect();
        for room in &rooms {
            let channel = self.settings.keys.channel(room);
            if let Err(error) = self.pubsub.subscribe(&channel).await {
                self.failed_call(&error);
                return;
            }
        }
        for room in rooms {
            if let Err(error) = self.fill(&room, None).await {
                self.failed_call(&error);
                return;
            }
        }
        if let Err(error) = self.tell_presence_again().await {
            self.failed_call(&error);
            return;
        }
        self.resync = false;
    }

    /// Fills the holes that are due (all of them when `waited`, else only the urgent ones).
    pub(super) async fn fill_holes(&mut self, waited: bool) {
        let now = Instant::now();
        let due_before = if waited {
            now - HOLE_WAIT
        } else {
            now - 100 * HOLE_WAIT
        };
        let due: Vec<(RoomName, u64)> = self
            .holes
            .iter()
            .filter_map(|room| Some((room, self.feeds.get(room)?)))
            .filter(|(_, feed)| feed.hole_due(due_before))
            .filter_map(|(room, feed)| Some((room.clone(), feed.hole()?.1)))
            .collect();
        for (room, before) in due {
            if let Err(error) = self.fill(&room, Some(before - 1)).await {
                self.failed_call(&error);
                if let Some(feed) = self.feeds.get_mut(&room) {
                    feed.retry_later();
                }
            }
        }
    }

    /// Reads the room's events after its last seq (up to `upto`, or all) into its feed. What
    /// retention dropped is passed over.
    pub(super) async fn fill(
        &mut self,
        room: &RoomName,
        upto: Option<u64>,
    ) -> Result<(), RedisError> {
        loop {
            let Some(after) = self.feeds.get(room).map(Feed::last) else {
                return Ok(());
            };
            let events = self.reader().range(room, after, upto, FILL_COUNT).await?;
            let read = events.len();
            let Some(feed) = self.feeds.get_mut(room) else {
                return Ok(());
            };
            let mut ready = Vec::new();
            for event in events {
                feed.offer(event, false, &mut ready);
            }
            if feed.last() == after || (read < FILL_COUNT && feed.hole().is_some()) {
                if let Some((from, to)) = feed.hole() {
                    warn!(%room, from, to, "events dropped by retention before this node read them");
                }
                feed.skip_hole(&mut ready);
            }
            let more = read == FILL_COUNT;
            self.deliver(&mut ready);
            self.note_hole(room);
            if !more {
                return Ok(());
            }
        }
    }

    /// When the oldest open hole opened.
    pub(super) fn next_hole(&self) -> Option<Instant> {
        self.holes
            .iter()
            .filter_map(|room| self.feeds.get(room)?.hole_opened())
            .min()
    }

    /// Keeps [`Self::holes`] true for `room` after its feed took events.
    pub(super) fn note_hole(&mut self, room: &RoomName) {
        if self
            .feeds
            .get(room)
            .is_some_and(|f| f.hole_opened().is_some())
        {
            if !self.holes.contains(room) {
                self.holes.insert(room.clone());
            }
        } else {
            self.holes.remove(room);
        }
    }
}
