//! The only targets this tool may load: `127.0.0.1` and `localhost`.
//!
//! Every URL a scenario will request is built and checked before the first request. The
//! HTTP client ([`client`]) follows no redirects, ignores proxy settings and resolves
//! `localhost` to 127.0.0.1 itself, so a checked URL cannot lead anywhere else.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::{Client, Url};

/// The hosts a target URL may name (as the URL parser normalises them: `127.1`,
/// `0x7f.0.0.1` and `LOCALHOST` are accepted as the same hosts).
pub const ALLOWED_HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(pub String);

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

/// Parse `raw` and accept it only if it is an `http`/`https` URL on an allowed host.
pub fn local_url(raw: &str) -> Result<Url, TargetError> {
    let url =
        Url::parse(raw.trim()).map_err(|e| TargetError(format!("invalid URL {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError(format!(
            "refusing {raw:?}: only http:// and https:// targets are supported"
        )));
    }
    match url.host_str() {
        Some(host) if ALLOWED_HOSTS.contains(&host) => Ok(url),
        Some(host) => Err(TargetError(format!(
            "refusing non-local target {raw:?} (host {host:?}): loadgen only sends load to \
             127.0.0.1 or localhost"
        ))),
        None => Err(TargetError(format!(
            "refusing {raw:?}: the URL names no host"
        ))),
    }
}

/// `base` (a local base URL, with or without a trailing `/`) followed by `path`, checked.
pub fn local_endpoint(base: &str, path: &str) -> Result<Url, TargetError> {
    // Check the base on its own too, so the message names what the user typed.
    local_url(base)?;
    local_url(&format!("{}{path}", base.trim().trim_end_matches('/')))
}

/// The load client: `timeout` per request (connect included), an idle pool large enough for
/// every worker, no redirects, no proxy, `localhost` pinned to 127.0.0.1.
pub fn client(concurrency: usize, timeout: Duration) -> reqwest::Result<Client> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_max_idle_per_host(concurrency.max(1))
        .redirect(Policy::none())
        .no_proxy()
        .resolve("localhost", SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .tcp_nodelay(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_names() {
        for ok in [
            "http://127.0.0.1:8081",
            "http://localhost:3000/v1/models",
            "https://LOCALHOST/x",
            "http://127.1:80/",
        ] {
            assert!(local_url(ok).is_ok(), "{ok} should be accepted");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "http://example.com/",
            "http://10.0.0.1:8080/",
            "http://127.0.0.2/",
            "http://[::1]:80/",
            "http://0.0.0.0:80/",
            "http://localhost.example.com/",
            "http://localhost./",
            "http://127.0.0.1.nip.io/",
            "ftp://127.0.0.1/",
            "file:///etc/passwd",
            "127.0.0.1:8080",
            "not a url",
        ] {
            assert!(local_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn endpoints_keep_the_base_path() {
        let url = local_endpoint("http://127.0.0.1:9/prefix/", "/v1/keys").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/prefix/v1/keys");
        assert!(local_endpoint("http://example.com", "/v1/keys").is_err());
        // The joined URL is checked too: a path cannot smuggle another host in.
        assert!(local_endpoint("http://127.0.0.1:9", "@example.com/").is_err());
    }
}
