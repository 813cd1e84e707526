//! A server started in the caller's runtime on a port the OS picks: how the tests (this
//! crate's and `chat-bench`'s) and an embedding program get a real server without a process.

use std::net::SocketAddr;

use chat_config::Settings;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A running server; [`Background::stop`] shuts it down as SIGTERM would. Dropping it
/// shuts it down too, without waiting.
#[derive(Debug)]
pub struct Background {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Background {
    /// Binds `127.0.0.1:0` and serves `settings` there.
    pub async fn start(settings: Settings) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::run(listener, settings, async {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        }));
        Ok(Self { addr, stop, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts the shutdown and waits for [`crate::run`] to return its result.
    pub async fn stop(self) -> anyhow::Result<()> {
        // Already stopping if the server ended on its own.
        let _ = self.stop.send(());
        self.task.await?
    }
}
