//! A local port where connections are refused, held for as long as the test needs it.

use std::net::{SocketAddr, TcpListener};

/// A port on 127.0.0.1 that is bound but not listening, so connecting to it is refused.
///
/// Binding port 0 and closing the socket again is not enough: the OS may hand the freed
/// port to the next test that binds port 0, and the "dead" address then answers. Holding
/// the bound socket keeps the port reserved until this value is dropped or
/// [`listen`](Self::listen)ed on.
pub struct ClosedPort {
    socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl ClosedPort {
    /// Reserves a port chosen by the OS.
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("tcp socket");
        socket
            .bind("127.0.0.1:0".parse().expect("loopback address"))
            .expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("bound address");
        Self { socket, addr }
    }

    /// The reserved port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>`, with no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts listening on the reserved port (call within a Tokio runtime).
    pub fn listen(self) -> TcpListener {
        let listener = self.socket.listen(1024).expect("listen");
        listener.into_std().expect("std listener")
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}
