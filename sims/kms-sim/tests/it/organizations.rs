//! The KMS organisation contract over real HTTP.

use crate::common;

use common::{call, create, set_quota, sim, usage};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn health_answers_ok() {
    let sim = sim().await;
    let (status, v) = call(&sim, Method::GET, "/health", None).await;
    assert_eq!((status, v), (200, json!({"status": "ok"})));
}

#[tokio::test]
async fn create_then_get() {
    let sim = sim().await;
    let created = create(&sim, "org_1", "100").await;
    let team = created["l_team_id"].as_str().unwrap().to_owned();
    assert!(team.starts_with("team_") && team.len() == 37, "{team}");
    assert_eq!(
        created,
        json!({"c_organization_id": "org_1", "l_team_id": team, "quota": 100})
    );

    let (status, got) = call(&sim, Method::GET, "/organizations/org_1", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        got,
        json!({"c_organization_id": "org_1", "l_team_id": team, "quota": 100, "usage": 0})
    );

    let view = sim.organization("org_1").unwrap();
    assert_eq!((view.quota_cents, view.usage_cents), (10_000, 0));
    assert_eq!(view.l_team_id, team);
    assert_eq!(sim.stats().create, 1);
    assert_eq!(sim.stats().get, 1);
}

#[tokio::test]
async fn create_without_trailing_slash_and_decimal_quota() {
    let sim = sim().await;
    let body = r#"{"c_organization_id":"org_d","quota":12.5}"#;
    let (status, v) = call(&sim, Method::POST, "/organizations", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["quota"], json!(12.5));
    assert_eq!(sim.organization("org_d").unwrap().quota_cents, 1_250);
}

#[tokio::test]
async fn unknown_organization_is_404() {
    let sim = sim().await;
    let (status, v) = call(&sim, Method::GET, "/organizations/nope", None).await;
    assert_eq!(
        (status, v),
        (404, json!({"detail": "Organization not found"}))
    );
    let (status, v) = set_quota(&sim, "nope", "10").await;
    assert_eq!(
        (status, v),
        (404, json!({"detail": "Organization not found"}))
    );
    let (status, _) = call(
        &sim,
        Method::POST,
        "/organizations/nope/usage",
        Some(r#"{"amount":1}"#),
    )
    .await;
    assert_eq!(status, 404);
    let (status, v) = call(&sim, Method::GET, "/no/such/route", None).await;
    assert_eq!((status, v), (404, json!({"detail": "Not Found"})));
}

#[tokio::test]
async fn duplicate_create_is_409_and_changes_nothing() {
    let sim = sim().await;
    let first = create(&sim, "dup", "50").await;
    let body = r#"{"c_organization_id":"dup","quota":999}"#;
    let (status, v) = call(&sim, Method::POST, "/organizations/", Some(body)).await;
    assert_eq!(status, 409);
    assert!(v["detail"].is_string(), "{v}");
    let org = sim.organization("dup").unwrap();
    assert_eq!(org.quota_cents, 5_000);
    assert_eq!(org.l_team_id, first["l_team_id"].as_str().unwrap());
}

#[tokio::test]
async fn set_quota_sets_and_is_idempotent() {
    let sim = sim().await;
    let created = create(&sim, "q", "100").await;
    let (s1, a) = set_quota(&sim, "q", "250.75").await;
    let (s2, b) = set_quota(&sim, "q", "250.75").await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(a, b, "setting the same quota twice gives the same answer");
    assert_eq!(
        a,
        json!({"c_organization_id": "q", "l_team_id": created["l_team_id"], "quota": 250.75, "usage": 0})
    );
    assert_eq!(sim.organization("q").unwrap().quota_cents, 25_075);
    let (_, c) = set_quota(&sim, "q", "0").await;
    assert_eq!(c["quota"], json!(0), "set, never add");
    assert_eq!(sim.stats().set_quota, 3);
}

#[tokio::test]
async fn bad_input_is_422_with_detail() {
    let sim = sim().await;
    create(&sim, "b", "10").await;
    let cases: &[(Method, &str, &str)] = &[
        (Method::POST, "/organizations/", "{not json"),
        (Method::POST, "/organizations/", ""),
        (
            Method::POST,
            "/organizations/",
            r#"{"c_organization_id":"x"}"#,
        ),
        (
            Method::POST,
            "/organizations/",
            r#"{"c_organization_id":"x","quota":"100"}"#,
        ),
        (
            Method::POST,
            "/organizations/",
            r#"{"c_organization_id":7,"quota":100}"#,
        ),
        (
            Method::POST,
            "/organizations/",
            r#"{"c_organization_id":"x","quota":-1}"#,
        ),
        (
            Method::POST,
            "/organizations/",
            r#"{"c_organization_id":"x","quota":1.005}"#,
        ),
        (
            Method::POST,
            "/organizations/",
            r#"{"c_organization_id":"","quota":1}"#,
        ),
        (Method::POST, "/organizations/", r#"[1,2]"#),
        (
            Method::PUT,
            "/organizations/b/quota",
            r#"{"new_quota":12.345}"#,
        ),
        (Method::PUT, "/organizations/b/quota", r#"{"new_quota":-5}"#),
        (
            Method::PUT,
            "/organizations/b/quota",
            r#"{"new_quota":true}"#,
        ),
        (Method::PUT, "/organizations/b/quota", r#"{"quota":5}"#),
        (Method::POST, "/organizations/b/usage", r#"{"amount":0}"#),
        (Method::POST, "/organizations/b/usage", r#"{"amount":-1}"#),
        (
            Method::POST,
            "/organizations/b/usage",
            r#"{"amount":0.001}"#,
        ),
        (Method::POST, "/organizations/b/usage", r#"{"amount":null}"#),
    ];
    for (method, path, body) in cases {
        let (status, v) = call(&sim, method.clone(), path, Some(body)).await;
        assert_eq!(status, 422, "{method} {path} {body} → {v}");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    }
    assert!(sim.organization("x").is_none());
    let org = sim.organization("b").unwrap();
    assert_eq!(
        (org.quota_cents, org.usage_cents),
        (1_000, 0),
        "nothing changed"
    );
}

#[tokio::test]
async fn wrong_method_is_405() {
    let sim = sim().await;
    let (status, v) = call(&sim, Method::DELETE, "/organizations/x", None).await;
    assert_eq!((status, v), (405, json!({"detail": "Method Not Allowed"})));
}

#[tokio::test]
async fn usage_accumulates_in_cents() {
    let sim = sim().await;
    create(&sim, "u", "1").await;
    for _ in 0..3 {
        usage(&sim, "u", "0.1").await;
    }
    let v = usage(&sim, "u", "0.2").await;
    assert_eq!(v["usage"], json!(0.5));
    assert_eq!(v["webhook_sent"], json!(false));
    assert_eq!(sim.organization("u").unwrap().usage_cents, 50);
    assert_eq!(sim.stats().usage, 4);
}

#[tokio::test]
async fn sim_state_and_stats_dump() {
    let sim = sim().await;
    create(&sim, "a", "1").await;
    create(&sim, "b", "2").await;
    usage(&sim, "a", "2").await;
    let (status, state) = call(&sim, Method::GET, "/_sim/state", None).await;
    assert_eq!(status, 200);
    let orgs = state["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 2);
    assert_eq!(orgs[0]["c_organization_id"], "a");
    assert_eq!(orgs[0]["over_quota"], json!(true));
    assert_eq!(orgs[1]["over_quota"], json!(false));
    let (_, stats) = call(&sim, Method::GET, "/_sim/stats", None).await;
    assert_eq!(
        stats,
        json!({"health": 0, "create": 2, "get": 0, "set_quota": 0, "usage": 1})
    );
    assert_eq!(sim.organizations().len(), 2);
}
