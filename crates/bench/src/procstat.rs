//! CPU time and resident memory of a process, read from `/proc/PID/stat` (utime and stime, in
//! clock ticks) and `/proc/PID/status` (`VmRSS`). Used for the server (`--pid`) and for the
//! generator itself, to show when the generator rather than the server was the limit.

use std::time::{Duration, Instant};

/// Which process to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proc {
    /// This process (`/proc/self`).
    Own,
    /// Another process by PID.
    Pid(u32),
}

/// Why a `/proc` read failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("reading {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("unexpected format in {what}: {detail}")]
    Format { what: &'static str, detail: String },
}

impl Proc {
    fn path(&self, file: &str) -> String {
        match self {
            Proc::Own => format!("/proc/self/{file}"),
            Proc::Pid(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    fn read(&self, file: &str) -> Result<String, ProcError> {
        let path = self.path(file);
        std::fs::read_to_string(&path).map_err(|source| ProcError::Io { path, source })
    }

    /// Resident set size in bytes.
    pub fn rss_bytes(&self) -> Result<u64, ProcError> {
        Ok(parse_status_rss_kb(&self.read("status")?)? * 1024)
    }

    /// Time its threads spent runnable but waiting for a CPU, summed over all of them
    /// (`/proc/PID/task/*/schedstat`, second field). Threads that already exited are missed.
    pub fn cpu_wait(&self) -> Result<Duration, ProcError> {
        let dir = self.path("task");
        let entries = std::fs::read_dir(&dir).map_err(|source| ProcError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut total = 0u64;
        for entry in entries.flatten() {
            // A thread may exit between the listing and the read: skip it.
            if let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) {
                total += parse_schedstat_wait_ns(&text)?;
            }
        }
        Ok(Duration::from_nanos(total))
    }

    /// A CPU-time sample (all threads) at this instant.
    pub fn sample(&self) -> Result<CpuSample, ProcError> {
        let ticks = parse_stat_ticks(&self.read("stat")?)?;
        let per_sec = ticks_per_second();
        Ok(CpuSample {
            at: Instant::now(),
            cpu: ticks_to_duration(ticks.user + ticks.system, per_sec),
            user: ticks_to_duration(ticks.user, per_sec),
            wait: self.cpu_wait().ok(),
        })
    }
}

/// CPU time used by a process, read at a wall-clock instant.
#[derive(Clone, Copy, Debug)]
pub struct CpuSample {
    /// When it was read.
    pub at: Instant,
    /// utime + stime so far.
    pub cpu: Duration,
    /// utime so far: the process's own code, the rest (stime) is the kernel working for it.
    pub user: Duration,
    /// Time spent waiting for a CPU so far (None if schedstat is not readable).
    pub wait: Option<Duration>,
}

impl CpuSample {
    /// CPU seconds used from `earlier` to `self`.
    pub fn cpu_secs_since(&self, earlier: &CpuSample) -> f64 {
        self.cpu.saturating_sub(earlier.cpu).as_secs_f64()
    }

    /// CPU seconds spent in user space from `earlier` to `self`.
    pub fn user_secs_since(&self, earlier: &CpuSample) -> f64 {
        self.user.saturating_sub(earlier.user).as_secs_f64()
    }

    /// CPU use from `earlier` to `self` in percent of one core (200 means two cores busy).
    pub fn percent_since(&self, earlier: &CpuSample) -> f64 {
        let wall = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        100.0 * self.cpu_secs_since(earlier) / wall
    }

    /// Time spent waiting for a CPU from `earlier` to `self`, in percent of the wall time:
    /// above a few percent, another process was sharing the CPU.
    pub fn wait_percent_since(&self, earlier: &CpuSample) -> Option<f64> {
        let wall = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        let waited = self.wait?.saturating_sub(earlier.wait?).as_secs_f64();
        (wall > 0.0).then(|| 100.0 * waited / wall)
    }
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, from the aux vector; 100 on Linux).
pub fn ticks_per_second() -> u64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100,
        n => n,
    }
}

fn ticks_to_duration(ticks: u64, per_sec: u64) -> Duration {
    let per_sec = per_sec.max(1);
    Duration::from_secs(ticks / per_sec)
        + Duration::from_nanos((ticks % per_sec) * 1_000_000_000 / per_sec)
}

/// Clock ticks a process spent in its own code and in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatTicks {
    pub user: u64,
    pub system: u64,
}

/// utime and stime (fields 14 and 15) from the text of `/proc/PID/stat`. The command name
/// (field 2) sits in parentheses and may itself hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat_ticks(stat: &str) -> Result<StatTicks, ProcError> {
    let bad = |detail: &str| ProcError::Format {
        what: "/proc/PID/stat",
        detail: detail.to_owned(),
    };
    let close = stat
        .rfind(')')
        .ok_or_else(|| bad("no ')' after the command name"))?;
    // After ")": field 3 (state) is index 0, so utime (14) is index 11 and stime (15) is 12.
    let mut fields = stat[close + 1..].split_ascii_whitespace().skip(11);
    let mut next = |name: &str| -> Result<u64, ProcError> {
        fields
            .next()
            .ok_or_else(|| bad(&format!("missing {name}")))?
            .parse::<u64>()
            .map_err(|e| bad(&format!("{name}: {e}")))
    };
    let user = next("utime")?;
    let system = next("stime")?;
    Ok(StatTicks { user, system })
}

/// The run-queue wait in nanoseconds from the text of `/proc/PID/task/TID/schedstat`
/// (`on-cpu-ns wait-ns timeslices`).
pub fn parse_schedstat_wait_ns(schedstat: &str) -> Result<u64, ProcError> {
    schedstat
        .split_ascii_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| ProcError::Format {
            what: "/proc/PID/task/TID/schedstat",
            detail: format!("{schedstat:?}"),
        })
}

/// `VmRSS` in kB from the text of `/proc/PID/status`.
pub fn parse_status_rss_kb(status: &str) -> Result<u64, ProcError> {
    let bad = |detail: String| ProcError::Format {
        what: "/proc/PID/status",
        detail,
    };
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .ok_or_else(|| bad("no VmRSS line (a zombie or kernel thread?)".to_owned()))?;
    let mut parts = line.split_ascii_whitespace();
    let value = parts
        .next()
        .ok_or_else(|| bad("empty VmRSS".to_owned()))?
        .parse::<u64>()
        .map_err(|e| bad(format!("VmRSS: {e}")))?;
    match parts.next() {
        Some("kB") | None => Ok(value),
        Some(unit) => Err(bad(format!("VmRSS unit {unit}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_paren() {
        let stat = "4242 (we ird) name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 1 0 12345 1000000 200 18446744073709551615";
        assert_eq!(
            parse_stat_ticks(stat).expect("valid stat"),
            StatTicks {
                user: 250,
                system: 75
            }
        );
    }

    #[test]
    fn stat_without_paren_or_fields_is_an_error() {
        assert!(parse_stat_ticks("4242 S 1 2").is_err());
        assert!(parse_stat_ticks("4242 (x) S 1 2 3").is_err());
    }

    #[test]
    fn status_rss() {
        let status = "Name:\tcat\nVmPeak:\t   9000 kB\nVmRSS:\t    1864 kB\nThreads:\t1\n";
        assert_eq!(parse_status_rss_kb(status).expect("valid status"), 1864);
        assert!(parse_status_rss_kb("Name:\tkthreadd\n").is_err());
    }

    #[test]
    fn schedstat_wait() {
        assert_eq!(
            parse_schedstat_wait_ns("123456 7890 12\n").expect("valid"),
            7890
        );
        assert!(parse_schedstat_wait_ns("123456").is_err());
        assert!(Proc::Own.cpu_wait().is_ok());
    }

    #[test]
    fn own_process_reads() {
        let own = Proc::Own;
        let pid = Proc::Pid(std::process::id());
        assert!(own.rss_bytes().expect("own RSS") > 0);
        assert!(pid.rss_bytes().expect("RSS by PID") > 0);
        let before = pid.sample().expect("own stat");
        // Burn a little CPU so the tick counter can only go up.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = own.sample().expect("own stat");
        assert!(after.cpu >= before.cpu);
        assert!(after.user >= before.user && after.user <= after.cpu);
        assert!(after.user_secs_since(&before) <= after.cpu_secs_since(&before) + 1e-9);
        assert!(after.percent_since(&before) >= 0.0);
    }

    #[test]
    fn tick_conversion() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(3, 1000), Duration::from_millis(3));
        assert!(ticks_per_second() >= 100);
    }
}
