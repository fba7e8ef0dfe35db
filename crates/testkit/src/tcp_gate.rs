//! A TCP forwarder that a test can close and open again: a database or service that is
//! "unreachable" for a while without stopping the real server (which other tests share).
//! While closed it accepts and drops every connection at once and cuts the forwarded ones,
//! so clients fail fast instead of hanging.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running forwarder to one upstream address; stops when dropped.
pub struct TcpGate {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    closed_tx: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpGate {
    /// Forward a local port to `upstream` (`host:port`), open.
    pub async fn start(upstream: &str) -> TcpGate {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gate");
        let addr = listener.local_addr().expect("gate address");
        let open = Arc::new(AtomicBool::new(true));
        let (closed_tx, closed_rx) = watch::channel(0_u64);
        let upstream = upstream.to_owned();
        let task = {
            let open = open.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    if !open.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let mut cut = closed_rx.clone();
                    // Only closes after this connection was made cut it.
                    cut.borrow_and_update();
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(&upstream).await else {
                            return;
                        };
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut.changed() => {}
                        }
                    });
                }
            })
        };
        TcpGate {
            addr,
            open,
            closed_tx,
            task,
        }
    }

    /// The local port to connect to instead of the upstream.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Refuse new connections and cut the open ones.
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.closed_tx.send_modify(|n| *n += 1);
    }

    /// Forward again.
    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpGate {
    fn drop(&mut self) {
        self.task.abort();
    }
}
