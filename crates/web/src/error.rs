//! One error type, one JSON shape:
//! `{"success":false,"error":{"code":"<stable machine code>","message":"<for humans>"}}`.
//!
//! Handlers return [`ApiError`]; extractor failures are mapped by [`json_config`],
//! [`query_config`] and [`path_config`]; anything else that answers with an error status and
//! no JSON body (an oversized raw body, 405, a panic turned 500) is rewritten by
//! [`json_errors`], so no client ever sees a plain-text error.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

/// Every failure a Tollgate API reports, mapped to its status here and nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a value is invalid.
    #[error("{message}")]
    BadRequest {
        /// Stable code, e.g. `invalid_json`, `invalid_amount`.
        code: &'static str,
        /// What was wrong.
        message: String,
    },
    /// 401: missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// What conflicts.
        message: String,
    },
    /// 413: body over the limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 429: slow down; `Retry-After` is set.
    #[error("rate limit exceeded, retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a request may succeed.
        retry_after_secs: u64,
    },
    /// 503: a dependency (database, gateway) is unavailable; nothing was changed.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure; details go to the log, not the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The JSON body of every error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Always `false`, so `success`-checking clients (new-api style) work too.
    pub success: bool,
    /// The error itself.
    pub error: ErrorDetail,
}

/// `code` and `message` of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<tollgate_db::DbError> for ApiError {
    fn from(e: tollgate_db::DbError) -> Self {
        match e {
            tollgate_db::DbError::Unavailable(_) => {
                ApiError::Unavailable("database unavailable".into())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

// `?` on a diesel result or a pool checkout in a handler or service method.
tollgate_db::from_db_errors!(ApiError);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(e) = self {
            tracing::error!(error = ?e, "internal error");
        }
        let mut res = error_json(self.status_code(), self.code(), &self.to_string());
        if let ApiError::RateLimited { retry_after_secs } = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if let ApiError::Unauthorized(_) = self {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Build an error response in the one shape.
pub fn error_json(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        success: false,
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
        },
    })
}

/// JSON bodies: size limit, and clear 400/413/415 errors in the one shape.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| {
            let api = match &err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::PayloadTooLarge { limit }
                }
                JsonPayloadError::ContentType => ApiError::bad_request(
                    "unsupported_media_type",
                    "expected Content-Type: application/json",
                ),
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::bad_request("invalid_body", e.to_string())
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::bad_request("invalid_json", format!("malformed JSON: {e}"))
                }
                other => ApiError::bad_request("invalid_body", other.to_string()),
            };
            api.into()
        })
}

/// Raw bodies (`web::Bytes`, `String`): size limit. Overflow errors are shaped by [`json_errors`].
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

/// Query strings: 400 `invalid_query` naming the problem.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req: &HttpRequest| {
        ApiError::bad_request("invalid_query", err.to_string()).into()
    })
}

/// Path segments: 400 `invalid_path` (e.g. a non-uuid id).
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req: &HttpRequest| {
        ApiError::bad_request("invalid_path", err.to_string()).into()
    })
}

/// Default service: unknown routes answer 404 in the one shape.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound("no such route".into()).error_response()
}

/// Middleware rewriting any error response that is not JSON into the one shape,
/// keeping its status and headers.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(rewrite_non_json_error)
}

fn rewrite_non_json_error<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = match res.response().error() {
        Some(e) if status.is_client_error() => e.to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let (req, old) = res.into_parts();
    let mut new = error_json(status, code_for_status(status), &message);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "client_error",
    }
}
