//! Which nodes are alive: each node's heartbeat (a deadline in one sorted set), and the sweep
//! of a dead node's members by one live node at a time. A sweep may be cut short (its sweeper
//! dies too): the dead node stays in the set until its sweep is done, each of its rooms is
//! taken off its list once swept, and the claim on the sweep expires after `node_ttl`, so
//! another node resumes where the first stopped.

use chat_ws::{history::now_ms, protocol::RoomName};
use futures_util::future::join_all;
use redis::{RedisError, Value};
use tracing::warn;

use super::Worker;
use crate::presence::{self, Change};

/// How long a started sweep stays marked for the swept node, in case it is alive after all.
const SWEPT_MARK_MS: u64 = 24 * 60 * 60 * 1000;
/// Dead nodes looked at per heartbeat.
const DEAD_PER_BEAT: usize = 16;

impl Worker {
    /// Tells Redis this node is alive until `node_ttl` from now, then sweeps the nodes whose
    /// deadline has passed and that no live node is sweeping.
    pub(super) async fn heartbeat(&mut self) -> Result<(), RedisError> {
        let now = now_ms();
        let nodes = self.settings.keys.nodes();
        let added: u64 = redis::cmd("ZADD")
            .arg(&nodes)
            .arg(now + self.settings.node_ttl_ms)
            .arg(&self.settings.node)
            .query_async(&mut self.commands)
            .await?;
        let swept: Option<String> = redis::cmd("GETDEL")
            .arg(self.settings.keys.node_swept(&self.settings.node))
            .query_async(&mut self.commands)
            .await?;
        if self.registered && (added == 1 || swept.is_some()) {
            warn!("this node was taken for dead (no heartbeat in time); telling its members again");
            self.tell_members_again().await;
        }
        self.registered = true;
        let dead: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&nodes)
            .arg("-inf")
            .arg(now)
            .arg("LIMIT")
            .arg(0)
            .arg(DEAD_PER_BEAT)
            .query_async(&mut self.commands)
            .await?;
        for node in dead {
            // One sweeper at a time; if it dies, its claim lapses and the next beat retries.
            let claimed: Option<String> = redis::cmd("SET")
                .arg(self.settings.keys.node_sweep(&node))
                .arg(&self.settings.node)
                .arg("NX")
                .arg("PX")
                .arg(self.settings.node_ttl_ms)
                .query_async(&mut self.commands)
                .await?;
            if claimed.is_some() {
                self.sweep(&node).await?;
            }
        }
        Ok(())
    }

    /// Takes a dead node's members out of every room still on its list (their `leave` goes
    /// out for those on no other node), then forgets the node. Stops at the first failure,
    /// leaving the rest to whoever sweeps next.
    async fn sweep(&mut self, node: &str) -> Result<(), RedisError> {
        let keys = &self.settings.keys;
        redis::cmd("SET")
            .arg(keys.node_swept(node))
            .arg(&self.settings.node)
            .arg("PX")
            .arg(SWEPT_MARK_MS)
            .query_async::<Value>(&mut self.commands)
            .await?;
        let listed: Vec<String> = redis::cmd("SMEMBERS")
            .arg(keys.node_rooms(node))
            .query_async(&mut self.commands)
            .await?;
        let rooms: Vec<RoomName> = listed
            .iter()
            .filter_map(|room| RoomName::parse(room).ok())
            .collect();
        warn!(
            node,
            rooms = rooms.len(),
            "a node stopped beating: its members leave"
        );
        let settings = &self.settings;
        let answers = join_all(rooms.iter().map(|room| {
            let sweep = [Change::Sweep(node.to_owned())];
            let call = presence::invocation(
                &settings.keys,
                room,
                &settings.node,
                settings.append.publish,
                &sweep,
            );
            let list = settings.keys.node_rooms(node);
            let mut conn = self.commands.clone();
            async move {
                let published: Value = call.invoke_async(&mut conn).await?;
                redis::cmd("SREM")
                    .arg(list)
                    .arg(room.as_str())
                    .query_async::<Value>(&mut conn)
                    .await?;
                Ok::<_, RedisError>(published)
            }
        }))
        .await;
        let mut failure = None;
        for (room, answer) in rooms.iter().zip(answers) {
            match answer {
                Ok(published) => self.own_presence(room, &published),
                Err(error) => failure = Some(error),
            }
        }
        if let Some(error) = failure {
            return Err(error);
        }
        let keys = &self.settings.keys;
        let (nodes, list, claim) = (keys.nodes(), keys.node_rooms(node), keys.node_sweep(node));
        redis::cmd("ZREM")
            .arg(nodes)
            .arg(node)
            .query_async::<Value>(&mut self.commands)
            .await?;
        // Both keys are tagged with the node: one slot on a cluster.
        redis::cmd("DEL")
            .arg(list)
            .arg(claim)
            .query_async::<Value>(&mut self.commands)
            .await?;
        Ok(())
    }
}
