//! ClickHouse for the tests: new-api's `logs` table in a database of its own per test, on a
//! private server (`deploy/clickhouse/*.xml`: a temporary directory, 127.0.0.1, free ports).
//!
//! `scripts/test.sh` starts one server for the whole run and names it in
//! `TEST_CLICKHOUSE_URL`; without it (a lone `cargo nextest run`) each test starts its own,
//! stopped with it. Tables are created and rows written as ClickHouse's `default` user;
//! the service under test reads as `reader` (readonly = 2).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tollgate_newapi_schema::CLICKHOUSE_LOGS;

/// The read-only user of `deploy/clickhouse/users.xml` and its password.
pub const READER: (&str, &str) = ("reader", "reader-secret");

const CONFIG: &str = include_str!("../../../deploy/clickhouse/config.xml");
const USERS: &str = include_str!("../../../deploy/clickhouse/users.xml");

/// A running server: the run's shared one, or this test's own.
pub struct ChServer {
    http_port: u16,
    tcp_port: u16,
    /// This test's own server: its process (while it runs) and its directory.
    own: Option<(tokio::sync::Mutex<Option<tokio::process::Child>>, PathBuf)>,
}

impl Drop for ChServer {
    fn drop(&mut self) {
        if let Some((child, dir)) = &mut self.own {
            if let Some(child) = child.get_mut() {
                let _ = child.start_kill();
            }
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl ChServer {
    /// The run's server (`TEST_CLICKHOUSE_URL`), or a new private one.
    pub async fn get() -> Arc<ChServer> {
        if let Ok(url) = std::env::var("TEST_CLICKHOUSE_URL") {
            let port = url::Url::parse(&url)
                .ok()
                .and_then(|u| u.port())
                .expect("TEST_CLICKHOUSE_URL is http://127.0.0.1:<port>");
            return Arc::new(ChServer {
                http_port: port,
                tcp_port: 0,
                own: None,
            });
        }
        Arc::new(Self::start().await)
    }

    /// A private server in a temporary directory.
    pub async fn start() -> ChServer {
        let dir = std::env::temp_dir().join(crate::unique_name("tollgate_clickhouse"));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let (http_port, tcp_port) = (free_port(), free_port());
        let render = |text: &str| {
            text.replace("@DIR@", dir.to_str().expect("a UTF-8 path"))
                .replace("@HTTP_PORT@", &http_port.to_string())
                .replace("@TCP_PORT@", &tcp_port.to_string())
        };
        std::fs::write(dir.join("config.xml"), render(CONFIG)).expect("write config.xml");
        std::fs::write(dir.join("users.xml"), render(USERS)).expect("write users.xml");
        let server = ChServer {
            http_port,
            tcp_port,
            own: Some((tokio::sync::Mutex::new(None), dir)),
        };
        server.resume().await;
        server
    }

    /// Stop this test's own server (its data stays); panics on the run's shared one.
    pub async fn pause(&self) {
        let (child, _) = self.own.as_ref().expect("only a test's own server stops");
        if let Some(mut child) = child.lock().await.take() {
            let _ = child.kill().await;
        }
    }

    /// Start this test's own server again on its data, and wait until it answers.
    pub async fn resume(&self) {
        let (child, dir) = self.own.as_ref().expect("only a test's own server starts");
        let mut child = child.lock().await;
        if child.is_none() {
            *child = Some(
                tokio::process::Command::new(server_bin())
                    .arg(format!(
                        "--config-file={}",
                        dir.join("config.xml").display()
                    ))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("clickhouse-server starts (Debian package clickhouse-server)"),
            );
        }
        crate::wait_until_up(&format!("{}ping", self.http_url()), Duration::from_secs(30))
            .await
            .expect("clickhouse-server answers /ping");
    }

    /// `http://127.0.0.1:<http port>/`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.http_port)
    }

    /// The native port (0 for the run's shared server, whose port is not known here).
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
    }
}

/// The `clickhouse-server` to start: `CLICKHOUSE_SERVER_BIN`, else Debian's.
pub fn server_bin() -> String {
    std::env::var("CLICKHOUSE_SERVER_BIN").unwrap_or_else(|_| "clickhouse-server".into())
}

fn free_port() -> u16 {
    crate::free_listener()
        .local_addr()
        .expect("a local address")
        .port()
}

/// One test's database, with new-api's `logs` table.
pub struct ChDb {
    /// Its name.
    pub name: String,
    server: Arc<ChServer>,
    http: reqwest::Client,
}

impl ChDb {
    /// A fresh database on the run's server (or a private one), with `logs` as new-api
    /// creates it.
    pub async fn create() -> ChDb {
        Self::create_on(ChServer::get().await).await
    }

    /// A fresh database with `logs` on `server`.
    pub async fn create_on(server: Arc<ChServer>) -> ChDb {
        let db = ChDb {
            name: crate::unique_name("tg_newapi_logs"),
            server,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
        };
        db.exec_in("default", &format!("CREATE DATABASE {}", db.name))
            .await;
        db.exec(CLICKHOUSE_LOGS).await;
        db
    }

    /// `clickhouse://reader:…@127.0.0.1:<http>/<db>`: what usage-stats is given.
    pub fn reader_url(&self) -> String {
        format!(
            "clickhouse://{}:{}@127.0.0.1:{}/{}",
            READER.0, READER.1, self.server.http_port, self.name
        )
    }

    /// `http://127.0.0.1:<http>/?database=<db>` as `default`: what new-api (or its
    /// simulator) writes with (`LOG_SQL_DSN`).
    pub fn writer_url(&self) -> String {
        format!(
            "http://default:@127.0.0.1:{}/?database={}",
            self.server.http_port, self.name
        )
    }

    /// The server.
    pub fn server(&self) -> &Arc<ChServer> {
        &self.server
    }

    /// Run `sql` in this database as `default`; panics on an error.
    pub async fn exec(&self, sql: &str) {
        self.exec_in(&self.name, sql).await;
    }

    /// The answer to `sql` (as `default`), e.g. `… FORMAT JSONEachRow`.
    pub async fn query(&self, sql: &str) -> String {
        self.send(&self.name, sql).await
    }

    async fn exec_in(&self, database: &str, sql: &str) {
        self.send(database, sql).await;
    }

    async fn send(&self, database: &str, sql: &str) -> String {
        let res = self
            .http
            .post(self.server.http_url())
            .query(&[
                ("database", database),
                ("output_format_json_quote_64bit_integers", "0"),
            ])
            .body(sql.to_owned())
            .send()
            .await
            .expect("clickhouse answers");
        let status = res.status();
        let text = res.text().await.expect("a body");
        assert!(status.is_success(), "clickhouse: {status}: {text}\n{sql}");
        text
    }
}
