//! Settings for a service under test.

use tollgate_web::CommonSettings;

/// The admin token every spawned test service accepts.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Common settings for a test: 127.0.0.1, port 0, the given database, small pool.
pub fn common_settings(database_url: &str) -> CommonSettings {
    CommonSettings {
        host: "127.0.0.1".into(),
        port: 0,
        database_url: database_url.into(),
        admin_token: ADMIN_TOKEN.into(),
        log_format: "pretty".into(),
        rust_log: std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
        request_body_limit: 64 * 1024,
        db_pool_size: 5,
        db_connect_timeout_secs: 5,
        shutdown_timeout_secs: 1,
    }
}

/// The database password and admin token of [`common_settings_with_secrets`].
pub const COMMON_SECRETS: [&str; 2] = ["db-password-never-printed", "admin-token-never-printed"];

/// Common settings whose database URL carries a password and whose admin token is a marker
/// (both [`COMMON_SECRETS`]), for tests that check a settings value never prints a secret.
pub fn common_settings_with_secrets() -> CommonSettings {
    let mut common = common_settings(&format!(
        "postgres://tollgate:{}@127.0.0.1:5432/tollgate",
        COMMON_SECRETS[0]
    ));
    common.admin_token = COMMON_SECRETS[1].into();
    common
}

/// Fail unless `value`'s `Debug` output shows none of `secrets` and says it redacted
/// something (secrecy's `[REDACTED]`).
pub fn assert_debug_hides(value: &impl std::fmt::Debug, secrets: &[&str]) {
    let printed = format!("{value:?}");
    for secret in secrets {
        assert!(
            !printed.contains(secret),
            "Debug output shows the secret {secret:?}"
        );
    }
    assert!(
        printed.contains("[REDACTED]"),
        "nothing redacted: {printed}"
    );
}
