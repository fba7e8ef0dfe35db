//! What every simulator binary and handle share besides faults: the binary's life after its
//! settings are read (logs, bind, runtime, serve until Ctrl-C or SIGTERM) and the base URL
//! of a bound address.

use std::future::Future;
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

/// `http://<addr>`, with `127.0.0.1` in place of an unspecified address.
pub fn base_url(mut addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        addr.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

pub use tollgate_signals::Shutdown;

/// Run simulator `name` on `0.0.0.0:port`: logs to stdout (`RUST_LOG`, default `info`),
/// stop signals caught from before the port is bound ([`Shutdown`]), then
/// `serve(listener, shutdown)` on a two-thread runtime; `serve` returns once `shutdown`
/// fired and its server stopped. A failure prints one line.
pub fn run<F, Fut>(name: &str, port: u16, serve: F) -> ExitCode
where
    F: FnOnce(TcpListener, Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{name}: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = Shutdown::install();
        let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("{name}: cannot bind 0.0.0.0:{port}: {error}");
                return ExitCode::FAILURE;
            }
        };
        match serve(listener, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{name}: {error:#}");
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::base_url;

    #[test]
    fn unspecified_addresses_become_loopback() {
        assert_eq!(
            base_url("0.0.0.0:80".parse().unwrap()),
            "http://127.0.0.1:80"
        );
        assert_eq!(
            base_url("127.0.0.1:9".parse().unwrap()),
            "http://127.0.0.1:9"
        );
    }
}
