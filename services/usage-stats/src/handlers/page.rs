//! The usage page: a key holder pastes a key and sees by-day and by-model charts and the
//! latest logs. Static files are compiled into the binary (Chart.js bundled, no CDN) and
//! served under a strict Content-Security-Policy.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use actix_web::{web, HttpResponse};
use tollgate_web::error::ErrorBody;
use tollgate_web::ApiError;

const HTML: &str = include_str!("../../static/usage.html");
const JS: &str = include_str!("../../static/usage.js");
const CSS: &str = include_str!("../../static/usage.css");
const CHART_JS: &str = include_str!("../../static/chart.umd.min.js");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /usage`.
#[utoipa::path(
    get,
    path = "/usage",
    tag = "page",
    responses((status = 200, description = "The usage page (HTML; it calls the key API with the key pasted into it).", content_type = "text/html", body = String))
)]
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((CONTENT_SECURITY_POLICY, CSP))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header(("referrer-policy", "no-referrer"))
        .body(HTML)
}

/// `GET /usage/{file}`: the page's script, style and the bundled chart library.
#[utoipa::path(
    get,
    path = "/usage/{file}",
    tag = "page",
    params(("file" = String, Path, description = "`usage.js`, `usage.css` or `chart.umd.min.js`.")),
    responses(
        (status = 200, description = "The file.", content_type = "text/javascript", body = String),
        (status = 404, description = "No such file.", body = ErrorBody),
    )
)]
pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (body, content_type, cache) = match file.as_str() {
        "usage.js" => (JS, "text/javascript; charset=utf-8", "no-cache"),
        "usage.css" => (CSS, "text/css; charset=utf-8", "no-cache"),
        "chart.umd.min.js" => (
            CHART_JS,
            "text/javascript; charset=utf-8",
            "public, max-age=86400",
        ),
        _ => return Err(ApiError::NotFound("no such file".into())),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((CACHE_CONTROL, cache))
        .body(body))
}
