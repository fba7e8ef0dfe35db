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
