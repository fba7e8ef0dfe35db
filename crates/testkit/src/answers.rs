//! Reading the services' answers as their own types: a test never accepts a body the
//! service's typed answer (or the one error type) could not have produced.

use serde::de::DeserializeOwned;
use tollgate_web::error::{ErrorBody, ErrorDetail};

/// `res`'s body read as `T`, after checking that its status is `status`; panics with the
/// body when either does not hold.
pub async fn answer<T: DeserializeOwned>(res: reqwest::Response, status: u16) -> T {
    let got = res.status().as_u16();
    let url = res.url().path().to_owned();
    let text = res.text().await.expect("a body");
    assert_eq!(got, status, "{url}: {text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{url}: not a {}: {e}: {text}", std::any::type_name::<T>()))
}

/// The one error body of `res`, after checking its status; `success` is `false`.
pub async fn error(res: reqwest::Response, status: u16) -> ErrorDetail {
    let body: ErrorBody = answer(res, status).await;
    assert!(!body.success, "an error body says success: false");
    body.error
}

/// The error `code` of `res`, after checking its status.
pub async fn error_code(res: reqwest::Response, status: u16) -> String {
    error(res, status).await.code
}
