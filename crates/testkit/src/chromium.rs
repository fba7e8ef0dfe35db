//! Debian's headless Chromium for page tests (`CHROMIUM_BIN` overrides the binary;
//! `scripts/test.sh` installs it), and where screenshots are kept.

use std::path::PathBuf;
use std::time::Duration;

/// The Chromium binary.
pub fn chromium_bin() -> String {
    std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "chromium".into())
}

/// Run headless Chromium on `url` with a `window` size (`"1280,1100"`), the flags this
/// workplace's closed network needs, a throwaway profile and `extra` flags
/// (`--dump-dom`, `--screenshot=…`).
pub async fn run_chromium(window: &str, extra: &[&str], url: &str) -> std::process::Output {
    run_chromium_with_env(window, extra, url, &[]).await
}

/// [`run_chromium`] with extra environment variables, e.g. `TZ` for the browser's zone.
pub async fn run_chromium_with_env(
    window: &str,
    extra: &[&str],
    url: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    let profile =
        std::env::temp_dir().join(format!("tg-chromium-{}", uuid::Uuid::new_v4().simple()));
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--hide-scrollbars".into(),
        format!("--user-data-dir={}", profile.display()),
        "--virtual-time-budget=15000".into(),
        format!("--window-size={window}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(url.to_owned());
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new(chromium_bin())
            .args(&args)
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finished in time")
    .unwrap_or_else(|e| {
        panic!(
            "cannot run {} ({e}); scripts/test.sh installs Debian's chromium",
            chromium_bin()
        )
    });
    let _ = std::fs::remove_dir_all(profile);
    out
}

/// `target/test-artifacts/`, created when missing.
pub fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/test-artifacts"
    ));
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}
