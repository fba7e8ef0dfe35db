//! The Supabase-side SQL in `deploy/supabase/`: row level security and grants on
//! `api_keys`, its FK to `auth.users`, and the signup trigger that sends the Database
//! Webhook to key-sync through pg_net.
//!
//! Each test takes a fresh migrated database, applies `test/supabase_stub.sql` (a
//! Supabase-like `auth` / `vault` / `net` on plain Postgres), then `01` and `02` — all
//! twice, to prove they can be re-run. Clients are played the way PostgREST plays them: in
//! a transaction, `SET LOCAL ROLE authenticated` and the JWT claims in
//! `request.jwt.claims`.

use std::collections::BTreeSet;

use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Bool, Bytea, Integer, Jsonb, Text, Uuid as SqlUuid};
use diesel::{QueryResult, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde_json::{json, Value};
use tollgate_testkit::TestDb;
use uuid::Uuid;

const STUB: &str = include_str!("../../../../deploy/supabase/test/supabase_stub.sql");
const RLS: &str = include_str!("../../../../deploy/supabase/01_api_keys_rls.sql");
const WEBHOOK: &str = include_str!("../../../../deploy/supabase/02_signup_webhook.sql");
const LOCKDOWN: &str = include_str!("../../../../deploy/supabase/03_lock_down_tollgate_tables.sql");

const WEBHOOK_URL: &str = "https://key-sync.example.com/webhooks/supabase/users";
const WEBHOOK_SECRET: &str = "test-supabase-webhook-secret";
const PASSWORD_HASH: &str = "$2a$10$abcdefghijklmnopqrstuuSECRETHASHVALUEthatmustnotleak";

/// The columns the portal may read; everything else in `api_keys` must stay hidden.
const HIDDEN_COLUMNS: [&str; 2] = ["key_ciphertext", "key_hash"];

#[derive(QueryableByName, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct KeyOwner {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
}

#[derive(QueryableByName, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct KeySnapshot {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    key_hint: String,
    #[diesel(sql_type = Bool)]
    is_default: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName, Debug)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Flags {
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Bool)]
    forced: bool,
}

#[derive(QueryableByName, Debug)]
struct Call {
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Jsonb)]
    body: Value,
    #[diesel(sql_type = Jsonb)]
    headers: Value,
    #[diesel(sql_type = Integer)]
    timeout_milliseconds: i32,
}

// ---------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------

/// A migrated database with the stub, `01` and `02` applied twice.
async fn supabase_db() -> (TestDb, AsyncPgConnection) {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    for round in 1..=2 {
        conn.batch_execute(STUB)
            .await
            .unwrap_or_else(|e| panic!("supabase_stub.sql (round {round}): {e}"));
        // On Supabase the migration's table starts with ALL granted to the API roles
        // (default privileges on `public`); 01 must take that away, every time it runs.
        conn.batch_execute("GRANT ALL ON TABLE api_keys TO anon, authenticated, service_role")
            .await
            .unwrap();
        conn.batch_execute(RLS)
            .await
            .unwrap_or_else(|e| panic!("01_api_keys_rls.sql (round {round}): {e}"));
        conn.batch_execute(WEBHOOK)
            .await
            .unwrap_or_else(|e| panic!("02_signup_webhook.sql (round {round}): {e}"));
    }
    (db, conn)
}

async fn set_secret(conn: &mut AsyncPgConnection, name: &str, value: &str) {
    diesel::sql_query("SELECT vault.create_secret($1, $2) AS id")
        .bind::<Text, _>(value)
        .bind::<Text, _>(name)
        .get_result::<Id>(conn)
        .await
        .unwrap();
}

async fn set_both_secrets(conn: &mut AsyncPgConnection) {
    set_secret(conn, "tollgate_key_sync_webhook_url", WEBHOOK_URL).await;
    set_secret(conn, "tollgate_supabase_webhook_secret", WEBHOOK_SECRET).await;
}

/// A signup, as Supabase Auth writes it (as the owner here).
async fn add_user(conn: &mut AsyncPgConnection, email: &str) -> Uuid {
    diesel::sql_query(
        "INSERT INTO auth.users (email, encrypted_password, raw_user_meta_data) \
         VALUES ($1, $2, '{}') RETURNING id",
    )
    .bind::<Text, _>(email)
    .bind::<Text, _>(PASSWORD_HASH)
    .get_result::<Id>(conn)
    .await
    .unwrap()
    .id
}

/// A key row, inserted as key-sync does: as the table's owner.
async fn add_key(conn: &mut AsyncPgConnection, user: Uuid, name: &str, is_default: bool) -> Uuid {
    let id = Uuid::new_v4();
    let mut hash = Uuid::new_v4().as_bytes().to_vec();
    hash.extend_from_slice(Uuid::new_v4().as_bytes());
    diesel::sql_query(
        "INSERT INTO api_keys (id, user_id, name, is_default, key_ciphertext, key_hash, key_hint) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(user)
    .bind::<Text, _>(name)
    .bind::<Bool, _>(is_default)
    .bind::<Bytea, _>(b"nonce||ciphertext||tag".to_vec())
    .bind::<Bytea, _>(hash)
    .bind::<Text, _>("sk-…wxyz")
    .execute(conn)
    .await
    .unwrap();
    id
}

/// Users A (two keys) and B (one key).
struct Fixture {
    a: Uuid,
    b: Uuid,
    a_keys: Vec<KeyOwner>,
    b_keys: Vec<KeyOwner>,
}

async fn two_users_with_keys(conn: &mut AsyncPgConnection) -> Fixture {
    let a = add_user(conn, "a@example.com").await;
    let b = add_user(conn, "b@example.com").await;
    let mut a_keys = vec![
        KeyOwner {
            id: add_key(conn, a, "default", true).await,
            user_id: a,
        },
        KeyOwner {
            id: add_key(conn, a, "second", false).await,
            user_id: a,
        },
    ];
    a_keys.sort();
    let b_keys = vec![KeyOwner {
        id: add_key(conn, b, "default", true).await,
        user_id: b,
    }];
    Fixture {
        a,
        b,
        a_keys,
        b_keys,
    }
}

// ---------------------------------------------------------------------------------------
// Playing a client (what PostgREST does for each request)
// ---------------------------------------------------------------------------------------

/// `BEGIN; SET LOCAL ROLE <role>;` and, if given, the JWT claims.
async fn begin_as(conn: &mut AsyncPgConnection, role: &str, claims: Option<Value>) {
    conn.batch_execute("BEGIN").await.unwrap();
    begin_nested_as(conn, role, claims).await;
}

/// `COMMIT` (which rolls back if a statement failed).
async fn end(conn: &mut AsyncPgConnection) {
    conn.batch_execute("COMMIT").await.unwrap();
}

fn user_claims(sub: Uuid) -> Option<Value> {
    Some(json!({"sub": sub, "role": "authenticated", "aud": "authenticated"}))
}

async fn visible_keys(
    conn: &mut AsyncPgConnection,
    role: &str,
    claims: Option<Value>,
    sql: &str,
) -> QueryResult<Vec<KeyOwner>> {
    begin_as(conn, role, claims).await;
    let rows = diesel::sql_query(sql).load::<KeyOwner>(conn).await;
    end(conn).await;
    rows.map(|mut r| {
        r.sort();
        r
    })
}

async fn run_as(
    conn: &mut AsyncPgConnection,
    role: &str,
    claims: Option<Value>,
    sql: &str,
) -> QueryResult<usize> {
    begin_as(conn, role, claims).await;
    let result = diesel::sql_query(sql).execute(conn).await;
    end(conn).await;
    result
}

#[track_caller]
fn assert_permission_denied<T: std::fmt::Debug>(result: QueryResult<T>, what: &str) {
    match result {
        Err(DieselError::DatabaseError(_, info))
            if info.message().contains("permission denied") => {}
        other => panic!("{what}: expected `permission denied`, got {other:?}"),
    }
}

async fn all_keys_as_owner(conn: &mut AsyncPgConnection) -> Vec<KeySnapshot> {
    diesel::sql_query("SELECT id, user_id, name, key_hint, is_default FROM api_keys ORDER BY id")
        .load::<KeySnapshot>(conn)
        .await
        .unwrap()
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

async fn calls(conn: &mut AsyncPgConnection) -> Vec<Call> {
    diesel::sql_query(
        "SELECT url, body, headers, timeout_milliseconds FROM net.http_post_calls ORDER BY id",
    )
    .load::<Call>(conn)
    .await
    .unwrap()
}

const SELECT_KEYS: &str = "SELECT id, user_id FROM api_keys";

// ---------------------------------------------------------------------------------------
// 01: RLS, grants, FK
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn authenticated_users_read_only_their_own_rows() {
    let (_db, mut conn) = supabase_db().await;
    let f = two_users_with_keys(&mut conn).await;

    let as_a = visible_keys(&mut conn, "authenticated", user_claims(f.a), SELECT_KEYS).await;
    assert_eq!(as_a.unwrap(), f.a_keys, "A sees exactly A's keys");
    let as_b = visible_keys(&mut conn, "authenticated", user_claims(f.b), SELECT_KEYS).await;
    assert_eq!(as_b.unwrap(), f.b_keys, "B sees exactly B's keys");

    // Asking for someone else's rows explicitly does not help.
    let sql = format!("{SELECT_KEYS} WHERE user_id = '{}'", f.b);
    let a_asks_for_b = visible_keys(&mut conn, "authenticated", user_claims(f.a), &sql).await;
    assert_eq!(a_asks_for_b.unwrap(), vec![]);

    // No claims at all, or claims without `sub`: nothing.
    let none = visible_keys(&mut conn, "authenticated", None, SELECT_KEYS).await;
    assert_eq!(none.unwrap(), vec![], "no JWT claims, no rows");
    let no_sub = Some(json!({"role": "authenticated"}));
    let no_sub = visible_keys(&mut conn, "authenticated", no_sub, SELECT_KEYS).await;
    assert_eq!(no_sub.unwrap(), vec![], "claims without sub, no rows");
    // A user who has no keys sees none.
    let stranger = user_claims(Uuid::new_v4());
    let stranger = visible_keys(&mut conn, "authenticated", stranger, SELECT_KEYS).await;
    assert_eq!(stranger.unwrap(), vec![]);

    // The owner (key-sync's connection) is not subject to the policy.
    let mut all: Vec<KeyOwner> = f.a_keys.iter().chain(&f.b_keys).cloned().collect();
    all.sort();
    let owner = diesel::sql_query(format!("{SELECT_KEYS} ORDER BY id"))
        .load::<KeyOwner>(&mut conn)
        .await
        .unwrap();
    assert_eq!(owner, all, "the owner sees every row");
}

#[tokio::test]
async fn anon_can_read_nothing() {
    let (_db, mut conn) = supabase_db().await;
    let f = two_users_with_keys(&mut conn).await;

    let anon = visible_keys(&mut conn, "anon", None, SELECT_KEYS).await;
    assert_permission_denied(anon, "anon SELECT");
    // Claims do not turn anon into a user.
    let anon_with_claims = visible_keys(&mut conn, "anon", user_claims(f.a), SELECT_KEYS).await;
    assert_permission_denied(anon_with_claims, "anon SELECT with A's claims");
    let anon_hint = run_as(&mut conn, "anon", None, "SELECT key_hint FROM api_keys").await;
    assert_permission_denied(anon_hint, "anon SELECT key_hint");
}

#[tokio::test]
async fn clients_cannot_write_keys() {
    let (_db, mut conn) = supabase_db().await;
    let f = two_users_with_keys(&mut conn).await;
    let before = all_keys_as_owner(&mut conn).await;

    let insert = format!(
        "INSERT INTO api_keys (id, user_id, name, key_ciphertext, key_hash, key_hint) \
         VALUES ('{}', '{}', 'mine', '\\x00', '\\x{}', 'sk-…0000')",
        Uuid::new_v4(),
        f.a,
        "ab".repeat(32)
    );
    let own_rows = format!("WHERE user_id = '{}'", f.a);
    let writes = [
        ("INSERT", insert),
        (
            "UPDATE",
            format!(
                "UPDATE api_keys SET name = 'hijacked', user_id = '{}' {own_rows}",
                f.b
            ),
        ),
        (
            "UPDATE all",
            "UPDATE api_keys SET is_default = false".to_owned(),
        ),
        ("DELETE", format!("DELETE FROM api_keys {own_rows}")),
        ("DELETE all", "DELETE FROM api_keys".to_owned()),
        ("TRUNCATE", "TRUNCATE api_keys".to_owned()),
    ];
    for role in ["authenticated", "anon"] {
        for (what, sql) in &writes {
            let result = run_as(&mut conn, role, user_claims(f.a), sql).await;
            assert_permission_denied(result, &format!("{role} {what}"));
        }
    }

    assert_eq!(
        all_keys_as_owner(&mut conn).await,
        before,
        "no client write changed anything"
    );
}

#[tokio::test]
async fn secret_columns_are_not_readable_by_users() {
    let (_db, mut conn) = supabase_db().await;
    let f = two_users_with_keys(&mut conn).await;

    for column in HIDDEN_COLUMNS {
        let sql = format!("SELECT {column} FROM api_keys");
        let result = run_as(&mut conn, "authenticated", user_claims(f.a), &sql).await;
        assert_permission_denied(result, &format!("authenticated SELECT {column}"));
        // Not even through a filter or an expression.
        let sql = format!("SELECT id FROM api_keys WHERE {column} IS NOT NULL");
        let result = run_as(&mut conn, "authenticated", user_claims(f.a), &sql).await;
        assert_permission_denied(result, &format!("authenticated WHERE {column}"));
    }
    // `select=*` in PostgREST terms: refused, so the portal must name its columns.
    let star = run_as(
        &mut conn,
        "authenticated",
        user_claims(f.a),
        "SELECT * FROM api_keys",
    )
    .await;
    assert_permission_denied(star, "authenticated SELECT *");

    // What the portal lists works.
    let portal = "SELECT id, user_id, name, is_default, key_hint, status, newapi_synced, \
                  newapi_token_id, sync_error, created_at, updated_at FROM api_keys";
    let listed = run_as(&mut conn, "authenticated", user_claims(f.a), portal).await;
    assert_eq!(listed.unwrap(), f.a_keys.len());

    // Tripwire: every column but the hidden ones is granted. A column added by a later
    // migration fails here until deploy/supabase/01_api_keys_rls.sql lists it (visible
    // to users) or HIDDEN_COLUMNS does (never visible) — a decision, not an accident.
    let all_columns: BTreeSet<String> = diesel::sql_query(
        "SELECT column_name::text AS name FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = 'api_keys'",
    )
    .load::<Name>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|n| n.name)
    .collect();
    let granted: BTreeSet<String> = diesel::sql_query(
        "SELECT a.attname::text AS name FROM pg_attribute a \
         WHERE a.attrelid = 'public.api_keys'::regclass AND a.attnum > 0 AND NOT a.attisdropped \
           AND has_column_privilege('authenticated', a.attrelid, a.attnum, 'SELECT')",
    )
    .load::<Name>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|n| n.name)
    .collect();
    let expected: BTreeSet<String> = all_columns
        .iter()
        .filter(|c| !HIDDEN_COLUMNS.contains(&c.as_str()))
        .cloned()
        .collect();
    assert_eq!(
        granted, expected,
        "authenticated may SELECT exactly the columns of api_keys except {HIDDEN_COLUMNS:?}; \
         update the GRANT in deploy/supabase/01_api_keys_rls.sql (or HIDDEN_COLUMNS here)"
    );
    for privilege in ["INSERT", "UPDATE", "REFERENCES"] {
        let sql = format!(
            "SELECT count(*) AS n FROM pg_attribute a \
             WHERE a.attrelid = 'public.api_keys'::regclass AND a.attnum > 0 \
               AND (has_column_privilege('authenticated', a.attrelid, a.attnum, '{privilege}') \
                 OR has_column_privilege('anon', a.attrelid, a.attnum, '{privilege}') \
                 OR has_column_privilege('anon', a.attrelid, a.attnum, 'SELECT'))"
        );
        assert_eq!(
            count(&mut conn, &sql).await,
            0,
            "no column {privilege} for clients"
        );
    }
}

#[tokio::test]
async fn rls_is_enabled_but_not_forced_so_the_owner_is_not_blocked() {
    let (_db, mut conn) = supabase_db().await;
    two_users_with_keys(&mut conn).await;

    let flags = diesel::sql_query(
        "SELECT relrowsecurity AS enabled, relforcerowsecurity AS forced \
         FROM pg_class WHERE oid = 'public.api_keys'::regclass",
    )
    .get_result::<Flags>(&mut conn)
    .await
    .unwrap();
    assert!(flags.enabled, "RLS enabled");
    assert!(
        !flags.forced,
        "RLS not forced: key-sync connects as the owner"
    );

    // The test connection is a superuser, which skips RLS anyway. On Supabase the owner
    // (`postgres`) is not one, so prove it with an ordinary role that owns the table (in
    // a transaction that is rolled back: nothing of it stays in the cluster).
    let owner = format!("tg_owner_{}", Uuid::new_v4().simple());
    conn.batch_execute(&format!(
        "BEGIN; CREATE ROLE {owner} NOLOGIN NOSUPERUSER NOBYPASSRLS; \
         ALTER TABLE api_keys OWNER TO {owner}; SET LOCAL ROLE {owner}"
    ))
    .await
    .unwrap();
    let seen = count(&mut conn, "SELECT count(*) AS n FROM api_keys").await;
    let updated = diesel::sql_query("UPDATE api_keys SET sync_attempts = sync_attempts + 1")
        .execute(&mut conn)
        .await;
    conn.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(seen, 3, "a non-superuser owner sees every row");
    assert_eq!(updated.unwrap(), 3, "and can change every row");
}

#[tokio::test]
async fn deleting_a_user_deletes_their_keys() {
    let (_db, mut conn) = supabase_db().await;
    let f = two_users_with_keys(&mut conn).await;

    diesel::sql_query("DELETE FROM auth.users WHERE id = $1")
        .bind::<SqlUuid, _>(f.a)
        .execute(&mut conn)
        .await
        .unwrap();

    let left = diesel::sql_query(format!("{SELECT_KEYS} ORDER BY id"))
        .load::<KeyOwner>(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, f.b_keys, "A's keys went with A; B's stayed");

    // And a key for a user Supabase does not know is refused.
    let orphan = diesel::sql_query(
        "INSERT INTO api_keys (id, user_id, key_ciphertext, key_hash, key_hint) \
         VALUES (gen_random_uuid(), gen_random_uuid(), '\\x00', sha256('orphan'), 'sk-…0000')",
    )
    .execute(&mut conn)
    .await;
    match orphan {
        Err(DieselError::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) => {}
        other => panic!("a key for an unknown user: expected an FK violation, got {other:?}"),
    }
}

#[tokio::test]
async fn applying_twice_leaves_one_of_each() {
    let (_db, mut conn) = supabase_db().await;
    let policies = count(
        &mut conn,
        "SELECT count(*) AS n FROM pg_policies WHERE schemaname = 'public' AND tablename = 'api_keys'",
    )
    .await;
    assert_eq!(policies, 1, "one policy on api_keys");
    let fks = count(
        &mut conn,
        "SELECT count(*) AS n FROM pg_constraint WHERE conrelid = 'public.api_keys'::regclass \
         AND contype = 'f' AND confrelid = 'auth.users'::regclass AND confdeltype = 'c'",
    )
    .await;
    assert_eq!(fks, 1, "one cascading FK to auth.users");
    let triggers = count(
        &mut conn,
        "SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = 'auth.users'::regclass \
         AND NOT tgisinternal",
    )
    .await;
    assert_eq!(triggers, 1, "one signup trigger on auth.users");
    // The trigger function is not callable by clients (it lives in the exposed schema).
    for role in ["anon", "authenticated", "service_role"] {
        let sql = format!(
            "SELECT count(*) AS n WHERE has_function_privilege('{role}', \
             'public.tollgate_notify_key_sync_of_signup()', 'EXECUTE')"
        );
        assert_eq!(count(&mut conn, &sql).await, 0, "{role} cannot EXECUTE it");
    }

    // A third run over live data changes nothing either.
    let f = two_users_with_keys(&mut conn).await;
    conn.batch_execute(STUB).await.unwrap();
    conn.batch_execute(RLS).await.unwrap();
    conn.batch_execute(WEBHOOK).await.unwrap();
    let as_a = visible_keys(&mut conn, "authenticated", user_claims(f.a), SELECT_KEYS).await;
    assert_eq!(as_a.unwrap(), f.a_keys);
}

// ---------------------------------------------------------------------------------------
// 02: the signup webhook
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_signup_queues_one_webhook_to_key_sync() {
    let (_db, mut conn) = supabase_db().await;
    set_both_secrets(&mut conn).await;

    let user = add_user(&mut conn, "new.user+tag@example.com").await;

    let calls = calls(&mut conn).await;
    assert_eq!(calls.len(), 1, "exactly one call: {calls:?}");
    let call = &calls[0];
    assert_eq!(call.url, WEBHOOK_URL);
    assert_eq!(
        call.headers,
        json!({
            "Content-Type": "application/json",
            "Authorization": format!("Bearer {WEBHOOK_SECRET}"),
        })
    );
    assert!(call.timeout_milliseconds > 0);

    let body = &call.body;
    assert_eq!(body["type"], "INSERT");
    assert_eq!(body["table"], "users");
    assert_eq!(body["schema"], "auth");
    assert_eq!(body["record"]["id"], user.to_string());
    assert_eq!(body["record"]["email"], "new.user+tag@example.com");
    assert!(body["record"]["created_at"].is_string(), "{body}");
    assert_eq!(
        body.get("old_record"),
        Some(&Value::Null),
        "old_record: null"
    );
    let record_keys: BTreeSet<&str> = body["record"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(record_keys, BTreeSet::from(["id", "email", "created_at"]));
    let text = body.to_string();
    assert!(!text.contains("encrypted_password"), "{text}");
    assert!(!text.contains(PASSWORD_HASH), "{text}");
}

#[tokio::test]
async fn a_deletion_queues_one_delete_webhook_to_key_sync() {
    let (_db, mut conn) = supabase_db().await;
    set_both_secrets(&mut conn).await;
    let user = add_user(&mut conn, "leaving@example.com").await;
    diesel::sql_query("DELETE FROM auth.users WHERE id = $1")
        .bind::<SqlUuid, _>(user)
        .execute(&mut conn)
        .await
        .unwrap();

    let calls = calls(&mut conn).await;
    assert_eq!(calls.len(), 2, "the signup and the deletion: {calls:?}");
    let call = &calls[1];
    assert_eq!(call.url, WEBHOOK_URL);
    assert_eq!(
        call.headers["Authorization"],
        format!("Bearer {WEBHOOK_SECRET}")
    );
    let body = &call.body;
    assert_eq!(body["type"], "DELETE");
    assert_eq!(
        (&body["table"], &body["schema"]),
        (&json!("users"), &json!("auth"))
    );
    assert_eq!(body.get("record"), Some(&Value::Null));
    assert_eq!(body["old_record"]["id"], user.to_string());
    assert_eq!(body["old_record"]["email"], "leaving@example.com");
    let keys: BTreeSet<&str> = body["old_record"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["id", "email"]));
    assert!(!body.to_string().contains(PASSWORD_HASH));
}

#[tokio::test]
async fn a_signup_without_the_secrets_succeeds_and_sends_nothing() {
    let (_db, mut conn) = supabase_db().await;

    // Neither secret.
    let first = add_user(&mut conn, "first@example.com").await;
    // Only the URL.
    set_secret(&mut conn, "tollgate_key_sync_webhook_url", WEBHOOK_URL).await;
    let second = add_user(&mut conn, "second@example.com").await;
    // The secret, but a blank URL.
    conn.batch_execute(
        "UPDATE vault.secrets SET secret = '   ' WHERE name = 'tollgate_key_sync_webhook_url'",
    )
    .await
    .unwrap();
    set_secret(
        &mut conn,
        "tollgate_supabase_webhook_secret",
        WEBHOOK_SECRET,
    )
    .await;
    let third = add_user(&mut conn, "third@example.com").await;
    // Only the secret.
    conn.batch_execute("DELETE FROM vault.secrets WHERE name = 'tollgate_key_sync_webhook_url'")
        .await
        .unwrap();
    let fourth = add_user(&mut conn, "fourth@example.com").await;

    for user in [first, second, third, fourth] {
        let sql = format!("SELECT count(*) AS n FROM auth.users WHERE id = '{user}'");
        assert_eq!(count(&mut conn, &sql).await, 1, "the signup was kept");
    }
    assert_eq!(calls(&mut conn).await.len(), 0, "nothing was sent");

    // Once both are there, the next signup is sent.
    set_secret(&mut conn, "tollgate_key_sync_webhook_url", WEBHOOK_URL).await;
    let fifth = add_user(&mut conn, "fifth@example.com").await;
    let calls = calls(&mut conn).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["record"]["id"], fifth.to_string());
}

#[tokio::test]
async fn five_signups_five_calls() {
    let (_db, mut conn) = supabase_db().await;
    set_both_secrets(&mut conn).await;

    // One statement, five rows: the trigger is FOR EACH ROW.
    let users: BTreeSet<String> = diesel::sql_query(
        "INSERT INTO auth.users (email, encrypted_password) \
         SELECT 'user' || i || '@example.com', 'hash' FROM generate_series(1, 5) AS i \
         RETURNING id",
    )
    .load::<Id>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.id.to_string())
    .collect();
    assert_eq!(users.len(), 5);

    let calls = calls(&mut conn).await;
    assert_eq!(calls.len(), 5, "{calls:?}");
    let sent: BTreeSet<String> = calls
        .iter()
        .map(|c| c.body["record"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, users, "one call per user");
    assert!(calls.iter().all(|c| c.url == WEBHOOK_URL));
}

#[tokio::test]
async fn a_signup_succeeds_even_when_pg_net_fails() {
    let (_db, mut conn) = supabase_db().await;
    set_both_secrets(&mut conn).await;
    conn.batch_execute(
        "CREATE OR REPLACE FUNCTION net.http_post(url text, body jsonb DEFAULT '{}', \
           params jsonb DEFAULT '{}', headers jsonb DEFAULT '{}', \
           timeout_milliseconds integer DEFAULT 5000) RETURNS bigint LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'pg_net is broken'; END $$",
    )
    .await
    .unwrap();

    let user = add_user(&mut conn, "unlucky@example.com").await;
    let sql = format!("SELECT count(*) AS n FROM auth.users WHERE id = '{user}'");
    assert_eq!(count(&mut conn, &sql).await, 1, "the signup was kept");
}

#[tokio::test]
async fn the_trigger_works_when_supabase_auth_inserts_with_its_own_role() {
    let (_db, mut conn) = supabase_db().await;
    set_both_secrets(&mut conn).await;

    // Supabase Auth writes auth.users as its own role (supabase_auth_admin), which can
    // read neither Vault nor call pg_net: the function's SECURITY DEFINER must do it.
    // All in a transaction that is rolled back, so the role never outlives the test.
    let auth_role = format!("tg_auth_admin_{}", Uuid::new_v4().simple());
    conn.batch_execute(&format!(
        "BEGIN; CREATE ROLE {auth_role} NOLOGIN; \
         GRANT USAGE ON SCHEMA auth TO {auth_role}; \
         GRANT INSERT ON auth.users TO {auth_role}; \
         SET LOCAL ROLE {auth_role}; \
         INSERT INTO auth.users (email, encrypted_password) VALUES ('via-gotrue@example.com', 'hash'); \
         RESET ROLE"
    ))
    .await
    .unwrap();
    let sent = calls(&mut conn).await;
    conn.batch_execute(&format!("SAVEPOINT s; SET LOCAL ROLE {auth_role}"))
        .await
        .unwrap();
    let vault = diesel::sql_query("SELECT name FROM vault.decrypted_secrets")
        .load::<Name>(&mut conn)
        .await;
    conn.batch_execute("ROLLBACK TO SAVEPOINT s; ROLLBACK")
        .await
        .unwrap();

    assert_permission_denied(vault, "the inserting role reading Vault directly");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].body["record"]["email"], "via-gotrue@example.com");
    assert_eq!(
        sent[0].headers["Authorization"],
        format!("Bearer {WEBHOOK_SECRET}")
    );
}

// ---------------------------------------------------------------------------------------
// Supabase's privileges: `postgres` is no superuser there, and auth.users is not its own
// ---------------------------------------------------------------------------------------

/// The file without its own `BEGIN;` / `COMMIT;`, to run inside a test's transaction.
fn without_transaction(sql: &str) -> String {
    let is_tx = |l: &str| matches!(l.trim(), "BEGIN;" | "COMMIT;");
    assert_eq!(
        sql.lines().filter(|l| is_tx(l)).count(),
        2,
        "one BEGIN; and one COMMIT;"
    );
    sql.lines()
        .filter(|l| !is_tx(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn both_files_apply_and_reapply_with_supabase_privileges() {
    let (_db, mut conn) = supabase_db().await;
    let f = two_users_with_keys(&mut conn).await;
    set_both_secrets(&mut conn).await;

    // Roles standing for Supabase's `postgres` (owns api_keys and the function, may
    // create triggers on and reference auth.users, reads Vault, calls pg_net) and for
    // `supabase_auth_admin` (owns auth.users). All in a transaction that is rolled back.
    let suffix = Uuid::new_v4().simple().to_string();
    let (pg, auth) = (format!("tg_pg_{suffix}"), format!("tg_auth_{suffix}"));
    let setup = format!(
        "BEGIN; \
         CREATE ROLE {pg} NOLOGIN NOSUPERUSER NOBYPASSRLS; CREATE ROLE {auth} NOLOGIN; \
         ALTER SCHEMA auth OWNER TO {auth}; ALTER TABLE auth.users OWNER TO {auth}; \
         ALTER TABLE public.api_keys OWNER TO {pg}; \
         ALTER FUNCTION public.tollgate_notify_key_sync_of_signup() OWNER TO {pg}; \
         ALTER TABLE public.api_keys DROP CONSTRAINT api_keys_user_id_fkey; \
         GRANT USAGE ON SCHEMA auth, vault, net TO {pg}; GRANT CREATE ON SCHEMA public TO {pg}; \
         GRANT TRIGGER, REFERENCES ON auth.users TO {pg}; \
         GRANT SELECT ON vault.decrypted_secrets TO {pg}; \
         GRANT EXECUTE ON FUNCTION net.http_post(text, jsonb, jsonb, jsonb, integer) TO {pg}; \
         SET LOCAL ROLE {pg}"
    );
    conn.batch_execute(&setup).await.unwrap();
    let (rls, webhook) = (without_transaction(RLS), without_transaction(WEBHOOK));
    let mut applied = Ok(());
    for sql in [&rls, &webhook, &rls, &webhook] {
        applied = applied.and(conn.batch_execute(sql).await);
    }
    let signup = format!(
        "SET LOCAL ROLE {auth}; \
         INSERT INTO auth.users (email, encrypted_password) VALUES ('late@example.com', 'hash'); \
         RESET ROLE"
    );
    let signed_up = match &applied {
        Ok(()) => conn.batch_execute(&signup).await,
        Err(_) => Ok(()),
    };
    let (sent, fks, visible) = if applied.is_ok() && signed_up.is_ok() {
        let sent = calls(&mut conn).await;
        let fks = count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_constraint WHERE conname = 'api_keys_user_id_fkey' \
             AND confrelid = 'auth.users'::regclass AND confdeltype = 'c'",
        )
        .await;
        begin_nested_as(&mut conn, "authenticated", user_claims(f.a)).await;
        let visible = diesel::sql_query(format!("{SELECT_KEYS} ORDER BY id"))
            .load::<KeyOwner>(&mut conn)
            .await;
        (sent, fks, visible)
    } else {
        (vec![], 0, Ok(vec![]))
    };
    conn.batch_execute("ROLLBACK").await.unwrap();

    applied.expect("01 and 02, twice, as a non-superuser that does not own auth.users");
    signed_up.expect("a signup by auth.users' owner");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].body["record"]["email"], "late@example.com");
    assert_eq!(fks, 1, "the FK was created by the non-superuser");
    assert_eq!(visible.unwrap(), f.a_keys);
}

/// `SET LOCAL ROLE` and claims inside the transaction already open.
async fn begin_nested_as(conn: &mut AsyncPgConnection, role: &str, claims: Option<Value>) {
    conn.batch_execute(&format!("SET LOCAL ROLE {role}"))
        .await
        .unwrap();
    if let Some(claims) = claims {
        diesel::sql_query("SELECT set_config('request.jwt.claims', $1, true) AS name")
            .bind::<Text, _>(claims.to_string())
            .get_result::<Name>(conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn tollgate_tables_are_hidden_from_the_api_roles() {
    let (_db, mut conn) = supabase_db().await;
    // Supabase's default privileges: ALL on every table in `public` for the API roles.
    conn.batch_execute(
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated; \
         GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated",
    )
    .await
    .unwrap();
    for round in 1..=2 {
        conn.batch_execute(LOCKDOWN)
            .await
            .unwrap_or_else(|e| panic!("03_lock_down_tollgate_tables.sql (round {round}): {e}"));
    }
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT tablename::text AS name FROM pg_tables \
         WHERE schemaname = 'public' AND tablename <> 'api_keys' ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    // Tripwire: every Tollgate table but api_keys is covered; a new one fails here until
    // 03 lists it.
    assert!(tables.len() >= 11, "{tables:?}");
    for Name { name } in &tables {
        assert!(
            LOCKDOWN.contains(&format!("'{name}'")),
            "{name} is not in 03_lock_down_tollgate_tables.sql"
        );
        for role in ["anon", "authenticated"] {
            let read = run_as(
                &mut conn,
                role,
                user_claims(Uuid::new_v4()),
                &format!("SELECT * FROM \"{name}\""),
            )
            .await;
            assert_permission_denied(read, &format!("{role} SELECT {name}"));
            let wipe = run_as(
                &mut conn,
                role,
                user_claims(Uuid::new_v4()),
                &format!("DELETE FROM \"{name}\""),
            )
            .await;
            assert_permission_denied(wipe, &format!("{role} DELETE {name}"));
        }
    }
    // The owner (what the services connect as) still reads and writes.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM organization_balance_config"
        )
        .await,
        0
    );
}
