//! The two error dialects new-api speaks.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

/// new-api's management API: `{"success":false,"message":…}` (usually with HTTP 200).
pub(crate) fn newapi_failure(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "success": false, "message": message }))
}

/// new-api's relay errors: `{"error":{"message":…,"type":"new_api_error"}}`.
pub(crate) fn relay_error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "error": { "message": message, "type": "new_api_error" }
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
