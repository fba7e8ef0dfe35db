//! The `kms-sim` binary: settings errors exit 2 naming the setting; the secret is never logged.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn kms_sim() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kms-sim"));
    cmd.env_remove("PORT")
        .env_remove("KMS_WEBHOOK_URL")
        .env_remove("LITELLM_WEBHOOK_SECRET")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn bad_port_exits_2_naming_it() {
    let out = kms_sim().env("PORT", "eighty").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PORT"), "{stderr}");
}

#[test]
fn webhook_url_without_secret_exits_2() {
    let out = kms_sim()
        .env("PORT", "0")
        .env("KMS_WEBHOOK_URL", "http://127.0.0.1:9/hook")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LITELLM_WEBHOOK_SECRET"), "{stderr}");
}

#[test]
fn bad_webhook_url_exits_2() {
    let out = kms_sim()
        .env("KMS_WEBHOOK_URL", "ftp//nowhere")
        .env("LITELLM_WEBHOOK_SECRET", "s")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KMS_WEBHOOK_URL"));
}

#[test]
fn serves_and_never_logs_the_secret() {
    let secret = "very-secret-value-1234";
    let mut child = kms_sim()
        .env("PORT", "0")
        .env("KMS_WEBHOOK_URL", "http://127.0.0.1:9/hook")
        .env("LITELLM_WEBHOOK_SECRET", secret)
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
        if line.contains("kms-sim listening") {
            // addr=0.0.0.0:PORT
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
    let health = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
        use std::io::{Read, Write};
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        Ok(answer)
    });
    child.kill().unwrap();
    let _ = child.wait();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        lines.push(line);
    }
    let health = health.unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains(r#"{"status":"ok"}"#), "{health}");
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let all = format!("{}\n{stderr}", lines.join("\n"));
    assert!(!all.contains(secret), "secret leaked into logs: {all}");
}
