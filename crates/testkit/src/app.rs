//! A Tollgate service started for real on 127.0.0.1, port 0, against its own database.

use std::future::Future;

use actix_web::dev::ServerHandle;
use tollgate_web::Application;

use crate::TestDb;

/// A running service and the database it owns.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The service's database (dropped after the app stops).
    pub db: TestDb,
    /// A client with a 30 s timeout.
    pub client: reqwest::Client,
    handle: ServerHandle,
}

impl TestApp {
    /// Build the service with `build(database_url)` on a fresh migrated database and serve it.
    pub async fn spawn<F, Fut>(build: F) -> anyhow::Result<Self>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = anyhow::Result<Application>>,
    {
        let db = TestDb::new().await;
        let app = build(db.url().to_owned()).await?;
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Ok(Self {
            base_url,
            db,
            client: crate::client(),
            handle,
        })
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stop without waiting; the runtime ends with the test anyway.
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}
