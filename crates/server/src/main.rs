//! `chat-server`: parses the command line, loads settings, and runs the server until SIGTERM
//! or SIGINT (SIGHUP reloads the TLS certificate and key); `chat-server token` prints a
//! signed JWT instead. Exit codes: 0 after a clean shutdown, 1 when the server fails
//! (including a port it cannot bind or a `history.path` it cannot use), 2 for a configuration
//! error (a TLS certificate or key that cannot be used among them).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use chat_config::{Settings, Sources};
use clap::{Parser, Subcommand};
use tokio::net::{TcpListener, TcpSocket};

/// What `--help` tells someone who runs the server; the package description speaks to
/// developers instead.
const ABOUT: &str = "A chat server with rooms, history and a chat page for the browser.";

const AFTER_HELP: &str = "\
Run it and open http://localhost:8080 in a browser: pick a name, join rooms, chat.
Messages are kept in data/chat.db (relative to the folder you start it from).

Settings (later wins): built-in defaults, config/default.toml in the current folder,
the file given with --config, environment variables CHAT__SECTION__KEY
(e.g. CHAT__WS__IDLE_TIMEOUT=2m), then the flags above. Every key is listed with its
default in config/default.toml. A wrong value stops the start with a message naming
the key and exit code 2.

Examples:
  chat-server                                   listen on 0.0.0.0:8080
  chat-server --listen 127.0.0.1:9000           another address
  CHAT__HISTORY__BACKEND=memory chat-server     keep no history on disk
  chat-server --config /etc/chat/chat.toml      settings from a file

Health: GET /healthz and /readyz; metrics for Prometheus: GET /metrics.
SIGTERM or Ctrl+C closes every connection cleanly and exits 0.";

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "chat-server", version, about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    /// Read settings from this TOML file (see config/default.toml for every key).
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// Address and port to listen on, e.g. 0.0.0.0:8080 or 127.0.0.1:9000.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// How much to log: error, warn, info (the default) or debug.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints a JWT for `auth.mode = "jwt"`, signed with the configured auth.jwt_secret.
    Token {
        /// The user's id (the `sub` claim).
        #[arg(long)]
        sub: String,
        /// Display name (the `name` claim).
        #[arg(long)]
        name: Option<String>,
        /// Rooms the user may join, comma-separated; an entry ending in `*` is a prefix,
        /// e.g. 'team-*,dm.alice.*' (the `rooms` claim). Without it: every room.
        #[arg(long, value_name = "LIST")]
        rooms: Option<String>,
        /// How long the token is valid, e.g. 15m, 12h, 7days (at most 366days).
        #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let sources = Sources::from_process(cli.config, cli.listen, cli.log_level);
    let settings = match Settings::load(&sources) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("chat-server: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Token {
        sub,
        name,
        rooms,
        ttl,
    }) = cli.command
    {
        let request = chat_server::TokenRequest {
            sub,
            name,
            rooms,
            ttl,
        };
        return match chat_server::token(&settings, request) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("chat-server: configuration error: {e}");
                ExitCode::from(2)
            }
        };
    }
    if let Err(e) = chat_logger::init(&settings.log.level, settings.log.format) {
        eprintln!("chat-server: configuration error: {e}");
        return ExitCode::from(2);
    }
    // On one CPU (e.g. pinned with taskset) a single-threaded scheduler does the same work
    // without the work-stealing machinery.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chat-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<chat_server::TlsError>() => {
            tracing::error!(error = %e, "configuration error");
            eprintln!("chat-server: configuration error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            eprintln!("chat-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Handlers first: a signal that arrives once the server is listening must stop it
    // gracefully, not kill it.
    let shutdown = shutdown_signal()?;
    let listener = listen(settings.server.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.server.listen))?;
    chat_server::run(listener, settings, shutdown).await
}

/// Connections the kernel completes and queues before `accept` takes them; the kernel caps
/// it at `net.core.somaxconn`. The default of 128 overflowed while thousands of clients
/// reconnected at once: each dropped handshake is retried by the client a second later.
const ACCEPT_BACKLOG: u32 = 4096;

/// Binds the listening socket (with `SO_REUSEADDR`, as the standard library does).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Installs the SIGTERM and SIGINT handlers; the future completes on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
