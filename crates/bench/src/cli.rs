//! The command line: `chat-bench fanout | ramp | idle | attack | soak`, each with the shared [`Common`]
//! options (target, runtime, output, connecting) plus its own.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::conn::ConnectOptions;

/// Load generator for the chat WebSocket protocol.
#[derive(Debug, Parser)]
#[command(name = "chat-bench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// R rooms x C clients, S senders per room at a combined paced rate; latency, loss, order.
    Fanout(FanoutArgs),
    /// Fan-out at rising rates until p99 passes a bound or anything is lost.
    Ramp(RampArgs),
    /// N idle joined connections: server RSS per connection and connect rate.
    Idle(IdleArgs),
    /// Hostile clients (issue 23): a history flood by a client that never reads, many
    /// distinct rooms, a presence flood; what they do to the server's RSS and other rooms.
    Attack(AttackArgs),
    /// N connections with churn for a duration: server RSS over time, open fds, loss for the
    /// members that stayed.
    Soak(SoakArgs),
}

impl Command {
    /// How many connections the command opens.
    pub fn connections(&self) -> usize {
        match self {
            Command::Fanout(a) => a.shape.rooms * a.shape.clients,
            Command::Ramp(a) => a.shape.rooms * a.shape.clients,
            Command::Idle(a) => a.conns,
            Command::Attack(a) => a.calm_members + a.presence_members + 4,
            Command::Soak(a) => a.conns + 1,
        }
    }

    /// The options every command has.
    pub fn common(&self) -> &Common {
        match self {
            Command::Fanout(a) => &a.shape.common,
            Command::Ramp(a) => &a.shape.common,
            Command::Idle(a) => &a.common,
            Command::Attack(a) => &a.common,
            Command::Soak(a) => &a.common,
        }
    }
}

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The server's WebSocket URL (`ws://` or `wss://`); `?name=` is added per client. Given several times (the
    /// nodes of one chat), client `i` connects to the `i mod n`-th, so every room's members
    /// are spread over the nodes.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: Vec<String>,
    /// For `wss://`: a PEM certificate (authority) to trust instead of the system's, e.g. the
    /// server's own self-signed test certificate.
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// The server's PID, to sample its CPU (/proc/PID/stat) and RSS (/proc/PID/status).
    #[arg(long, alias = "server-cpu-pid")]
    pub pid: Option<u32>,
    /// Runtime worker threads; 1 is a current-thread runtime (pin it with taskset).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print one JSON line instead of text (implies no progress bars).
    #[arg(long)]
    pub json: bool,
    /// No progress bars on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Timeout of each connect stage (TCP, upgrade, welcome, joined), in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// The longest the whole connect phase may take, in seconds; clients not joined by then
    /// count as failed and the run goes on with the others.
    #[arg(long, default_value_t = 120.0)]
    pub connect_deadline: f64,
    /// WebSocket read buffer per connection, in bytes [default: fits eight frames of --size,
    /// at least 4096]. tungstenite zero-fills it before every read, so a large one costs CPU
    /// per read; a small one costs a read per few frames when the server puts many in one
    /// write. A frame larger than it still arrives whole, in several reads.
    #[arg(long)]
    pub read_buffer: Option<usize>,
}

impl Common {
    /// Whether progress bars are drawn.
    pub fn show_progress(&self) -> bool {
        !self.quiet && !self.json
    }

    /// The per-client connect options, for message texts of `size` bytes.
    pub fn connect_options(&self, size: usize) -> ConnectOptions {
        ConnectOptions {
            stage_timeout: secs(self.connect_timeout),
            read_buffer: self
                .read_buffer
                .unwrap_or_else(|| auto_read_buffer(size))
                .max(64),
        }
    }
}

/// The fan-out shape shared by `fanout` and `ramp`.
#[derive(Debug, Clone, Args)]
pub struct Shape {
    #[command(flatten)]
    pub common: Common,
    /// Rooms.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Clients per room (senders included).
    #[arg(long, default_value_t = 10)]
    pub clients: usize,
    /// Senders per room.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// Message text size in bytes (the send stamp included).
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Seconds of warm-up before the measured window (not counted).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// After sending stops, seconds to wait for the expected deliveries before counting loss.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Every other turn of a sender changes its latest message instead of sending a new one
    /// (the rate counts both) [default: plain sends only].
    #[arg(long, value_enum)]
    pub changes: Option<Changes>,
}

/// The changes a sender makes to its own latest message, between its plain sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Changes {
    /// An `edit` with a new text of `--size` bytes.
    Edit,
    /// A `react` that puts the sender's 👍 on its latest message, or takes it back when that
    /// message has it already (its next one not arrived yet): each one stored.
    React,
    /// An edit, then a react, and so on.
    Mix,
}

#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub shape: Shape,
    /// Combined offered rate in messages/s, spread evenly over all senders.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds of the measured window.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
}

#[derive(Debug, Clone, Args)]
pub struct RampArgs {
    #[command(flatten)]
    pub shape: Shape,
    /// Offered rate of the first step, in messages/s.
    #[arg(long, default_value_t = 50.0)]
    pub start: f64,
    /// Each step's rate is the previous one's times this.
    #[arg(long, default_value_t = 1.2)]
    pub factor: f64,
    /// Seconds per step.
    #[arg(long, default_value_t = 5.0)]
    pub step_secs: f64,
    /// A step fails when its p99 latency is above this, in ms.
    #[arg(long, default_value_t = 50.0)]
    pub p99_ms: f64,
    /// Stop after this many steps even if none failed.
    #[arg(long, default_value_t = 40)]
    pub max_steps: usize,
    /// A step is generator-bound (and stops the ramp) above this generator CPU, in %.
    #[arg(long, default_value_t = 90.0)]
    pub max_generator_cpu: f64,
    /// A step is contended (measured again, then the ramp stops) when the generator waited
    /// for its CPU longer than this share of the step, in %.
    #[arg(long, default_value_t = crate::report::CONTENDED_WAIT_PCT)]
    pub max_generator_wait: f64,
    /// Draw offered vs delivered deliveries/s and p99 per step to this SVG file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub common: Common,
    /// Connections to open.
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,
    /// Rooms they join (connection i joins room i % rooms).
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Seconds to wait after the last join before reading the server's RSS.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
}

/// The attacks of `chat-bench attack`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Attacks {
    /// A room full of large messages, a client that never reads asking for all of it, and
    /// a calm room measured meanwhile.
    Flood,
    /// One connection joining and leaving many distinct rooms.
    Rooms,
    /// One client toggling join/leave in a room of a few members.
    Presence,
}

#[derive(Debug, Clone, Args)]
pub struct AttackArgs {
    #[command(flatten)]
    pub common: Common,
    /// Which attacks to run, in this order [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Attacks>,
    /// flood: messages stored in the flooded room.
    #[arg(long, default_value_t = 10_000)]
    pub messages: u64,
    /// flood: characters (U+0001, 6 bytes each once JSON-escaped) per message.
    #[arg(long, default_value_t = 4096)]
    pub text_bytes: usize,
    /// flood: `history` requests the attacker sends without reading.
    #[arg(long, default_value_t = 1000)]
    pub history_requests: u64,
    /// flood: the `limit` of each of them.
    #[arg(long, default_value_t = 200)]
    pub history_limit: u32,
    /// flood: `join` with `since: 0` the attacker sends after them.
    #[arg(long, default_value_t = 8)]
    pub since_joins: u64,
    /// flood: members of the calm room (one of them sends).
    #[arg(long, default_value_t = 20)]
    pub calm_members: usize,
    /// flood: the calm room's rate, messages/s.
    #[arg(long, default_value_t = 50.0)]
    pub calm_rate: f64,
    /// flood: seconds of the calm room's warm-up; the attack starts after it.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// flood: seconds of the calm room's measured window, the attack in it.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// flood: seconds to wait for the calm room's last deliveries.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// rooms: distinct room names joined and left.
    #[arg(long, default_value_t = 200_000)]
    pub rooms: u64,
    /// presence: join+leave toggles.
    #[arg(long, default_value_t = 20_000)]
    pub toggles: u64,
    /// presence: members of the room that count the presence frames.
    #[arg(long, default_value_t = 5)]
    pub presence_members: usize,
    /// Seconds to wait after an attack before the last RSS reading.
    #[arg(long, default_value_t = 3.0)]
    pub settle: f64,
    /// rooms and presence: the longest the requests may take, in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub deadline: f64,
}

impl AttackArgs {
    /// The attacks to run.
    pub fn which(&self) -> Vec<Attacks> {
        if self.only.is_empty() {
            vec![Attacks::Flood, Attacks::Rooms, Attacks::Presence]
        } else {
            self.only.clone()
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    #[command(flatten)]
    pub common: Common,
    /// Clients in all: the stable ones and those that churn.
    #[arg(long, default_value_t = 10_000)]
    pub conns: usize,
    /// Percent of the clients that stay joined the whole run.
    #[arg(long, default_value_t = 20.0)]
    pub stable_pct: f64,
    /// Rooms (client i of the stable ones joins room i % rooms; a churner a new room each
    /// cycle).
    #[arg(long, default_value_t = 500)]
    pub rooms: usize,
    /// Seconds of the run (churn stops then).
    #[arg(long, default_value_t = 600.0)]
    pub duration: f64,
    /// Seconds after the start before the first RSS sample that the flatness is judged from.
    #[arg(long, default_value_t = 60.0)]
    pub warmup: f64,
    /// Seconds between reports (RSS, fds, counts).
    #[arg(long, default_value_t = 10.0)]
    pub every: f64,
    /// Messages a churner sends in each cycle.
    #[arg(long, default_value_t = 3)]
    pub messages: u64,
    /// Seconds a churner stays joined after its sends.
    #[arg(long, default_value_t = 5.0)]
    pub dwell: f64,
    /// Seconds a churner stays disconnected between cycles (each one jittered ±50%).
    #[arg(long, default_value_t = 10.0)]
    pub pause: f64,
    /// Text size of a churner's messages, in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Seconds to wait after the churn for the last deliveries and closes.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
}

impl FanoutArgs {
    /// The shared options.
    pub fn common(&self) -> &Common {
        &self.shape.common
    }
}

/// A read buffer that holds eight `message` frames with a `size`-byte text (the JSON around
/// the text is under 256 bytes), as a power of two from 4 KiB to 64 KiB. Under load a server
/// that corks sends many frames in one write: with room for one frame, the generator spent
/// a `recv` per 3.7 deliveries and a sixth more CPU at 700k deliveries/s (BENCHMARKS run 10);
/// at light load, 4 KiB costs what 1 KiB did.
pub fn auto_read_buffer(size: usize) -> usize {
    ((size + 256) * 8)
        .next_power_of_two()
        .clamp(4096, 64 * 1024)
}

/// Seconds from the command line as a Duration (negative and NaN become zero).
pub fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_fanout_line() {
        let cli = Cli::try_parse_from([
            "chat-bench",
            "fanout",
            "--url",
            "ws://127.0.0.1:9101/ws",
            "--rooms",
            "1",
            "--clients",
            "500",
            "--senders",
            "10",
            "--rate",
            "100",
            "--size",
            "100",
            "--warmup",
            "2",
            "--duration",
            "10",
            "--pid",
            "1234",
        ])
        .expect("valid command line");
        let Command::Fanout(a) = cli.command else {
            panic!("not fanout")
        };
        assert_eq!(
            (a.shape.rooms, a.shape.clients, a.shape.senders),
            (1, 500, 10)
        );
        assert_eq!(a.common().pid, Some(1234));
        assert_eq!(a.common().url, ["ws://127.0.0.1:9101/ws"]);
        assert_eq!(a.common().threads, 1);
        assert_eq!(a.shape.changes, None);
        let cli = Cli::try_parse_from(["chat-bench", "idle", "--server-cpu-pid", "7", "--json"])
            .expect("alias");
        assert_eq!(cli.command.common().pid, Some(7));
        assert_eq!(cli.command.common().url, ["ws://127.0.0.1:8080/ws"]);
        assert!(!cli.command.common().show_progress());
        let cli = Cli::try_parse_from([
            "chat-bench",
            "idle",
            "--url",
            "ws://127.0.0.1:1/ws",
            "--url",
            "ws://127.0.0.1:2/ws",
        ])
        .expect("several nodes");
        assert_eq!(cli.command.common().url.len(), 2);
    }

    #[test]
    fn parses_the_changes() {
        for (word, changes) in [
            ("edit", Changes::Edit),
            ("react", Changes::React),
            ("mix", Changes::Mix),
        ] {
            let cli = Cli::try_parse_from(["chat-bench", "fanout", "--changes", word])
                .expect("valid command line");
            let Command::Fanout(a) = cli.command else {
                panic!("not fanout")
            };
            assert_eq!(a.shape.changes, Some(changes));
        }
        assert!(Cli::try_parse_from(["chat-bench", "fanout", "--changes", "delete"]).is_err());
    }

    #[test]
    fn read_buffer_fits_eight_frames() {
        assert_eq!(auto_read_buffer(0), 4096);
        assert_eq!(auto_read_buffer(100), 4096);
        assert_eq!(auto_read_buffer(1000), 16 * 1024);
        assert_eq!(auto_read_buffer(4096), 64 * 1024);
        assert_eq!(auto_read_buffer(1 << 20), 64 * 1024);
    }

    #[test]
    fn secs_clamps() {
        assert_eq!(secs(1.5), Duration::from_millis(1500));
        assert_eq!(secs(-1.0), Duration::ZERO);
        assert_eq!(secs(f64::NAN), Duration::ZERO);
    }
}
