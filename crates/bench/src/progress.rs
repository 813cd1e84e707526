//! Live progress on stderr (indicatif). Bars are hidden with `--quiet` or `--json`, so
//! stdout carries only the report.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting `len` items (connections), or a hidden one when `show` is false.
pub fn counter(len: u64, what: &str, show: bool) -> ProgressBar {
    let bar = new_bar(len, show);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({per_sec}, {elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A bar over a phase's seconds whose message the caller updates with live figures.
pub fn phase(total: Duration, show: bool) -> ProgressBar {
    let bar = new_bar(total.as_millis() as u64, show);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn new_bar(len: u64, show: bool) -> ProgressBar {
    if show {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    } else {
        ProgressBar::hidden()
    }
}
