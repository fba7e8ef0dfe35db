//! Organisation admins and viewers (issue 14): the operator names members; a member signs in
//! with a Supabase access token and reaches only their organisations, by role; this month's
//! usage comes from the quota backend's readings; every change a person makes is in the
//! audit trail with who made it.

use crate::support;

use billing::access::OrgRole;
use billing::views::{
    AuditEntry, EventAction, MemberList, MonthUsageAnswer, OrganizationAnswer, OrganizationList,
    PageOf,
};
use reqwest::Method;
use serde_json::{json, Value};
use support::{jwt, jwt_signed, spawn, usd, user_jwt, Env};
use tollgate_testkit::{answer, error};
use tollgate_web::error::ErrorDetail;

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn add_member(env: &Env, org: &str, user: &str, role: &str) -> u16 {
    let r = env
        .admin_post(
            &format!("/api/organizations/{org}/members"),
            json!({ "user_id": user, "role": role }),
        )
        .await;
    r.status().as_u16()
}

/// Every org route, with the method and a body for the writes.
fn routes(org: &str) -> Vec<(Method, String, Option<Value>)> {
    let base = format!("/api/organizations/{org}");
    vec![
        (Method::GET, base.clone(), None),
        (Method::GET, format!("{base}/recharge-history"), None),
        (Method::GET, format!("{base}/webhook-events"), None),
        (Method::GET, format!("{base}/usage"), None),
        (Method::GET, format!("{base}/audit"), None),
        (
            Method::PATCH,
            base.clone(),
            Some(json!({ "auto_recharge_enabled": false })),
        ),
        (
            Method::POST,
            format!("{base}/recharge"),
            Some(json!({ "amount": 10 })),
        ),
        (
            Method::POST,
            format!("{base}/payment-method"),
            Some(json!({ "payment_method_id": "pm_card_visa" })),
        ),
        (Method::POST, format!("{base}/sync"), Some(json!({}))),
    ]
}

async fn status_and_body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `method path` as the holder of `token`, answered `status` with billing's type `T`.
async fn read_as<T: serde::de::DeserializeOwned>(
    env: &Env,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> T {
    answer(env.call_as(token, method, path, body).await, status).await
}

/// `method path` as the holder of `token`, refused with `status`: the error.
async fn refused_as(
    env: &Env,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> ErrorDetail {
    error(env.call_as(token, method, path, body).await, status).await
}

#[tokio::test]
async fn admins_steer_viewers_read_and_nobody_else_sees_anything() {
    let env = spawn().await;
    let team = env.ready_org("org-x", "pm_card_visa", json!({})).await;
    env.ready_org("org-y", "pm_card_visa", json!({})).await;
    env.create_org("org-z", json!({})).await;
    let (a, b, c) = (uuid(), uuid(), uuid());
    assert_eq!(add_member(&env, "org-x", &a, "admin").await, 201);
    assert_eq!(add_member(&env, "org-x", &b, "viewer").await, 201);
    assert_eq!(add_member(&env, "org-z", &a, "viewer").await, 201);
    let (ta, tb, tc) = (user_jwt(&a), user_jwt(&b), user_jwt(&c));

    // A lists exactly A's organisations, with A's role in each.
    let list: OrganizationList =
        read_as(&env, &ta, Method::GET, "/api/organizations", None, 200).await;
    let mut seen: Vec<(&str, OrgRole)> = list
        .items
        .iter()
        .map(|o| (o.c_organization_id.as_str(), o.role))
        .collect();
    seen.sort_by_key(|s| s.0);
    assert_eq!(
        seen,
        vec![("org-x", OrgRole::Admin), ("org-z", OrgRole::Viewer)]
    );
    assert_eq!(list.total, 2);
    let none: OrganizationList =
        read_as(&env, &tc, Method::GET, "/api/organizations", None, 200).await;
    assert_eq!((none.total, none.items.len()), (0, 0), "{none:?}");

    // A reads X and steers it.
    let x: OrganizationAnswer = read_as(
        &env,
        &ta,
        Method::GET,
        "/api/organizations/org-x",
        None,
        200,
    )
    .await;
    assert_eq!(x.organization.role, OrgRole::Admin);
    for on in [false, true] {
        let body: OrganizationAnswer = read_as(
            &env,
            &ta,
            Method::PATCH,
            "/api/organizations/org-x",
            Some(json!({ "auto_recharge_enabled": on })),
            200,
        )
        .await;
        assert_eq!(body.organization.auto_recharge_enabled, on);
    }
    let before = env.org("org-x").await;
    let refused = refused_as(
        &env,
        &ta,
        Method::PATCH,
        "/api/organizations/org-x",
        Some(json!({ "minimum_balance": 900, "target_balance": 800 })),
        400,
    )
    .await;
    assert_eq!(refused.code, "invalid_settings");
    assert_eq!(
        env.org("org-x").await.minimum_balance,
        before.minimum_balance,
        "nothing saved"
    );
    let (status, _) = status_and_body(
        env.call_as(
            &ta,
            Method::PATCH,
            "/api/organizations/org-x",
            Some(json!({ "minimum_balance": 150, "target_balance": 600 })),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = status_and_body(
        env.call_as(
            &ta,
            Method::POST,
            "/api/organizations/org-x/recharge",
            Some(json!({ "amount": 25 })),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(env.charges().await, 1);
    for path in ["recharge-history", "webhook-events", "usage", "audit"] {
        let (status, body) = status_and_body(
            env.call_as(
                &ta,
                Method::GET,
                &format!("/api/organizations/org-x/{path}"),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    // B reads X; every write is 403 and changes nothing; the audit trail is for admins.
    let x: OrganizationAnswer = read_as(
        &env,
        &tb,
        Method::GET,
        "/api/organizations/org-x",
        None,
        200,
    )
    .await;
    assert_eq!(x.organization.role, OrgRole::Viewer);
    let org_before = env.org("org-x").await;
    let audit_before = env.count("organization_audit").await;
    for (method, path, body) in routes("org-x") {
        let res = env.call_as(&tb, method.clone(), &path, body.clone()).await;
        if method == Method::GET && !path.ends_with("/audit") {
            assert_eq!(res.status(), 200, "{method} {path}");
        } else {
            let e = error(res, 403).await;
            assert_eq!(e.code, "forbidden", "{method} {path}");
        }
    }
    let org_after = env.org("org-x").await;
    assert_eq!(
        org_after.auto_recharge_enabled,
        org_before.auto_recharge_enabled
    );
    assert_eq!(org_after.credited_total, org_before.credited_total);
    assert_eq!(env.charges().await, 1);
    assert_eq!(env.count("organization_audit").await, audit_before);

    // C on X, and A and C on Y: 404 for every route, as for an organisation that does not exist.
    let missing = {
        let e = refused_as(
            &env,
            &ta,
            Method::GET,
            "/api/organizations/no-such-org",
            None,
            404,
        )
        .await;
        e.message.replace("no-such-org", "")
    };
    for (token, org) in [(&tc, "org-x"), (&ta, "org-y"), (&tc, "org-y")] {
        for (method, path, body) in routes(org) {
            let e = refused_as(&env, token, method.clone(), &path, body, 404).await;
            assert_eq!(e.code, "not_found", "{method} {path}");
            assert_eq!(e.message.replace(org, ""), missing, "{method} {path}");
        }
    }
    // Membership and creation stay with the operator.
    for (method, path, body) in [
        (
            Method::GET,
            "/api/organizations/org-x/members".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/api/organizations/org-x/members".to_owned(),
            Some(json!({ "user_id": c, "role": "admin" })),
        ),
        (
            Method::DELETE,
            format!("/api/organizations/org-x/members/{b}"),
            None,
        ),
        (
            Method::POST,
            "/api/organizations".to_owned(),
            Some(json!({ "c_organization_id": "by-a" })),
        ),
    ] {
        let e = refused_as(&env, &ta, method.clone(), &path, body, 401).await;
        assert_eq!(e.code, "unauthorized", "{method} {path}");
    }

    // Bad tokens: expired, wrongly signed, another audience.
    let now = chrono::Utc::now().timestamp();
    for token in [
        jwt(json!({ "sub": a, "aud": "authenticated", "exp": now - 60 })),
        jwt_signed(
            json!({ "sub": a, "aud": "authenticated", "exp": now + 600 }),
            "another-secret-another-secret-000000",
        ),
        jwt(json!({ "sub": a, "aud": "anon", "exp": now + 600 })),
        "not-a-jwt".to_owned(),
    ] {
        let e = refused_as(
            &env,
            &token,
            Method::GET,
            "/api/organizations/org-x",
            None,
            401,
        )
        .await;
        assert_eq!(e.code, "unauthorized");
    }

    // Usage passes the balance; the limit webhook recharges; the month shows both.
    let (_, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(
        answer.action,
        Some(EventAction::AutoRecharged),
        "{answer:?}"
    );
    let usage: MonthUsageAnswer = read_as(
        &env,
        &ta,
        Method::GET,
        "/api/organizations/org-x/usage",
        None,
        200,
    )
    .await;
    assert_eq!(usage.month, chrono::Utc::now().format("%Y-%m").to_string());
    assert_eq!(usage.usage, usd(520.0));
    assert!(usage.usage_read_at.is_some());
    assert_eq!(usage.recharges.len(), 2, "{usage:?}");
    let auto = answer.recharged_amount.unwrap().0;
    assert_eq!(usage.recharged_total.0, 2_500 + auto);
    assert_eq!(usage.credited_total.0, 2_500 + auto);
    assert_eq!(usage.balance.map(|b| b.0), Some(2_500 + auto - 52_000));
    let past: MonthUsageAnswer = read_as(
        &env,
        &tb,
        Method::GET,
        "/api/organizations/org-x/usage?month=2020-01",
        None,
        200,
    )
    .await;
    assert_eq!((past.usage, past.recharged_total), (usd(0.0), usd(0.0)));
    for bad in ["2026-13", "2026-1", "december"] {
        let e = refused_as(
            &env,
            &ta,
            Method::GET,
            &format!("/api/organizations/org-x/usage?month={bad}"),
            None,
            400,
        )
        .await;
        assert_eq!(e.code, "invalid_month", "{bad}");
    }

    // The audit trail: A's changes with A's id, the operator's membership changes.
    let audit: PageOf<AuditEntry> = read_as(
        &env,
        &ta,
        Method::GET,
        "/api/organizations/org-x/audit?page_size=100",
        None,
        200,
    )
    .await;
    let entries = &audit.items;
    let by = |actor: &str, action: &str| {
        entries
            .iter()
            .filter(|e| e.actor == actor && e.action == action)
            .count()
    };
    assert_eq!(by(&a, "settings"), 3, "off, on, thresholds: {audit:?}");
    assert_eq!(by(&a, "recharge"), 1);
    assert_eq!(by("operator", "member_added"), 2);
    assert_eq!(
        by("operator", "payment_method"),
        1,
        "ready_org saved the card"
    );
    assert_eq!(by("operator", "sync"), 1);
    let thresholds = entries
        .iter()
        .find(|e| e.actor == a && e.changes["minimum_balance"].is_object())
        .unwrap();
    assert_eq!(
        thresholds.changes["minimum_balance"],
        json!({ "old": 100.0, "new": 150.0 })
    );
    assert_eq!(
        thresholds.changes["target_balance"],
        json!({ "old": 500.0, "new": 600.0 })
    );
    let switched = entries
        .iter()
        .filter(|e| e.changes["auto_recharge_enabled"].is_object())
        .count();
    assert_eq!(switched, 2);

    // The operator lists and removes; A loses X at once.
    let members: MemberList = env.admin_read("/api/organizations/org-x/members").await;
    assert_eq!(members.items.len(), 2, "{members:?}");
    let r = env
        .call_as(
            tollgate_testkit::ADMIN_TOKEN,
            Method::DELETE,
            &format!("/api/organizations/org-x/members/{a}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    for (method, path, body) in routes("org-x") {
        let e = refused_as(&env, &ta, method.clone(), &path, body, 404).await;
        assert_eq!(e.code, "not_found", "{method} {path}");
    }
    let audit: PageOf<AuditEntry> = env
        .admin_read("/api/organizations/org-x/audit?page_size=100")
        .await;
    assert!(audit
        .items
        .iter()
        .any(|e| e.action == "member_removed" && e.actor == "operator"));
}

#[tokio::test]
async fn membership_input_is_checked() {
    let env = spawn().await;
    env.create_org("org-m", json!({})).await;
    let user = uuid();
    for (body, status, code) in [
        (
            json!({ "user_id": "not-a-uuid", "role": "admin" }),
            400,
            "invalid_user_id",
        ),
        (
            json!({ "user_id": user, "role": "owner" }),
            400,
            "invalid_role",
        ),
        (json!({ "user_id": user }), 400, ""),
    ] {
        let e = error(
            env.admin_post("/api/organizations/org-m/members", body)
                .await,
            status,
        )
        .await;
        if !code.is_empty() {
            assert_eq!(e.code, code);
        }
    }
    assert_eq!(add_member(&env, "no-such-org", &user, "admin").await, 404);
    assert_eq!(add_member(&env, "org-m", &user, "viewer").await, 201);
    // Again with another role: a change (200), audited once; the same role again: no entry.
    assert_eq!(add_member(&env, "org-m", &user, "admin").await, 200);
    assert_eq!(add_member(&env, "org-m", &user, "admin").await, 200);
    assert_eq!(
        env.count("organization_audit WHERE action = 'member_role_changed'")
            .await,
        1
    );
    assert_eq!(env.count("organization_members").await, 1);
    let (s, _) = status_and_body(
        env.call_as(
            tollgate_testkit::ADMIN_TOKEN,
            Method::DELETE,
            &format!("/api/organizations/org-m/members/{}", uuid()),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = status_and_body(
        env.call_as(
            tollgate_testkit::ADMIN_TOKEN,
            Method::DELETE,
            "/api/organizations/org-m/members/nope",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
}
