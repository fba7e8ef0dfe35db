//! The `newapi-datagen` binary: flags in, one JSON line out.

use crate::common;

use std::process::Command;

use common::*;
use tollgate_newapi_schema::scratch::ScratchDb;
use tollgate_newapi_schema::Backend;

#[tokio::test]
async fn cli_prints_one_json_line() {
    for backend in [Backend::Postgres, Backend::Mysql] {
        let db = ScratchDb::create(backend, "datagen_cli").await.unwrap();
        let out = tokio::task::spawn_blocking({
            let url = db.url().to_owned();
            move || {
                Command::new(env!("CARGO_BIN_EXE_newapi-datagen"))
                    .args(["--url", &url, "--rows", "3000", "--tokens", "7"])
                    .args(["--models", "gpt-4o-mini,claude-3-5-sonnet,my-model"])
                    .args(["--heavy-token-rows", "1000", "--end", "1700000000"])
                    .args(["--days", "7", "--seed", "3", "--batch", "500"])
                    .args(["--create-tables", "--truncate", "--boundary", "--quiet"])
                    .args(["--token-status", "2=2"])
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{backend:?}: {stderr}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        for key in [
            "backend",
            "rows",
            "tokens",
            "heavy_token_id",
            "heavy_token_key",
            "seconds",
            "rows_per_s",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
        assert_eq!(v["rows"], 3002);
        assert_eq!(v["tokens"], 7);
        assert_eq!(v["heavy_rows"], 1002);
        assert_eq!(v["heavy_token_key"].as_str().unwrap().len(), 48);

        let mut conn = tollgate_newapi_schema::NewapiConn::establish(db.url())
            .await
            .unwrap();
        assert_eq!(count_logs(&mut conn).await, 3002);
        let tokens = all_tokens(&mut conn).await;
        assert_eq!(tokens.len(), 7);
        assert_eq!(tokens[2].status, 2);
        let logs = all_logs(&mut conn).await;
        let models: std::collections::BTreeSet<&str> = logs
            .iter()
            .map(|l| l.model_name.as_str())
            .filter(|m| !m.is_empty())
            .collect();
        assert_eq!(
            models.into_iter().collect::<Vec<_>>(),
            ["claude-3-5-sonnet", "gpt-4o-mini", "my-model"]
        );
        assert!(logs
            .iter()
            .all(|l| (1_700_000_000 - 7 * 86_400..=1_700_000_000).contains(&l.created_at)));
    }

    let bad = Command::new(env!("CARGO_BIN_EXE_newapi-datagen"))
        .args(["--url", "postgres://x@127.0.0.1:1/none", "--method", "nope"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
