//! Case-note availability at clinics, as NHS case-note audits define it, per clinic session
//! (a clinic location, a date and a start time):
//!
//! - **booked**: appointments in the session that were not cancelled (attended, did not
//!   attend, or still booked);
//! - **available**: one of the patient's own folders (not a temporary folder) was at the clinic
//!   or its preparation area at the start time: its last scan before the start was a receipt or
//!   sighting there;
//! - **temporary notes used**: no own folder was there, but a temporary folder was. Counted
//!   separately and never as available;
//! - **unavailable**: neither, with the reason: where the notes were at the start
//!   ([`UnavailableReason`]).
//!
//! Percentages are of the appointments booked, to one decimal place.

use crate::{
    ledger::locations::LocationKind, util::ms_to_rfc3339,
    workflow::appointments::AppointmentStatus, Result,
};
use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

crate::vocabulary! {
    /// Why a booked patient's notes were not at the clinic when it started.
    pub enum UnavailableReason {
        /// Scanned in at the clinic (or its preparation area) after the start, before its end.
        ArrivedLate = "arrived_late",
        /// Sent to the clinic but not yet received there at the start.
        OnTheWay = "on_the_way",
        /// Reported missing (not found when looked for).
        Missing = "missing",
        /// At another clinic.
        OtherClinic = "other_clinic",
        /// On a ward.
        OnWard = "on_ward",
        /// Somewhere else: a secretary's office, coding, the scanning bureau, a department.
        Elsewhere = "elsewhere",
        /// Requested, but still in the library at the start.
        InLibrary = "in_library",
        /// In the library and never requested for this clinic.
        NotRequested = "not_requested",
        /// The patient has no case-note folder registered.
        NoFolder = "no_folder",
    }
}

impl UnavailableReason {
    /// The reason in words, for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::ArrivedLate => "Arrived after the start",
            Self::OnTheWay => "On the way at the start",
            Self::Missing => "Missing (looked for, not found)",
            Self::OtherClinic => "In another clinic",
            Self::OnWard => "On a ward",
            Self::Elsewhere => "Elsewhere (office, coding, scanning)",
            Self::InLibrary => "Requested, still in the library",
            Self::NotRequested => "Not requested",
            Self::NoFolder => "No notes registered",
        }
    }
}

crate::vocabulary! {
    /// What a booked appointment had at the clinic's start.
    pub enum NotesAtStart {
        Available = "available",
        Temporary = "temporary",
        Unavailable = "unavailable",
    }
}

/// A count of unavailable notes for one reason.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReasonCount {
    pub reason: UnavailableReason,
    pub label: &'static str,
    pub count: i64,
}

/// One clinic session's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SessionAvailability {
    pub session_id: i64,
    pub clinic: String,
    pub clinic_name: String,
    pub session_name: String,
    pub date: String,
    /// The session's start (RFC 3339, UTC).
    pub start_at: String,
    pub booked: i64,
    pub available: i64,
    pub temporary: i64,
    pub unavailable: i64,
    pub percent_available: Option<f64>,
    /// Every reason, in declaration order (zero counts included).
    pub reasons: Vec<ReasonCount>,
}

/// Availability over a period: totals and each session.
#[derive(Debug, Clone, Serialize)]
pub struct Availability {
    pub from: String,
    pub to: String,
    pub sessions_count: i64,
    pub booked: i64,
    pub available: i64,
    pub temporary: i64,
    pub unavailable: i64,
    pub percent_available: Option<f64>,
    pub percent_temporary: Option<f64>,
    pub percent_unavailable: Option<f64>,
    /// Unavailable notes by reason, every reason in declaration order.
    pub reasons: Vec<ReasonCount>,
    pub sessions: Vec<SessionAvailability>,
}

/// `part` of `whole` as a percentage to one decimal place; none of nothing.
pub fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

fn reason_counts(counts: &[i64; 9]) -> Vec<ReasonCount> {
    UnavailableReason::ALL
        .iter()
        .zip(counts)
        .map(|(r, n)| ReasonCount {
            reason: *r,
            label: r.label(),
            count: *n,
        })
        .collect()
}

fn reason_index(r: UnavailableReason) -> usize {
    UnavailableReason::ALL
        .iter()
        .position(|x| *x == r)
        .unwrap_or_default()
}

struct FolderAtStart {
    temporary: bool,
    missing: bool,
    /// (location, its kind, action, destination) of the last scan at or before the start.
    last: Option<(i64, LocationKind, String, Option<i64>)>,
    arrived_late: bool,
}

/// What one booked patient had at the start of a session at `places` (the clinic and its
/// preparation area) starting at `start` and ending at `end`.
fn notes_at_start(
    c: &Connection,
    patient_id: i64,
    places: &[i64],
    start: i64,
    end: i64,
) -> Result<(NotesAtStart, Option<UnavailableReason>)> {
    let ids: Vec<(i64, String, String)> = c
        .prepare_cached(
            "SELECT id, folder_type, status FROM folders WHERE patient_id=?1
               AND status IN ('active','missing','temporary','sent_for_scanning')",
        )?
        .query_map([patient_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if ids.is_empty() {
        return Ok((NotesAtStart::Unavailable, Some(UnavailableReason::NoFolder)));
    }
    let (p0, p1) = (places[0], places.get(1).copied().unwrap_or(places[0]));
    let mut folders = Vec::with_capacity(ids.len());
    for (id, ftype, status) in ids {
        let last = c
            .prepare_cached(
                "SELECT m.location_id, l.kind, m.action, m.destination_id FROM movements m
                 JOIN locations l ON l.id = m.location_id
                 WHERE m.folder_id=?1 AND m.read_at <= ?2 ORDER BY m.read_at DESC, m.id DESC LIMIT 1",
            )?
            .query_row(params![id, start], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let arrived_late: bool = c
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM movements WHERE folder_id=?1 AND read_at > ?2
                   AND read_at <= ?3 AND location_id IN (?4, ?5) AND action != 'dispatch')",
            )?
            .query_row(params![id, start, end, p0, p1], |r| r.get(0))?;
        folders.push(FolderAtStart {
            temporary: ftype == "temporary" || status == "temporary",
            missing: status == "missing",
            last,
            arrived_late,
        });
    }
    let there = |f: &FolderAtStart| {
        f.last
            .as_ref()
            .is_some_and(|(loc, _, action, _)| places.contains(loc) && action != "dispatch")
    };
    if folders.iter().any(|f| !f.temporary && there(f)) {
        return Ok((NotesAtStart::Available, None));
    }
    if folders.iter().any(|f| f.temporary && there(f)) {
        return Ok((NotesAtStart::Temporary, None));
    }
    // The patient's own folders explain where the notes were (temporary ones only when the
    // patient has nothing else).
    let own: Vec<&FolderAtStart> = if folders.iter().any(|f| !f.temporary) {
        folders.iter().filter(|f| !f.temporary).collect()
    } else {
        folders.iter().collect()
    };
    let kind_is = |k: fn(LocationKind) -> bool| {
        own.iter().any(|f| {
            f.last.as_ref().is_some_and(|(loc, kind, action, _)| {
                !places.contains(loc) && action != "dispatch" && k(*kind)
            })
        })
    };
    let reason = if own.iter().any(|f| f.arrived_late) {
        UnavailableReason::ArrivedLate
    } else if own.iter().any(|f| {
        f.last.as_ref().is_some_and(|(_, _, action, dest)| {
            action == "dispatch" && dest.is_some_and(|d| places.contains(&d))
        })
    }) {
        UnavailableReason::OnTheWay
    } else if own.iter().any(|f| f.missing) {
        UnavailableReason::Missing
    } else if kind_is(|k| k == LocationKind::Clinic) {
        UnavailableReason::OtherClinic
    } else if kind_is(|k| k == LocationKind::Ward) {
        UnavailableReason::OnWard
    } else if own.iter().any(|f| {
        f.last
            .as_ref()
            .is_some_and(|(_, kind, action, _)| action == "dispatch" || !kind.is_library())
    }) {
        UnavailableReason::Elsewhere
    } else {
        let requested: bool = c
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM requests WHERE patient_id=?1 AND destination_id IN (?2, ?3)
                   AND created_at <= ?4)",
            )?
            .query_row(params![patient_id, p0, p1, start], |r| r.get(0))?;
        if requested {
            UnavailableReason::InLibrary
        } else {
            UnavailableReason::NotRequested
        }
    };
    Ok((NotesAtStart::Unavailable, Some(reason)))
}

/// Availability for the clinic sessions dated `from..=to` (inclusive), each session's figures
/// and the totals.
pub fn compute(c: &Connection, from: NaiveDate, to: NaiveDate) -> Result<Availability> {
    type SessionRow = (
        i64,
        i64,
        Option<i64>,
        String,
        String,
        String,
        String,
        i64,
        i64,
    );
    let sessions: Vec<SessionRow> = c
        .prepare_cached(
            "SELECT s.id, s.clinic_location_id, l.preparation_area_id, l.code, l.name, s.name, s.date,
                    s.start_at, s.end_at
             FROM clinic_sessions s JOIN locations l ON l.id = s.clinic_location_id
             WHERE s.date >= ?1 AND s.date <= ?2 ORDER BY s.start_at, l.code, s.id",
        )?
        .query_map(params![from.to_string(), to.to_string()], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(sessions.len());
    let mut all = [0i64; 9];
    for (id, clinic, prep, code, name, session_name, date, start, end) in sessions {
        let mut places = vec![clinic];
        places.extend(prep);
        let patients: Vec<i64> = c
            .prepare_cached(
                "SELECT patient_id FROM appointments WHERE session_id=?1 AND status IN (?2, ?3, ?4)
                 ORDER BY slot_start, id",
            )?
            .query_map(
                params![
                    id,
                    AppointmentStatus::Booked,
                    AppointmentStatus::Attended,
                    AppointmentStatus::NoShow
                ],
                |r| r.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?;
        let (mut available, mut temporary) = (0, 0);
        let mut reasons = [0i64; 9];
        for p in &patients {
            match notes_at_start(c, *p, &places, start, end)? {
                (NotesAtStart::Available, _) => available += 1,
                (NotesAtStart::Temporary, _) => temporary += 1,
                (NotesAtStart::Unavailable, r) => {
                    let i = reason_index(r.unwrap_or(UnavailableReason::NotRequested));
                    reasons[i] += 1;
                    all[i] += 1;
                }
            }
        }
        let booked = patients.len() as i64;
        out.push(SessionAvailability {
            session_id: id,
            clinic: code,
            clinic_name: name,
            session_name,
            date,
            start_at: ms_to_rfc3339(start),
            booked,
            available,
            temporary,
            unavailable: booked - available - temporary,
            percent_available: percent(available, booked),
            reasons: reason_counts(&reasons),
        });
    }
    let booked: i64 = out.iter().map(|s| s.booked).sum();
    let available: i64 = out.iter().map(|s| s.available).sum();
    let temporary: i64 = out.iter().map(|s| s.temporary).sum();
    let unavailable = booked - available - temporary;
    Ok(Availability {
        from: from.to_string(),
        to: to.to_string(),
        sessions_count: out.len() as i64,
        booked,
        available,
        temporary,
        unavailable,
        percent_available: percent(available, booked),
        percent_temporary: percent(temporary, booked),
        percent_unavailable: percent(unavailable, booked),
        reasons: reason_counts(&all),
        sessions: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_labels() {
        assert_eq!(percent(2, 3), Some(66.7));
        assert_eq!(percent(0, 0), None);
        assert_eq!(percent(997, 1000), Some(99.7));
        for r in UnavailableReason::ALL {
            assert!(!r.label().contains('_'), "{r}");
        }
    }
}
