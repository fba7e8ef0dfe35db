//! Who is asking, and what they may do with an organisation: the operator (`ADMIN_TOKEN`)
//! may do everything; a signed-in Supabase user only what their membership allows (issue
//! 14). A user who is not a member gets the same 404 as for an organisation that does not
//! exist, so membership never reveals what exists; a viewer's write is 403.

use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use tollgate_domain::ids::UserId;
use tollgate_web::ApiError;

use crate::store::members::{self, MemberRole};
use crate::store::orgs::{self, OrgRow};

/// The caller of an org route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `Authorization: Bearer $ADMIN_TOKEN`.
    Operator,
    /// A verified Supabase access token's user.
    User(UserId),
}

impl Caller {
    /// How the audit trail names them: `operator`, or the user id.
    pub fn actor(&self) -> String {
        match self {
            Caller::Operator => "operator".into(),
            Caller::User(id) => id.to_string(),
        }
    }
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read the organisation and its lists.
    Read,
    /// Change it (settings, card, sync, manual recharge).
    Write,
}

/// The caller's standing in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    /// The operator.
    Operator,
    /// An organisation admin.
    Admin,
    /// An organisation viewer.
    Viewer,
}

impl From<MemberRole> for OrgRole {
    fn from(role: MemberRole) -> Self {
        match role {
            MemberRole::Admin => OrgRole::Admin,
            MemberRole::Viewer => OrgRole::Viewer,
        }
    }
}

fn not_found(c_org: &str) -> ApiError {
    ApiError::NotFound(format!("no organisation {c_org}"))
}

/// The organisation `c_org` and the caller's role in it, if the caller may do `need`.
pub async fn authorize(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    c_org: &str,
    need: Need,
) -> Result<(OrgRow, OrgRole), ApiError> {
    match caller {
        Caller::Operator => orgs::find(conn, c_org)
            .await?
            .map(|org| (org, OrgRole::Operator))
            .ok_or_else(|| not_found(c_org)),
        Caller::User(user) => {
            let Some((org, role)) = members::org_and_role(conn, c_org, user.0).await? else {
                return Err(not_found(c_org));
            };
            if need == Need::Write && role == MemberRole::Viewer {
                return Err(ApiError::Forbidden(
                    "a viewer of this organisation cannot change it".into(),
                ));
            }
            Ok((org, role.into()))
        }
    }
}
