//! Any bytes a client sends to the server's port, through the real server (HTTP parsing,
//! routes, the WebSocket upgrade's checks, and the chat behind a 101): it answers or hangs
//! up, never panics (libFuzzer's panic hook aborts on a panic in any of its tasks).
#![no_main]

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use chat_config::{HistoryBackend, Settings};
use libfuzzer_sys::fuzz_target;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    runtime::Runtime,
    time::timeout,
};

/// One server for the whole run, on a port of its own.
fn server() -> &'static (Runtime, SocketAddr) {
    static SERVER: OnceLock<(Runtime, SocketAddr)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = Runtime::new().expect("runtime");
        let mut settings = Settings::default();
        settings.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.history.backend = HistoryBackend::Memory;
        let addr = runtime.block_on(async {
            let server = chat_server::Background::start(settings)
                .await
                .expect("start");
            let addr = server.addr();
            // Serves until the process ends.
            std::mem::forget(server);
            addr
        });
        (runtime, addr)
    })
}

fuzz_target!(|data: &[u8]| {
    let (runtime, addr) = server();
    runtime.block_on(async {
        let Ok(mut tcp) = TcpStream::connect(addr).await else {
            return;
        };
        // A reset instead of TIME_WAIT: a run opens millions of connections. (Deprecated for
        // the wait a non-zero linger makes on drop; a zero one closes at once.)
        #[allow(deprecated)]
        let _ = tcp.set_linger(Some(Duration::ZERO));
        if tcp.write_all(data).await.is_err() {
            return;
        }
        let _ = tcp.shutdown().await;
        let mut answer = [0u8; 4096];
        // Read until the server hangs up; a request it still waits on is left after 200 ms.
        let _ = timeout(Duration::from_millis(200), async {
            while matches!(tcp.read(&mut answer).await, Ok(n) if n > 0) {}
        })
        .await;
    });
});
