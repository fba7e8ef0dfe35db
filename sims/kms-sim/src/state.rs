//! The organisations the simulator holds: quota and usage in integer cents.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Value};

use crate::money::{self, MAX_CENTS};

/// One organisation as the KMS holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgView {
    /// The caller's organisation id (`c_organization_id`).
    pub c_organization_id: String,
    /// The LiteLLM team the KMS created for it (`l_team_id`, `team_<uuid>`).
    pub l_team_id: String,
    /// Spending limit in cents.
    pub quota_cents: i64,
    /// Spending so far in cents.
    pub usage_cents: i64,
}

impl OrgView {
    /// Quota in dollars.
    pub fn quota(&self) -> f64 {
        money::to_dollars(self.quota_cents)
    }

    /// Usage in dollars.
    pub fn usage(&self) -> f64 {
        money::to_dollars(self.usage_cents)
    }

    /// Whether usage has passed the quota (`usage > quota`).
    pub fn is_over_quota(&self) -> bool {
        self.usage_cents > self.quota_cents
    }

    /// The wire shape `{"c_organization_id","l_team_id","quota","usage"}` in dollars.
    pub fn to_json(&self) -> Value {
        json!({
            "c_organization_id": self.c_organization_id,
            "l_team_id": self.l_team_id,
            "quota": money::to_json(self.quota_cents),
            "usage": money::to_json(self.usage_cents),
        })
    }
}

/// Why a store operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("Organization already exists")]
    Exists,
    #[error("Organization not found")]
    NotFound,
    #[error("usage would exceed the largest amount the simulator holds")]
    TooLarge,
}

/// The result of adding usage.
#[derive(Debug, Clone)]
pub(crate) struct UsageOutcome {
    /// The organisation after the call.
    pub(crate) org: OrgView,
    /// This call moved the organisation from within its quota to over it.
    pub(crate) crossed: bool,
}

/// All organisations, keyed by `c_organization_id`.
#[derive(Debug, Default)]
pub(crate) struct Store {
    orgs: Mutex<BTreeMap<String, OrgView>>,
}

impl Store {
    /// Create an organisation with a fresh team id.
    pub(crate) fn create(&self, id: &str, quota_cents: i64) -> Result<OrgView, StoreError> {
        let mut orgs = self.lock();
        if orgs.contains_key(id) {
            return Err(StoreError::Exists);
        }
        let org = OrgView {
            c_organization_id: id.to_owned(),
            l_team_id: format!("team_{}", uuid::Uuid::new_v4().simple()),
            quota_cents,
            usage_cents: 0,
        };
        orgs.insert(id.to_owned(), org.clone());
        Ok(org)
    }

    /// One organisation.
    pub(crate) fn get(&self, id: &str) -> Option<OrgView> {
        self.lock().get(id).cloned()
    }

    /// Every organisation, ordered by id.
    pub(crate) fn all(&self) -> Vec<OrgView> {
        self.lock().values().cloned().collect()
    }

    /// Set (never add to) the quota.
    pub(crate) fn set_quota(&self, id: &str, quota_cents: i64) -> Result<OrgView, StoreError> {
        let mut orgs = self.lock();
        let org = orgs.get_mut(id).ok_or(StoreError::NotFound)?;
        org.quota_cents = quota_cents;
        Ok(org.clone())
    }

    /// Add usage and report whether this call crossed the quota.
    pub(crate) fn add_usage(
        &self,
        id: &str,
        amount_cents: i64,
    ) -> Result<UsageOutcome, StoreError> {
        let mut orgs = self.lock();
        let org = orgs.get_mut(id).ok_or(StoreError::NotFound)?;
        let usage = org
            .usage_cents
            .checked_add(amount_cents)
            .filter(|u| *u <= MAX_CENTS)
            .ok_or(StoreError::TooLarge)?;
        let was_over = org.is_over_quota();
        org.usage_cents = usage;
        Ok(UsageOutcome {
            crossed: !was_over && org.is_over_quota(),
            org: org.clone(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, OrgView>> {
        // Every mutation is a single assignment, so a poisoned map is still consistent.
        self.orgs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_is_reported_once_until_quota_is_raised() {
        let store = Store::default();
        store.create("o", 1_000).unwrap();
        assert!(
            !store.add_usage("o", 1_000).unwrap().crossed,
            "usage == quota is not over"
        );
        assert!(store.add_usage("o", 1).unwrap().crossed);
        assert!(!store.add_usage("o", 500).unwrap().crossed);
        store.set_quota("o", 10_000).unwrap();
        assert!(!store.add_usage("o", 1).unwrap().crossed);
        assert!(store.add_usage("o", 10_000).unwrap().crossed);
    }

    #[test]
    fn errors() {
        let store = Store::default();
        let org = store.create("o", 0).unwrap();
        assert!(org.l_team_id.starts_with("team_"));
        assert_eq!(store.create("o", 5), Err(StoreError::Exists));
        assert_eq!(store.set_quota("x", 5).unwrap_err(), StoreError::NotFound);
        assert_eq!(
            store.add_usage("o", MAX_CENTS + 1).unwrap_err(),
            StoreError::TooLarge
        );
    }
}
