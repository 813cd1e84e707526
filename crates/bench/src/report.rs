//! What a phase measured, as plain data: serialised as one JSON line for `--json`, or
//! written as a few aligned lines of text. Scenarios add their own setup lines around it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles of the measured deliveries, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Latency {
    /// Reads the percentiles off a histogram (all zero when it is empty).
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// The server's resource use over the measured window (`--pid`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerUsage {
    pub pid: u32,
    /// CPU in percent of one core over the window.
    pub cpu_pct: f64,
    pub cpu_secs: f64,
    /// Time its threads waited for a CPU, in percent of the window (its own threads on one
    /// pinned CPU wait for each other too, so this is a hint, not proof of outside load).
    pub cpu_wait_pct: Option<f64>,
    /// Server CPU per received delivery, in microseconds (None without deliveries).
    pub us_per_delivery: Option<f64>,
    /// The part of it spent in the server's own code (utime); the rest is the kernel's
    /// (stime), which for the same system calls is the same whichever server makes them.
    pub user_us_per_delivery: Option<f64>,
    /// Resident memory at the end of the window.
    pub rss_bytes: Option<u64>,
}

/// One measured window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseReport {
    pub window_secs: f64,
    pub offered_msgs_per_sec: f64,
    pub published_msgs_per_sec: f64,
    pub published: u64,
    /// Of the published, changes to an earlier message (`--changes`); not shown when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub changes: u64,
    pub expected_deliveries: u64,
    pub received_deliveries: u64,
    pub deliveries_per_sec: f64,
    pub latency: Latency,
    /// Expected deliveries that never arrived by the end of the drain.
    pub lost: u64,
    pub loss_pct: f64,
    pub gaps: u64,
    pub missing_seqs: u64,
    pub duplicates: u64,
    pub reorders: u64,
    /// Offered but never published: the pacer could not hand them to a sender.
    pub not_dispatched: u64,
    pub send_errors: u64,
    /// Close codes, error codes and disconnects seen, by label.
    pub events: BTreeMap<String, u64>,
    /// The most a pacer wake-up ran behind its deadline.
    pub pacer_max_lag_ms: f64,
    /// The generator's own CPU over the window, in percent of one core.
    pub generator_cpu_pct: Option<f64>,
    /// How long the generator's threads waited for a CPU, in percent of the window: when
    /// it is more than a few percent, another process shared the generator's CPU and the
    /// latencies include that wait.
    pub generator_cpu_wait_pct: Option<f64>,
    pub server: Option<ServerUsage>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Above this generator CPU wait (percent of the window) a phase's latencies are suspect.
pub const CONTENDED_WAIT_PCT: f64 = 5.0;

impl PhaseReport {
    /// Whether the generator waited for its CPU longer than `max_wait_pct` of the window
    /// ([`CONTENDED_WAIT_PCT`] unless an operator chose otherwise): the latencies are suspect.
    pub fn contended(&self, max_wait_pct: f64) -> bool {
        self.generator_cpu_wait_pct
            .is_some_and(|w| w > max_wait_pct)
    }
}

impl PhaseReport {
    /// Whether anything was lost or arrived out of order or twice.
    pub fn has_loss(&self) -> bool {
        self.lost > 0 || self.gaps > 0 || self.duplicates > 0 || self.reorders > 0
    }
}

/// Milliseconds with a precision that suits the magnitude.
pub fn ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// A byte count in MiB.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A rate with thousands separators, no decimals above 100.
pub fn rate(per_sec: f64) -> String {
    if per_sec < 100.0 {
        format!("{per_sec:.1}")
    } else {
        group(per_sec.round() as u64)
    }
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The events map as `label: n, ...`, or `none`.
pub fn events(events: &BTreeMap<String, u64>) -> String {
    if events.is_empty() {
        return "none".to_owned();
    }
    let parts: Vec<String> = events.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    parts.join(", ")
}

/// The text form of a phase: one line per aspect, labels aligned.
pub fn format_phase(p: &PhaseReport) -> String {
    let mut s = String::new();
    let l = &p.latency;
    // fmt::Write on String never fails.
    let _ = writeln!(
        s,
        "messages    offered {} msg/s, published {} msg/s ({} in {:.1} s{}){}",
        rate(p.offered_msgs_per_sec),
        rate(p.published_msgs_per_sec),
        group(p.published),
        p.window_secs,
        if p.changes > 0 {
            format!(", {} of them changes", group(p.changes))
        } else {
            String::new()
        },
        if p.not_dispatched > 0 {
            format!(", {} not dispatched", group(p.not_dispatched))
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "deliveries  expected {}, received {}, {} /s, lost {} ({:.3}%)",
        group(p.expected_deliveries),
        group(p.received_deliveries),
        rate(p.deliveries_per_sec),
        group(p.lost),
        p.loss_pct
    );
    let _ = writeln!(
        s,
        "latency     p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n={})",
        ms(l.p50_us),
        ms(l.p90_us),
        ms(l.p99_us),
        ms(l.p999_us),
        ms(l.max_us),
        group(l.count)
    );
    let _ = writeln!(
        s,
        "order       gaps {} (missing seqs {}), duplicates {}, reorders {}",
        p.gaps, p.missing_seqs, p.duplicates, p.reorders
    );
    let _ = writeln!(s, "events      {}", events(&p.events));
    match &p.server {
        Some(sv) => {
            let per = sv
                .us_per_delivery
                .map_or_else(|| "-".to_owned(), |u| format!("{u:.2}"));
            let user = match (sv.us_per_delivery, sv.user_us_per_delivery) {
                (Some(all), Some(user)) => {
                    format!(" (user {user:.2}, system {:.2})", all - user)
                }
                _ => String::new(),
            };
            let rss = sv.rss_bytes.map_or_else(|| "-".to_owned(), mib);
            let wait = sv
                .cpu_wait_pct
                .map_or_else(String::new, |w| format!(", waited for CPU {w:.1}%"));
            let _ = writeln!(
                s,
                "server      pid {}: CPU {:.1}% ({:.2} s){wait}, RSS {}, {} µs CPU/delivery{user}",
                sv.pid, sv.cpu_pct, sv.cpu_secs, rss, per
            );
        }
        None => {
            let _ = writeln!(s, "server      (no --pid: CPU and RSS not measured)");
        }
    }
    let gen_cpu = p
        .generator_cpu_pct
        .map_or_else(|| "-".to_owned(), |c| format!("{c:.1}%"));
    let wait = p
        .generator_cpu_wait_pct
        .map_or_else(String::new, |w| format!(", waited for CPU {w:.1}%"));
    let contended = if p.contended(CONTENDED_WAIT_PCT) {
        " (another process shared the generator's CPU: latencies are suspect)"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "generator   CPU {gen_cpu}{wait}, pacer max lag {:.1} ms{}{contended}",
        p.pacer_max_lag_ms,
        if p.send_errors > 0 {
            format!(", {} send errors", p.send_errors)
        } else {
            String::new()
        }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PhaseReport {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for v in 1..=1000u64 {
            h.record(v * 10).expect("in range");
        }
        PhaseReport {
            window_secs: 10.0,
            offered_msgs_per_sec: 100.0,
            published_msgs_per_sec: 99.9,
            published: 999,
            changes: 0,
            expected_deliveries: 499_500,
            received_deliveries: 499_499,
            deliveries_per_sec: 49_949.9,
            latency: Latency::from_histogram(&h),
            lost: 1,
            loss_pct: 0.0002,
            gaps: 1,
            missing_seqs: 1,
            duplicates: 0,
            reorders: 0,
            not_dispatched: 0,
            send_errors: 0,
            events: BTreeMap::from([("close 1000".to_owned(), 2)]),
            pacer_max_lag_ms: 1.25,
            generator_cpu_pct: Some(31.0),
            generator_cpu_wait_pct: Some(0.5),
            server: Some(ServerUsage {
                pid: 42,
                cpu_pct: 45.0,
                cpu_secs: 4.5,
                cpu_wait_pct: None,
                us_per_delivery: Some(9.01),
                user_us_per_delivery: Some(1.25),
                rss_bytes: Some(12 * 1024 * 1024),
            }),
        }
    }

    #[test]
    fn percentiles_from_a_known_histogram() {
        let l = sample().latency;
        assert_eq!(l.count, 1000);
        // Values 10..=10000 step 10: each quantile is the top of the 3-digit bucket of the
        // exact value (buckets are 4 wide around 5000 and 8 wide around 9000-10000).
        assert_eq!(l.p50_us, 5003);
        assert_eq!(l.p90_us, 9007);
        assert_eq!(l.p99_us, 9903);
        assert_eq!(l.p999_us, 9991);
        assert_eq!(l.max_us, 10_007);
        assert_eq!(
            Latency::from_histogram(&Histogram::new(3).expect("h")),
            Latency::default()
        );
    }

    #[test]
    fn text_report() {
        let text = format_phase(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7, "{text}");
        assert_eq!(
            lines[0],
            "messages    offered 100 msg/s, published 99.9 msg/s (999 in 10.0 s)"
        );
        assert_eq!(
            lines[1],
            "deliveries  expected 499,500, received 499,499, 49,950 /s, lost 1 (0.000%)"
        );
        assert!(
            lines[2].starts_with(
                "latency     p50 5.00 ms  p90 9.01 ms  p99 9.90 ms  p99.9 9.99 ms  max 10.0 ms"
            ),
            "{}",
            lines[2]
        );
        assert!(lines[2].ends_with("(n=1,000)"));
        assert_eq!(
            lines[3],
            "order       gaps 1 (missing seqs 1), duplicates 0, reorders 0"
        );
        assert_eq!(lines[4], "events      close 1000: 2");
        assert_eq!(
            lines[5],
            "server      pid 42: CPU 45.0% (4.50 s), RSS 12.0 MiB, 9.01 µs CPU/delivery (user 1.25, system 7.76)"
        );
        assert_eq!(
            lines[6],
            "generator   CPU 31.0%, waited for CPU 0.5%, pacer max lag 1.2 ms"
        );
    }

    #[test]
    fn json_is_one_line_with_the_fields() {
        let json = serde_json::to_string(&sample()).expect("serialises");
        assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid json");
        assert_eq!(v["latency"]["count"], 1000);
        assert_eq!(v["server"]["us_per_delivery"], 9.01);
        assert_eq!(v["server"]["user_us_per_delivery"], 1.25);
        assert_eq!(v["events"]["close 1000"], 2);
        assert!(v.get("changes").is_none(), "plain runs keep their JSON");
    }

    #[test]
    fn changes_are_shown_when_there_are_some() {
        let report = PhaseReport {
            changes: 499,
            ..sample()
        };
        let text = format_phase(&report);
        assert_eq!(
            text.lines().next(),
            Some(
                "messages    offered 100 msg/s, published 99.9 msg/s (999 in 10.0 s, 499 of them changes)"
            )
        );
        let json = serde_json::to_string(&report).expect("serialises");
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid json");
        assert_eq!(v["changes"], 499);
    }

    #[test]
    fn number_helpers() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(ms(1234), "1.23 ms");
        assert_eq!(ms(12_345), "12.3 ms");
        assert_eq!(ms(123_456), "123 ms");
        assert_eq!(rate(99.94), "99.9");
        assert_eq!(rate(49_949.9), "49,950");
    }
}
