//! The operator's membership operations (issue 14): add a Supabase user to an organisation
//! as admin or viewer, change the role, list, remove. Each change is in the audit trail.

use std::sync::Arc;

use diesel_async::AsyncConnection;
use serde::Deserialize;
use serde_json::json;
use tollgate_db::PgPool;
use tollgate_domain::ids::UserId;
use tollgate_web::ApiError;

use crate::store::audit;
use crate::store::members::{self, MemberRole, MemberRow};
use crate::store::orgs;

/// `POST /api/organizations/{id}/members` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The Supabase user id (a UUID).
    #[schema(format = Uuid)]
    pub user_id: String,
    /// `admin` or `viewer`.
    #[schema(pattern = "^(admin|viewer)$", example = "viewer")]
    pub role: String,
}

/// Parse a user id: 400 unless a UUID.
pub fn parse_user(id: &str) -> Result<UserId, ApiError> {
    id.trim()
        .parse::<UserId>()
        .map_err(|_| ApiError::bad_request("invalid_user_id", "user_id must be a UUID"))
}

fn parse_role(role: &str) -> Result<MemberRole, ApiError> {
    MemberRole::parse(role)
        .ok_or_else(|| ApiError::bad_request("invalid_role", "role must be admin or viewer"))
}

/// Membership operations (the operator's).
pub struct Memberships {
    pool: PgPool,
}

impl Memberships {
    /// Over billing's database.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Add the user, or change their role; `true` when they were not a member before.
    pub async fn add(&self, c_org: &str, input: AddMember) -> Result<(MemberRow, bool), ApiError> {
        let user = parse_user(&input.user_id)?;
        let role = parse_role(&input.role)?;
        let c_org = c_org.to_owned();
        let mut conn = self.pool.get().await?;
        let done = conn
            .transaction(async move |conn| {
                let Some(org) = orgs::lock(conn, &c_org).await? else {
                    return Ok(Err(ApiError::NotFound(format!("no organisation {c_org}"))));
                };
                let before = members::lock(conn, org.id, user.0).await?;
                let row = members::upsert(conn, org.id, user.0, role).await?;
                let old = before.as_ref().map(|m| m.role);
                if old != Some(role) {
                    let action = if old.is_none() {
                        "member_added"
                    } else {
                        "member_role_changed"
                    };
                    audit::insert(
                        conn,
                        org.id,
                        "operator",
                        action,
                        &json!({ "user_id": user, "role": { "old": old, "new": role } }),
                    )
                    .await?;
                }
                Ok::<_, diesel::result::Error>(Ok((row, before.is_none())))
            })
            .await?;
        done
    }

    /// The organisation's members.
    pub async fn list(&self, c_org: &str) -> Result<Vec<MemberRow>, ApiError> {
        let mut conn = self.pool.get().await?;
        let org = orgs::find(&mut conn, c_org)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no organisation {c_org}")))?;
        Ok(members::list(&mut conn, org.id).await?)
    }

    /// Remove a member (404 when not one); they lose access at once.
    pub async fn remove(&self, c_org: &str, user: &str) -> Result<MemberRow, ApiError> {
        let user = parse_user(user)?;
        let c_org = c_org.to_owned();
        let mut conn = self.pool.get().await?;
        let done = conn
            .transaction(async move |conn| {
                let Some(org) = orgs::lock(conn, &c_org).await? else {
                    return Ok(Err(ApiError::NotFound(format!("no organisation {c_org}"))));
                };
                let Some(row) = members::remove(conn, org.id, user.0).await? else {
                    return Ok(Err(ApiError::NotFound(format!(
                        "{user} is not a member of {c_org}"
                    ))));
                };
                audit::insert(
                    conn,
                    org.id,
                    "operator",
                    "member_removed",
                    &json!({ "user_id": user, "role": { "old": row.role, "new": null } }),
                )
                .await?;
                Ok::<_, diesel::result::Error>(Ok(row))
            })
            .await?;
        done
    }
}

/// Shared handle.
pub type SharedMemberships = Arc<Memberships>;
