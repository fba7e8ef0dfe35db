//! The `litellm-sim` binary: settings errors exit 2 naming the setting; the master key is
//! never logged.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn litellm_sim() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_litellm-sim"));
    for var in [
        "PORT",
        "LITELLM_MASTER_KEY",
        "WEBHOOK_URL",
        "DEFAULT_TEAM_BUDGET_DURATION",
        "SPEND_FLUSH_MS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
    cmd
}

#[test]
fn a_missing_master_key_exits_2_naming_it() {
    let out = litellm_sim().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("LITELLM_MASTER_KEY"), "{stderr}");
}

#[test]
fn a_bad_webhook_url_exits_2() {
    let out = litellm_sim()
        .env("LITELLM_MASTER_KEY", "sk-m")
        .env("WEBHOOK_URL", "ftp//nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WEBHOOK_URL"));
}

#[test]
fn serves_and_never_logs_the_master_key() {
    let master = "sk-very-secret-master-1234";
    let mut child = litellm_sim()
        .env("PORT", "0")
        .env("LITELLM_MASTER_KEY", master)
        .env("WEBHOOK_URL", "http://127.0.0.1:9/hook")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let mut port = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        if line.contains("litellm-sim listening") {
            port = line
                .split("addr=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|addr| addr.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok());
        }
        lines.push(line);
        if port.is_some() {
            break;
        }
    }
    let port = port.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("no listening line: {lines:?}")
    });
    let ask = |request: String| {
        std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.write_all(request.as_bytes())?;
            let mut answer = String::new();
            s.read_to_string(&mut answer)?;
            Ok(answer)
        })
    };
    let alive =
        ask("GET /health/liveliness HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into());
    let info = ask(format!(
        "GET /team/info?team_id=x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {master}\r\nConnection: close\r\n\r\n"
    ));
    child.kill().unwrap();
    let _ = child.wait();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        lines.push(line);
    }
    let alive = alive.unwrap();
    assert!(alive.starts_with("HTTP/1.1 200"), "{alive}");
    assert!(alive.contains("I'm alive!"), "{alive}");
    assert!(
        info.unwrap().starts_with("HTTP/1.1 404"),
        "the master key is accepted"
    );
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let all = format!("{}\n{stderr}", lines.join("\n"));
    assert!(!all.contains(master), "master key leaked into logs: {all}");
}
