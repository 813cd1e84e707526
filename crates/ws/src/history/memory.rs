use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use super::{Appended, History, HistoryError, Page, ResendIndex, Retention, Since, now_ms};
use crate::protocol::{ChatMessage, MessageDraft, RoomName};

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
    messages: VecDeque<Arc<ChatMessage>>,
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
            let oldest_kept = now.saturating_sub(age.as_millis() as u64);
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

    /// The seq of the oldest retained message, or the next seq when none is retained.
    fn first_seq(&self) -> u64 {
        self.messages.front().map_or(self.last_seq + 1, |m| m.seq)
    }
}

impl History for MemoryHistory {
    fn last_seq(&mut self, room: &RoomName) -> Result<u64, HistoryError> {
        Ok(self.rooms.get(room.as_str()).map_or(0, |log| log.last_seq))
    }

    fn append(&mut self, draft: MessageDraft, ts: u64) -> Result<Appended, HistoryError> {
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
            return Ok(Since {
                messages: Vec::new(),
                complete: after <= upto,
            });
        };
        let upto = upto.min(log.last_seq);
        let start = log.position(after + 1);
        let end = log.position(upto + 1);
        Ok(Since {
            messages: log.messages.range(start..end.max(start)).cloned().collect(),
            complete: after <= upto && log.first_seq() <= after + 1,
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
    ) -> Result<Option<Arc<ChatMessage>>, HistoryError> {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::protocol::User;

    fn room() -> RoomName {
        RoomName::parse("r").expect("valid")
    }

    fn draft(text: &str, id: Option<&str>) -> MessageDraft {
        MessageDraft {
            room: room(),
            from: User::new("u_1", "alice"),
            text: text.into(),
            client_id: id.map(Into::into),
        }
    }

    fn store(max_per_room: usize) -> MemoryHistory {
        MemoryHistory::new(Retention {
            max_per_room,
            max_age: None,
        })
    }

    fn fill(history: &mut MemoryHistory, n: u64) {
        for i in 1..=n {
            history
                .append(draft(&format!("m{i}"), None), now_ms())
                .expect("memory append");
        }
    }

    fn seqs(messages: &[Arc<ChatMessage>]) -> Vec<u64> {
        messages.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn append_numbers_from_one() {
        let mut h = store(10);
        assert_eq!(h.last_seq(&room()).ok(), Some(0));
        fill(&mut h, 3);
        assert_eq!(h.last_seq(&room()).ok(), Some(3));
    }

    #[test]
    fn since_returns_the_missing_tail_and_knows_about_gaps() {
        let mut h = store(5);
        fill(&mut h, 8); // retains 4..=8
        let s = h.since(&room(), 5, 8).expect("since");
        assert_eq!((seqs(&s.messages), s.complete), (vec![6, 7, 8], true));
        let s = h.since(&room(), 3, 8).expect("since");
        assert_eq!((seqs(&s.messages), s.complete), (vec![4, 5, 6, 7, 8], true));
        let s = h.since(&room(), 1, 8).expect("since");
        assert_eq!(
            (seqs(&s.messages), s.complete),
            (vec![4, 5, 6, 7, 8], false)
        );
        let s = h.since(&room(), 6, 7).expect("since");
        assert_eq!(seqs(&s.messages), vec![7]);
        let s = h.since(&room(), 9, 8).expect("since");
        assert_eq!((s.messages.len(), s.complete), (0, false));
    }

    #[test]
    fn page_walks_backwards_with_exact_has_more() {
        let mut h = store(100);
        fill(&mut h, 5);
        let p = h.page(&room(), 6, 2).expect("page");
        assert_eq!((seqs(&p.messages), p.has_more), (vec![4, 5], true));
        let p = h.page(&room(), 4, 3).expect("page");
        assert_eq!((seqs(&p.messages), p.has_more), (vec![1, 2, 3], false));
        let p = h.page(&room(), 1, 3).expect("page");
        assert_eq!((p.messages.len(), p.has_more), (0, false));
    }

    #[test]
    fn max_age_drops_old_messages() {
        let mut h = MemoryHistory::new(Retention {
            max_per_room: 100,
            max_age: Some(Duration::from_secs(60)),
        });
        h.append(draft("old", None), now_ms() - 120_000)
            .expect("append");
        h.append(draft("new", None), now_ms()).expect("append");
        let p = h.page(&room(), u64::MAX, 10).expect("page");
        assert_eq!((seqs(&p.messages), p.has_more), (vec![2], false));
    }

    #[test]
    fn resend_finds_the_stored_message() {
        let mut h = store(100);
        h.append(draft("hello", Some("c1")), now_ms())
            .expect("append");
        fill(&mut h, 3);
        let found = h.find_resend(&room(), "c1", now_ms()).expect("lookup");
        assert_eq!(
            found.map(|m| (m.seq, m.text.to_string())),
            Some((1, "hello".into()))
        );
        assert!(
            h.find_resend(&room(), "c2", now_ms())
                .expect("lookup")
                .is_none()
        );
    }
}
