//! A TCP gate in front of a server (Redis) that the test closes to new connections: those
//! already through stay, new ones are cut at once, as an unreachable address would be.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// The gate; it stops forwarding when dropped.
pub struct Gate {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Gate {
    /// Opens a gate on a free port of the loopback to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let open = Arc::new(AtomicBool::new(true));
        let letting = open.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !letting.load(Ordering::SeqCst) {
                    // Dropped: the caller sees the connection closed.
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, open, task }
    }

    /// Lets new connections through (`true`) or cuts them.
    pub fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}
