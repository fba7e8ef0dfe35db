//! What handlers share.

/// Registered as `web::Data<AppState>`.
pub struct AppState {
    /// Quota units per USD.
    pub quota_per_unit: i64,
}

impl AppState {
    /// `quota` in USD, rounded to 6 decimals (new-api shows quota/500000 the same way).
    pub fn usd(&self, quota: i64) -> f64 {
        let usd = quota as f64 / self.quota_per_unit as f64;
        (usd * 1e6).round() / 1e6
    }
}
