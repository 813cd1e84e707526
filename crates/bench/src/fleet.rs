//! A fleet: `total` clients spread over `rooms` rooms (client `i` joins room `i % rooms`, so
//! rooms fill side by side), the first `senders_per_room` members of each room being senders.
//! Connecting runs at most `concurrency` handshakes at once; each client task then stays
//! alive as a member until [`Fleet::close`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::AbortHandle;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::Changes;
use crate::client::{self, ClientCtx, SendTurn};
use crate::conn::{self, ConnectOptions, Target};
use crate::progress;
use crate::stages::ConnectStages;
use crate::stats::Live;
use crate::wire::Limits;

/// How many turns may wait for one sender before the pacer counts them as not dispatched.
const TURN_QUEUE: usize = 1024;
/// How long closing waits for the client tasks to finish their close handshakes.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The shape of a fleet.
#[derive(Clone, Debug)]
pub struct FleetSpec {
    /// Number of rooms.
    pub rooms: usize,
    /// Number of clients in all.
    pub total: usize,
    /// Senders per room (the members with the lowest numbers).
    pub senders_per_room: usize,
    /// Text size of a send, in bytes.
    pub size: usize,
    /// What senders change between their sends, if anything.
    pub changes: Option<Changes>,
    /// Room names are `{prefix}-{n}`; the prefix is unique per run so seqs start fresh.
    pub room_prefix: String,
    /// Handshakes in flight at once.
    pub concurrency: usize,
    /// The longest the whole connect phase may take; clients not joined by then count as
    /// failed.
    pub deadline: Duration,
    pub connect: ConnectOptions,
}

/// Connected clients.
#[derive(Debug)]
pub struct Fleet {
    /// One channel per connected sender, ordered by client number, so consecutive turns go
    /// to different rooms.
    pub senders: Vec<mpsc::Sender<SendTurn>>,
    /// Clients that joined, and those that did not, by cause.
    pub joined: usize,
    pub failures: BTreeMap<String, u64>,
    /// From the first connect to the last `joined`.
    pub connect_time: Duration,
    /// The limits announced in the first `welcome` that had any.
    pub limits: Option<Limits>,
    /// How long each connect stage took, over the clients that joined.
    pub stages: ConnectStages,
    tasks: JoinSet<()>,
    /// Ends each joined client's loop (it then sends its close frame).
    stops: Vec<AbortHandle>,
    /// Ends the clients still connecting.
    cancel: CancellationToken,
}

impl FleetSpec {
    /// The room of client `i`.
    pub fn room_of(&self, i: usize) -> usize {
        i % self.rooms.max(1)
    }

    /// Whether client `i` is a sender.
    pub fn is_sender(&self, i: usize) -> bool {
        i / self.rooms.max(1) < self.senders_per_room
    }
}

/// Connects and joins every client of `spec`. Failures are counted, not fatal.
/// Client `i` connects to `targets[i % targets.len()]`.
pub async fn connect(targets: &[Target], spec: &FleetSpec, live: &Arc<Live>, show: bool) -> Fleet {
    let cancel = CancellationToken::new();
    let gate = Arc::new(Semaphore::new(spec.concurrency.max(1)));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    let mut senders = Vec::new();
    let mut stops = Vec::with_capacity(spec.total);
    let room_names: Vec<Arc<str>> = (0..spec.rooms)
        .map(|r| Arc::from(format!("{}-{r}", spec.room_prefix)))
        .collect();
    let started = Instant::now();
    for i in 0..spec.total {
        let turns = if spec.is_sender(i) {
            let (tx, rx) = mpsc::channel(TURN_QUEUE);
            senders.push(tx);
            Some(rx)
        } else {
            None
        };
        let room = spec.room_of(i);
        let ctx = ClientCtx {
            index: i,
            room,
            room_name: Arc::clone(&room_names[room]),
            size: spec.size,
            changes: spec.changes,
            live: Arc::clone(live),
        };
        let (stop, stop_reg) = AbortHandle::new_pair();
        stops.push(stop);
        let cancel = cancel.clone();
        let target = targets[i % targets.len()].clone();
        let source = target.source_for(i, spec.total);
        let gate = Arc::clone(&gate);
        let ready = ready_tx.clone();
        let opts = spec.connect;
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let Ok(permit) = gate.acquire_owned().await else {
                return;
            };
            let name = format!("b{i}");
            let result = tokio::select! {
                () = cancel.cancelled() => return,
                r = conn::connect_and_join(&target, &name, &ctx.room_name, source, opts) => r,
            };
            drop(permit);
            match result {
                Ok(joined) => {
                    ctx.live.add_member(ctx.room);
                    let _ = ready.send(Ok((joined.limits, joined.stages)));
                    // Dropped now, so a task that dies before reporting cannot keep the
                    // connect loop waiting for a report that never comes.
                    drop(ready);
                    client::run(joined, ctx, turns, stop_reg).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e.label()));
                }
            }
        });
    }
    drop(ready_tx);

    let bar = progress::counter(spec.total as u64, "connecting", show);
    let mut fleet = Fleet {
        senders,
        joined: 0,
        failures: BTreeMap::new(),
        connect_time: Duration::ZERO,
        limits: None,
        stages: ConnectStages::default(),
        tasks,
        stops,
        cancel,
    };
    // Every client reports once and each connect stage has a timeout; the deadline bounds
    // the whole phase too, for a server that accepts ever more slowly.
    let deadline = tokio::time::Instant::from_std(started + spec.deadline);
    loop {
        let result = match tokio::time::timeout_at(deadline, ready_rx.recv()).await {
            Ok(Some(result)) => result,
            Ok(None) => break,
            Err(_) => {
                let reported = fleet.joined as u64 + fleet.failed();
                let late = (spec.total as u64).saturating_sub(reported);
                *fleet
                    .failures
                    .entry("connect deadline".to_owned())
                    .or_insert(0) += late;
                // Those still connecting give up; the joined ones stay.
                fleet.cancel.cancel();
                break;
            }
        };
        match result {
            Ok((limits, stages)) => {
                fleet.joined += 1;
                fleet.stages.record(stages);
                fleet.connect_time = started.elapsed();
                if fleet.limits.is_none() {
                    fleet.limits = limits;
                }
            }
            Err(label) => *fleet.failures.entry(label).or_insert(0) += 1,
        }
        bar.inc(1);
        if fleet.joined + fleet.failures.values().sum::<u64>() as usize == spec.total {
            break;
        }
    }
    bar.finish_and_clear();
    fleet
}

impl Fleet {
    /// Connection failures in all.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Closes every connection (a close handshake each, within a bound) and ends the tasks.
    pub async fn close(mut self) {
        for stop in &self.stops {
            stop.abort();
        }
        self.cancel.cancel();
        self.senders.clear();
        let tasks = &mut self.tasks;
        let all = async move { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(CLOSE_WAIT, all).await.is_err() {
            self.tasks.abort_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_fill_side_by_side_and_senders_come_first() {
        let spec = FleetSpec {
            rooms: 3,
            total: 12,
            senders_per_room: 2,
            size: 10,
            changes: None,
            room_prefix: "t".into(),
            concurrency: 1,
            deadline: Duration::from_secs(1),
            connect: ConnectOptions {
                stage_timeout: Duration::from_secs(1),
                read_buffer: 4096,
            },
        };
        let rooms: Vec<usize> = (0..6).map(|i| spec.room_of(i)).collect();
        assert_eq!(rooms, [0, 1, 2, 0, 1, 2]);
        let senders: Vec<usize> = (0..12).filter(|&i| spec.is_sender(i)).collect();
        assert_eq!(senders, [0, 1, 2, 3, 4, 5]);
    }
}
