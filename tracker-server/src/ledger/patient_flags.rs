//! Patient flags: records that deserve extra watching because of who the patient is (a member
//! of staff, a VIP). Records managers set and clear them; every change is audited; the privacy
//! report (`reports::privacy`) lists every lookup of a patient flagged at the time. Flags are
//! kept with their history (who set and cleared them, when, why): a lookup is judged by the
//! flags in force when it happened.

use crate::{audit, auth::Principal, util::now_ms, Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

crate::vocabulary! {
    /// Why a patient's record is watched.
    pub enum PatientFlag {
        /// The patient works for the board.
        Staff = "staff",
        /// A person in the public eye (or otherwise at risk of curiosity).
        Vip = "vip",
    }
}

impl PatientFlag {
    /// The flag as people read it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Staff => "Member of staff",
            Self::Vip => "VIP",
        }
    }
}

/// A flag in force (or, in history, one that was).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlagRow {
    pub patient_id: i64,
    pub flag: PatientFlag,
    pub reason: String,
    pub set_by: String,
    /// UTC milliseconds.
    pub set_at: i64,
    pub cleared_by: Option<String>,
    pub cleared_at: Option<i64>,
    /// The audit rows of setting and clearing the flag.
    pub set_audit_id: Option<i64>,
    pub cleared_audit_id: Option<i64>,
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<FlagRow> {
    Ok(FlagRow {
        patient_id: r.get(0)?,
        flag: r.get(1)?,
        reason: r.get(2)?,
        set_by: r.get(3)?,
        set_at: r.get(4)?,
        cleared_by: r.get(5)?,
        cleared_at: r.get(6)?,
        set_audit_id: r.get(7)?,
        cleared_audit_id: r.get(8)?,
    })
}

const SELECT: &str = "SELECT patient_id, flag, reason, set_by, set_at, cleared_by, cleared_at, \
     set_audit_id, cleared_audit_id FROM patient_flags";

/// Set a flag on a patient, with the reason; audited as `patient.flag_set`. Setting a flag that
/// is already set is refused (naming the field `flag`).
pub fn set(
    c: &Connection,
    who: &Principal,
    patient_id: i64,
    flag: PatientFlag,
    reason: &str,
) -> Result<()> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(Error::invalid(
            "reason",
            "say why the record is flagged (1-200 characters)",
        ));
    }
    if active(c, patient_id)?.iter().any(|f| f.flag == flag) {
        return Err(Error::conflict(
            "flag",
            format!("this patient is already flagged {}", flag.label()),
        ));
    }
    c.prepare_cached(
        "INSERT INTO patient_flags(patient_id, flag, reason, set_by, set_at) VALUES (?1,?2,?3,?4,?5)",
    )?
    .execute(params![patient_id, flag, reason, who.actor, now_ms()])?;
    let id = c.last_insert_rowid();
    audit::record(
        c,
        who,
        "patient.flag_set",
        Some(patient_id),
        None,
        &format!("flagged {}: {reason}", flag.as_str()),
    )?;
    c.prepare_cached("UPDATE patient_flags SET set_audit_id=?2 WHERE id=?1")?
        .execute(params![id, c.last_insert_rowid()])?;
    Ok(())
}

/// Clear a flag; audited as `patient.flag_clear`. Clearing a flag that is not set is refused.
pub fn clear(
    c: &Connection,
    who: &Principal,
    patient_id: i64,
    flag: PatientFlag,
    reason: &str,
) -> Result<()> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(Error::invalid(
            "reason",
            "say why the flag is cleared (1-200 characters)",
        ));
    }
    let id: Option<i64> = c
        .prepare_cached(
            "SELECT id FROM patient_flags WHERE patient_id=?1 AND flag=?2 AND cleared_at IS NULL",
        )?
        .query_row(params![patient_id, flag], |r| r.get(0))
        .optional()?;
    let Some(id) = id else {
        return Err(Error::conflict(
            "flag",
            format!("this patient is not flagged {}", flag.label()),
        ));
    };
    c.prepare_cached("UPDATE patient_flags SET cleared_by=?2, cleared_at=?3 WHERE id=?1")?
        .execute(params![id, who.actor, now_ms()])?;
    audit::record(
        c,
        who,
        "patient.flag_clear",
        Some(patient_id),
        None,
        &format!("flag {} cleared: {reason}", flag.as_str()),
    )?;
    c.prepare_cached("UPDATE patient_flags SET cleared_audit_id=?2 WHERE id=?1")?
        .execute(params![id, c.last_insert_rowid()])?;
    Ok(())
}

/// The flags in force on one patient.
pub fn active(c: &Connection, patient_id: i64) -> Result<Vec<FlagRow>> {
    let v = c
        .prepare_cached(&format!(
            "{SELECT} WHERE patient_id=?1 AND cleared_at IS NULL ORDER BY flag"
        ))?
        .query_map([patient_id], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Every flag in force, newest first.
pub fn all_active(c: &Connection) -> Result<Vec<FlagRow>> {
    let v = c
        .prepare_cached(&format!(
            "{SELECT} WHERE cleared_at IS NULL ORDER BY set_at DESC, id DESC"
        ))?
        .query_map([], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Every flag (in force or cleared) that was in force at some time in `[from_ms, to_ms)`.
pub fn in_force_between(c: &Connection, from_ms: i64, to_ms: i64) -> Result<Vec<FlagRow>> {
    let v = c
        .prepare_cached(&format!(
            "{SELECT} WHERE set_at < ?2 AND (cleared_at IS NULL OR cleared_at >= ?1)"
        ))?
        .query_map(params![from_ms, to_ms], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

impl FlagRow {
    /// Whether the flag was in force when the audit row `audit_id` was written at `ms`: by the
    /// audit rows of setting and clearing it (which order events within one millisecond), or
    /// by time for a flag without them.
    pub fn in_force_for(&self, audit_id: i64, ms: i64) -> bool {
        let set = match self.set_audit_id {
            Some(s) => s < audit_id,
            None => self.set_at <= ms,
        };
        let not_cleared = match (self.cleared_audit_id, self.cleared_at) {
            (Some(c), _) => c > audit_id,
            (None, Some(c)) => c > ms,
            (None, None) => true,
        };
        set && not_cleared
    }
}
