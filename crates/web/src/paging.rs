//! The one paging extractor of every list route: `?page` and `?page_size`, checked.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use tollgate_domain::page::{Page, PageLimits, MAX_DEPTH};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

use crate::ApiError;

/// `?page&page_size` of a list route: `page` ≥ 1 (default 1), `page_size` 1 to `MAX`
/// (default `DEFAULT`), `page × page_size` at most [`MAX_DEPTH`]. Anything else is a 400
/// `invalid_query` naming the rule. Other query parameters are left to other extractors;
/// a repeated `page` or `page_size` counts once, the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging<const DEFAULT: i64 = 20, const MAX: i64 = 100>(pub Page);

impl<const DEFAULT: i64, const MAX: i64> Paging<DEFAULT, MAX> {
    /// The limits this route applies.
    pub const LIMITS: PageLimits = PageLimits {
        default_size: DEFAULT,
        max_size: MAX,
    };

    /// Parse a raw query string.
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        let (mut page, mut size) = (None, None);
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "page" if page.is_none() => page = Some(value),
                "page_size" if size.is_none() => size = Some(value),
                _ => {}
            }
        }
        Page::parse(page.as_deref(), size.as_deref(), Self::LIMITS)
            .map(Paging)
            .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))
    }
}

impl<const DEFAULT: i64, const MAX: i64> FromRequest for Paging<DEFAULT, MAX> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_query(req.query_string()))
    }
}

/// Documents `page` and `page_size` with this route's limits: `params(Paging<50, 200>)`.
impl<const DEFAULT: i64, const MAX: i64> utoipa::IntoParams for Paging<DEFAULT, MAX> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let integer = |min: i64, max: i64| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .minimum(Some(min as f64))
                .maximum(Some(max as f64))
                .build()
        };
        let param = |name: &str, description: String, max: i64| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(integer(1, max)))
                .build()
        };
        vec![
            param(
                "page",
                format!("1-based page; default 1. `page × page_size` may be at most {MAX_DEPTH}."),
                MAX_DEPTH,
            ),
            param(
                "page_size",
                format!("Items per page, 1 to {MAX}; default {DEFAULT}."),
                MAX,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_page_and_size_among_other_parameters() {
        assert_eq!(
            Paging::<50, 200>::from_query("sync=failed&page=2&page_size=200&page=9")
                .unwrap()
                .0,
            Page {
                number: 2,
                size: 200
            }
        );
        assert_eq!(
            Paging::<20, 100>::from_query("").unwrap().0,
            Page::first(20)
        );
        assert_eq!(
            Paging::<20, 100>::from_query("page%5Fsize=%2035")
                .unwrap()
                .0,
            Page::first(35)
        );
    }

    #[test]
    fn refusals_are_invalid_query() {
        for query in [
            "page=0",
            "page_size=101",
            "page=x",
            "page=10001&page_size=100",
        ] {
            let err = Paging::<20, 100>::from_query(query).unwrap_err();
            assert_eq!(err.code(), "invalid_query", "{query}");
        }
    }
}
