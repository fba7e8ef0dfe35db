//! A Postgres database per test, cloned from a migrated template.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use sha2::{Digest, Sha256};

use crate::{pg_server_url, unique_name};

/// Serialises template creation across test processes (nextest runs one per test).
const TEMPLATE_LOCK: i64 = 0x7465_6d70_6c61_7465;

/// A database that exists for one test and is dropped (forcibly) when this value drops.
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// A fresh database with every migration applied.
    pub async fn new() -> Self {
        let template = ensure_template().await;
        let name = unique_name("tg_test");
        retry(|| create_database(&name, Some(&template))).await;
        Self::named(name)
    }

    /// A fresh empty database (no migrations), to test refusing unmigrated databases.
    pub async fn empty() -> Self {
        let name = unique_name("tg_test");
        retry(|| create_database(&name, None)).await;
        Self::named(name)
    }

    fn named(name: String) -> Self {
        let url = db_url(&name);
        Self { name, url }
    }

    /// `postgres://…/<name>` of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new connection to this database.
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .expect("connect to test database")
    }

    /// Drop the database now, terminating its connections: from the service's point of
    /// view, Postgres is gone.
    pub async fn drop_now(&self) {
        drop_database(&self.name).await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; use a private runtime on a plain thread.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&name));
            }
        })
        .join();
    }
}

fn db_url(name: &str) -> String {
    let mut url = url::Url::parse(&pg_server_url()).expect("TEST_PG_URL is a URL");
    url.set_path(name);
    url.to_string()
}

async fn admin_connection() -> AsyncPgConnection {
    AsyncPgConnection::establish(&db_url("postgres"))
        .await
        .expect("connect to the test Postgres server (is it running on TEST_PG_URL?)")
}

async fn create_database(name: &str, template: Option<&str>) -> anyhow::Result<()> {
    let mut conn = admin_connection().await;
    let sql = match template {
        Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\""),
        None => format!("CREATE DATABASE \"{name}\""),
    };
    conn.batch_execute(&sql).await?;
    Ok(())
}

async fn drop_database(name: &str) {
    let mut conn = admin_connection().await;
    let _ = conn
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

/// Postgres refuses to copy a template while a connection to it is closing; try again.
async fn retry<F, Fut>(mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut last = None;
    for _ in 0..50 {
        match f().await {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("database operation kept failing: {last:?}");
}

/// Name of the template for the current migration set (a hash of the migration files).
fn template_name() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
    let mut entries: Vec<_> = walk(std::path::Path::new(dir));
    entries.sort();
    let mut hasher = Sha256::new();
    for path in entries {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&path).unwrap_or_default());
    }
    format!("tg_template_{}", &hex::encode(hasher.finalize())[..16])
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(read) = std::fs::read_dir(dir) {
        for entry in read.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Exists>(conn)
        .await
        .map(|e| e.exists)
        .unwrap_or(false)
}

/// Build the template once: under an advisory lock, migrate `<template>_building`, then
/// rename it, so a crashed build never leaves a half-migrated template behind.
async fn ensure_template() -> String {
    let template = template_name();
    let mut conn = admin_connection().await;
    if database_exists(&mut conn, &template).await {
        return template;
    }
    conn.batch_execute(&format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})"))
        .await
        .expect("template lock");
    if !database_exists(&mut conn, &template).await {
        let building = format!("{template}_building");
        drop_database(&building).await;
        retry(|| create_database(&building, None)).await;
        tollgate_db::run_migrations(&db_url(&building))
            .await
            .expect("migrations apply to a fresh database");
        let rename = format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\"");
        retry(|| async {
            let mut c = admin_connection().await;
            c.batch_execute(&rename).await?;
            Ok(())
        })
        .await;
    }
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"))
        .await
        .expect("template unlock");
    template
}
