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

pub use tollgate_domain::page::Page;
