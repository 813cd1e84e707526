//! This node's members as every node sees them: presence and typing changes to Redis, the
//! presence Redis decided told to this node's members, the members elsewhere for `joined`,
//! telling Redis again after an outage, the goodbye.

use std::mem;

use chat_ws::{
    broker::Outcome,
    protocol::{PresenceEvent, RoomName, User},
};
use foldhash::{HashMap, HashMapExt, HashSet};
use futures_util::future::join_all;
use redis::{RedisError, Value};
use tokio::time::timeout;
use tracing::warn;

use super::{PROBE_TIMEOUT, Worker};
use crate::{
    codec::{self, Published},
    presence::{self, Change},
};

impl Worker {
    /// Presence and typing changes, one script call per room, all at once. Nobody waits for
    /// an answer: a failure is logged with the outage, and what this node told Redis is told
    /// again when it is back.
    pub(super) async fn present(&mut self, changes: Vec<(RoomName, Change)>) {
        let mut calls: Vec<(RoomName, Vec<Change>)> = Vec::new();
        let mut open: HashMap<RoomName, usize> = HashMap::new();
        for (room, change) in changes {
            match &change {
                Change::Member(user, PresenceEvent::Join) => {
                    let users = self.local.entry(room.clone()).or_default();
                    users.insert(user.id.clone(), user.clone());
                }
                Change::Member(user, PresenceEvent::Leave) => {
                    if let Some(users) = self.local.get_mut(&room) {
                        users.remove(&user.id);
                        if users.is_empty() {
                            self.local.remove(&room);
                        }
                    }
                }
                Change::Typing(..) | Change::Sweep(_) | Change::Reset => {}
            }
            let at = *open.entry(room.clone()).or_insert_with(|| {
                calls.push((room.clone(), Vec::new()));
                calls.len() - 1
            });
            calls[at].1.push(change);
        }
        if let Err(error) = self.commands.connect().await {
            return self.failed_call(&error);
        }
        let settings = &self.settings;
        let node_rooms = settings.keys.node_rooms(&settings.node);
        let joined: Vec<&RoomName> = calls
            .iter()
            .filter(|(_, changes)| {
                changes
                    .iter()
                    .any(|c| matches!(c, Change::Member(_, PresenceEvent::Join)))
            })
            .map(|(room, _)| room)
            .collect();
        let mut conn = self.commands.clone();
        let remember = async move {
            if joined.is_empty() {
                return Ok(());
            }
            let mut sadd = redis::cmd("SADD");
            sadd.arg(&node_rooms);
            for room in joined {
                sadd.arg(room.as_str());
            }
            sadd.query_async::<Value>(&mut conn).await.map(drop)
        };
        let scripts = join_all(calls.iter().map(|(room, changes)| {
            let call = presence::invocation(
                &settings.keys,
                room,
                &settings.node,
                settings.append.publish,
                changes,
            );
            let mut conn = self.commands.clone();
            async move { call.invoke_async::<Value>(&mut conn).await }
        }));
        let (remembered, answers) = tokio::join!(remember, scripts);
        for ((room, _), answer) in calls.iter().zip(answers) {
            match answer {
                Ok(published) => self.own_presence(room, &published),
                Err(error) => self.failed_call(&error),
            }
        }
        if let Err(error) = remembered {
            self.failed_call(&error);
        }
    }

    /// Tells this node's members what a presence call of its own published about its users
    /// (a first connection anywhere, a last one, a swept node's members).
    pub(super) fn own_presence(&mut self, room: &RoomName, published: &Value) {
        let Some(payload) = codec::bytes(published) else {
            return;
        };
        for line in codec::decode_published(room, payload) {
            if let Published::Presence { node, user, event } = line
                && node == self.settings.node
            {
                self.tell_presence(room.clone(), user, event);
            }
        }
    }

    /// Tells the hub that a user arrived in a room or left it, unless its members know it
    /// already (a line that crossed a fresh read of the members) or the room has no member
    /// here to tell.
    pub(super) fn tell_presence(&mut self, room: RoomName, user: User, event: PresenceEvent) {
        let Some(told) = self.told.get_mut(&room) else {
            return;
        };
        let news = match event {
            PresenceEvent::Join => told.insert(user.id.clone(), user.clone()).is_none(),
            PresenceEvent::Leave => told.remove(&user.id).is_some(),
        };
        if news {
            self.send(Outcome::Presence { room, user, event });
        }
    }

    /// The room's members on other nodes. A room this node has just subscribed to starts
    /// its [`Worker::told`] from them.
    pub(super) async fn members_elsewhere(
        &mut self,
        room: &RoomName,
    ) -> Result<Vec<User>, RedisError> {
        let reply: Value = redis::cmd("HGETALL")
            .arg(self.settings.keys.members(room))
            .query_async(&mut self.commands)
            .await?;
        if !self.told.contains_key(room) {
            self.told.insert(room.clone(), presence::everyone(&reply));
        }
        Ok(presence::others(&reply, &self.settings.node))
    }

    /// After the pub/sub connection was down (presence published meanwhile is lost, unlike
    /// messages): reads who is in each subscribed room now and tells this node's members the
    /// difference from what they were told, so every `members` view comes right again.
    pub(super) async fn tell_presence_again(&mut self) -> Result<(), RedisError> {
        let rooms: Vec<RoomName> = self.told.keys().cloned().collect();
        let replies = join_all(rooms.iter().map(|room| {
            let mut conn = self.commands.clone();
            let key = self.settings.keys.members(room);
            async move {
                redis::cmd("HGETALL")
                    .arg(key)
                    .query_async::<Value>(&mut conn)
                    .await
            }
        }))
        .await;
        for (room, reply) in rooms.into_iter().zip(replies) {
            let now = presence::everyone(&reply?);
            let Some(told) = self.told.get(&room) else {
                continue;
            };
            let gone: Vec<User> = told
                .values()
                .filter(|user| !now.contains_key(&user.id))
                .cloned()
                .collect();
            let came: Vec<User> = now
                .into_values()
                .filter(|user| !told.contains_key(&user.id))
                .collect();
            for user in gone {
                self.tell_presence(room.clone(), user, PresenceEvent::Leave);
            }
            for user in came {
                self.tell_presence(room.clone(), user, PresenceEvent::Join);
            }
        }
        Ok(())
    }

    /// Makes Redis's members of this node exactly its local ones, in every room it has or had
    /// members in: the missing join, the others leave.
    pub(super) async fn tell_members_again(&mut self) {
        let had: Result<Vec<String>, _> = redis::cmd("SMEMBERS")
            .arg(self.settings.keys.node_rooms(&self.settings.node))
            .query_async(&mut self.commands)
            .await;
        let mut rooms: HashSet<RoomName> = self.local.keys().cloned().collect();
        match had {
            Ok(had) => rooms.extend(had.iter().filter_map(|room| RoomName::parse(room).ok())),
            Err(error) => return self.failed_call(&error),
        }
        let mut changes = Vec::new();
        for room in rooms {
            changes.push((room.clone(), Change::Reset));
            for user in self.local.get(&room).into_iter().flat_map(HashMap::values) {
                changes.push((
                    room.clone(),
                    Change::Member(user.clone(), PresenceEvent::Join),
                ));
            }
        }
        self.present(changes).await;
    }

    /// The node stops: its members leave every room, and it is no longer a node.
    pub(super) async fn goodbye(&mut self) {
        let changes: Vec<_> = mem::take(&mut self.local)
            .into_iter()
            .flat_map(|(room, users)| {
                users
                    .into_values()
                    .map(move |user| (room.clone(), Change::Member(user, PresenceEvent::Leave)))
            })
            .collect();
        let node = self.settings.node.clone();
        let nodes = self.settings.keys.nodes();
        let key = self.settings.keys.node_rooms(&node);
        let mut conn = self.commands.clone();
        let leave = async {
            self.present(changes).await;
            let _: Result<Value, _> = redis::cmd("ZREM")
                .arg(&nodes)
                .arg(&node)
                .query_async(&mut conn)
                .await;
            let _: Result<Value, _> = redis::cmd("DEL").arg(&key).query_async(&mut conn).await;
        };
        if timeout(PROBE_TIMEOUT, leave).await.is_err() {
            warn!("redis did not answer at shutdown: other nodes will sweep this node's members");
        }
    }
}
