//! The database gateway on its own, against new-api's tables on both backends: idempotence,
//! a key held by another new-api user, new-api's token cap, revoking what was never there.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use key_sync::gateway::database::{DatabaseGateway, Provisioning, MAX_TOKENS_PER_USER};
use key_sync::gateway::{Gateway, GatewayError, KeyState, Owner};
use tollgate_domain::api_key::ApiKey;
use tollgate_domain::ids::UserId;
use tollgate_newapi_schema::schema::tokens;
use tollgate_newapi_schema::{with_conn, Backend, NewapiConn, NewapiPool};
use tollgate_testkit::{newapi_db, NewapiBackend};

on_both_backends!(
    keys_are_idempotent_and_never_taken_over,
    the_token_cap_holds
);

fn gateway(url: &str) -> DatabaseGateway {
    let pool = NewapiPool::new(url, 4, Duration::from_secs(5)).unwrap();
    DatabaseGateway::new(
        pool,
        Provisioning::default(),
        b"test-marker-key",
        Duration::from_secs(5),
    )
}

fn owner(user: UserId) -> Owner<'static> {
    Owner {
        user,
        email: None,
        newapi_user_id: None,
    }
}

fn active(key: &ApiKey) -> KeyState<'_> {
    KeyState {
        key,
        name: "k",
        active: true,
    }
}

async fn keys_are_idempotent_and_never_taken_over(backend: Backend) {
    let db = newapi_db(backend).await;
    let gw = gateway(db.url());
    let (a, b) = (UserId(uuid::Uuid::new_v4()), UserId(uuid::Uuid::new_v4()));
    let key = ApiKey::generate();

    let first = gw.apply(owner(a), active(&key)).await.unwrap();
    let again = gw.apply(owner(a), active(&key)).await.unwrap();
    assert_eq!(
        first, again,
        "the same key for the same user: the same token"
    );
    assert!(first.token_id.is_some() && first.newapi_user_id.is_some());
    // With the id known, too.
    let known = Owner {
        newapi_user_id: first.newapi_user_id,
        ..owner(a)
    };
    assert_eq!(gw.apply(known, active(&key)).await.unwrap(), first);

    // Another Supabase user presenting the same key: refused, nothing changes.
    let err = gw.apply(owner(b), active(&key)).await.unwrap_err();
    assert!(
        matches!(&err, GatewayError::Refused(m) if m.contains("another user")),
        "{err:?}"
    );
    let mut conn = NewapiConn::establish(db.url()).await.unwrap();
    let owners: Vec<Option<i64>> = with_conn!(&mut conn, |c| {
        tokens::table.select(tokens::user_id).load(c).await
    })
    .unwrap();
    assert_eq!(owners, vec![first.newapi_user_id]);

    // Revoking a key the gateway never had is a success without a token.
    let never = ApiKey::generate();
    let revoked = gw
        .apply(
            owner(a),
            KeyState {
                key: &never,
                name: "k",
                active: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(revoked.token_id, None);
    // A deleted user never seen: nothing to disable.
    let nobody = gw
        .disable_user(owner(UserId(uuid::Uuid::new_v4())))
        .await
        .unwrap();
    assert_eq!(nobody.newapi_user_id, None);
}

async fn the_token_cap_holds(backend: Backend) {
    let db = newapi_db(backend).await;
    let gw = gateway(db.url());
    let user = UserId(uuid::Uuid::new_v4());
    let landed = gw
        .apply(owner(user), active(&ApiKey::generate()))
        .await
        .unwrap();
    let newapi_user = landed.newapi_user_id.unwrap();
    // Fill the user up to new-api's cap with tokens made elsewhere (new-api's own UI).
    let mut conn = NewapiConn::establish(db.url()).await.unwrap();
    let rows: Vec<_> = (1..MAX_TOKENS_PER_USER)
        .map(|i| {
            (
                tokens::user_id.eq(newapi_user),
                tokens::key.eq(format!("{i:0>48}")),
                tokens::name.eq("ui"),
                tokens::status.eq(1_i64),
            )
        })
        .collect();
    with_conn!(&mut conn, |c| diesel::insert_into(tokens::table)
        .values(&rows)
        .execute(c)
        .await)
    .unwrap();
    let known = Owner {
        newapi_user_id: Some(newapi_user),
        ..owner(user)
    };
    let err = gw
        .apply(known, active(&ApiKey::generate()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GatewayError::Refused(m) if m.contains("1000")),
        "{err:?}"
    );
}
