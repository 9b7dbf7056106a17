//! Requests from outside for information in the notes: GP and professional queries, subject
//! access requests (UK GDPR art. 15: one calendar month from receipt, extendable by two further
//! months) and Access to Health Records Act 1990 requests (deceased patients).

use crate::{
    audit,
    auth::Principal,
    ledger::patients,
    util::{ms_to_rfc3339, now_ms},
    Error, Result,
};
use chrono::{Days, Months, NaiveDate};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

crate::vocabulary! {
    /// What is asked for: a GP's or another professional's query, a subject access request
    /// (UK GDPR), or an Access to Health Records Act request (a deceased patient).
    pub enum ExternalKind {
        GpQuery = "gp_query",
        ProfessionalQuery = "professional_query",
        Sar = "sar",
        Ahra = "ahra",
    }
}

impl ExternalKind {
    /// The kind in words, for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::GpQuery => "GP queries",
            Self::ProfessionalQuery => "Other professionals' queries",
            Self::Sar => "Subject access requests",
            Self::Ahra => "Access to Health Records Act requests",
        }
    }
}

crate::vocabulary! {
    /// Where an external request stands.
    pub enum ExternalStatus {
        Open = "open",
        InProgress = "in_progress",
        Completed = "completed",
        Refused = "refused",
        Withdrawn = "withdrawn",
    }
}

impl ExternalStatus {
    /// Still to be answered.
    pub fn is_open(self) -> bool {
        match self {
            Self::Open | Self::InProgress => true,
            Self::Completed | Self::Refused | Self::Withdrawn => false,
        }
    }
}

pub const KINDS: &[&str] = ExternalKind::WORDS;
pub const STATUSES: &[&str] = ExternalStatus::WORDS;

/// `[external_requests]`: response times.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalRequestsConfig {
    /// Calendar days to answer a GP query (local standard).
    pub gp_query_days: u64,
    /// Calendar days to answer another professional's query (local standard).
    pub professional_query_days: u64,
    /// Calendar days to answer an Access to Health Records Act request.
    pub ahra_days: u64,
}

impl Default for ExternalRequestsConfig {
    fn default() -> Self {
        Self {
            gp_query_days: 5,
            professional_query_days: 20,
            ahra_days: 40,
        }
    }
}

/// `d` plus `n` calendar months; a day the month lacks becomes its last day (31 January ->
/// 28 or 29 February), as the ICO describes the one-month period.
pub fn add_months(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_add_months(Months::new(n)).unwrap_or(d)
}

/// When a request falls due.
pub fn due_on(
    cfg: &ExternalRequestsConfig,
    kind: ExternalKind,
    received: NaiveDate,
    extended_months: u32,
) -> NaiveDate {
    match kind {
        ExternalKind::Sar => add_months(received, 1 + extended_months),
        ExternalKind::Ahra => received + Days::new(cfg.ahra_days),
        ExternalKind::GpQuery => received + Days::new(cfg.gp_query_days),
        ExternalKind::ProfessionalQuery => received + Days::new(cfg.professional_query_days),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewExternalRequest {
    /// gp_query, professional_query, sar or ahra.
    pub kind: String,
    /// CHI or NHS number of the patient the request is about.
    pub patient: String,
    /// Who asked (name, practice, solicitor...).
    pub requester: String,
    /// YYYY-MM-DD the request (with proof of identity, where needed) was received.
    pub received_on: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ExternalRequest {
    pub id: i64,
    pub kind: ExternalKind,
    pub patient_id: i64,
    pub requester: String,
    pub received_on: String,
    pub due_on: String,
    pub extended_months: i64,
    pub extension_reason: Option<String>,
    pub status: ExternalStatus,
    pub completed_on: Option<String>,
    pub overdue: bool,
    pub days_left: Option<i64>,
    pub note: String,
    pub created_by: String,
    pub created_at: String,
}

fn day(field: &str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid(field, "must be a real date written YYYY-MM-DD"))
}

const SELECT: &str = "SELECT id, kind, patient_id, requester, received_on, due_on, extended_months, extension_reason, status, completed_on, note, created_by, created_at FROM external_requests";

fn row(r: &rusqlite::Row, today: NaiveDate) -> rusqlite::Result<ExternalRequest> {
    let due: String = r.get(5)?;
    let status: ExternalStatus = r.get(8)?;
    let open = status.is_open();
    let due_d = NaiveDate::parse_from_str(&due, "%Y-%m-%d").unwrap_or(today);
    Ok(ExternalRequest {
        id: r.get(0)?,
        kind: r.get(1)?,
        patient_id: r.get(2)?,
        requester: r.get(3)?,
        received_on: r.get(4)?,
        due_on: due,
        extended_months: r.get(6)?,
        extension_reason: r.get(7)?,
        status,
        completed_on: r.get(9)?,
        overdue: open && today > due_d,
        days_left: open.then(|| (due_d - today).num_days()),
        note: r.get(10)?,
        created_by: r.get(11)?,
        created_at: ms_to_rfc3339(r.get(12)?),
    })
}

pub fn get(c: &Connection, id: i64, today: NaiveDate) -> Result<ExternalRequest> {
    c.prepare_cached(&format!("{SELECT} WHERE id=?1"))?
        .query_row([id], |r| row(r, today))
        .optional()?
        .ok_or_else(|| Error::not_found(format!("external request {id}")))
}

/// Requests, optionally only open ones and only overdue ones, earliest due first.
pub fn list(
    c: &Connection,
    today: NaiveDate,
    open_only: bool,
    overdue_only: bool,
    kind: Option<&str>,
) -> Result<Vec<ExternalRequest>> {
    let mut st = c.prepare_cached(&format!(
        "{SELECT} WHERE (?1 IS NULL OR kind=?1) ORDER BY due_on, id"
    ))?;
    let v: Vec<ExternalRequest> = st
        .query_map([kind], |r| row(r, today))?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter(|r| !open_only || r.status.is_open())
        .filter(|r| !overdue_only || r.overdue)
        .collect();
    Ok(v)
}

pub fn create(
    c: &Connection,
    who: &Principal,
    cfg: &ExternalRequestsConfig,
    n: &NewExternalRequest,
    today: NaiveDate,
) -> Result<ExternalRequest> {
    let kind = ExternalKind::parse_field("kind", n.kind.trim())?;
    let p = patients::find_by_identifier(c, "patient", &n.patient)?;
    let requester = n.requester.trim();
    if requester.is_empty() || requester.chars().count() > 200 {
        return Err(Error::invalid(
            "requester",
            "say who asked (1-200 characters)",
        ));
    }
    let received = day("received_on", &n.received_on)?;
    if received > today {
        return Err(Error::invalid("received_on", "is in the future"));
    }
    let dead = crate::lifecycle::retention::date_of_death(c, p.id)?.is_some();
    if kind == ExternalKind::Ahra && !dead {
        return Err(Error::invalid("patient", "is not recorded as deceased: the Access to Health Records Act covers deceased patients; record the death first, or use a subject access request"));
    }
    if kind == ExternalKind::Sar && dead {
        return Err(Error::invalid("kind", "the patient is recorded as deceased: use an Access to Health Records Act request (ahra)"));
    }
    let due = due_on(cfg, kind, received, 0);
    let now = now_ms();
    c.execute(
        "INSERT INTO external_requests(kind, patient_id, requester, received_on, due_on, status, note, created_by, created_at, updated_at)
         VALUES (?1,?2,?3,?4,?5,'open',?6,?7,?8,?8)",
        params![kind, p.id, requester, received.to_string(), due.to_string(), n.note.as_deref().unwrap_or("").trim(), who.actor, now],
    )?;
    let id = c.last_insert_rowid();
    audit::record(
        c,
        who,
        "external_request.create",
        Some(p.id),
        None,
        &format!("{kind} {id} received {received}, due {due}"),
    )?;
    get(c, id, today)
}

/// Extend a subject access request by one or two further months (in total at most two).
pub fn extend(
    c: &Connection,
    who: &Principal,
    cfg: &ExternalRequestsConfig,
    id: i64,
    months: u32,
    reason: &str,
    today: NaiveDate,
) -> Result<ExternalRequest> {
    let r = get(c, id, today)?;
    if r.kind != ExternalKind::Sar {
        return Err(Error::invalid(
            "id",
            "only subject access requests can be extended",
        ));
    }
    if !r.status.is_open() {
        return Err(Error::conflict(
            "status",
            format!("the request is {}", r.status),
        ));
    }
    if reason.trim().is_empty() {
        return Err(Error::invalid(
            "reason",
            "say why (complex or numerous requests); tell the requester within the first month",
        ));
    }
    let total = r.extended_months as u32 + months;
    if months == 0 || total > 2 {
        return Err(Error::invalid(
            "months",
            format!("may be 1 or 2 in total; {} already used", r.extended_months),
        ));
    }
    let received = day("received_on", &r.received_on)?;
    let due = due_on(cfg, ExternalKind::Sar, received, total);
    c.execute(
        "UPDATE external_requests SET extended_months=?2, extension_reason=?3, due_on=?4, updated_at=?5 WHERE id=?1",
        params![id, total, reason.trim(), due.to_string(), now_ms()],
    )?;
    audit::record(
        c,
        who,
        "external_request.extend",
        Some(r.patient_id),
        None,
        &format!("sar {id} extended to {due}: {}", reason.trim()),
    )?;
    get(c, id, today)
}

pub fn set_status(
    c: &Connection,
    who: &Principal,
    id: i64,
    status: &str,
    note: &str,
    today: NaiveDate,
) -> Result<ExternalRequest> {
    let r = get(c, id, today)?;
    let refuse = || {
        Error::invalid(
            "status",
            "must be in_progress, completed, refused or withdrawn",
        )
    };
    let status: ExternalStatus = status.parse().map_err(|_| refuse())?;
    let finished = match status {
        ExternalStatus::Open => return Err(refuse()),
        ExternalStatus::InProgress => false,
        ExternalStatus::Completed | ExternalStatus::Refused | ExternalStatus::Withdrawn => true,
    };
    if !r.status.is_open() {
        return Err(Error::conflict(
            "status",
            format!("the request is already {}", r.status),
        ));
    }
    if finished && note.trim().is_empty() {
        return Err(Error::invalid(
            "note",
            "say what was sent, or why it was refused or withdrawn",
        ));
    }
    let completed = finished.then(|| today.to_string());
    c.execute(
        "UPDATE external_requests SET status=?2, completed_on=?3, note=CASE WHEN ?4 = '' THEN note ELSE ?4 END, updated_at=?5 WHERE id=?1",
        params![id, status, completed, note.trim(), now_ms()],
    )?;
    audit::record(
        c,
        who,
        "external_request.status",
        Some(r.patient_id),
        None,
        &format!("{} {id} {status}", r.kind),
    )?;
    get(c, id, today)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn one_calendar_month() {
        let cfg = ExternalRequestsConfig::default();
        assert_eq!(
            due_on(&cfg, ExternalKind::Sar, d("2027-01-31"), 0),
            d("2027-02-28")
        );
        assert_eq!(
            due_on(&cfg, ExternalKind::Sar, d("2028-01-31"), 0),
            d("2028-02-29")
        );
        assert_eq!(
            due_on(&cfg, ExternalKind::Sar, d("2026-10-15"), 0),
            d("2026-11-15")
        );
        assert_eq!(
            due_on(&cfg, ExternalKind::Sar, d("2027-01-31"), 2),
            d("2027-04-30")
        );
        assert_eq!(
            due_on(&cfg, ExternalKind::Ahra, d("2026-10-01"), 0),
            d("2026-11-10")
        );
    }
}
