//! Clinics and appointments. A clinic is a location of kind `clinic`; a clinic session is a
//! date with a start and an end time there; appointments book a patient into a slot of a
//! session, and can be rescheduled, cancelled or marked as a no-show. Times are UTC.

use crate::{audit, auth::Principal, ledger::locations, util::now_rfc3339, Error, Result};
use chrono::{NaiveDate, NaiveTime};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

crate::vocabulary! {
    /// Where an appointment stands.
    pub enum AppointmentStatus {
        Booked = "booked",
        Attended = "attended",
        Cancelled = "cancelled",
        NoShow = "no_show",
    }
}

pub const STATUSES: &[&str] = AppointmentStatus::WORDS;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// Code of a clinic location.
    pub clinic: String,
    #[serde(default)]
    pub name: Option<String>,
    /// YYYY-MM-DD
    pub date: String,
    /// HH:MM
    pub start: String,
    /// HH:MM
    pub end: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: i64,
    pub clinic: String,
    pub name: String,
    pub date: String,
    pub start_at: String,
    pub end_at: String,
    pub booked: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAppointment {
    /// CHI or NHS number.
    pub patient: String,
    pub session: i64,
    /// HH:MM within the session; the session start when absent.
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub minutes: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reschedule {
    pub session: i64,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Appointment {
    pub id: i64,
    pub session_id: i64,
    pub clinic: String,
    pub patient_id: i64,
    pub slot_start: String,
    pub slot_minutes: i64,
    pub status: AppointmentStatus,
    pub external_id: Option<String>,
}

pub fn parse_date(field: &str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid(field, "must be a date written YYYY-MM-DD"))
}

fn parse_time(field: &str, s: &str) -> Result<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| Error::invalid(field, "must be a time written HH:MM"))
}

/// A clinic's date and wall-clock time (UK local time, as clinics are booked) in UTC ms.
fn at(date: NaiveDate, t: NaiveTime) -> i64 {
    crate::util::local_to_ms(date.and_time(t))
}

fn clinic_id(c: &Connection, code: &str) -> Result<i64> {
    let l = locations::resolve(c, code)?
        .ok_or_else(|| Error::invalid("clinic", format!("no location with code {code:?}")))?;
    if l.kind != locations::LocationKind::Clinic {
        return Err(Error::invalid(
            "clinic",
            format!("{} is a {}, not a clinic", l.code, l.kind),
        ));
    }
    Ok(l.id)
}

pub fn create_session(c: &Connection, who: &Principal, n: &NewSession) -> Result<Session> {
    let clinic = clinic_id(c, &n.clinic)?;
    let date = parse_date("date", &n.date)?;
    let (s, e) = (parse_time("start", &n.start)?, parse_time("end", &n.end)?);
    if e <= s {
        return Err(Error::invalid("end", "must be after start"));
    }
    let name = n.name.clone().unwrap_or_else(|| "clinic".into());
    insert_session(c, clinic, &name, date, at(date, s), at(date, e))?;
    let id = c.last_insert_rowid();
    audit::record(
        c,
        who,
        "clinic.session",
        None,
        None,
        &format!("session {id} at {} on {date}", n.clinic),
    )?;
    get_session(c, id)
}

fn insert_session(
    c: &Connection,
    clinic: i64,
    name: &str,
    date: NaiveDate,
    start: i64,
    end: i64,
) -> Result<i64> {
    c.prepare_cached("INSERT INTO clinic_sessions(clinic_location_id, name, date, start_at, end_at, created_at) VALUES (?1,?2,?3,?4,?5,?6)")?.execute(
        params![clinic, name, date.to_string(), start, end, now_rfc3339()],
    )?;
    Ok(c.last_insert_rowid())
}

pub fn get_session(c: &Connection, id: i64) -> Result<Session> {
    c.prepare_cached(
        "SELECT s.id, l.code, s.name, s.date, s.start_at, s.end_at,
           (SELECT count(*) FROM appointments a WHERE a.session_id = s.id AND a.status IN ('booked','attended'))
         FROM clinic_sessions s JOIN locations l ON l.id = s.clinic_location_id WHERE s.id=?1",
    )?
    .query_row([id], |r| {
        Ok(Session {
            id: r.get(0)?,
            clinic: r.get(1)?,
            name: r.get(2)?,
            date: r.get(3)?,
            start_at: crate::util::ms_to_rfc3339(r.get(4)?),
            end_at: crate::util::ms_to_rfc3339(r.get(5)?),
            booked: r.get(6)?,
        })
    })
    .optional()?
    .ok_or_else(|| Error::not_found(format!("clinic session {id}")))
}

pub fn sessions_on(c: &Connection, date: NaiveDate) -> Result<Vec<Session>> {
    let ids: Vec<i64> = c
        .prepare_cached("SELECT id FROM clinic_sessions WHERE date=?1 ORDER BY start_at, id")?
        .query_map([date.to_string()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter().map(|id| get_session(c, id)).collect()
}

/// The session of a clinic containing `start`; one is made (or widened) when none does.
pub fn session_for(c: &Connection, clinic: i64, start: i64, minutes: i64) -> Result<i64> {
    let end = start + minutes * 60_000;
    let found: Option<i64> = c
        .prepare_cached(
            "SELECT id FROM clinic_sessions WHERE clinic_location_id=?1 AND start_at <= ?2 AND end_at > ?2 ORDER BY id LIMIT 1",
        )?
        .query_row(params![clinic, start], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    let date = chrono::DateTime::from_timestamp_millis(start)
        .map(|t| t.date_naive())
        .ok_or_else(|| Error::invalid("start", "is out of range"))?;
    let same_day: Option<i64> = c
        .prepare_cached(
            "SELECT id FROM clinic_sessions WHERE clinic_location_id=?1 AND date=?2 ORDER BY id LIMIT 1",
        )?
        .query_row(params![clinic, date.to_string()], |r| r.get(0))
        .optional()?;
    match same_day {
        Some(id) => {
            c.prepare_cached("UPDATE clinic_sessions SET start_at=min(start_at, ?2), end_at=max(end_at, ?3) WHERE id=?1")?.execute(
                params![id, start, end],
            )?;
            Ok(id)
        }
        None => insert_session(c, clinic, "clinic (from bookings)", date, start, end),
    }
}

fn slot_in(c: &Connection, session: i64, start: Option<&str>) -> Result<i64> {
    let (date, s_at, e_at): (String, i64, i64) = c
        .query_row(
            "SELECT date, start_at, end_at FROM clinic_sessions WHERE id=?1",
            [session],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or_else(|| Error::invalid("session", format!("no clinic session {session}")))?;
    let Some(t) = start else { return Ok(s_at) };
    let d = parse_date("date", &date)?;
    let t = at(d, parse_time("start", t)?);
    if t < s_at || t >= e_at {
        return Err(Error::invalid("start", "is outside the session's hours"));
    }
    Ok(t)
}

/// Book a patient (already resolved) into a slot.
pub fn insert(
    c: &Connection,
    who: &Principal,
    patient_id: i64,
    session: i64,
    slot_start: i64,
    minutes: i64,
    external_id: Option<&str>,
) -> Result<i64> {
    if !(1..=600).contains(&minutes) {
        return Err(Error::invalid("minutes", "must be 1-600"));
    }
    let now = now_rfc3339();
    c.prepare_cached("INSERT INTO appointments(session_id, patient_id, slot_start, slot_minutes, status, external_id, created_at, updated_at) VALUES (?1,?2,?3,?4,'booked',?5,?6,?6)")?.execute(
        params![session, patient_id, slot_start, minutes, external_id, now],
    )?;
    let id = c.last_insert_rowid();
    audit::record(
        c,
        who,
        "appointment.book",
        Some(patient_id),
        None,
        &format!("appointment {id} in session {session}"),
    )?;
    Ok(id)
}

pub fn book(c: &Connection, who: &Principal, n: &NewAppointment) -> Result<Appointment> {
    let p = crate::ledger::patients::find_by_identifier(c, "patient", &n.patient)?;
    let slot = slot_in(c, n.session, n.start.as_deref())?;
    let id = insert(
        c,
        who,
        p.merged_into.unwrap_or(p.id),
        n.session,
        slot,
        n.minutes.unwrap_or(15),
        None,
    )?;
    get(c, id)
}

pub fn get(c: &Connection, id: i64) -> Result<Appointment> {
    c.prepare_cached(
        "SELECT a.id, a.session_id, l.code, a.patient_id, a.slot_start, a.slot_minutes, a.status, a.external_id
         FROM appointments a JOIN clinic_sessions s ON s.id = a.session_id JOIN locations l ON l.id = s.clinic_location_id WHERE a.id=?1",
    )?
    .query_row([id], |r| {
        Ok(Appointment {
            id: r.get(0)?,
            session_id: r.get(1)?,
            clinic: r.get(2)?,
            patient_id: r.get(3)?,
            slot_start: crate::util::ms_to_rfc3339(r.get(4)?),
            slot_minutes: r.get(5)?,
            status: r.get(6)?,
            external_id: r.get(7)?,
        })
    })
    .optional()?
    .ok_or_else(|| Error::not_found(format!("appointment {id}")))
}

pub fn by_external_id(c: &Connection, ext: &str) -> Result<Option<i64>> {
    Ok(
        c.prepare_cached("SELECT id FROM appointments WHERE external_id=?1")?
            .query_row([ext], |r| r.get(0))
            .optional()?,
    )
}

/// Move a booking to another session/slot; an open pull-list request follows it.
pub fn move_to(
    c: &Connection,
    who: &Principal,
    id: i64,
    session: i64,
    slot_start: i64,
    minutes: Option<i64>,
    reason: &str,
) -> Result<Appointment> {
    let a = get(c, id)?;
    if a.status == AppointmentStatus::Cancelled {
        return Err(Error::conflict(
            "status",
            format!("appointment {id} is cancelled; book a new one"),
        ));
    }
    c.prepare_cached("UPDATE appointments SET session_id=?2, slot_start=?3, slot_minutes=COALESCE(?4, slot_minutes), status='booked', updated_at=?5 WHERE id=?1")?.execute(
        params![id, session, slot_start, minutes, now_rfc3339()],
    )?;
    // Any open request for this appointment now needs the notes at the new clinic and time.
    let (clinic, start): (i64, i64) = c
        .prepare_cached("SELECT clinic_location_id, start_at FROM clinic_sessions WHERE id=?1")?
        .query_row([session], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let open: Vec<i64> = c
        .prepare_cached("SELECT id FROM requests WHERE appointment_id=?1 AND closed_at IS NULL")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for r in open {
        c.prepare_cached("UPDATE requests SET needed_by=?2, due_at=?2 WHERE id=?1")?
            .execute(params![r, start])?;
        crate::workflow::requests::reroute(c, who, r, clinic, "appointment rescheduled")?;
    }
    audit::record(
        c,
        who,
        "appointment.reschedule",
        Some(a.patient_id),
        None,
        &format!("appointment {id} to session {session}: {reason}"),
    )?;
    get(c, id)
}

pub fn reschedule(c: &Connection, who: &Principal, id: i64, r: &Reschedule) -> Result<Appointment> {
    let slot = slot_in(c, r.session, r.start.as_deref())?;
    move_to(
        c,
        who,
        id,
        r.session,
        slot,
        None,
        r.reason.as_deref().unwrap_or("rescheduled"),
    )
}

/// Cancel or mark as a no-show; open pull-list requests for it are cancelled.
pub fn set_status(
    c: &Connection,
    who: &Principal,
    id: i64,
    status: &str,
    note: &str,
) -> Result<Appointment> {
    let status: AppointmentStatus = status
        .parse()
        .map_err(|_| Error::invalid("status", "must be booked, attended, cancelled or no_show"))?;
    let a = get(c, id)?;
    c.prepare_cached("UPDATE appointments SET status=?2, note=?3, updated_at=?4 WHERE id=?1")?
        .execute(params![id, status, note, now_rfc3339()])?;
    if status == AppointmentStatus::Cancelled {
        let open: Vec<i64> = c
            .prepare_cached("SELECT id FROM requests WHERE appointment_id=?1 AND closed_at IS NULL AND state IN ('requested','located','pulled')")?
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for r in open {
            crate::workflow::requests::set_state(
                c,
                who,
                r,
                "cancelled",
                None,
                "appointment cancelled",
            )?;
        }
    }
    audit::record(
        c,
        who,
        "appointment.status",
        Some(a.patient_id),
        None,
        &format!("appointment {id}: {} -> {status}: {note}", a.status),
    )?;
    get(c, id)
}
