use std::{collections::HashMap, sync::Arc};

use super::{ConnId, Peer};
use crate::protocol::{Frame, User, UserId};

/// One room as the hub sees it: who is in it and how far its messages were delivered.
#[derive(Debug)]
pub(super) struct Room {
    /// Members in a vector, so a fan-out is a straight walk over memory.
    members: Vec<Arc<Peer>>,
    /// Where each connection sits in `members`.
    index: HashMap<ConnId, usize>,
    /// Connections per user: presence announces a user's first arrival and last departure.
    users: HashMap<UserId, usize>,
    /// Latest seq delivered to members; `joined` and `history` never reach past it.
    pub(super) published: u64,
    /// Messages appended but not yet durable: the room must outlive them.
    pub(super) pending: usize,
}

impl Room {
    pub(super) fn new(published: u64) -> Self {
        Self {
            members: Vec::new(),
            index: HashMap::new(),
            users: HashMap::new(),
            published,
            pending: 0,
        }
    }

    pub(super) fn get(&self, conn: ConnId) -> Option<&Arc<Peer>> {
        self.index.get(&conn).map(|&at| &self.members[at])
    }

    /// Adds (or refreshes) a member. True when it is the user's first connection here.
    pub(super) fn add(&mut self, peer: Arc<Peer>) -> bool {
        if let Some(&at) = self.index.get(&peer.conn) {
            self.members[at] = peer;
            return false;
        }
        self.index.insert(peer.conn, self.members.len());
        let count = self.users.entry(peer.user.id.clone()).or_insert(0);
        *count += 1;
        let first = *count == 1;
        self.members.push(peer);
        first
    }

    /// Removes a member. Returns it, and whether that was the user's last connection here.
    pub(super) fn remove(&mut self, conn: ConnId) -> Option<(Arc<Peer>, bool)> {
        let at = self.index.remove(&conn)?;
        let peer = self.members.swap_remove(at);
        if let Some(moved) = self.members.get(at) {
            self.index.insert(moved.conn, at);
        }
        let last = match self.users.get_mut(&peer.user.id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            _ => {
                self.users.remove(&peer.user.id);
                true
            }
        };
        Some((peer, last))
    }

    /// Queues `frame` for every member but those of `except_user`; connections that cannot
    /// take it are added to `failed`.
    pub(super) fn broadcast(
        &self,
        frame: &Frame,
        except_user: Option<&UserId>,
        failed: &mut Vec<ConnId>,
    ) {
        for peer in &self.members {
            if except_user.is_some_and(|id| *id == peer.user.id) {
                continue;
            }
            if !peer.deliver(frame) {
                failed.push(peer.conn);
            }
        }
    }

    /// Each user in the room once.
    pub(super) fn users(&self) -> Vec<&User> {
        let mut seen = std::collections::HashSet::with_capacity(self.users.len());
        self.members
            .iter()
            .filter(|p| seen.insert(&p.user.id))
            .map(|p| &p.user)
            .collect()
    }

    /// Number of member connections.
    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// A room with no member and nothing in flight can be forgotten (its history stays).
    pub(super) fn is_idle(&self) -> bool {
        self.members.is_empty() && self.pending == 0
    }
}
