//! The members that stay: each joins once, reads until the end checking every seq, and its
//! loss is what its room stored since its join minus the distinct seqs it got.

use std::sync::Arc;

use futures_util::StreamExt as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{CLOSE_WAIT, Live, StableLoss};
use crate::conn::{self, ConnectOptions, Target, Ws};
use crate::seqcheck::{SeqChecker, SeqEvent};
use crate::wire;

/// Probes connecting at once at the end.
const PROBES_AT_ONCE: usize = 50;

/// A stable member's view at the end.
#[derive(Debug)]
pub(super) struct Member {
    room: usize,
    joined_seq: u64,
    distinct: u64,
    gaps: u64,
    duplicates: u64,
    reorders: u64,
    ended_early: bool,
}

/// A stable member: reads until `stop` (then closes) or the server ends it, checking seqs.
pub(super) async fn stay(
    mut ws: Ws,
    room: usize,
    joined_seq: u64,
    live: &Live,
    stop: CancellationToken,
) -> Member {
    let mut checker = SeqChecker::new(joined_seq);
    let mut member = Member {
        room,
        joined_seq,
        distinct: 0,
        gaps: 0,
        duplicates: 0,
        reorders: 0,
        ended_early: false,
    };
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => {
                let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
                return member;
            }
            f = ws.next() => f,
        };
        let seq = match frame {
            Some(Ok(Message::Text(text))) => match wire::scan_message(&text) {
                Some(m) => Some(m.seq),
                None => match wire::parse(&text) {
                    Ok(f) if f.kind == "message" => f.seq,
                    Ok(f) if f.kind == "error" => {
                        live.event(format!(
                            "stable: error {}",
                            f.code.as_deref().unwrap_or("?")
                        ));
                        None
                    }
                    _ => None,
                },
            },
            Some(Ok(Message::Close(f))) => {
                live.event(format!(
                    "stable: closed {}",
                    f.map_or(1005, |f| u16::from(f.code))
                ));
                member.ended_early = true;
                return member;
            }
            Some(Ok(_)) => None,
            Some(Err(e)) => {
                live.event(format!("stable: read error {e}"));
                member.ended_early = true;
                return member;
            }
            None => {
                live.event("stable: disconnected".to_owned());
                member.ended_early = true;
                return member;
            }
        };
        match seq.map(|s| checker.observe(s)) {
            Some(SeqEvent::InOrder) => member.distinct += 1,
            Some(SeqEvent::Gap { .. }) => {
                member.distinct += 1;
                member.gaps += 1;
            }
            Some(SeqEvent::Reorder) => {
                member.distinct += 1;
                member.reorders += 1;
            }
            Some(SeqEvent::Duplicate) => member.duplicates += 1,
            None => {}
        }
    }
}

/// The latest seq of each of the first `count` rooms (those with stable members), read by a
/// probe connection joining it.
pub(super) async fn probe(
    target: &Target,
    rooms: &Arc<[String]>,
    count: usize,
    opts: ConnectOptions,
    live: &Arc<Live>,
) -> Vec<Option<u64>> {
    let gate = Arc::new(Semaphore::new(PROBES_AT_ONCE));
    let mut tasks = JoinSet::new();
    for r in 0..count {
        let (target, rooms, gate, live) = (
            target.clone(),
            Arc::clone(rooms),
            Arc::clone(&gate),
            Arc::clone(live),
        );
        tasks.spawn(async move {
            let _permit = gate.acquire().await.ok()?;
            match conn::connect_and_join(&target, &format!("p{r}"), &rooms[r], None, opts).await {
                Ok(mut j) => {
                    let _ = tokio::time::timeout(CLOSE_WAIT, j.ws.close(None)).await;
                    Some((r, j.seq))
                }
                Err(e) => {
                    live.failed(format!("probe: {}", e.label()));
                    None
                }
            }
        });
    }
    let mut latest = vec![None; count];
    while let Some(done) = tasks.join_next().await {
        if let Ok(Some((r, seq))) = done {
            latest[r] = Some(seq);
        }
    }
    latest
}

/// Each member's loss against its room's latest seq.
pub(super) fn loss(members: &[Member], latest: &[Option<u64>]) -> StableLoss {
    let mut l = StableLoss {
        rooms_unprobed: latest.iter().filter(|s| s.is_none()).count() as u64,
        ..StableLoss::default()
    };
    for m in members {
        if m.ended_early {
            l.ended_early += 1;
        }
        let Some(Some(last)) = latest.get(m.room) else {
            continue;
        };
        l.members += 1;
        let expected = last.saturating_sub(m.joined_seq);
        let lost = expected.saturating_sub(m.distinct);
        l.expected += expected;
        l.received += m.distinct;
        l.lost += lost;
        l.members_with_loss += u64::from(lost > 0);
        l.gaps += m.gaps;
        l.duplicates += m.duplicates;
        l.reorders += m.reorders;
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(room: usize, joined_seq: u64, distinct: u64) -> Member {
        Member {
            room,
            joined_seq,
            distinct,
            gaps: 0,
            duplicates: 0,
            reorders: 0,
            ended_early: false,
        }
    }

    #[test]
    fn loss_counts_what_came_after_the_join() {
        let members = [member(0, 10, 5), member(0, 12, 3), member(1, 0, 7)];
        let l = loss(&members, &[Some(15), None]);
        assert_eq!((l.members, l.expected, l.received), (2, 8, 8));
        assert_eq!((l.lost, l.members_with_loss, l.rooms_unprobed), (0, 0, 1));
        let l = loss(&[member(0, 10, 3)], &[Some(15)]);
        assert_eq!((l.lost, l.members_with_loss), (2, 1));
    }
}
