//! The harness itself: isolated migrated databases that disappear, and a fresh localstripe.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tollgate_testkit::{LocalStripe, TestDb};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn fully_migrated(db: &TestDb) -> bool {
    tollgate_db::pending_migrations(db.url())
        .await
        .unwrap()
        .is_empty()
}

async fn database_count(name: &str) -> i64 {
    let admin = TestDb::empty().await;
    let mut conn = admin.connect().await;
    diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn each_test_database_is_migrated_separate_and_dropped() {
    let a = TestDb::new().await;
    let b = TestDb::new().await;
    assert_ne!(a.name(), b.name());
    assert!(fully_migrated(&a).await && fully_migrated(&b).await);
    let empty = TestDb::empty().await;
    assert!(!fully_migrated(&empty).await);

    let mut conn = a.connect().await;
    diesel::sql_query("CREATE TABLE only_in_a (id int)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let mut conn = b.connect().await;
    let seen =
        diesel::sql_query("SELECT count(*) AS n FROM pg_tables WHERE tablename = 'only_in_a'")
            .get_result::<Count>(&mut conn)
            .await
            .unwrap();
    assert_eq!(seen.n, 0, "state leaked between test databases");
    drop(conn);

    let name = a.name().to_owned();
    drop(a);
    assert_eq!(database_count(&name).await, 0, "test database left behind");
}

#[tokio::test]
async fn localstripe_starts_fresh_on_its_own_port() {
    let stripe = LocalStripe::start().await.unwrap();
    let client = reqwest::Client::new();
    let list = |base: String| {
        let client = client.clone();
        async move {
            client
                .get(format!("{base}/v1/customers"))
                .bearer_auth("sk_test_x")
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        list(stripe.base_url()).await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let created = client
        .post(format!("{}/v1/customers", stripe.base_url()))
        .bearer_auth("sk_test_x")
        .form(&[("email", "a@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    assert_eq!(
        list(stripe.base_url()).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A second instance shares nothing with the first (--from-scratch, own port).
    let other = LocalStripe::start().await.unwrap();
    assert_ne!(other.base_url(), stripe.base_url());
    assert_eq!(
        list(other.base_url()).await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
