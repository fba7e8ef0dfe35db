//! Errors of this crate.

/// Why a new-api database operation failed. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum NewapiDbError {
    /// The URL is not `postgres://`, `postgresql://` or `mysql://`.
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
    /// A connection could not be opened.
    #[error("cannot connect to the new-api database: {0}")]
    Connection(#[from] diesel::ConnectionError),
    /// The pool had no connection to give within its timeout.
    #[error("new-api database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl From<diesel_async::pooled_connection::bb8::RunError> for NewapiDbError {
    fn from(e: diesel_async::pooled_connection::bb8::RunError) -> Self {
        NewapiDbError::Unavailable(e.to_string())
    }
}
