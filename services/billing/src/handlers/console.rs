//! The organisation console (`GET /admin`): a static page compiled into the binary that
//! calls the org API from the operator's browser with the admin token they paste. The page
//! itself holds no data, so it needs no token; it is served under a strict
//! Content-Security-Policy (no inline script or style, same-origin calls only).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use actix_web::{web, HttpResponse};
use tollgate_web::error::ErrorBody;
use tollgate_web::ApiError;

const HTML: &str = include_str!("../../static/admin.html");
const JS: &str = include_str!("../../static/admin.js");
const CSS: &str = include_str!("../../static/admin.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /admin`.
#[utoipa::path(
    get,
    path = "/admin",
    tag = "console",
    responses((status = 200, description = "The organisation console (HTML; it calls the API with the admin token pasted into it).", content_type = "text/html", body = String))
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

/// `GET /admin/{file}`: the console's script and style.
#[utoipa::path(
    get,
    path = "/admin/{file}",
    tag = "console",
    params(("file" = String, Path, description = "`admin.js` or `admin.css`.")),
    responses(
        (status = 200, description = "The file.", content_type = "text/javascript", body = String),
        (status = 404, description = "No such file.", body = ErrorBody),
    )
)]
pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (body, content_type) = match file.as_str() {
        "admin.js" => (JS, "text/javascript; charset=utf-8"),
        "admin.css" => (CSS, "text/css; charset=utf-8"),
        _ => return Err(ApiError::NotFound("no such file".into())),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(body))
}
