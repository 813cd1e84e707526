//! The clients that come and go: connect, join a room (another one each cycle), send a few
//! messages, stay a while reading, leave, disconnect, pause, again.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{CLOSE_WAIT, Live};
use crate::conn::{self, ConnectOptions, Target, Ws};
use crate::wire;

/// How long a churner waits for its `left`.
const LEFT_WAIT: Duration = Duration::from_secs(5);

/// One churning client's plan.
pub(super) struct Churn {
    pub(super) index: usize,
    pub(super) rooms: Arc<[String]>,
    pub(super) messages: u64,
    pub(super) size: usize,
    pub(super) dwell: Duration,
    pub(super) pause: Duration,
    pub(super) opts: ConnectOptions,
}

impl Churn {
    /// Cycles until `stop`; the first cycle starts at a random point of one cycle's length,
    /// so the churners do not connect all at once.
    pub(super) async fn run(self, target: &Target, live: &Live, stop: &CancellationToken) {
        let mut rng = SplitMix(self.index as u64);
        let first = (self.dwell + self.pause).mul_f64(rng.unit());
        if sleep_or_stop(first, stop).await {
            return;
        }
        let name = format!("c{}", self.index);
        let mut cycle = 0u64;
        while !stop.is_cancelled() {
            // Consecutive cycles visit rooms far apart, and churners spread over all rooms.
            let room = &self.rooms[(self.index + cycle as usize * 7919) % self.rooms.len()];
            cycle += 1;
            match conn::connect_and_join(target, &name, room, None, self.opts).await {
                Ok(joined) => {
                    live.connected(1);
                    self.visit(joined.ws, room, cycle, live, stop).await;
                    live.connected(-1);
                    live.cycles.fetch_add(1, Relaxed);
                }
                Err(e) => live.failed(format!("churn: {}", e.label())),
            }
            let pause = self.pause.mul_f64(0.5 + rng.unit());
            if sleep_or_stop(pause, stop).await {
                return;
            }
        }
    }

    /// One visit: send, stay (reading), leave, close.
    async fn visit(
        &self,
        mut ws: Ws,
        room: &str,
        cycle: u64,
        live: &Live,
        stop: &CancellationToken,
    ) {
        let mut buf = String::new();
        let id = format!("c{}-{cycle}", self.index);
        for n in 0..self.messages {
            wire::send_into(&mut buf, room, 0, self.size, &id, n);
            if ws.feed(Message::text(buf.as_str())).await.is_err() {
                live.event("churn: send failed".to_owned());
                return;
            }
            live.sent.fetch_add(1, Relaxed);
        }
        if ws.flush().await.is_err() {
            live.event("churn: send failed".to_owned());
            return;
        }
        let stay_until = Instant::now() + self.dwell;
        loop {
            let frame = tokio::select! {
                () = stop.cancelled() => break,
                r = tokio::time::timeout_at(stay_until, ws.next()) => match r {
                    Err(_) => break,
                    Ok(f) => f,
                },
            };
            if !self.read(frame, live) {
                return;
            }
        }
        if ws.send(Message::text(leave(room))).await.is_ok() {
            let left = async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(t)))
                            if wire::parse(&t).is_ok_and(|f| f.kind == "left") =>
                        {
                            return;
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    }
                }
            };
            if tokio::time::timeout(LEFT_WAIT, left).await.is_err() {
                live.event("churn: no left within 5 s".to_owned());
            }
        }
        let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
    }

    /// Handles a frame while staying; false when the connection ended.
    fn read(
        &self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
        live: &Live,
    ) -> bool {
        match frame {
            Some(Ok(Message::Text(text))) => {
                if wire::scan_message(&text).is_none()
                    && let Ok(f) = wire::parse(&text)
                    && f.kind == "error"
                {
                    live.event(format!("churn: error {}", f.code.as_deref().unwrap_or("?")));
                }
                true
            }
            Some(Ok(Message::Close(f))) => {
                live.event(format!(
                    "churn: closed {}",
                    f.map_or(1005, |f| u16::from(f.code))
                ));
                false
            }
            Some(Ok(_)) => true,
            Some(Err(e)) => {
                live.event(format!("churn: read error {e}"));
                false
            }
            None => {
                live.event("churn: disconnected".to_owned());
                false
            }
        }
    }
}

fn leave(room: &str) -> String {
    format!(r#"{{"type":"leave","room":"{room}"}}"#)
}

/// Sleeps `d` unless `stop` comes first; whether it did.
async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(d) => false,
    }
}

/// A small deterministic generator for jitter (splitmix64).
struct SplitMix(u64);

impl SplitMix {
    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_in_the_unit_interval() {
        let mut rng = SplitMix(7);
        let draws: Vec<f64> = (0..1000).map(|_| rng.unit()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = draws.iter().sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "{mean}");
    }
}
