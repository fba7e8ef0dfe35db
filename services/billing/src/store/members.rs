//! `organization_members`: who may see (viewer) or steer (admin) an organisation.

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tollgate_db::schema::{organization_balance_config as orgs, organization_members as members};
use uuid::Uuid;

use super::orgs::OrgRow;
use super::text_enum::text_enum;
use super::Page;

text_enum!(
    /// What a member may do (`organization_members.role`).
    MemberRole {
        /// Read and steer the organisation.
        Admin => "admin",
        /// Read it.
        Viewer => "viewer",
    }
);

/// One membership, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = members)]
pub struct MemberRow {
    /// Internal organisation id.
    pub organization_id: i64,
    /// The Supabase user.
    pub user_id: Uuid,
    /// Admin or viewer.
    pub role: MemberRole,
    /// Added.
    pub created_at: DateTime<Utc>,
    /// Role last changed.
    pub updated_at: DateTime<Utc>,
}

/// The member's current row, locked until the transaction ends.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    org: i64,
    user: Uuid,
) -> QueryResult<Option<MemberRow>> {
    members::table
        .find((org, user))
        .select(MemberRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Add `user` with `role`, or change the role; returns the row.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    org: i64,
    user: Uuid,
    role: MemberRole,
) -> QueryResult<MemberRow> {
    diesel::insert_into(members::table)
        .values((
            members::organization_id.eq(org),
            members::user_id.eq(user),
            members::role.eq(role),
        ))
        .on_conflict((members::organization_id, members::user_id))
        .do_update()
        .set((
            members::role.eq(role),
            members::updated_at.eq(diesel::dsl::now),
        ))
        .returning(MemberRow::as_returning())
        .get_result(conn)
        .await
}

/// Remove a member; the removed row, if there was one.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    org: i64,
    user: Uuid,
) -> QueryResult<Option<MemberRow>> {
    diesel::delete(members::table.find((org, user)))
        .returning(MemberRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The organisation's members, oldest first.
pub async fn list(conn: &mut AsyncPgConnection, org: i64) -> QueryResult<Vec<MemberRow>> {
    members::table
        .filter(members::organization_id.eq(org))
        .order((members::created_at.asc(), members::user_id.asc()))
        .select(MemberRow::as_select())
        .load(conn)
        .await
}

/// The organisation `c_org` and `user`'s role in it; `None` when either is missing.
pub async fn org_and_role(
    conn: &mut AsyncPgConnection,
    c_org: &str,
    user: Uuid,
) -> QueryResult<Option<(OrgRow, MemberRole)>> {
    orgs::table
        .inner_join(members::table)
        .filter(orgs::c_organization_id.eq(c_org))
        .filter(members::user_id.eq(user))
        .select((OrgRow::as_select(), members::role))
        .first(conn)
        .await
        .optional()
}

/// A page of `user`'s organisations (newest first) with their role, and the total.
pub async fn page_for_user(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    page: Page,
) -> QueryResult<(Vec<(OrgRow, MemberRole)>, i64)> {
    let rows = orgs::table
        .inner_join(members::table)
        .filter(members::user_id.eq(user))
        .order(orgs::id.desc())
        .limit(page.size)
        .offset(page.offset())
        .select((OrgRow::as_select(), members::role))
        .load(conn)
        .await?;
    let total = members::table
        .filter(members::user_id.eq(user))
        .select(count_star())
        .first(conn)
        .await?;
    Ok((rows, total))
}
