//! Raw SQL that the database parses once per connection (Postgres; MySQL too).
//!
//! diesel marks every `sql_query` unsafe to cache, because its text may change from call to
//! call; diesel-async then prepares it again on every call: one extra round trip, and a fresh
//! parse and plan in Postgres, each time. A query whose text never changes is safe to keep:
//! wrapped in [`Prepared`], it is kept in the connection's statement cache under its text
//! and bind types, so later calls send only the bind values, and Postgres may reuse a plan.
//!
//! Only wrap text that is fixed (binds for every value). Text built per call would fill the
//! cache with one statement per variant.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;

/// A raw SQL query (`diesel::sql_query(…).bind(…)…`) whose text is the same on every call,
/// kept prepared per connection. Build it with [`PreparedExt::prepared`].
#[derive(Debug, Clone, Copy)]
pub struct Prepared<Q>(Q);

impl<Q> QueryId for Prepared<Q> {
    // No static id: the statement cache keys it by its text and bind types.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

/// `.prepared()` on a raw SQL query with fixed text.
pub trait PreparedExt: Sized {
    /// Keep this query prepared on the connection (its text must not vary between calls).
    fn prepared(self) -> Prepared<Self> {
        Prepared(self)
    }
}

impl<Q> PreparedExt for Q {}
