//! Secrets and full keys never appear in key-sync's logs, even at debug level.

use crate::support;

use std::process::Stdio;
use std::time::Duration;

use key_sync::handlers::views::OwnerKeyList;
use sim_faults::{FaultMode, FaultRule};
use support::*;
use tollgate_testkit::{
    free_listener, newapi_sim, wait_until_up, NewapiBackend, TestDb, NEWAPI_ADMIN_TOKEN,
};

#[tokio::test]
async fn logs_hold_no_key_and_no_secret() {
    let db = TestDb::new().await;
    let newapi = newapi_sim(NewapiBackend::Postgres).await;
    let port = free_listener().local_addr().unwrap().port().to_string();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_key-sync"))
        .env_clear()
        .envs([
            ("DATABASE_URL", db.url()),
            ("ADMIN_TOKEN", "admin-token-in-logs-test"),
            ("HOST", "127.0.0.1"),
            ("PORT", port.as_str()),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
            ("NEWAPI_BASE_URL", newapi.base_url().as_str()),
            ("NEWAPI_ADMIN_TOKEN", NEWAPI_ADMIN_TOKEN),
            ("SUPABASE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("SUPABASE_JWT_SECRET", JWT_SECRET),
            ("KEY_ENCRYPTION_KEY", ENCRYPTION_KEY),
            ("NEWAPI_TIMEOUT_MS", "300"),
            ("SYNC_BACKOFF_BASE_MS", "50"),
            ("SYNC_BACKOFF_CAP_MS", "100"),
            ("SYNC_INTERVAL_MS", "50"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{base}/ready"), Duration::from_secs(20))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let mut keys = Vec::new();
    // One signup that syncs, one that fails first (error logged) and is retried.
    for fail in [false, true] {
        if fail {
            newapi.sim.faults().push(
                FaultRule::new(FaultMode::SuccessFalse)
                    .path("/api/token/import")
                    .times(2),
            );
        }
        let user = uuid::Uuid::new_v4().to_string();
        let res = client
            .post(format!("{base}/webhooks/supabase/users"))
            .bearer_auth(WEBHOOK_SECRET)
            .json(&signup(&user))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = client
            .get(format!("{base}/v1/keys"))
            .bearer_auth(user_token(&user))
            .send()
            .await
            .unwrap();
        let body: OwnerKeyList = tollgate_testkit::answer(res, 200).await;
        keys.push(body.keys[0].key.as_deref().unwrap()[3..].to_owned());
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        logs.contains("key synced to new-api"),
        "expected sync logs:\n{logs}"
    );
    assert!(logs.contains("key sync failed"), "expected a failure log");
    for secret in [
        WEBHOOK_SECRET,
        JWT_SECRET,
        ENCRYPTION_KEY,
        NEWAPI_ADMIN_TOKEN,
        "admin-token-in-logs-test",
    ] {
        assert!(!logs.contains(secret), "a secret is in the logs");
    }
    for key in &keys {
        assert!(!logs.contains(key.as_str()), "a full key is in the logs");
    }
}
