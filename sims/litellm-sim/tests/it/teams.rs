//! LiteLLM's team API as the simulator serves it: master-key auth, `/team/new`,
//! `/team/update`, `/team/info`, their errors, budget enforcement and spend reporting.

use std::net::TcpListener;
use std::time::Duration;

use litellm_sim::{Request, SimConfig, SimHandle};
use reqwest::Method;
use serde_json::{json, Value};
use sim_faults::{FaultMode, FaultRule};

const MASTER: &str = "sk-master-test";

async fn sim_with(config: SimConfig) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    litellm_sim::spawn(config, listener).await.unwrap()
}

async fn sim() -> SimHandle {
    sim_with(SimConfig::new(MASTER, None)).await
}

/// `method path` with the master key (or `auth` as the Authorization header, `None`: none).
async fn call_as(
    sim: &SimHandle,
    auth: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut request = client.request(method, format!("{}{path}", sim.base_url()));
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn call(sim: &SimHandle, method: Method, path: &str, body: Option<&str>) -> (u16, Value) {
    call_as(sim, Some(&format!("Bearer {MASTER}")), method, path, body).await
}

fn error(v: &Value) -> (&str, &str, &str) {
    (
        v["error"]["type"].as_str().unwrap_or("?"),
        v["error"]["code"].as_str().unwrap_or("?"),
        v["error"]["message"].as_str().unwrap_or("?"),
    )
}

#[tokio::test]
async fn create_update_and_read_a_team() {
    let sim = sim().await;
    let (status, row) = call(
        &sim,
        Method::POST,
        "/team/new",
        Some(r#"{"team_id":"org-1","team_alias":"Acme","max_budget":25.5,"budget_duration":null}"#),
    )
    .await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["team_id"], "org-1");
    assert_eq!(row["team_alias"], "Acme");
    assert_eq!(row["max_budget"], json!(25.5));
    assert_eq!(row["spend"], json!(0.0));
    assert_eq!(row["budget_duration"], Value::Null);
    assert_eq!(row["budget_reset_at"], Value::Null);
    assert_eq!(row["blocked"], json!(false));

    let (status, updated) = call(
        &sim,
        Method::POST,
        "/team/update",
        Some(r#"{"team_id":"org-1","max_budget":40,"budget_duration":null}"#),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["team_id"], "org-1");
    assert_eq!(updated["data"]["max_budget"], json!(40.0));
    assert_eq!(
        updated["data"]["team_alias"], "Acme",
        "fields not sent are kept"
    );

    assert!(matches!(sim.request("org-1", 1.25), Request::Served(_)));
    let (status, info) = call(&sim, Method::GET, "/team/info?team_id=org-1", None).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["team_id"], "org-1");
    assert_eq!(info["team_info"]["spend"], json!(1.25));
    assert_eq!(info["team_info"]["max_budget"], json!(40.0));
    assert_eq!(info["keys"], json!([]));
    assert_eq!(info["team_memberships"], json!([]));
    assert_eq!(sim.stats().get("/team/info"), Some(&1));
}

#[tokio::test]
async fn a_team_without_id_gets_one_and_an_omitted_duration_takes_the_default() {
    let mut config = SimConfig::new(MASTER, None);
    config.default_budget_duration = Some("30d".into());
    let sim = sim_with(config).await;
    let (status, row) = call(&sim, Method::POST, "/team/new", Some(r#"{"max_budget":5}"#)).await;
    assert_eq!(status, 200, "{row}");
    assert!(uuid::Uuid::parse_str(row["team_id"].as_str().unwrap()).is_ok());
    assert_eq!(row["team_alias"], Value::Null);
    assert_eq!(
        row["budget_duration"], "30d",
        "omitted: LiteLLM's default applies"
    );
    assert!(row["budget_reset_at"].is_string());

    let (_, kept) = call(
        &sim,
        Method::POST,
        "/team/new",
        Some(r#"{"team_id":"n","max_budget":5,"budget_duration":null}"#),
    )
    .await;
    assert_eq!(
        kept["budget_duration"],
        Value::Null,
        "an explicit null is kept"
    );

    let (_, cleared) = call(
        &sim,
        Method::POST,
        "/team/update",
        Some(&format!(
            r#"{{"team_id":{},"budget_duration":null}}"#,
            row["team_id"]
        )),
    )
    .await;
    assert_eq!(cleared["data"]["budget_duration"], Value::Null);
    assert_eq!(cleared["data"]["budget_reset_at"], Value::Null);
}

#[tokio::test]
async fn team_errors_have_litellms_shapes() {
    let sim = sim().await;
    call(&sim, Method::POST, "/team/new", Some(r#"{"team_id":"t1"}"#)).await;

    let (status, v) = call(&sim, Method::POST, "/team/new", Some(r#"{"team_id":"t1"}"#)).await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&v),
        (
            "invalid_request_error",
            "400",
            "{'error': 'Team id = t1 already exists. Please use a different team id.'}"
        )
    );
    assert_eq!(v["error"]["param"], Value::Null);

    let (status, v) = call(
        &sim,
        Method::POST,
        "/team/update",
        Some(r#"{"team_id":"nope","max_budget":1}"#),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        error(&v).2,
        "{'error': 'Team not found, passed team_id=nope'}"
    );

    let (status, v) = call(&sim, Method::GET, "/team/info?team_id=nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        error(&v).2,
        "{'message': 'Team not found, passed team id: nope.'}"
    );

    let (status, v) = call(&sim, Method::GET, "/team/info", None).await;
    assert_eq!(status, 422);
    assert_eq!(
        error(&v).2,
        "{'message': 'Malformed request. No team id passed in.'}"
    );

    let (status, v) = call(
        &sim,
        Method::POST,
        "/team/new",
        Some(r#"{"max_budget":-1}"#),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(error(&v)
        .2
        .contains("max_budget must be a non-negative finite number"));

    let (status, v) = call(
        &sim,
        Method::POST,
        "/team/new",
        Some(r#"{"budget_duration":"1y"}"#),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(error(&v).2.contains("Invalid budget_duration '1y'"));

    let (status, v) = call(
        &sim,
        Method::POST,
        "/team/new",
        Some(r#"{"max_budget":5,"soft_budget":5}"#),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(error(&v)
        .2
        .contains("must be strictly lower than max_budget"));

    let (status, v) = call(
        &sim,
        Method::POST,
        "/team/update",
        Some(r#"{"max_budget":5}"#),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "team_id"]));

    let (status, v) = call(&sim, Method::POST, "/team/new", Some("{not json")).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["detail"][0]["type"], "json_invalid");

    let (status, v) = call(
        &sim,
        Method::POST,
        "/team/new",
        Some(r#"{"max_budget":"lots"}"#),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "max_budget"]));

    assert_eq!(sim.teams().len(), 1, "no refused call created a team");
    assert_eq!(sim.team("t1").unwrap().max_budget, None);
}

#[tokio::test]
async fn only_the_master_key_is_accepted() {
    let sim = sim().await;
    let new = Some(r#"{"team_id":"x"}"#);
    let cases = [
        (
            None,
            "auth_error",
            "Authentication Error, No api key passed in.",
        ),
        (
            Some(MASTER),
            "auth_error",
            "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix.",
        ),
        (
            Some("Bearer wrongkey-12345678"),
            "auth_error",
            "LiteLLM Virtual Key expected. Received=wron****5678, expected to start with 'sk-'.",
        ),
        (
            Some("Bearer sk-not-the-master"),
            "token_not_found_in_db",
            "Authentication Error, Invalid API key provided.",
        ),
    ];
    for (auth, kind, message) in cases {
        let (status, v) = call_as(&sim, auth, Method::POST, "/team/new", new).await;
        assert_eq!(status, 401, "{auth:?}: {v}");
        assert_eq!(
            (error(&v).0, error(&v).1, error(&v).2),
            (kind, "401", message)
        );
    }
    assert!(sim.teams().is_empty());
    let (status, _) = call_as(
        &sim,
        Some(&format!("bearer {MASTER}")),
        Method::POST,
        "/team/new",
        new,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_team_over_budget_is_refused_after_the_request_that_crossed() {
    let sim = sim().await;
    call(
        &sim,
        Method::POST,
        "/team/new",
        Some(r#"{"team_id":"b","max_budget":1.0}"#),
    )
    .await;
    let spend = |amount: f64| {
        let sim = &sim;
        async move {
            call(
                sim,
                Method::POST,
                "/_sim/teams/b/spend",
                Some(&json!({ "amount": amount }).to_string()),
            )
            .await
        }
    };
    assert_eq!(
        spend(1.0).await.0,
        200,
        "spend == max_budget is still allowed"
    );
    let (status, v) = spend(0.5).await;
    assert_eq!(status, 200, "the request that crosses succeeds: {v}");
    assert_eq!(v["spend"], json!(1.5));
    let (status, v) = spend(0.5).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(
        error(&v),
        (
            "budget_exceeded",
            "422",
            "Budget has been exceeded! Team=b Current cost: 1.5, Max budget: 1.0"
        )
    );
    assert_eq!(
        sim.team("b").unwrap().spend,
        1.5,
        "a refused request costs nothing"
    );
    call(
        &sim,
        Method::POST,
        "/team/update",
        Some(r#"{"team_id":"b","max_budget":3}"#),
    )
    .await;
    assert_eq!(
        spend(0.5).await.0,
        200,
        "a raised budget lets requests through again"
    );
    let (status, _) = call(
        &sim,
        Method::POST,
        "/_sim/teams/none/spend",
        Some(r#"{"amount":1}"#),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &sim,
        Method::POST,
        "/_sim/teams/b/spend",
        Some(r#"{"amount":-1}"#),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn reported_spend_lags_until_the_batch_write() {
    let mut config = SimConfig::new(MASTER, None);
    config.spend_flush = Duration::from_secs(3600);
    let sim = sim_with(config).await;
    call(
        &sim,
        Method::POST,
        "/team/new",
        Some(r#"{"team_id":"l","max_budget":10}"#),
    )
    .await;
    assert!(matches!(sim.request("l", 2.0), Request::Served(_)));
    let (_, info) = call(&sim, Method::GET, "/team/info?team_id=l", None).await;
    assert_eq!(info["team_info"]["spend"], json!(0.0), "not written yet");
    let (status, _) = call(&sim, Method::POST, "/_sim/flush", None).await;
    assert_eq!(status, 204);
    let (_, info) = call(&sim, Method::GET, "/team/info?team_id=l", None).await;
    assert_eq!(info["team_info"]["spend"], json!(2.0));
}

#[tokio::test]
async fn faults_apply_to_litellm_routes_only() {
    let sim = sim().await;
    sim.faults().push(
        FaultRule::new(FaultMode::Error)
            .status(503)
            .path("/team/")
            .times(1),
    );
    let (status, _) = call(&sim, Method::GET, "/team/info?team_id=x", None).await;
    assert_eq!(status, 503);
    let (status, _) = call(&sim, Method::GET, "/team/info?team_id=x", None).await;
    assert_eq!(status, 404, "the rule applied once");
    let (status, _) = call(&sim, Method::GET, "/_sim/state", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        sim.stats().get("/team/info"),
        Some(&2),
        "faulted calls count"
    );
}
