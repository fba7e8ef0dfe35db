//! Reading request bodies the way FastAPI and pydantic (lax mode) do: a malformed body or a
//! field of the wrong type is a 422 `{"detail":[…]}`; a field may be missing, `null`, or set,
//! and LiteLLM tells the first two apart (an omitted `budget_duration` takes the default, an
//! explicit `null` is kept).

// A refused request's answer is the error: these run once per simulated request, where
// the size of an `HttpResponse` in a `Result` costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

use actix_web::HttpResponse;
use serde_json::{Map, Value};

use crate::errors::validation_error;

/// A field as sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field<T> {
    /// Not in the body.
    Missing,
    /// `null`.
    Null,
    /// A value.
    Set(T),
}

impl<T> Field<T> {
    /// `None` for missing or null.
    pub(crate) fn value(self) -> Option<T> {
        match self {
            Field::Set(v) => Some(v),
            Field::Missing | Field::Null => None,
        }
    }

    /// The value after an update that writes only the fields sent: `current` when missing,
    /// `None` when null.
    pub(crate) fn or_kept(self, current: Option<T>) -> Option<T> {
        match self {
            Field::Missing => current,
            Field::Null => None,
            Field::Set(v) => Some(v),
        }
    }

    /// Sent at all (null included).
    pub(crate) fn sent(&self) -> bool {
        !matches!(self, Field::Missing)
    }
}

/// The JSON object of a request body.
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, HttpResponse> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(validation_error(
            "model_attributes_type",
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
        )),
        Err(_) => Err(validation_error(
            "json_invalid",
            &["body", "0"],
            "JSON decode error",
        )),
    }
}

fn get<'a>(map: &'a Map<String, Value>, name: &str) -> Field<&'a Value> {
    match map.get(name) {
        None => Field::Missing,
        Some(Value::Null) => Field::Null,
        Some(v) => Field::Set(v),
    }
}

/// A float field: a number, or a string holding one (pydantic's lax mode).
pub(crate) fn float(map: &Map<String, Value>, name: &str) -> Result<Field<f64>, HttpResponse> {
    match get(map, name) {
        Field::Missing => Ok(Field::Missing),
        Field::Null => Ok(Field::Null),
        Field::Set(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Field::Set)
            .ok_or_else(|| {
                validation_error(
                    "float_parsing",
                    &["body", name],
                    "Input should be a valid number, unable to parse string as a number",
                )
            }),
    }
}

/// A string field.
pub(crate) fn string(map: &Map<String, Value>, name: &str) -> Result<Field<String>, HttpResponse> {
    match get(map, name) {
        Field::Missing => Ok(Field::Missing),
        Field::Null => Ok(Field::Null),
        Field::Set(Value::String(s)) => Ok(Field::Set(s.clone())),
        Field::Set(_) => Err(validation_error(
            "string_type",
            &["body", name],
            "Input should be a valid string",
        )),
    }
}

/// A boolean field.
pub(crate) fn boolean(map: &Map<String, Value>, name: &str) -> Result<Field<bool>, HttpResponse> {
    match get(map, name) {
        Field::Missing => Ok(Field::Missing),
        Field::Null => Ok(Field::Null),
        Field::Set(Value::Bool(b)) => Ok(Field::Set(*b)),
        Field::Set(_) => Err(validation_error(
            "bool_type",
            &["body", name],
            "Input should be a valid boolean",
        )),
    }
}

/// An object field.
pub(crate) fn dict(
    map: &Map<String, Value>,
    name: &str,
) -> Result<Field<Map<String, Value>>, HttpResponse> {
    match get(map, name) {
        Field::Missing => Ok(Field::Missing),
        Field::Null => Ok(Field::Null),
        Field::Set(Value::Object(m)) => Ok(Field::Set(m.clone())),
        Field::Set(_) => Err(validation_error(
            "dict_type",
            &["body", name],
            "Input should be a valid dictionary",
        )),
    }
}

/// A list-of-strings field.
pub(crate) fn strings(
    map: &Map<String, Value>,
    name: &str,
) -> Result<Field<Vec<String>>, HttpResponse> {
    match get(map, name) {
        Field::Missing => Ok(Field::Missing),
        Field::Null => Ok(Field::Null),
        Field::Set(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Field::Set)
            .ok_or_else(|| {
                validation_error(
                    "string_type",
                    &["body", name],
                    "Input should be a valid string",
                )
            }),
        Field::Set(_) => Err(validation_error(
            "list_type",
            &["body", name],
            "Input should be a valid list",
        )),
    }
}
