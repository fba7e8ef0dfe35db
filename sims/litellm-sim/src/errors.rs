//! LiteLLM's error answers (litellm 1.110.2): every proxy error is
//! `{"error":{"message","type","param","code"}}` with `code` a string of the status; a
//! management endpoint's `HTTPException(detail={…})` carries the Python repr of its detail
//! dict as the message; body validation errors are FastAPI's 422 `{"detail":[…]}`.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

/// The `error` object of a proxy error.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    message: String,
    #[serde(rename = "type")]
    kind: String,
    param: Option<String>,
    code: String,
}

#[derive(Serialize)]
struct Envelope {
    error: ErrorBody,
}

/// A proxy error of `status` and `kind` (`type`), with `param` when LiteLLM names one.
pub(crate) fn proxy_error(
    status: StatusCode,
    kind: &str,
    message: impl Into<String>,
    param: Option<&str>,
) -> HttpResponse {
    HttpResponse::build(status).json(Envelope {
        error: ErrorBody {
            message: message.into(),
            kind: kind.to_owned(),
            param: param.map(str::to_owned),
            code: status.as_u16().to_string(),
        },
    })
}

/// A management endpoint's `HTTPException(status, detail={key: text})`: the message is the
/// dict's Python repr and the type follows the status (401/403 `auth_error`, 429
/// `rate_limit_error`, other 4xx `invalid_request_error`, 5xx `internal_server_error`).
pub(crate) fn http_exception(status: StatusCode, key: &str, text: &str) -> HttpResponse {
    let kind = match status.as_u16() {
        401 | 403 => "auth_error",
        429 => "rate_limit_error",
        s if s < 500 => "invalid_request_error",
        _ => "internal_server_error",
    };
    proxy_error(status, kind, format!("{{'{key}': '{text}'}}"), None)
}

/// An authentication failure (401, type `auth_error`).
pub(crate) fn auth_error(message: impl Into<String>) -> HttpResponse {
    proxy_error(StatusCode::UNAUTHORIZED, "auth_error", message, None)
}

#[derive(Serialize)]
struct ValidationItem {
    #[serde(rename = "type")]
    kind: &'static str,
    loc: Vec<String>,
    msg: String,
}

#[derive(Serialize)]
struct ValidationEnvelope {
    detail: Vec<ValidationItem>,
}

/// FastAPI's request validation error: 422 `{"detail":[{"type","loc","msg"}]}`.
pub(crate) fn validation_error(
    kind: &'static str,
    loc: &[&str],
    msg: impl Into<String>,
) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(ValidationEnvelope {
        detail: vec![ValidationItem {
            kind,
            loc: loc.iter().map(|s| (*s).to_owned()).collect(),
            msg: msg.into(),
        }],
    })
}

/// Python's `str()` of a float: `1.0`, `12.5`, `0.1` (Rust's shortest round-trip digits,
/// with `.0` kept on whole numbers as Python does).
pub(crate) fn py_float(v: f64) -> String {
    let text = v.to_string();
    if v.is_finite() && !text.contains(['.', 'e', 'E']) {
        format!("{text}.0")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::py_float;

    #[test]
    fn floats_print_as_python_does() {
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(12.5), "12.5");
        assert_eq!(py_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(py_float(0.0), "0.0");
    }
}
