//! A service's routes against its OpenAPI document: every `route(...)` registered in its
//! `routes.rs` must be described, and every described operation served (the web kit's own
//! routes aside, which `routes.rs` does not list).

use std::collections::BTreeSet;

/// Routes the web kit registers for every service (described by `tollgate_web::openapi`).
pub const KIT_ROUTES: [(&str, &str); 4] = [
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

/// `(method, path)` of every `.route("path", web::method()…)` in a `routes.rs`, with the
/// prefix of a `web::scope("…")` applied to the routes after it.
pub fn routes_in(source: &str) -> BTreeSet<(String, String)> {
    let flat: String = source
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<String>()
        .split_whitespace()
        .collect();
    let scope_at = flat.find("web::scope(\"").map(|i| {
        let rest = &flat[i + "web::scope(\"".len()..];
        (
            i,
            rest[..rest.find('"').expect("a closed scope")].to_owned(),
        )
    });
    let mut routes = BTreeSet::new();
    let mut from = 0;
    while let Some(i) = flat[from..].find("route(\"") {
        let at = from + i;
        let rest = &flat[at + "route(\"".len()..];
        let path = &rest[..rest.find('"').expect("a closed path")];
        let after = &rest[path.len() + 1..];
        let method = after
            .strip_prefix(",web::")
            .and_then(|m| m.split('(').next())
            .unwrap_or_else(|| panic!("route {path} has no web::<method>()"));
        let prefix = match &scope_at {
            Some((s, prefix)) if *s < at => prefix.as_str(),
            _ => "",
        };
        routes.insert((method.to_owned(), format!("{prefix}{path}")));
        from = at + 1;
    }
    routes
}

/// `(method, path)` of every operation in an OpenAPI document.
pub fn operations(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
            if item.get(method).is_some() {
                ops.insert((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

/// What does not match: routes served but not described, and described but not served.
pub fn mismatches(routes_rs: &str, doc: &serde_json::Value) -> Vec<String> {
    let mut served = routes_in(routes_rs);
    served.extend(KIT_ROUTES.map(|(m, p)| (m.to_owned(), p.to_owned())));
    let described = operations(doc);
    let mut out: Vec<String> = served
        .difference(&described)
        .map(|(m, p)| format!("served, not described: {m} {p}"))
        .collect();
    out.extend(
        described
            .difference(&served)
            .map(|(m, p)| format!("described, not served: {m} {p}")),
    );
    out
}

/// Panics, listing them, unless `routes_rs` and `doc` agree (see [`mismatches`]).
pub fn assert_routes_described(routes_rs: &str, doc: &serde_json::Value) {
    let off = mismatches(routes_rs, doc);
    assert!(off.is_empty(), "{off:#?}");
}

/// Panics unless `committed` (`docs/openapi/<service>.json`) is `current`, the pretty JSON
/// the service renders now, saying how to regenerate it.
pub fn assert_committed_current(service: &str, committed: &str, current: &str) {
    assert!(
        committed.trim_end() == current.trim_end(),
        "docs/openapi/{service}.json is stale: \
         cargo run -q -p {service} -- openapi > docs/openapi/{service}.json"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_routes_scopes_and_methods_across_lines() {
        let src = r#"
            cfg.route(
                "/webhooks/x",
                web::post().to(h::x), // a comment "route(\"/no\", web::get())"
            )
            .route("/a/{id}", web::patch().to(h::a));
            cfg.service(web::scope("/api").route("/b", web::get().to(h::b)));
        "#;
        let got: Vec<_> = routes_in(src).into_iter().collect();
        assert_eq!(
            got,
            [
                ("get".to_owned(), "/api/b".to_owned()),
                ("patch".to_owned(), "/a/{id}".to_owned()),
                ("post".to_owned(), "/webhooks/x".to_owned()),
            ]
        );
    }

    #[test]
    fn reports_both_directions() {
        let doc = serde_json::json!({"paths": {
            "/a": {"get": {}}, "/c": {"post": {}},
            "/health": {"get": {}}, "/ready": {"get": {}}, "/metrics": {"get": {}},
            "/openapi.json": {"get": {}}
        }});
        let src = r#"cfg.route("/a", web::get().to(a)).route("/b", web::get().to(b));"#;
        assert_eq!(
            mismatches(src, &doc),
            [
                "served, not described: get /b".to_owned(),
                "described, not served: post /c".to_owned()
            ]
        );
    }
}
