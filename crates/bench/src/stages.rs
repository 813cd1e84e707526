//! How long each stage of a connect took (TCP, upgrade, `welcome`, `joined`), over all
//! clients: says which answer of the server a slower connect rate waits for. A stage's time
//! includes the generator's own delay in noticing the answer, which is the same for every
//! server measured with the same generator.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::stats::new_histogram;

/// One client's stage times, each from the end of the previous stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    /// `connect()` until the socket is connected.
    pub tcp: Duration,
    /// The upgrade request until the `101` response is read.
    pub upgrade: Duration,
    /// The `101` until `welcome` is read.
    pub welcome: Duration,
    /// Sending `join` until `joined` is read.
    pub joined: Duration,
}

/// Stage times of every joined client, in microseconds.
#[derive(Debug)]
pub struct ConnectStages {
    tcp: Histogram<u64>,
    upgrade: Histogram<u64>,
    welcome: Histogram<u64>,
    joined: Histogram<u64>,
}

/// One stage over all clients, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StageSummary {
    pub mean_us: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// Every stage over all clients.
#[derive(Debug, Clone, Serialize)]
pub struct StagesReport {
    pub tcp: StageSummary,
    pub upgrade: StageSummary,
    pub welcome: StageSummary,
    pub joined: StageSummary,
}

impl Default for ConnectStages {
    fn default() -> Self {
        Self {
            tcp: new_histogram(),
            upgrade: new_histogram(),
            welcome: new_histogram(),
            joined: new_histogram(),
        }
    }
}

impl ConnectStages {
    pub fn record(&mut self, t: StageTimes) {
        for (hist, took) in [
            (&mut self.tcp, t.tcp),
            (&mut self.upgrade, t.upgrade),
            (&mut self.welcome, t.welcome),
            (&mut self.joined, t.joined),
        ] {
            // Saturates at the histogram's bound (an hour) rather than failing.
            hist.saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        }
    }

    /// `None` before any client joined.
    pub fn report(&self) -> Option<StagesReport> {
        let summary = |h: &Histogram<u64>| StageSummary {
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
        };
        (!self.tcp.is_empty()).then(|| StagesReport {
            tcp: summary(&self.tcp),
            upgrade: summary(&self.upgrade),
            welcome: summary(&self.welcome),
            joined: summary(&self.joined),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_is_summarised_on_its_own() {
        let mut stages = ConnectStages::default();
        assert!(stages.report().is_none());
        for ms in 1..=100 {
            stages.record(StageTimes {
                tcp: Duration::from_micros(ms),
                upgrade: Duration::from_millis(ms),
                welcome: Duration::ZERO,
                joined: Duration::from_millis(2 * ms),
            });
        }
        let r = stages.report().expect("recorded");
        assert_eq!(r.tcp.p50_us, 50);
        assert!((49_900..=50_100).contains(&r.upgrade.p50_us), "{r:?}");
        assert!((98_900..=99_100).contains(&r.upgrade.p99_us), "{r:?}");
        assert_eq!(r.welcome.p99_us, 0);
        assert!(
            (100_900..=101_100).contains(&(r.joined.mean_us as u64)),
            "{r:?}"
        );
    }
}
