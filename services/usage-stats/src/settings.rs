//! Settings of usage-stats: the common ones (see `tollgate_web::settings`) for now; the
//! service's own arrive with its features.

use tollgate_web::{CommonSettings, SettingsError};

use crate::{DEFAULT_PORT, SERVICE};

/// Everything usage-stats reads from its configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Port, database, admin token, logging, limits.
    pub common: CommonSettings,
}

impl Settings {
    /// Load from defaults, optional file and environment, and validate.
    pub fn load() -> Result<Self, SettingsError> {
        Ok(Self {
            common: CommonSettings::load(SERVICE, DEFAULT_PORT)?,
        })
    }
}
