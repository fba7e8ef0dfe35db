//! Every query on billing's tables. Functions take a connection, so callers own
//! transactions (and the organisation row lock that serialises decisions).

pub mod alerts;
pub mod audit;
pub mod events;
pub mod members;
pub mod orgs;
pub mod poller;
pub mod recharges;
mod text_enum;
pub mod usage;

/// A page request: 1-based `page`, `page_size` rows.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// 1-based page number.
    pub page: i64,
    /// Rows per page.
    pub page_size: i64,
}

impl Page {
    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.page_size)
    }
}
