//! Teams as LiteLLM keeps them (`LiteLLM_TeamTable`), in memory: the fields a budget
//! depends on, the rest at the defaults a new team gets. Spend is a float in dollars, as in
//! LiteLLM. Two spends are kept: the counter budget checks read at once, and the spend
//! `/team/info` reports, which LiteLLM's batch writer copies from the counter about every
//! 10 s (the simulator's `spend_flush`, default at once).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// One team.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    /// `team_id`.
    pub team_id: String,
    /// `team_alias` (optional, not unique).
    pub team_alias: Option<String>,
    /// `max_budget` in dollars; `None`: no budget.
    pub max_budget: Option<f64>,
    /// `soft_budget` in dollars.
    pub soft_budget: Option<f64>,
    /// `budget_duration` (`30d`, `1mo`…); `None`: the budget never resets.
    pub budget_duration: Option<String>,
    /// When the budget next resets (set only with a duration).
    pub budget_reset_at: Option<DateTime<Utc>>,
    /// `blocked`.
    pub blocked: bool,
    /// `metadata`.
    pub metadata: Map<String, Value>,
    /// `models`.
    pub models: Vec<String>,
    /// The spend counter budget checks read (dollars).
    pub spend: f64,
    /// The spend written to the database, which `/team/info` reports (dollars).
    pub reported_spend: f64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Team {
    /// Over budget as LiteLLM checks it: a finite `max_budget` and `spend > max_budget`
    /// (equal is still allowed).
    pub fn over_budget(&self) -> bool {
        self.max_budget
            .is_some_and(|max| max.is_finite() && self.spend > max)
    }

    /// The row as `/team/new` and `/team/update` answer it.
    pub(crate) fn row(&self) -> TeamRow<'_> {
        TeamRow {
            team_alias: self.team_alias.as_deref(),
            team_id: &self.team_id,
            organization_id: None,
            admins: Vec::new(),
            members: Vec::new(),
            members_with_roles: vec![json!({
                "user_id": "default_user_id",
                "user_email": null,
                "role": "admin",
            })],
            team_member_permissions: Vec::new(),
            metadata: &self.metadata,
            tpm_limit: None,
            rpm_limit: None,
            max_budget: self.max_budget,
            soft_budget: self.soft_budget,
            budget_duration: self.budget_duration.as_deref(),
            models: &self.models,
            blocked: self.blocked,
            spend: self.reported_spend,
            max_parallel_requests: None,
            budget_reset_at: self.budget_reset_at,
            model_id: None,
            model_spend: Map::new(),
            model_max_budget: Map::new(),
            updated_at: self.updated_at,
            created_at: self.created_at,
        }
    }
}

/// A team row on the wire (`LiteLLM_TeamTable`), keys in LiteLLM's order.
#[derive(Debug, Serialize)]
pub(crate) struct TeamRow<'a> {
    team_alias: Option<&'a str>,
    team_id: &'a str,
    organization_id: Option<&'a str>,
    admins: Vec<Value>,
    members: Vec<Value>,
    members_with_roles: Vec<Value>,
    team_member_permissions: Vec<String>,
    metadata: &'a Map<String, Value>,
    tpm_limit: Option<i64>,
    rpm_limit: Option<i64>,
    max_budget: Option<f64>,
    soft_budget: Option<f64>,
    budget_duration: Option<&'a str>,
    models: &'a [String],
    blocked: bool,
    spend: f64,
    max_parallel_requests: Option<i64>,
    budget_reset_at: Option<DateTime<Utc>>,
    model_id: Option<i64>,
    model_spend: Map<String, Value>,
    model_max_budget: Map<String, Value>,
    updated_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

/// Whether LiteLLM accepts `duration` as a `budget_duration` (`<n>s|m|h|d|w|mo`, n > 0).
pub fn duration_valid(duration: &str) -> bool {
    parse_duration(duration).is_some()
}

fn parse_duration(duration: &str) -> Option<(i64, &str)> {
    let d = duration.trim();
    let split = d.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = d.split_at(split);
    let n: i64 = digits.parse().ok()?;
    (n > 0 && matches!(unit, "s" | "m" | "h" | "d" | "w" | "mo")).then_some((n, unit))
}

/// When a budget of `duration` set at `now` next resets. LiteLLM aligns resets to calendar
/// boundaries (midnight, Monday, the 1st); the simulator aligns days to midnight UTC and
/// months to the 1st, and counts the other units from `now`.
pub fn reset_at(duration: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (n, unit) = parse_duration(duration)?;
    let midnight = Utc
        .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()?;
    match unit {
        "s" => Some(now + Duration::seconds(n)),
        "m" => Some(now + Duration::minutes(n)),
        "h" => Some(now + Duration::hours(n)),
        "d" => Some(midnight + Duration::days(n)),
        "w" => Some(midnight + Duration::weeks(n)),
        _ => {
            let months = i64::from(now.month0()) + n;
            let year = i32::try_from(i64::from(now.year()) + months / 12).ok()?;
            let month = u32::try_from(months % 12).ok()? + 1;
            Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single()
        }
    }
}

/// Why a store call did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreError {
    /// `/team/new` with a `team_id` that exists.
    Exists,
    /// No team with that id.
    NotFound,
}

/// All teams, by id.
#[derive(Debug, Default)]
pub(crate) struct Store(Mutex<BTreeMap<String, Team>>);

impl Store {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Team>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Add `team` unless its id is taken.
    pub(crate) fn insert(&self, team: Team) -> Result<Team, StoreError> {
        let mut teams = self.lock();
        if teams.contains_key(&team.team_id) {
            return Err(StoreError::Exists);
        }
        teams.insert(team.team_id.clone(), team.clone());
        Ok(team)
    }

    /// Change team `id` with `change` (which may refuse); answers the changed team.
    pub(crate) fn update<E>(
        &self,
        id: &str,
        change: impl FnOnce(&mut Team) -> Result<(), E>,
    ) -> Result<Result<Team, E>, StoreError> {
        let mut teams = self.lock();
        let team = teams.get_mut(id).ok_or(StoreError::NotFound)?;
        let mut changed = team.clone();
        if let Err(e) = change(&mut changed) {
            return Ok(Err(e));
        }
        *team = changed.clone();
        Ok(Ok(changed))
    }

    /// Team `id`.
    pub(crate) fn get(&self, id: &str) -> Option<Team> {
        self.lock().get(id).cloned()
    }

    /// Every team, by id.
    pub(crate) fn all(&self) -> Vec<Team> {
        self.lock().values().cloned().collect()
    }

    /// Copy every spend counter to the reported spend (LiteLLM's batch write).
    pub(crate) fn flush_spend(&self) {
        for team in self.lock().values_mut() {
            team.reported_spend = team.spend;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_litellm_accepts_them() {
        for ok in ["30s", "1h", "24h", "7d", "30d", "1mo", "2w"] {
            assert!(duration_valid(ok), "{ok}");
        }
        for bad in ["", "0d", "d", "30", "1y", "-1d", "1.5d"] {
            assert!(!duration_valid(bad), "{bad}");
        }
    }

    #[test]
    fn resets_align_days_and_months() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 15, 30, 0).unwrap();
        assert_eq!(
            reset_at("1d", now),
            Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 0).single()
        );
        assert_eq!(
            reset_at("1mo", now),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).single()
        );
        assert_eq!(reset_at("1h", now), Some(now + Duration::hours(1)));
    }

    #[test]
    fn over_budget_is_strictly_greater() {
        let now = Utc::now();
        let mut team = Team {
            team_id: "t".into(),
            team_alias: None,
            max_budget: Some(1.0),
            soft_budget: None,
            budget_duration: None,
            budget_reset_at: None,
            blocked: false,
            metadata: Map::new(),
            models: Vec::new(),
            spend: 1.0,
            reported_spend: 0.0,
            created_at: now,
            updated_at: now,
        };
        assert!(!team.over_budget());
        team.spend = 1.01;
        assert!(team.over_budget());
        team.max_budget = None;
        assert!(!team.over_budget());
    }
}
