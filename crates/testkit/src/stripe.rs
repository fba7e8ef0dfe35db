//! localstripe (PyPI), started fresh on a random port for one test.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A running `localstripe --from-scratch`; killed when dropped.
pub struct LocalStripe {
    port: u16,
    child: Child,
}

impl LocalStripe {
    /// Start localstripe (`LOCALSTRIPE_BIN`, the project's `.venv`, or `PATH`) and wait until
    /// it answers.
    pub async fn start() -> anyhow::Result<Self> {
        // The port is free when asked for, but another process (a second suite on the same
        // machine) may take it before localstripe binds it; localstripe then exits, and
        // another port is tried.
        for _ in 0..5 {
            let port = crate::free_listener().local_addr()?.port();
            let child = Command::new(binary())
                .args(["--port", &port.to_string(), "--from-scratch"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| {
                    anyhow::anyhow!("cannot start localstripe ({e}); run scripts/setup-python.sh")
                })?;
            let mut stripe = Self { port, child };
            if stripe.wait_ready(Duration::from_secs(60)).await? {
                return Ok(stripe);
            }
        }
        anyhow::bail!("localstripe exited at start 5 times (ports taken?)")
    }

    /// `http://127.0.0.1:<port>`, the value for `STRIPE_API_BASE`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `true` once it answers, `false` if it exited first; an error after `within`.
    async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<bool> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()?;
        let url = format!("{}/v1/customers", self.base_url());
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let answered = client
                .get(&url)
                .bearer_auth("sk_test_tollgate")
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                return Ok(true);
            }
            if self.child.try_wait()?.is_some() {
                return Ok(false);
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("localstripe did not answer within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn binary() -> PathBuf {
    if let Ok(bin) = std::env::var("LOCALSTRIPE_BIN") {
        return bin.into();
    }
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.venv/bin/localstripe"
    ));
    if venv.exists() {
        return venv;
    }
    "localstripe".into()
}
