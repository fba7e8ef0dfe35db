//! The form bodies and query strings we send (serialized by async-stripe with serde_qs).

use std::collections::BTreeMap;

use serde::Serialize;

/// Percent-encode an id for use as one path segment.
pub(crate) fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub(crate) fn metadata_map<'a>(metadata: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, &'a str> {
    metadata.iter().copied().collect()
}

#[derive(Serialize)]
pub(crate) struct ListQuery<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) customer: Option<&'a str>,
    pub(crate) limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) starting_after: Option<&'a str>,
    pub(crate) expand: [&'a str; 1],
}

#[derive(Serialize)]
pub(crate) struct CreateCustomer<'a> {
    pub(crate) metadata: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
pub(crate) struct Attach<'a> {
    pub(crate) customer: &'a str,
}

#[derive(Serialize)]
pub(crate) struct InvoiceSettings<'a> {
    pub(crate) default_payment_method: &'a str,
}

#[derive(Serialize)]
pub(crate) struct UpdateCustomer<'a> {
    pub(crate) invoice_settings: InvoiceSettings<'a>,
}

/// Exactly the parameters localstripe accepts (it answers 400 to any other).
#[derive(Serialize)]
pub(crate) struct CreatePaymentIntent<'a> {
    pub(crate) amount: i64,
    pub(crate) currency: &'a str,
    pub(crate) customer: &'a str,
    pub(crate) payment_method: &'a str,
    pub(crate) confirm: bool,
    pub(crate) off_session: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) metadata: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
pub(crate) struct Expand<'a> {
    pub(crate) expand: [&'a str; 1],
}

#[derive(Serialize)]
pub(crate) struct CreateRefund<'a> {
    pub(crate) payment_intent: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) metadata: BTreeMap<&'a str, &'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(segment("pi_123abc"), "pi_123abc");
        assert_eq!(segment("../x?y=1"), "%2E%2E%2Fx%3Fy%3D1");
    }
}
