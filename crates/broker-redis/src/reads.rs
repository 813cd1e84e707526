//! Reads of a room's stream (through `read.lua`, which answers each event as it stands): what `joined` and `history` answer, and what fills a hole. Every
//! read stops at a seq the caller gives (the latest the hub has), so an answer never holds an
//! event the hub will also get live.

use std::sync::Arc;

use chat_ws::{broker::MAX_ANSWER_EVENTS, log::Event, protocol::RoomName};
use redis::{RedisResult, Value};

use crate::{codec, conn::Conn, keys::Keys, script};

/// What a read needs besides the room.
pub(crate) struct Reader<'a> {
    pub(crate) conn: &'a mut Conn,
    pub(crate) keys: &'a Keys,
    /// Events older than this (ms since the epoch) are past `history.max_age`; 0 keeps all.
    pub(crate) oldest_ts: u64,
}

impl Reader<'_> {
    /// The room's latest seq in Redis (0 for a room never written to).
    pub(crate) async fn latest_seq(&mut self, room: &RoomName) -> RedisResult<u64> {
        let seq: Option<u64> = redis::cmd("GET")
            .arg(self.keys.seq(room))
            .query_async(self.conn)
            .await?;
        Ok(seq.unwrap_or(0))
    }

    /// Events with `after < seq <= upto` (at most `count`), oldest first.
    pub(crate) async fn range(
        &mut self,
        room: &RoomName,
        after: u64,
        upto: Option<u64>,
        count: usize,
    ) -> RedisResult<Vec<Arc<Event>>> {
        if upto.is_some_and(|upto| upto <= after) {
            return Ok(Vec::new());
        }
        let end = upto.map_or_else(|| "+".to_owned(), |upto| format!("{upto}-0"));
        let range = ("XRANGE", format!("{}-0", after + 1), end);
        let reply: Value = script::read(self.keys, room, range, count)
            .invoke_async(self.conn)
            .await?;
        Ok(self.fresh(codec::decode_entries(room, &reply)))
    }

    /// The newest `count` events with `seq <= upto`, oldest first.
    async fn newest(
        &mut self,
        room: &RoomName,
        upto: u64,
        count: usize,
    ) -> RedisResult<Vec<Arc<Event>>> {
        if upto == 0 || count == 0 {
            return Ok(Vec::new());
        }
        let range = ("XREVRANGE", format!("{upto}-0"), "-".to_owned());
        let reply: Value = script::read(self.keys, room, range, count)
            .invoke_async(self.conn)
            .await?;
        let mut events = self.fresh(codec::decode_entries(room, &reply));
        events.reverse();
        Ok(events)
    }

    /// `joined`'s history and whether it is complete: the events after `since` (the latest
    /// [`MAX_ANSWER_EVENTS`]) or the last `on_join`, up to `upto`.
    pub(crate) async fn catchup(
        &mut self,
        room: &RoomName,
        since: Option<u64>,
        upto: u64,
        on_join: usize,
    ) -> RedisResult<(Vec<Arc<Event>>, bool)> {
        match since {
            Some(after) => {
                // The latest ones: a client far behind pages back for the rest.
                let from = after.max(upto.saturating_sub(MAX_ANSWER_EVENTS as u64));
                let events = self
                    .range(room, from, Some(upto), MAX_ANSWER_EVENTS)
                    .await?;
                let all = from == after && events.len() as u64 == upto.saturating_sub(from);
                Ok((events, all))
            }
            None => Ok((self.newest(room, upto, on_join).await?, true)),
        }
    }

    /// A `history` page: the newest `limit` events before `before`, up to `upto`, and whether
    /// older ones remain.
    pub(crate) async fn page(
        &mut self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
        upto: u64,
    ) -> RedisResult<(Vec<Arc<Event>>, bool)> {
        let top = before.unwrap_or(u64::MAX).min(upto.saturating_add(1));
        let mut events = self.newest(room, top.saturating_sub(1), limit + 1).await?;
        let has_more = events.len() > limit;
        if has_more {
            events.remove(0);
        }
        Ok((events, has_more))
    }

    /// Drops what `history.max_age` has retired (the stream expires as a whole only once its
    /// newest event is that old).
    fn fresh(&self, mut events: Vec<Arc<Event>>) -> Vec<Arc<Event>> {
        if self.oldest_ts > 0 {
            events.retain(|event| event.ts >= self.oldest_ts);
        }
        events
    }
}
