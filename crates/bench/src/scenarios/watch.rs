//! Watching the server from outside while `attack` and `soak` run: its resident memory
//! (`/proc/PID/status`), sampled on a timer so a short peak is seen, and its open file
//! descriptors (the entries of `/proc/PID/fd`). Reads that fail (no `--pid`, the server gone)
//! give `None`, never an error: the run goes on and the report says `-`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::procstat::Proc;

/// Resident memory over a stretch of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RssSpan {
    pub start_bytes: Option<u64>,
    pub peak_bytes: Option<u64>,
    pub end_bytes: Option<u64>,
    pub samples: u64,
}

/// A task sampling the server's RSS every `every` until [`RssWatch::stop`].
#[derive(Debug)]
pub struct RssWatch {
    span: Arc<Mutex<RssSpan>>,
    task: Option<JoinHandle<()>>,
}

impl RssWatch {
    /// Starts sampling `pid` (nothing is sampled without one).
    pub fn start(pid: Option<u32>, every: Duration) -> Self {
        let span = Arc::new(Mutex::new(RssSpan::default()));
        let task = pid.map(|pid| {
            let span = Arc::clone(&span);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(rss) = rss(Some(pid)) else { continue };
                    let mut s = span
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    s.start_bytes.get_or_insert(rss);
                    s.peak_bytes = Some(s.peak_bytes.map_or(rss, |p| p.max(rss)));
                    s.end_bytes = Some(rss);
                    s.samples += 1;
                }
            })
        });
        Self { span, task }
    }

    /// What was sampled so far (the watch goes on).
    pub fn now(&self) -> RssSpan {
        *self
            .span
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops sampling, takes one last sample as the end, and returns the span.
    pub fn stop(mut self, pid: Option<u32>) -> RssSpan {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let mut span = self.now();
        if let Some(rss) = rss(pid) {
            span.start_bytes.get_or_insert(rss);
            span.peak_bytes = Some(span.peak_bytes.map_or(rss, |p| p.max(rss)));
            span.end_bytes = Some(rss);
            span.samples += 1;
        }
        span
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The server's RSS now, in bytes.
pub fn rss(pid: Option<u32>) -> Option<u64> {
    Proc::Pid(pid?).rss_bytes().ok()
}

/// The server's open file descriptors now (entries of `/proc/PID/fd`).
pub fn open_fds(pid: Option<u32>) -> Option<u64> {
    let dir = std::fs::read_dir(format!("/proc/{}/fd", pid?)).ok()?;
    Some(dir.count() as u64)
}

/// Seconds since `start`, for the timestamps of a report.
pub fn secs_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn samples_this_process() {
        let pid = Some(std::process::id());
        assert!(open_fds(pid).is_some_and(|n| n >= 3));
        assert!(rss(pid).is_some_and(|r| r > 0));
        let watch = RssWatch::start(pid, Duration::from_millis(5));
        tokio::time::sleep(Duration::from_millis(30)).await;
        let span = watch.stop(pid);
        assert!(span.samples >= 2, "{span:?}");
        let (start, peak, end) = (
            span.start_bytes.unwrap_or(0),
            span.peak_bytes.unwrap_or(0),
            span.end_bytes.unwrap_or(0),
        );
        assert!(start > 0 && peak >= start && peak >= end, "{span:?}");
        assert_eq!(
            RssWatch::start(None, Duration::from_millis(1))
                .stop(None)
                .samples,
            0
        );
    }
}
