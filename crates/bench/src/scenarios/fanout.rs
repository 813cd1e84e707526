//! `fanout`: one fleet, one phase (warm-up, then the measured window, then drain), one report.

use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{FanoutArgs, secs};
use crate::report::{self, PhaseReport};
use crate::scenarios::phase::{self, PhasePlan};
use crate::scenarios::setup::{self, SetupReport};

/// The `--json` line of a fan-out run.
#[derive(Debug, Serialize)]
pub struct FanoutReport {
    pub scenario: &'static str,
    pub setup: SetupReport,
    pub result: PhaseReport,
}

pub async fn run(args: FanoutArgs) -> anyhow::Result<ExitCode> {
    let common = args.common();
    let prepared = setup::connect_shape(&args.shape).await?;
    setup::warn_limits(common, &prepared.fleet, &args.shape, args.rate);
    let plan = PhasePlan {
        rate: args.rate,
        warmup: secs(args.shape.warmup),
        duration: secs(args.duration).max(std::time::Duration::from_millis(100)),
        drain: secs(args.shape.drain),
        label: "fanout".to_owned(),
    };
    let result = phase::run(
        &prepared.fleet,
        &prepared.live,
        &plan,
        common.pid,
        common.show_progress(),
    )
    .await;
    prepared.fleet.close().await;
    let report = FanoutReport {
        scenario: "fanout",
        setup: prepared.setup,
        result,
    };
    if common.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", setup::format_setup("fanout", &report.setup));
        print!("{}", report::format_phase(&report.result));
    }
    Ok(ExitCode::SUCCESS)
}
