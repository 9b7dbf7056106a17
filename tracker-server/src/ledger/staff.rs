//! Staff badges: the codes porters scan to say who is carrying the notes. A badge is known
//! when it is a user's badge (the staff prefix and the user's number, printed from the Labels
//! page for a user) of an active user, or a badge registered by number (printed for someone
//! without an account, or registered through the API). Scans naming an unknown badge are
//! refused, so a made-up staff number never reaches the trail.

use crate::{util::now_rfc3339, Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Badge {
    pub badge: String,
    pub name: String,
    pub active: bool,
    pub created_at: String,
}

/// The badge number of a user: staff prefix + user id in five digits, e.g. `S00042`.
pub fn user_badge(staff_prefix: &str, user_id: i64) -> String {
    format!("{staff_prefix}{user_id:05}")
}

/// Register (or rename and reactivate) a badge by number.
pub fn register(c: &Connection, badge: &str, name: &str) -> Result<()> {
    let badge = badge.trim().to_ascii_uppercase();
    if badge.is_empty() || badge.len() > 32 || !badge.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid("badge", "must be 1-32 letters or digits"));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid("name", "must be 1-100 characters"));
    }
    c.prepare_cached(
        "INSERT INTO staff_badges(badge, name, active, created_at) VALUES (?1,?2,1,?3)
         ON CONFLICT(badge) DO UPDATE SET name=excluded.name, active=1",
    )?
    .execute(params![badge, name, now_rfc3339()])?;
    Ok(())
}

pub fn list(c: &Connection) -> Result<Vec<Badge>> {
    let mut st = c.prepare_cached(
        "SELECT badge, name, active, created_at FROM staff_badges ORDER BY badge",
    )?;
    let v = st
        .query_map([], |r| {
            Ok(Badge {
                badge: r.get(0)?,
                name: r.get(1)?,
                active: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// The name of whoever a movement's `staff_id` names: a registered badge's name, the user a
/// user badge belongs to, or the user whose user name it is (the scan page records the signed-in
/// user when no badge was scanned). `None` when nobody is known by it.
pub fn display_name(c: &Connection, staff_id: &str) -> Result<Option<String>> {
    let id = staff_id.trim().to_ascii_uppercase();
    if let Some(n) = c
        .prepare_cached("SELECT name FROM staff_badges WHERE badge=?1")?
        .query_row([&id], |r| r.get::<_, String>(0))
        .optional()?
    {
        return Ok(Some(n));
    }
    let letters: String = id.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    if let Ok(n) = id[letters.len()..].parse::<i64>() {
        if !letters.is_empty() && user_badge(&letters, n) == id {
            if let Some(name) = c
                .prepare_cached("SELECT display_name FROM users WHERE id=?1")?
                .query_row([n], |r| r.get::<_, String>(0))
                .optional()?
            {
                return Ok(Some(name));
            }
        }
    }
    Ok(
        c.prepare_cached("SELECT display_name FROM users WHERE username=?1")?
            .query_row([staff_id.trim()], |r| r.get::<_, String>(0))
            .optional()?,
    )
}

/// Every known, active badge: registered ones and those of active users (for the scan page,
/// which checks a badge the moment it is scanned, even offline).
pub fn all_known(c: &Connection, prefix: &str) -> Result<Vec<String>> {
    let mut v: Vec<String> = c
        .prepare_cached("SELECT badge FROM staff_badges WHERE active=1")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let ids: Vec<i64> = c
        .prepare_cached("SELECT id FROM users WHERE active=1")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    v.extend(ids.into_iter().map(|id| user_badge(prefix, id)));
    v.sort();
    v.dedup();
    Ok(v)
}

/// Is `badge` a known, active badge? `prefix` is the staff prefix of user badges (`S`).
pub fn known(c: &Connection, prefix: &str, badge: &str) -> Result<bool> {
    let badge = badge.trim().to_ascii_uppercase();
    let registered: Option<bool> = c
        .prepare_cached("SELECT active FROM staff_badges WHERE badge=?1")?
        .query_row([&badge], |r| r.get(0))
        .optional()?;
    if let Some(active) = registered {
        return Ok(active);
    }
    let Some(id) = badge
        .strip_prefix(&prefix.to_ascii_uppercase())
        .and_then(|n| n.parse::<i64>().ok())
    else {
        return Ok(false);
    };
    if user_badge(prefix, id) != badge {
        return Ok(false);
    }
    Ok(
        c.prepare_cached("SELECT EXISTS(SELECT 1 FROM users WHERE id=?1 AND active=1)")?
            .query_row([id], |r| r.get(0))?,
    )
}

/// What the privacy report knows of a user: their family name (to spot lookups of relatives)
/// and the locations they work at (to judge whether a lookup had a legitimate relationship).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Profile {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub family_name: Option<String>,
    /// Location codes, in code order.
    pub locations: Vec<String>,
    /// The same locations' ids.
    #[serde(skip)]
    pub location_ids: Vec<i64>,
}

/// Every user's profile, by user name.
pub fn profiles(c: &Connection) -> Result<std::collections::BTreeMap<String, Profile>> {
    let mut out = std::collections::BTreeMap::new();
    let mut st = c.prepare_cached("SELECT username, display_name, role, family_name FROM users")?;
    let rows = st.query_map([], |r| {
        Ok(Profile {
            username: r.get(0)?,
            display_name: r.get(1)?,
            role: r.get(2)?,
            family_name: r.get(3)?,
            ..Default::default()
        })
    })?;
    for p in rows {
        let p = p?;
        out.insert(p.username.clone(), p);
    }
    let mut st = c.prepare_cached(
        "SELECT u.username, l.id, l.code FROM user_locations ul JOIN users u ON u.id = ul.user_id
         JOIN locations l ON l.id = ul.location_id ORDER BY l.code",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (u, id, code) = row?;
        if let Some(p) = out.get_mut(&u) {
            p.location_ids.push(id);
            p.locations.push(code);
        }
    }
    Ok(out)
}

/// Set a user's family name (empty: unknown) and work locations (codes or GLNs; each must
/// exist). Replaces the previous ones. Returns a description of the change for the audit row.
pub fn set_profile(
    c: &Connection,
    username: &str,
    family_name: Option<&str>,
    locations: &[String],
) -> Result<String> {
    let family = family_name.map(str::trim).filter(|s| !s.is_empty());
    if let Some(f) = family {
        if f.chars().count() > 100 || f.chars().any(char::is_control) {
            return Err(Error::invalid(
                "family_name",
                "must be at most 100 characters without control characters",
            ));
        }
    }
    let user_id: i64 = c
        .prepare_cached("SELECT id FROM users WHERE username=?1")?
        .query_row([username], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found(format!("user {username}")))?;
    let mut ids = Vec::new();
    let mut codes = Vec::new();
    for code in locations.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let id = crate::ledger::locations::resolve_id(c, code)?
            .ok_or_else(|| Error::invalid("locations", format!("there is no location {code:?}")))?;
        if !ids.contains(&id) {
            ids.push(id);
            codes.push(crate::ledger::locations::get(c, id)?.code);
        }
    }
    c.prepare_cached("UPDATE users SET family_name=?2 WHERE id=?1")?
        .execute(params![user_id, family])?;
    c.prepare_cached("DELETE FROM user_locations WHERE user_id=?1")?
        .execute([user_id])?;
    for id in &ids {
        c.prepare_cached("INSERT INTO user_locations(user_id, location_id) VALUES (?1,?2)")?
            .execute(params![user_id, id])?;
    }
    // (a user's family name is staff data, not patient data: it may be written to the audit row)
    Ok(format!(
        "user {username}: family name {}, works at {}",
        family
            .map(|f| format!("{f:?}"))
            .unwrap_or_else(|| "not recorded".into()),
        if codes.is_empty() {
            "no recorded location".to_string()
        } else {
            codes.join(", ")
        }
    ))
}
