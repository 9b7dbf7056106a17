//! Accounts: adding users, disabling and enabling them, resetting passwords, changing roles,
//! and revoking API tokens. The same use cases serve the API, the admin pages and the
//! `tracker-server user ...` / `token ...` commands; each writes an audit row.

use crate::{
    audit,
    auth::{self, Permission, Principal, Role},
    storage::Db,
    Result,
};
use rusqlite::OptionalExtension;

/// A user to add, as the caller gave it.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password: String,
}

/// Add a user and write the `user.create` audit row, in one transaction. Hashing the password
/// (argon2) takes a noticeable time on purpose, so this blocks: call it from a blocking thread,
/// or use [`add_user`] from async code. Returns the new user's id.
pub fn add_user_blocking(db: &Db, who: &Principal, n: NewUser) -> Result<i64> {
    who.require(Permission::ManageUsers)?;
    let hash = auth::hash_password(&n.password)?;
    let who = who.clone();
    db.write_blocking(move |c| {
        let id = auth::insert_user(c, &n.username, &n.display_name, n.role, &hash)?;
        audit::record(
            c,
            &who,
            "user.create",
            None,
            None,
            &format!("user {} as {}", n.username, n.role.as_str()),
        )?;
        Ok(id)
    })
}

/// [`add_user_blocking`] on a blocking thread.
pub async fn add_user(db: &Db, who: &Principal, n: NewUser) -> Result<i64> {
    let (db, who) = (db.clone(), who.clone());
    tokio::task::spawn_blocking(move || add_user_blocking(&db, &who, n)).await?
}

/// A change to an existing account. Every change is audited; disabling a user, resetting a
/// password or changing a role ends the user's open sessions at once, so the change takes
/// effect on the next request.
/// (No `Debug`: a new password must never reach a log.)
#[derive(Clone)]
pub enum AccountChange {
    /// Disable the account (the user cannot sign in; sessions end). Why, for the audit trail.
    Disable { reason: String },
    /// Enable a disabled account.
    Enable,
    /// Set a new password (given to the user out of band).
    ResetPassword { password: String },
    /// Change the role.
    SetRole { role: Role },
}

impl AccountChange {
    /// What was done, for messages ("disabled", "password reset", ...).
    pub fn describe(&self) -> String {
        match self {
            Self::Disable { .. } => "disabled".into(),
            Self::Enable => "enabled".into(),
            Self::ResetPassword { .. } => "password reset".into(),
            Self::SetRole { role } => format!("role set to {}", role.as_str()),
        }
    }
}

/// Apply an [`AccountChange`] to `username` (blocking: a new password is hashed with argon2).
/// The API, the admin page and `tracker-server user ...` all call this.
pub fn change_account_blocking(
    db: &Db,
    who: &Principal,
    username: &str,
    change: AccountChange,
) -> Result<()> {
    who.require(Permission::ManageUsers)?;
    if let AccountChange::SetRole { role: Role::Device } = change {
        return Err(crate::Error::invalid(
            "role",
            "device is for API tokens, not people",
        ));
    }
    // An administrator cannot lock themselves out (or the last way in): another admin must.
    if who.actor == format!("user:{username}")
        && matches!(
            change,
            AccountChange::Disable { .. } | AccountChange::SetRole { .. }
        )
    {
        return Err(crate::Error::invalid(
            "username",
            "you cannot disable or change the role of your own account; ask another admin",
        ));
    }
    if let AccountChange::Disable { reason } = &change {
        if reason.trim().is_empty() {
            return Err(crate::Error::invalid(
                "reason",
                "say why the account is disabled",
            ));
        }
    }
    let hash = match &change {
        AccountChange::ResetPassword { password } => Some(auth::hash_password(password)?),
        _ => None,
    };
    let (who, username) = (who.clone(), username.to_string());
    db.write_blocking(move |c| {
        let id: i64 = c
            .prepare_cached("SELECT id FROM users WHERE username=?1")?
            .query_row([&username], |r| r.get(0))
            .optional()?
            .ok_or_else(|| crate::Error::not_found(format!("user {username}")))?;
        let (action, detail, end_sessions) = match change {
            AccountChange::Disable { reason } => {
                c.execute("UPDATE users SET active=0 WHERE id=?1", [id])?;
                (
                    "user.disable",
                    format!("user {username} disabled: {}", reason.trim()),
                    true,
                )
            }
            AccountChange::Enable => {
                c.execute("UPDATE users SET active=1 WHERE id=?1", [id])?;
                ("user.enable", format!("user {username} enabled"), false)
            }
            AccountChange::ResetPassword { .. } => {
                c.execute(
                    "UPDATE users SET password_hash=?2 WHERE id=?1",
                    rusqlite::params![id, hash.unwrap_or_default()],
                )?;
                (
                    "user.password_reset",
                    format!("password of {username} reset"),
                    true,
                )
            }
            AccountChange::SetRole { role } => {
                c.execute(
                    "UPDATE users SET role=?2 WHERE id=?1",
                    rusqlite::params![id, role.as_str()],
                )?;
                (
                    "user.role",
                    format!("user {username} is now {}", role.as_str()),
                    true,
                )
            }
        };
        let ended = if end_sessions {
            c.execute("DELETE FROM sessions WHERE user_id=?1", [id])?
        } else {
            0
        };
        let detail = if ended > 0 {
            format!("{detail}; {ended} session(s) ended")
        } else {
            detail
        };
        audit::record(c, &who, action, None, None, &detail)?;
        Ok(())
    })
}

/// [`change_account_blocking`] on a blocking thread.
pub async fn change_account(
    db: &Db,
    who: &Principal,
    username: &str,
    change: AccountChange,
) -> Result<()> {
    let (db, who, username) = (db.clone(), who.clone(), username.to_string());
    tokio::task::spawn_blocking(move || change_account_blocking(&db, &who, &username, change))
        .await?
}

/// An API token as an administrator sees it (never the token itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenSummary {
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

pub fn list_tokens(c: &rusqlite::Connection) -> Result<Vec<TokenSummary>> {
    let mut st = c.prepare_cached(
        "SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name",
    )?;
    let v = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    v.into_iter()
        .map(|(name, role, created_at, revoked_at)| {
            Ok(TokenSummary {
                name,
                role: Role::parse(&role)?,
                created_at,
                revoked_at,
            })
        })
        .collect()
}

/// Revoke an API token: it stops working on its next request. Audited.
pub async fn revoke_token(db: &Db, who: &Principal, name: &str, reason: &str) -> Result<()> {
    who.require(Permission::ManageUsers)?;
    if reason.trim().is_empty() {
        return Err(crate::Error::invalid(
            "reason",
            "say why the token is revoked",
        ));
    }
    let (who, name, reason) = (who.clone(), name.to_string(), reason.trim().to_string());
    db.write(move |c| {
        let revoked: Option<Option<String>> = c
            .prepare_cached("SELECT revoked_at FROM api_tokens WHERE name=?1")?
            .query_row([&name], |r| r.get(0))
            .optional()?;
        match revoked {
            None => return Err(crate::Error::not_found(format!("token {name}"))),
            Some(Some(at)) => {
                return Err(crate::Error::conflict(
                    "name",
                    format!("token {name} was already revoked at {at}"),
                ))
            }
            Some(None) => {}
        }
        c.execute(
            "UPDATE api_tokens SET revoked_at=?2 WHERE name=?1",
            rusqlite::params![name, crate::util::now_rfc3339()],
        )?;
        audit::record(
            c,
            &who,
            "token.revoke",
            None,
            None,
            &format!("token {name} revoked: {reason}"),
        )?;
        Ok(())
    })
    .await
}

/// Record a user's family name and the locations they work at (the privacy report's inputs:
/// see `reports::privacy`). Administrators only; audited as `user.profile`.
pub async fn set_profile(
    db: &Db,
    who: &Principal,
    username: &str,
    family_name: Option<String>,
    locations: Vec<String>,
) -> Result<()> {
    who.require(Permission::ManageUsers)?;
    let (who, username) = (who.clone(), username.to_string());
    db.write(move |c| {
        let detail =
            crate::ledger::staff::set_profile(c, &username, family_name.as_deref(), &locations)?;
        audit::record(c, &who, "user.profile", None, None, &detail)
    })
    .await
}
