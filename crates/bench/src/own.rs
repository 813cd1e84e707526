//! What a sender that changes its messages (`--changes`) knows of them, and which change its
//! next turn writes.

use crate::cli::Changes;
use crate::wire;

/// What a sender that changes its messages knows of them: it learns their seqs as a member,
/// from its own `message` frames.
#[derive(Debug)]
pub(crate) struct Own {
    changes: Changes,
    messages: wire::OwnMessages,
    /// The seq of its latest plain message received.
    latest: Option<u64>,
    /// Whether its reaction is on that message: each `react` toggles it, so that every one
    /// is stored (a reaction it already has would store nothing).
    reacted: bool,
}

/// A change a sender writes instead of a `send`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChangeTurn {
    Edit { target: u64 },
    React { target: u64, active: bool },
}

impl Own {
    pub(crate) fn new(changes: Changes, id_prefix: &str) -> Self {
        Self {
            changes,
            messages: wire::OwnMessages::new(id_prefix),
            latest: None,
            reacted: false,
        }
    }

    /// Notes the `message` frame `frame` with `seq`, when it is the sender's own newest.
    pub(crate) fn note(&mut self, frame: &str, seq: u64) {
        if self.latest.is_none_or(|latest| seq > latest) && self.messages.is_own(frame) {
            self.latest = Some(seq);
            self.reacted = false;
        }
    }

    /// What the sender's turn `n` (1, 2, 3...) writes: every even turn changes its latest
    /// message, once it has received one; any other turn is a plain `send` (`None`).
    pub(crate) fn turn(&mut self, n: u64) -> Option<ChangeTurn> {
        if !n.is_multiple_of(2) {
            return None;
        }
        let target = self.latest?;
        let react = match self.changes {
            Changes::Edit => false,
            Changes::React => true,
            Changes::Mix => n.is_multiple_of(4),
        };
        if !react {
            return Some(ChangeTurn::Edit { target });
        }
        self.reacted = !self.reacted;
        Some(ChangeTurn::React {
            target,
            active: self.reacted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINE: &str = r#"{"type":"message","room":"r","seq":SEQ,"from":{"id":"u","name":"b3"},"text":"1 x","ts":1,"client_id":"c3-1"}"#;

    fn receive(own: &mut Own, seq: u64) {
        own.note(&MINE.replace("SEQ", &seq.to_string()), seq);
    }

    #[test]
    fn a_sender_sends_until_it_knows_a_message_of_its_own() {
        let mut s = Own::new(Changes::Edit, "c3");
        assert_eq!(s.turn(1), None);
        assert_eq!(s.turn(2), None, "no seq known yet: a plain send");
        // Someone else's message is no target.
        s.note(&MINE.replace("SEQ", "1").replace("c3-1", "c30-1"), 1);
        assert_eq!(s.turn(2), None);
        receive(&mut s, 2);
        assert_eq!(s.turn(3), None, "odd turns send");
        assert_eq!(s.turn(4), Some(ChangeTurn::Edit { target: 2 }));
        // An older one (a no-op's answer) does not move the target back.
        receive(&mut s, 5);
        receive(&mut s, 4);
        assert_eq!(s.turn(6), Some(ChangeTurn::Edit { target: 5 }));
    }

    #[test]
    fn reacts_toggle_so_that_each_one_is_stored() {
        let mut s = Own::new(Changes::React, "c3");
        receive(&mut s, 7);
        let turns: Vec<_> = [2, 4, 6].map(|n| s.turn(n)).into();
        assert_eq!(
            turns,
            [true, false, true].map(|active| Some(ChangeTurn::React { target: 7, active }))
        );
        // A new message of its own has no reaction yet.
        receive(&mut s, 9);
        assert_eq!(
            s.turn(8),
            Some(ChangeTurn::React {
                target: 9,
                active: true
            })
        );
    }

    #[test]
    fn mix_alternates_edits_and_reacts() {
        let mut s = Own::new(Changes::Mix, "c3");
        receive(&mut s, 3);
        let turns: Vec<_> = (1..=8).map(|n| s.turn(n)).collect();
        let edit = Some(ChangeTurn::Edit { target: 3 });
        let react = |active| Some(ChangeTurn::React { target: 3, active });
        assert_eq!(
            turns,
            [
                None,
                edit,
                None,
                react(true),
                None,
                edit,
                None,
                react(false)
            ]
        );
    }
}
