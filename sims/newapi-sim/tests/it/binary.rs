//! The `newapi-sim` binary: settings errors and a real start/stop.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tollgate_newapi_schema::scratch::ScratchDb;
use tollgate_newapi_schema::Backend;

const BIN: &str = env!("CARGO_BIN_EXE_newapi-sim");

fn run_with(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(BIN);
    command
        .env_remove("PORT")
        .env_remove("NEWAPI_SIM_DATABASE_URL")
        .env_remove("NEWAPI_ADMIN_TOKEN");
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn missing_or_invalid_settings_exit_2_naming_the_setting() {
    let url = "postgres://postgres@127.0.0.1:5432/postgres";
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("NEWAPI_ADMIN_TOKEN", "t")], "NEWAPI_SIM_DATABASE_URL"),
        (&[("NEWAPI_SIM_DATABASE_URL", url)], "NEWAPI_ADMIN_TOKEN"),
        (
            &[
                ("NEWAPI_SIM_DATABASE_URL", "sqlite://x.db"),
                ("NEWAPI_ADMIN_TOKEN", "t"),
            ],
            "NEWAPI_SIM_DATABASE_URL",
        ),
        (
            &[
                ("PORT", "http"),
                ("NEWAPI_SIM_DATABASE_URL", url),
                ("NEWAPI_ADMIN_TOKEN", "t"),
            ],
            "PORT",
        ),
        (
            &[
                ("NEWAPI_SIM_DATABASE_URL", url),
                ("NEWAPI_ADMIN_TOKEN", "  "),
            ],
            "NEWAPI_ADMIN_TOKEN",
        ),
    ];
    for (vars, named) in cases {
        let (code, stderr) = run_with(vars);
        assert_eq!(code, Some(2), "{vars:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(named), "{vars:?}: {stderr}");
    }
}

#[tokio::test]
async fn serves_on_port_and_stops_on_sigterm() {
    let db = ScratchDb::create(Backend::Postgres, "newapi_sim_bin")
        .await
        .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .env("PORT", port.to_string())
        .env("NEWAPI_SIM_DATABASE_URL", db.url())
        .env("NEWAPI_ADMIN_TOKEN", "bin-admin")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/_sim/stats");
    let deadline = Instant::now() + Duration::from_secs(20);
    let stats: serde_json::Value = loop {
        match client.get(&url).send().await {
            Ok(response) => break response.json().await.unwrap(),
            Err(_) if Instant::now() < deadline => {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "newapi-sim exited early"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("newapi-sim never answered: {e}"),
        }
    };
    assert_eq!(stats["import_calls"], 0);
    let key = "Z".repeat(48);
    let answer: serde_json::Value = client
        .post(format!("http://127.0.0.1:{port}/api/token/import"))
        .bearer_auth("bin-admin")
        .json(&serde_json::json!({"key": key, "external_user_id": "bin", "name": "default", "unlimited_quota": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["success"], true, "{answer}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("newapi-sim did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}
