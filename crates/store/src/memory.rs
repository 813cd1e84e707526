use std::{collections::VecDeque, sync::Arc};

use foldhash::{HashMap, HashMapExt};

use chat_ws::{
    history::{Appended, History, HistoryError, Page, Retention, Since, now_ms},
    log::{Draft, Event},
    protocol::RoomName,
};

use crate::resend::ResendIndex;

/// History kept in this process only: for tests and ephemeral deployments. Everything is
/// stored the moment it is appended, and lost when the process ends.
#[derive(Debug)]
pub struct MemoryHistory {
    retention: Retention,
    rooms: HashMap<RoomName, RoomLog>,
}

/// One room's retained messages, oldest first, with consecutive seqs.
#[derive(Debug, Default)]
struct RoomLog {
    last_seq: u64,
    messages: VecDeque<Arc<Event>>,
    resend: ResendIndex,
}

impl MemoryHistory {
    /// An empty history that keeps what `retention` allows.
    pub fn new(retention: Retention) -> Self {
        Self {
            retention,
            rooms: HashMap::new(),
        }
    }

    fn log(&mut self, room: &RoomName) -> Option<&mut RoomLog> {
        let log = self.rooms.get_mut(room.as_str())?;
        log.apply(self.retention, now_ms());
        Some(log)
    }
}

impl RoomLog {
    fn apply(&mut self, retention: Retention, now: u64) {
        while self.messages.len() > retention.max_per_room {
            self.messages.pop_front();
        }
        if let Some(age) = retention.max_age {
            // Saturating: an age past u64 milliseconds keeps everything, never wraps around.
            let oldest_kept =
                now.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
            while self.messages.front().is_some_and(|m| m.ts < oldest_kept) {
                self.messages.pop_front();
            }
        }
    }

    /// Index in `messages` of the first message with seq ≥ `seq`.
    fn position(&self, seq: u64) -> usize {
        match self.messages.front() {
            Some(first) => (seq.saturating_sub(first.seq) as usize).min(self.messages.len()),
            None => 0,
        }
    }
}

impl History for MemoryHistory {
    fn last_seq(&mut self, room: &RoomName) -> Result<u64, HistoryError> {
        Ok(self.rooms.get(room.as_str()).map_or(0, |log| log.last_seq))
    }

    fn append(&mut self, draft: Draft, ts: u64) -> Result<Appended, HistoryError> {
        let log = self.rooms.entry(draft.room.clone()).or_default();
        log.last_seq += 1;
        let message = Arc::new(draft.sequence(log.last_seq, ts));
        if let Some(id) = &message.client_id {
            log.resend.insert(id.clone(), message.seq, ts);
        }
        log.messages.push_back(message.clone());
        log.apply(self.retention, ts);
        Ok(Appended::Stored(message))
    }

    fn since(&mut self, room: &RoomName, after: u64, upto: u64) -> Result<Since, HistoryError> {
        let Some(log) = self.log(room) else {
            // A room never written to has seq 0: nothing is missing after 0.
            return Ok(Since {
                messages: Vec::new(),
                complete: after == 0,
            });
        };
        let upto = upto.min(log.last_seq);
        let start = log.position(after + 1);
        let end = log.position(upto + 1);
        let messages: Vec<_> = log.messages.range(start..end.max(start)).cloned().collect();
        Ok(Since {
            // Seqs are consecutive, so none is missing exactly when all of them are here.
            complete: after <= upto && messages.len() as u64 == upto - after,
            messages,
        })
    }

    fn page(&mut self, room: &RoomName, before: u64, limit: usize) -> Result<Page, HistoryError> {
        let Some(log) = self.log(room) else {
            return Ok(Page::default());
        };
        let end = log.position(before);
        let start = end.saturating_sub(limit);
        Ok(Page {
            messages: log.messages.range(start..end).cloned().collect(),
            has_more: start > 0,
        })
    }

    fn find_resend(
        &mut self,
        room: &RoomName,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<Arc<Event>>, HistoryError> {
        let Some(log) = self.rooms.get_mut(room.as_str()) else {
            return Ok(None);
        };
        let Some(seq) = log.resend.find(id, log.last_seq, now_ms) else {
            return Ok(None);
        };
        let at = log.position(seq);
        Ok(log.messages.get(at).filter(|m| m.seq == seq).cloned())
    }
}
