//! `ramp`: one fleet, then phases at rising offered rates (`start`, `start x factor`, ...)
//! until a step fails: p99 over the bound, anything lost or out of order, a disconnect, or
//! sends the server would not take. A step where the generator itself ran hot proves nothing
//! about the server: it is flagged, ends the ramp, and never counts as the server's figure.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::chart::{self, ChartPoint};
use crate::cli::{RampArgs, secs};
use crate::report::{self, PhaseReport};
use crate::scenarios::phase::{self, PhasePlan};
use crate::scenarios::setup::{self, SetupReport};

/// The warm-up of every step after the first: the connections are already warm, this only
/// lets the new rate settle before measuring.
const STEP_WARMUP: Duration = Duration::from_secs(1);
/// How many contended steps a ramp measures again (in all) before it stops on one.
const CONTENDED_RETRIES: usize = 3;
/// A step whose published rate is under this share of the offered one did not get its sends in.
const MIN_PUBLISHED_SHARE: f64 = 0.95;

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the p99 bound, nothing lost: the server sustained it.
    Pass,
    /// The generator's CPU was over the limit: the step measured the generator, not the server.
    GeneratorBound,
    /// The generator waited for its CPU (another process shared it): the latencies are not
    /// the server's alone, so the step proves nothing either way.
    Contended,
    /// Deliveries lost, or seqs skipped, duplicated or reordered.
    Loss,
    /// A connection was closed or dropped during the step.
    Disconnects,
    /// p99 latency over the bound.
    P99Over,
    /// The server did not take the sends at the offered rate (its socket pushed back).
    SendsBlocked,
}

/// One step of the ramp.
#[derive(Debug, Serialize)]
pub struct RampStep {
    pub step: usize,
    pub offered_deliveries_per_sec: f64,
    pub verdict: Verdict,
    pub result: PhaseReport,
}

/// The highest passing step.
#[derive(Debug, Clone, Serialize)]
pub struct Best {
    pub step: usize,
    pub offered_msgs_per_sec: f64,
    pub deliveries_per_sec: f64,
    pub p99_us: u64,
}

/// The `--json` line of a ramp.
#[derive(Debug, Serialize)]
pub struct RampReport {
    pub scenario: &'static str,
    pub setup: SetupReport,
    pub p99_bound_ms: f64,
    pub steps: Vec<RampStep>,
    pub best: Option<Best>,
    pub stopped: String,
    /// Steps measured again because the generator's CPU was shared.
    pub contended_retries: usize,
}

/// Judges one step. The generator's own CPU is checked first: past it nothing else is
/// evidence about the server.
pub fn judge(r: &PhaseReport, p99_ms: f64, max_generator_cpu: f64, max_wait: f64) -> Verdict {
    if r.generator_cpu_pct.is_some_and(|c| c > max_generator_cpu) {
        Verdict::GeneratorBound
    } else if r.contended(max_wait) {
        Verdict::Contended
    } else if r.has_loss() {
        Verdict::Loss
    } else if r
        .events
        .keys()
        .any(|k| k.starts_with("close") || k.starts_with("disconnected") || k.contains("error:"))
    {
        Verdict::Disconnects
    } else if r.latency.p99_us as f64 > p99_ms * 1000.0 {
        Verdict::P99Over
    } else if r.not_dispatched > 0
        || r.published_msgs_per_sec < MIN_PUBLISHED_SHARE * r.offered_msgs_per_sec
    {
        Verdict::SendsBlocked
    } else {
        Verdict::Pass
    }
}

pub async fn run(args: RampArgs) -> anyhow::Result<ExitCode> {
    let shape = &args.shape;
    let common = &shape.common;
    let prepared = setup::connect_shape(shape).await?;
    let members = prepared.setup.joined as f64 / shape.rooms.max(1) as f64;
    // Later steps pass any per-connection limit by design; warn only if the first one does.
    setup::warn_limits(common, &prepared.fleet, shape, args.start);
    if !common.json {
        println!("{}", setup::format_setup("ramp", &prepared.setup));
    }

    let mut steps = Vec::new();
    let mut best: Option<Best> = None;
    let mut stopped = format!("reached --max-steps {}", args.max_steps);
    let mut rate = args.start;
    let mut contended_retries = 0;
    for step in 1..=args.max_steps {
        let plan = PhasePlan {
            rate,
            warmup: if step == 1 {
                secs(shape.warmup)
            } else {
                STEP_WARMUP.min(secs(shape.warmup))
            },
            duration: secs(args.step_secs).max(Duration::from_millis(100)),
            drain: secs(shape.drain),
            label: format!("step {step}"),
        };
        let (result, verdict) = loop {
            let result = phase::run(
                &prepared.fleet,
                &prepared.live,
                &plan,
                common.pid,
                common.show_progress(),
            )
            .await;
            let verdict = judge(
                &result,
                args.p99_ms,
                args.max_generator_cpu,
                args.max_generator_wait,
            );
            if !common.json {
                println!("{}", step_line(step, rate * members, verdict, &result));
            }
            // Outside load comes and goes (other builds on a shared machine): measure again.
            if verdict == Verdict::Contended && contended_retries < CONTENDED_RETRIES {
                contended_retries += 1;
                continue;
            }
            break (result, verdict);
        };
        if verdict == Verdict::Pass
            && best
                .as_ref()
                .is_none_or(|b| result.deliveries_per_sec > b.deliveries_per_sec)
        {
            best = Some(Best {
                step,
                offered_msgs_per_sec: rate,
                deliveries_per_sec: result.deliveries_per_sec,
                p99_us: result.latency.p99_us,
            });
        }
        steps.push(RampStep {
            step,
            offered_deliveries_per_sec: rate * members,
            verdict,
            result,
        });
        if verdict != Verdict::Pass {
            stopped = format!("step {step}: {verdict:?}");
            break;
        }
        rate *= args.factor.max(1.0001);
    }
    prepared.fleet.close().await;

    if let Some(path) = &args.svg {
        let points: Vec<ChartPoint> = steps
            .iter()
            .map(|s| ChartPoint {
                step: s.step,
                offered: s.offered_deliveries_per_sec,
                delivered: s.result.deliveries_per_sec,
                p99_ms: s.result.latency.p99_us as f64 / 1000.0,
                pass: s.verdict == Verdict::Pass,
            })
            .collect();
        chart::draw_ramp(path, &points, args.p99_ms)?;
    }
    let report = RampReport {
        scenario: "ramp",
        setup: prepared.setup,
        p99_bound_ms: args.p99_ms,
        steps,
        best,
        stopped,
        contended_retries,
    };
    if common.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("stopped     {}", report.stopped);
        match &report.best {
            Some(b) => println!(
                "sustained   {} deliveries/s (step {}, offered {} msg/s, p99 {})",
                report::rate(b.deliveries_per_sec),
                b.step,
                report::rate(b.offered_msgs_per_sec),
                report::ms(b.p99_us)
            ),
            None => println!("sustained   none: the first step already failed"),
        }
        if let Some(last) = report.steps.last().filter(|s| s.verdict != Verdict::Pass) {
            println!("--- failing step {} in full:", last.step);
            print!("{}", report::format_phase(&last.result));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per step.
fn step_line(step: usize, offered_deliveries: f64, verdict: Verdict, r: &PhaseReport) -> String {
    let server = r.server.as_ref().map_or_else(String::new, |s| {
        format!(
            ", server {:.0}% {} µs/dlv",
            s.cpu_pct,
            s.us_per_delivery
                .map_or_else(|| "-".to_owned(), |u| format!("{u:.2}"))
        )
    });
    format!(
        "step {step:>2}  {:>9} msg/s  {:>10} -> {:>10} dlv/s  p99 {:>8}  lost {}{server}, gen {:.0}% (waited {:.0}%)  {verdict:?}",
        report::rate(r.offered_msgs_per_sec),
        report::rate(offered_deliveries),
        report::rate(r.deliveries_per_sec),
        report::ms(r.latency.p99_us),
        r.lost,
        r.generator_cpu_pct.unwrap_or(0.0),
        r.generator_cpu_wait_pct.unwrap_or(0.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Latency;
    use std::collections::BTreeMap;

    fn step(p99_us: u64, lost: u64, gen_cpu: f64, published: f64) -> PhaseReport {
        PhaseReport {
            window_secs: 5.0,
            offered_msgs_per_sec: 100.0,
            published_msgs_per_sec: published,
            published: 500,
            changes: 0,
            expected_deliveries: 5000,
            received_deliveries: 5000 - lost,
            deliveries_per_sec: 1000.0,
            latency: Latency {
                p99_us,
                ..Latency::default()
            },
            lost,
            loss_pct: 0.0,
            gaps: 0,
            missing_seqs: 0,
            duplicates: 0,
            reorders: 0,
            not_dispatched: 0,
            send_errors: 0,
            events: BTreeMap::new(),
            pacer_max_lag_ms: 1.0,
            generator_cpu_pct: Some(gen_cpu),
            generator_cpu_wait_pct: Some(1.0),
            server: None,
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            judge(&step(1000, 0, 20.0, 100.0), 50.0, 90.0, 5.0),
            Verdict::Pass
        );
        assert_eq!(
            judge(&step(60_000, 0, 20.0, 100.0), 50.0, 90.0, 5.0),
            Verdict::P99Over
        );
        assert_eq!(
            judge(&step(1000, 3, 20.0, 100.0), 50.0, 90.0, 5.0),
            Verdict::Loss
        );
        assert_eq!(
            judge(&step(1000, 0, 20.0, 80.0), 50.0, 90.0, 5.0),
            Verdict::SendsBlocked
        );
        // A hot generator outranks everything: its step proves nothing about the server.
        assert_eq!(
            judge(&step(60_000, 3, 95.0, 80.0), 50.0, 90.0, 5.0),
            Verdict::GeneratorBound
        );
        let mut shared = step(60_000, 0, 20.0, 100.0);
        shared.generator_cpu_wait_pct = Some(12.0);
        assert_eq!(judge(&shared, 50.0, 90.0, 5.0), Verdict::Contended);
        let mut closed = step(1000, 0, 20.0, 100.0);
        closed.events.insert("close 4008".into(), 1);
        assert_eq!(judge(&closed, 50.0, 90.0, 5.0), Verdict::Disconnects);
        let mut rate_limited = step(1000, 0, 20.0, 100.0);
        rate_limited.events.insert("error rate_limited".into(), 1);
        assert_eq!(judge(&rate_limited, 50.0, 90.0, 5.0), Verdict::Pass);
    }
}
