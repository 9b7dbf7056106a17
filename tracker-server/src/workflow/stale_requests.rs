//! Stale requests: the periodic sweep that keeps the desk queue honest. Routine requests still
//! not delivered `[requests] escalate_after_working_days` working days after they were made are
//! escalated ([`super::requests::escalate`]); requests for a clinic whose session has ended,
//! with the notes never sent, are closed with the reason "clinic has passed"
//! ([`super::requests::close_for_passed_clinic`], through the request state machine). The
//! server runs it every `[requests] stale_check_secs`; `tracker-server requests sweep` runs it
//! once. Each change is written to the request's history (the live desk follows it) and to the
//! audit log.

use crate::{auth::Principal, config::RequestsConfig, util::site_tz, workflow::requests, Result};
use chrono::{DateTime, Days};
use rusqlite::{params, Connection};
use serde::Serialize;

/// What one sweep did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Swept {
    /// Requests escalated (routine, undelivered after the configured working days).
    pub escalated: Vec<i64>,
    /// Requests closed because their clinic has passed.
    pub closed_clinic_passed: Vec<i64>,
}

/// When a request for a clinic stops being useful: the end of its appointment's session, or
/// (with no appointment) the end of the local day it was needed by.
fn clinic_passed_at(session_end: Option<i64>, needed_by: i64) -> i64 {
    if let Some(e) = session_end {
        return e;
    }
    let tz = site_tz();
    let day = DateTime::from_timestamp_millis(needed_by)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive();
    let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
    next.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(tz).earliest())
        .map(|t| t.timestamp_millis())
        .unwrap_or(needed_by)
}

/// Sweep once at `now` (UTC milliseconds), in the caller's transaction.
pub fn sweep(c: &Connection, who: &Principal, cfg: &RequestsConfig, now: i64) -> Result<Swept> {
    let mut out = Swept::default();
    // Requests for clinics: booked through an appointment, or to a clinic location.
    let for_clinics: Vec<(i64, Option<i64>, i64)> = c
        .prepare_cached(
            "SELECT r.id, s.end_at, r.needed_by FROM requests r
             JOIN locations l ON l.id = r.destination_id
             LEFT JOIN appointments a ON a.id = r.appointment_id
             LEFT JOIN clinic_sessions s ON s.id = a.session_id
             WHERE r.closed_at IS NULL AND r.state IN ('requested','located','pulled')
               AND (r.appointment_id IS NOT NULL OR l.kind = 'clinic') AND r.needed_by < ?1
             ORDER BY r.id",
        )?
        .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, end, needed_by) in for_clinics {
        if now >= clinic_passed_at(end, needed_by)
            && requests::close_for_passed_clinic(c, who, id, now)?
        {
            out.closed_clinic_passed.push(id);
        }
    }
    let n = cfg.escalate_after_working_days;
    if n > 0 {
        let cal = super::working_days::Calendar::new(&cfg.local_holidays);
        let tz = site_tz();
        // n working days are at least n calendar days: only older requests can qualify.
        let candidates: Vec<(i64, i64)> = c
            .prepare_cached(
                "SELECT id, created_at FROM requests
                 WHERE closed_at IS NULL AND urgency = 'routine' AND escalated_at IS NULL
                   AND state IN ('requested','located','pulled','dispatched') AND created_at <= ?1
                 ORDER BY id",
            )?
            .query_map(params![now - n * 86_400_000], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (id, created) in candidates {
            if now >= cal.add_working_days_ms(tz, created, n)
                && requests::escalate(c, who, id, now, n)?
            {
                out.escalated.push(id);
            }
        }
    }
    if !out.escalated.is_empty() || !out.closed_clinic_passed.is_empty() {
        tracing::info!(
            escalated = out.escalated.len(),
            closed_clinic_passed = out.closed_clinic_passed.len(),
            "stale request sweep"
        );
    }
    Ok(out)
}
