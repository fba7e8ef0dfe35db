//! The two error dialects new-api speaks.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

/// new-api's management API: `{"success":false,"message":…}` (usually with HTTP 200).
pub(crate) fn newapi_failure(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "success": false, "message": message }))
}

/// new-api's relay errors (`middleware/utils.go` `abortWithOpenAiMessage`):
/// `{"error":{"message":"… (request id: …)","type":"new_api_error","code":""}}`, the request
/// id also in `X-Oneapi-Request-Id`.
pub(crate) fn relay_error(status: StatusCode, message: &str) -> HttpResponse {
    relay_error_with_code(status, message, "")
}

/// [`relay_error`] with a `code` (e.g. `insufficient_user_quota`).
pub(crate) fn relay_error_with_code(status: StatusCode, message: &str, code: &str) -> HttpResponse {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    HttpResponse::build(status)
        .insert_header(("X-Oneapi-Request-Id", request_id.as_str()))
        .json(json!({
            "error": {
                "message": format!("{message} (request id: {request_id})"),
                "type": "new_api_error",
                "code": code,
            }
        }))
}

/// An OpenAI-style request error (`invalid_request_error`), optionally with a `code`.
pub(crate) fn openai_error(status: StatusCode, message: &str, code: Option<&str>) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": null,
            "code": code,
        }
    }))
}

/// A database failure on a relay route.
pub(crate) fn relay_db_error(e: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "database error");
    relay_error(StatusCode::INTERNAL_SERVER_ERROR, "database error")
}
