//! `organization_audit`: every change a person made to an organisation.

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use tollgate_db::schema::organization_audit as audit;

use super::Page;

/// One entry, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit)]
pub struct AuditRow {
    /// Id (order of entry).
    pub id: i64,
    /// Internal organisation id.
    pub organization_id: i64,
    /// `operator` or a Supabase user id.
    pub actor: String,
    /// `settings`, `payment_method`, `recharge`, `sync`, `member_added`, …
    pub action: String,
    /// What changed: `{field: {"old", "new"}}`, or the action's figures.
    pub changes: Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Record an entry (in the caller's transaction, beside the change).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    org: i64,
    actor: &str,
    action: &str,
    changes: &Value,
) -> QueryResult<()> {
    diesel::insert_into(audit::table)
        .values((
            audit::organization_id.eq(org),
            audit::actor.eq(actor),
            audit::action.eq(action),
            audit::changes.eq(changes),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A page of an organisation's entries, newest first, and the total.
pub async fn page(
    conn: &mut AsyncPgConnection,
    org: i64,
    page: Page,
) -> QueryResult<(Vec<AuditRow>, i64)> {
    let rows = audit::table
        .filter(audit::organization_id.eq(org))
        .order(audit::id.desc())
        .limit(page.size)
        .offset(page.offset())
        .select(AuditRow::as_select())
        .load(conn)
        .await?;
    let total = audit::table
        .filter(audit::organization_id.eq(org))
        .select(count_star())
        .first(conn)
        .await?;
    Ok((rows, total))
}
