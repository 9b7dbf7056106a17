//! Requests for case notes: a clinician, secretary, ward (via ADT) or clinic (via pull lists)
//! asks for a patient's notes (or one volume) at a destination by a time.
//!
//! States: `requested -> located -> pulled -> dispatched -> received -> returned`, or
//! `cancelled`. Scans drive them ([`on_scan`] is called by the movement ledger for every stored
//! event): a dispatch towards the destination makes the request `dispatched`; a receive or seen
//! scan at the destination makes it `received`; a scan back in the library after that makes it
//! `returned` (closed). A scan in the library before dispatch means it was pulled; a scan
//! anywhere else means it was located there (`holder_location`, where it must be fetched from).
//! A request is open while `closed_at` is empty.

use crate::{
    audit,
    auth::Principal,
    config::RequestsConfig,
    ledger::folders,
    ledger::locations,
    ledger::locations::{LocationKind, Place},
    util::{ms_to_rfc3339, now_ms},
    Error, Result,
};
use casenote_core::wire::Action;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

pub use super::request_state::{after_scan, HolderFrom, RequestState, ScanAt, Urgency};

pub const URGENCIES: &[&str] = Urgency::WORDS;
pub const STATES: &[&str] = RequestState::WORDS;

/// A request as made through the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// CHI or NHS number.
    pub patient: String,
    /// Barcode of one volume; all the patient's active volumes when absent.
    #[serde(default)]
    pub volume: Option<String>,
    /// Location code (or GLN) the notes are needed at.
    pub destination: String,
    /// RFC 3339; defaults to now + the urgency's target.
    #[serde(default)]
    pub needed_by: Option<String>,
    /// emergency, urgent or routine.
    pub urgency: String,
    pub reason: String,
}

/// Everything needed to insert a request (after validation).
#[derive(Debug, Clone)]
pub struct Spec {
    pub patient_id: i64,
    pub folder_id: Option<i64>,
    pub destination_id: i64,
    pub urgency: String,
    pub reason: String,
    pub needed_by: Option<i64>,
    pub source: &'static str,
    pub encounter: Option<String>,
    pub appointment_id: Option<i64>,
}

/// Published on the live desk view.
#[derive(Debug, Clone, Serialize)]
pub struct DeskEvent {
    /// `request.new`, `request.changed` (any change of state: located, pulled, dispatched,
    /// received, cancelled, returned), `request.overdue` or `request.rerouted`.
    pub kind: &'static str,
    pub request_id: i64,
    pub urgency: String,
    pub state: String,
    pub destination: String,
    pub due_at: String,
    pub source: String,
    /// Still on the desk queue (not cancelled or closed).
    pub open: bool,
}

#[derive(Debug, Serialize)]
pub struct FolderState {
    pub barcode: String,
    pub folder_type: String,
    pub volume: i64,
    pub volume_count: i64,
    pub in_library: bool,
    pub location: Option<Place>,
    pub since: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HistoryEntry {
    pub at: String,
    pub state: RequestState,
    pub location: Option<String>,
    pub note: String,
    pub actor: String,
}

#[derive(Debug, Serialize)]
pub struct RequestView {
    pub id: i64,
    pub patient_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<crate::ledger::patients::PatientBrief>,
    pub volume: Option<String>,
    pub destination: Place,
    /// Where the notes are now, when not in the library: fetch them from here.
    pub holder_location: Option<Place>,
    pub urgency: Urgency,
    pub reason: String,
    pub state: RequestState,
    pub source: String,
    pub encounter: Option<String>,
    pub appointment_id: Option<i64>,
    pub needed_by: String,
    pub due_at: String,
    pub overdue: bool,
    pub open: bool,
    pub requested_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub received_at: Option<String>,
    pub closed_at: Option<String>,
    pub close_reason: Option<String>,
    /// When a routine request was escalated for being stale (see `[requests]
    /// escalate_after_working_days`).
    pub escalated_at: Option<String>,
    pub folders: Vec<FolderState>,
    pub history: Vec<HistoryEntry>,
}

/// Validate an urgency.
pub fn urgency(u: &str) -> Result<Urgency> {
    u.trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| Error::invalid("urgency", "must be emergency, urgent or routine"))
}

fn is_library(c: &Connection, location_id: i64) -> Result<bool> {
    let kind: Option<LocationKind> = c
        .prepare_cached("SELECT kind FROM locations WHERE id=?1")?
        .query_row([location_id], |r| r.get(0))
        .optional()?;
    Ok(kind.is_some_and(LocationKind::is_library))
}

fn history(
    c: &Connection,
    request_id: i64,
    at: i64,
    state: RequestState,
    location_id: Option<i64>,
    note: &str,
    actor: &str,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO request_history(request_id, at, state, location_id, note, actor) VALUES (?1,?2,?3,?4,?5,?6)",
    )?
    .execute(params![request_id, at, state, location_id, note, actor])?;
    Ok(())
}

/// Where the requested notes are when not in the library (the first volume found outside).
fn holder_of(c: &Connection, patient_id: i64, folder_id: Option<i64>) -> Result<Option<i64>> {
    let which = if folder_id.is_some() {
        "f.id = ?1 AND f.patient_id = ?2"
    } else {
        "f.patient_id = ?2"
    };
    let mut st = c.prepare_cached(&format!(
        "SELECT f.cur_location_id FROM folders f JOIN locations l ON l.id = f.cur_location_id
         WHERE {which} AND f.status NOT IN ('merged','destroyed','closed')
           AND l.kind NOT IN ('library','store','shelf')
         ORDER BY f.cur_since DESC LIMIT 1"
    ))?;
    Ok(st
        .query_row(params![folder_id, patient_id], |r| r.get(0))
        .optional()?)
}

/// When a request of urgency `u` made at `from` (UTC milliseconds) is due by its target:
/// emergency and urgent targets are clock time; the routine target is in working days
/// (weekends, Scottish bank holidays and `[requests] local_holidays` skipped), at the same
/// local time of day, unless the older `routine_hours` is set.
pub fn due_after(cfg: &RequestsConfig, u: Urgency, from: i64) -> i64 {
    match u {
        Urgency::Emergency => from + cfg.emergency_minutes * 60_000,
        Urgency::Urgent => from + cfg.urgent_minutes * 60_000,
        Urgency::Routine => {
            match cfg.routine_hours {
                Some(h) => from + h * 3_600_000,
                None => super::working_days::Calendar::new(&cfg.local_holidays)
                    .add_working_days_ms(crate::util::site_tz(), from, cfg.routine_working_days),
            }
        }
    }
}

/// An urgency's target in words, for people: "30 minutes", "4 hours", "2 working days".
pub fn target_text(cfg: &RequestsConfig, u: Urgency) -> String {
    fn minutes(m: i64) -> String {
        match m {
            m if m >= 60 && m % 60 == 0 && m / 60 == 1 => "1 hour".into(),
            m if m >= 60 && m % 60 == 0 => format!("{} hours", m / 60),
            1 => "1 minute".into(),
            m => format!("{m} minutes"),
        }
    }
    match u {
        Urgency::Emergency => minutes(cfg.emergency_minutes),
        Urgency::Urgent => minutes(cfg.urgent_minutes),
        Urgency::Routine => match cfg.routine_hours {
            Some(h) => minutes(h * 60),
            None if cfg.routine_working_days == 1 => "1 working day".into(),
            None => format!("{} working days", cfg.routine_working_days),
        },
    }
}

/// What [`create_or_merge`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    pub id: i64,
    /// An open request for the same notes and destination existed: this one was merged into
    /// it (`id` is the existing request's).
    pub merged: bool,
}

/// Insert a request; returns its id (the existing request's when it was merged into one, see
/// [`create_or_merge`]). Audited.
pub fn create(c: &Connection, who: &Principal, cfg: &RequestsConfig, s: &Spec) -> Result<i64> {
    Ok(create_or_merge(c, who, cfg, s)?.id)
}

fn rank(u: Urgency) -> u8 {
    match u {
        Urgency::Emergency => 0,
        Urgency::Urgent => 1,
        Urgency::Routine => 2,
    }
}

/// Insert a request, or merge it into the open request for the same notes and destination:
/// there is at most one open request per folder and destination. A patient-wide request covers
/// every volume, so a request for one volume merges into it; a patient-wide request merging
/// into one for a single volume widens it to every volume. The merged request takes the more
/// urgent urgency and the earlier due time; the merge is written to its history (so the desk
/// sees it) and to the audit log.
pub fn create_or_merge(
    c: &Connection,
    who: &Principal,
    cfg: &RequestsConfig,
    s: &Spec,
) -> Result<Created> {
    let now = now_ms();
    let u = urgency(&s.urgency)?;
    if s.reason.trim().is_empty() || s.reason.len() > 500 {
        return Err(Error::invalid("reason", "must be 1-500 characters"));
    }
    let due = s.needed_by.unwrap_or_else(|| due_after(cfg, u, now));
    if let Some(id) = merge_into_open(c, who, s, u, due, now)? {
        return Ok(Created { id, merged: true });
    }
    let holder = holder_of(c, s.patient_id, s.folder_id)?.filter(|h| *h != s.destination_id);
    let state = match holder {
        Some(_) => RequestState::Located,
        None => RequestState::Requested,
    };
    c.prepare_cached(
        "INSERT INTO requests(patient_id, folder_id, destination_id, holder_location_id, urgency, reason, state, source, encounter, appointment_id, needed_by, due_at, requested_by, created_at, updated_at)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?11,?12,?13,?13)",
    )?
    .execute(params![
        s.patient_id, s.folder_id, s.destination_id, holder, u, s.reason.trim(), state, s.source,
        s.encounter, s.appointment_id, due, who.actor, now
    ])?;
    let id = c.last_insert_rowid();
    let note = match holder {
        Some(h) => format!(
            "requested; the notes are at {}: fetch them from there",
            locations::get(c, h)?.code
        ),
        None => "requested".to_string(),
    };
    history(c, id, now, state, holder, &note, &who.actor)?;
    audit::record(
        c,
        who,
        "request.create",
        Some(s.patient_id),
        s.folder_id,
        &format!(
            "request {id} ({u}) to {} from {}: {}",
            locations::get(c, s.destination_id)?.code,
            s.source,
            s.reason.trim()
        ),
    )?;
    Ok(Created { id, merged: false })
}

/// Merge a new request into the open one for the same patient, notes and destination, if there
/// is one; returns its id.
fn merge_into_open(
    c: &Connection,
    who: &Principal,
    s: &Spec,
    u: Urgency,
    due: i64,
    now: i64,
) -> Result<Option<i64>> {
    type Open = (i64, Option<i64>, Urgency, i64, RequestState, Option<i64>);
    let open: Option<Open> = c
        .prepare_cached(
            "SELECT id, folder_id, urgency, due_at, state, appointment_id FROM requests
             WHERE patient_id=?1 AND destination_id=?2 AND closed_at IS NULL AND state != 'cancelled'
               AND (folder_id IS NULL OR ?3 IS NULL OR folder_id = ?3)
             ORDER BY folder_id IS NOT NULL, id LIMIT 1",
        )?
        .query_row(params![s.patient_id, s.destination_id, s.folder_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()?;
    let Some((id, folder, cur_urgency, cur_due, state, appointment)) = open else {
        return Ok(None);
    };
    let mut changes = Vec::new();
    let widen = folder.is_some() && s.folder_id.is_none();
    if widen {
        changes.push("now for every volume".to_string());
    }
    let new_urgency = if rank(u) < rank(cur_urgency) {
        changes.push(format!("urgency raised to {u}"));
        u
    } else {
        cur_urgency
    };
    let new_due = if due < cur_due {
        changes.push(format!(
            "now needed by {}",
            crate::util::local_text(&ms_to_rfc3339(due))
        ));
        due
    } else {
        cur_due
    };
    c.prepare_cached(
        "UPDATE requests SET folder_id = CASE WHEN ?2 THEN NULL ELSE folder_id END, urgency=?3,
           due_at=?4, needed_by=min(needed_by, ?4), appointment_id=COALESCE(appointment_id, ?5),
           overdue_notified = CASE WHEN ?4 < due_at THEN 0 ELSE overdue_notified END, updated_at=?6
         WHERE id=?1",
    )?
    .execute(params![
        id,
        widen,
        new_urgency,
        new_due,
        appointment.or(s.appointment_id),
        now
    ])?;
    let note = format!(
        "a second request for the same notes and destination was merged into this one ({}: {}){}",
        s.source,
        s.reason.trim(),
        if changes.is_empty() {
            String::new()
        } else {
            format!("; {}", changes.join("; "))
        }
    );
    history(c, id, now, state, None, &note, &who.actor)?;
    audit::record(
        c,
        who,
        "request.merge",
        Some(s.patient_id),
        s.folder_id,
        &format!("request {id}: {note}"),
    )?;
    Ok(Some(id))
}

/// Validate an API request and insert it.
pub fn create_from_api(
    c: &Connection,
    who: &Principal,
    cfg: &RequestsConfig,
    scheme: &casenote_core::identifiers::FolderIdScheme,
    n: &NewRequest,
) -> Result<Created> {
    let p = crate::ledger::patients::find_by_identifier(c, "patient", &n.patient)?;
    let patient_id = p.merged_into.unwrap_or(p.id);
    let folder_id = match &n.volume {
        Some(b) => {
            let f = folders::by_barcode(c, scheme, b).map_err(|e| match e {
                Error::NotFound { what } => Error::invalid("volume", format!("{what} not found")),
                Error::Invalid { message, .. } => Error::invalid("volume", message),
                e => e,
            })?;
            if f.patient_id != patient_id {
                return Err(Error::invalid("volume", "belongs to a different patient"));
            }
            Some(f.id)
        }
        None => None,
    };
    let dest = locations::resolve_id(c, &n.destination)?.ok_or_else(|| {
        Error::invalid(
            "destination",
            format!("no location with code {:?}", n.destination),
        )
    })?;
    let needed_by = match &n.needed_by {
        Some(t) => Some(crate::util::parse_rfc3339_ms(t).ok_or_else(|| {
            Error::invalid(
                "needed_by",
                "must be an RFC 3339 time, e.g. 2026-11-25T14:00:00Z",
            )
        })?),
        None => None,
    };
    create_or_merge(
        c,
        who,
        cfg,
        &Spec {
            patient_id,
            folder_id,
            destination_id: dest,
            urgency: n.urgency.clone(),
            reason: n.reason.clone(),
            needed_by,
            source: "api",
            encounter: None,
            appointment_id: None,
        },
    )
}

struct Row {
    id: i64,
    state: RequestState,
    destination_id: i64,
    created_at: i64,
}

/// The destination (code, name) of the earliest-due open request covering folder `folder_id`,
/// if any: where a dispatched folder is expected to go.
pub fn expected_destination(c: &Connection, folder_id: i64) -> Result<Option<(String, String)>> {
    let Some(r) = open_for_folder(c, folder_id)?
        .into_iter()
        .find(|r| !matches!(r.state, RequestState::Received | RequestState::Returned))
    else {
        return Ok(None);
    };
    Ok(Some(
        c.prepare_cached("SELECT code, name FROM locations WHERE id=?1")?
            .query_row([r.destination_id], |x| Ok((x.get(0)?, x.get(1)?)))?,
    ))
}

/// How many open requests cover folder `folder_id`: the lookup every stored scan makes, for the
/// benchmark's raw-SQLite ceiling to do the same work.
pub fn open_count_for_folder(c: &Connection, folder_id: i64) -> Result<usize> {
    Ok(open_for_folder(c, folder_id)?.len())
}

/// Open requests that cover folder `folder_id`.
fn open_for_folder(c: &Connection, folder_id: i64) -> Result<Vec<Row>> {
    let mut st = c.prepare_cached(
        // Two indexed lookups (one volume, or the whole patient) rather than an OR that
        // would walk every open request: this runs for every stored scan.
        "SELECT r.id, r.state, r.destination_id, r.created_at, r.due_at FROM requests r
         WHERE r.folder_id = ?1 AND r.closed_at IS NULL AND r.state != 'cancelled'
         UNION ALL
         SELECT r.id, r.state, r.destination_id, r.created_at, r.due_at FROM requests r
         WHERE r.patient_id = (SELECT patient_id FROM folders WHERE id = ?1)
           AND r.folder_id IS NULL AND r.closed_at IS NULL AND r.state != 'cancelled'
         ORDER BY 5, 1",
    )?;
    let v = st
        .query_map([folder_id], |r| {
            Ok(Row {
                id: r.get(0)?,
                state: r.get(1)?,
                destination_id: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

fn set(
    c: &Connection,
    id: i64,
    state: RequestState,
    holder: Option<i64>,
    at: i64,
    note: &str,
    actor: &str,
) -> Result<()> {
    let closes = state.closes();
    c.prepare_cached(
        "UPDATE requests SET state=?2, holder_location_id=?3, updated_at=?4,
           received_at = CASE WHEN ?2 = 'received' THEN ?4 ELSE received_at END,
           closed_at = CASE WHEN ?5 THEN ?4 ELSE closed_at END,
           close_reason = CASE WHEN ?5 THEN ?2 ELSE close_reason END
         WHERE id=?1",
    )?
    .execute(params![id, state, holder, at, closes])?;
    history(c, id, at, state, holder, note, actor)
}

/// Scans earlier than this before a request was made do not drive it.
const SCAN_SLACK_MS: i64 = 60_000;

/// Called by the movement ledger for each stored event of a known folder.
pub fn on_scan(
    c: &Connection,
    folder_id: i64,
    location_id: i64,
    action: Action,
    destination_id: Option<i64>,
    read_at: i64,
) -> Result<()> {
    let open = open_for_folder(c, folder_id)?;
    if open.is_empty() {
        return Ok(());
    }
    let in_library = is_library(c, location_id)?;
    for r in open {
        if read_at + SCAN_SLACK_MS < r.created_at {
            continue;
        }
        let at = match action {
            Action::Dispatch if destination_id == Some(r.destination_id) => {
                ScanAt::DispatchToDestination
            }
            Action::Dispatch => ScanAt::DispatchElsewhere,
            Action::Seen | Action::Receive if location_id == r.destination_id => {
                ScanAt::AtDestination
            }
            Action::Seen | Action::Receive if in_library => ScanAt::InLibrary,
            Action::Seen | Action::Receive => ScanAt::Elsewhere,
        };
        if let Some((state, from, note)) = after_scan(r.state, at) {
            let holder = match from {
                HolderFrom::Nobody => None,
                HolderFrom::ScanPlace => Some(location_id),
                HolderFrom::DispatchTarget => Some(destination_id.unwrap_or(location_id)),
            };
            set(c, r.id, state, holder, read_at, note, "scan")?;
        }
    }
    Ok(())
}

/// Where an open request expects the folder to go (for where-is answers).
#[derive(Debug, Serialize)]
pub struct Expected {
    pub request_id: i64,
    pub destination: Place,
    pub state: String,
    pub urgency: String,
    pub needed_by: String,
    pub overdue: bool,
}

fn place(c: &Connection, id: i64) -> Result<Place> {
    let l = locations::get(c, id)?;
    Ok(Place {
        code: l.code,
        name: l.name,
        kind: l.kind,
    })
}

pub fn expected_for_folder(c: &Connection, folder_id: i64) -> Result<Option<Expected>> {
    let now = now_ms();
    let row: Option<(i64, i64, String, String, i64)> = c
        .prepare_cached(
            "SELECT r.id, r.destination_id, r.state, r.urgency, r.needed_by, r.due_at FROM requests r
             WHERE r.folder_id = ?1 AND r.closed_at IS NULL AND r.state NOT IN ('cancelled','received')
             UNION ALL
             SELECT r.id, r.destination_id, r.state, r.urgency, r.needed_by, r.due_at FROM requests r
             WHERE r.patient_id = (SELECT patient_id FROM folders WHERE id = ?1)
               AND r.folder_id IS NULL AND r.closed_at IS NULL AND r.state NOT IN ('cancelled','received')
             ORDER BY 6, 1 LIMIT 1",
        )?
        .query_row([folder_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    row.map(|(id, dest, state, urgency, needed_by)| {
        Ok(Expected {
            request_id: id,
            destination: place(c, dest)?,
            overdue: now > needed_by,
            state,
            urgency,
            needed_by: ms_to_rfc3339(needed_by),
        })
    })
    .transpose()
}

const SELECT: &str = "SELECT r.id, r.patient_id, r.folder_id, r.destination_id, r.holder_location_id, r.urgency, r.reason, r.state, r.source, r.encounter, r.appointment_id, r.needed_by, r.due_at, r.requested_by, r.created_at, r.updated_at, r.received_at, r.closed_at, r.close_reason FROM requests r";

type RawRow = (
    [i64; 2],
    Option<i64>,
    i64,
    Option<i64>,
    [String; 4],
    Option<String>,
    Option<i64>,
    [i64; 2],
    String,
    [i64; 2],
    [Option<i64>; 2],
    Option<String>,
);

fn raw_row(r: &rusqlite::Row) -> rusqlite::Result<RawRow> {
    Ok((
        [r.get(0)?, r.get(1)?],
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        [r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?],
        r.get(9)?,
        r.get(10)?,
        [r.get(11)?, r.get(12)?],
        r.get(13)?,
        [r.get(14)?, r.get(15)?],
        [r.get(16)?, r.get(17)?],
        r.get(18)?,
    ))
}

/// Overdue: not yet received (and not closed) after its due time.
fn overdue(state: RequestState, closed: bool, due_at: i64, now: i64) -> bool {
    !closed && state.awaiting_delivery() && now > due_at
}

fn view(
    c: &Connection,
    raw: RawRow,
    with_patient: bool,
    with_history: bool,
) -> Result<RequestView> {
    let now = now_ms();
    let (
        [id, patient_id],
        folder_id,
        dest,
        holder,
        [urgency, reason, state, source],
        encounter,
        appointment_id,
        [needed_by, due_at],
        requested_by,
        [created_at, updated_at],
        [received_at, closed_at],
        close_reason,
    ) = raw;
    let unknown = |e: String| Error::internal(format!("request {id}: {e}"));
    let state: RequestState = state.parse().map_err(unknown)?;
    let urgency: Urgency = urgency.parse().map_err(unknown)?;
    let folder_list = match folder_id {
        Some(f) => vec![folders::get(c, f)?],
        None => folders::for_patient(c, patient_id)?
            .into_iter()
            .filter(|f| f.status.in_use())
            .collect(),
    };
    let mut fstates = Vec::with_capacity(folder_list.len());
    for f in &folder_list {
        let cur: Option<(i64, i64)> = c
            .prepare_cached("SELECT cur_location_id, cur_since FROM folders WHERE id=?1 AND cur_location_id IS NOT NULL")?
            .query_row([f.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (location, since, in_library) = match cur {
            Some((l, s)) => {
                let p = place(c, l)?;
                let lib = p.kind.is_library();
                (Some(p), Some(ms_to_rfc3339(s)), lib)
            }
            None => (None, None, true),
        };
        fstates.push(FolderState {
            barcode: f.barcode.clone(),
            folder_type: f.folder_type.as_str().to_string(),
            volume: f.volume,
            volume_count: f.volume_count,
            in_library,
            location,
            since,
        });
    }
    let history = if with_history {
        let mut st = c.prepare_cached(
            "SELECT h.at, h.state, l.code, h.note, h.actor FROM request_history h LEFT JOIN locations l ON l.id = h.location_id WHERE h.request_id=?1 ORDER BY h.at, h.id",
        )?;
        let v = st
            .query_map([id], |r| {
                Ok(HistoryEntry {
                    at: ms_to_rfc3339(r.get(0)?),
                    state: r.get(1)?,
                    location: r.get(2)?,
                    note: r.get(3)?,
                    actor: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        v
    } else {
        Vec::new()
    };
    let patient = if with_patient {
        Some(crate::ledger::patients::PatientBrief::from(
            &crate::ledger::patients::get(c, patient_id)?,
        ))
    } else {
        None
    };
    Ok(RequestView {
        id,
        patient_id,
        patient,
        volume: folder_id
            .and_then(|_| folder_list.first())
            .map(|f| f.barcode.clone()),
        destination: place(c, dest)?,
        holder_location: holder.map(|h| place(c, h)).transpose()?,
        overdue: overdue(state, closed_at.is_some(), due_at, now),
        open: closed_at.is_none(),
        urgency,
        reason,
        state,
        source,
        encounter,
        appointment_id,
        needed_by: ms_to_rfc3339(needed_by),
        due_at: ms_to_rfc3339(due_at),
        requested_by,
        created_at: ms_to_rfc3339(created_at),
        updated_at: ms_to_rfc3339(updated_at),
        received_at: received_at.map(ms_to_rfc3339),
        closed_at: closed_at.map(ms_to_rfc3339),
        close_reason,
        escalated_at: c
            .prepare_cached("SELECT escalated_at FROM requests WHERE id=?1")?
            .query_row([id], |r| r.get::<_, Option<i64>>(0))?
            .map(ms_to_rfc3339),
        folders: fstates,
        history,
    })
}

pub fn get(c: &Connection, id: i64, with_patient: bool) -> Result<RequestView> {
    let raw = c
        .prepare_cached(&format!("{SELECT} WHERE r.id=?1"))?
        .query_row([id], raw_row)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("request {id}")))?;
    view(c, raw, with_patient, true)
}

/// The library desk queue: open requests, most urgent (earliest due) first.
pub fn queue(c: &Connection, with_patient: bool, limit: i64) -> Result<Vec<RequestView>> {
    let mut st = c.prepare_cached(&format!(
        "{SELECT} WHERE r.closed_at IS NULL AND r.state != 'cancelled' ORDER BY r.due_at, r.id LIMIT ?1"
    ))?;
    let raws = st
        .query_map([limit], raw_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|r| view(c, r, with_patient, false))
        .collect()
}

/// Requests for a patient (open first).
pub fn for_patient(c: &Connection, patient_id: i64) -> Result<Vec<RequestView>> {
    let mut st = c.prepare_cached(&format!(
        "{SELECT} WHERE r.patient_id=?1 ORDER BY r.closed_at IS NOT NULL, r.id DESC LIMIT 200"
    ))?;
    let raws = st
        .query_map([patient_id], raw_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter().map(|r| view(c, r, false, true)).collect()
}

/// A desk event for request `id`.
pub fn desk_event(c: &Connection, kind: &'static str, id: i64) -> Result<DeskEvent> {
    let (urgency, state, dest, due, source, open): (String, String, String, i64, String, bool) = c
        .prepare_cached("SELECT r.urgency, r.state, l.code, r.due_at, r.source, r.closed_at IS NULL AND r.state != 'cancelled' FROM requests r JOIN locations l ON l.id = r.destination_id WHERE r.id=?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?;
    Ok(DeskEvent {
        kind,
        request_id: id,
        urgency,
        state,
        destination: dest,
        due_at: ms_to_rfc3339(due),
        source,
        open,
    })
}

/// Requests whose history grew after entry `after` (any change of state, by any path: the
/// desk, the API, a scan, the HL7 feed), as `request.changed` events, and the last entry seen.
pub fn changed_since(c: &Connection, after: i64) -> Result<(Vec<DeskEvent>, i64)> {
    let rows: Vec<(i64, i64)> = c
        .prepare_cached(
            "SELECT request_id, MAX(id) FROM request_history WHERE id > ?1 GROUP BY request_id ORDER BY 2 LIMIT 500",
        )?
        .query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let last = rows.iter().map(|r| r.1).max().unwrap_or(after);
    let events = rows
        .iter()
        .map(|(id, _)| desk_event(c, "request.changed", *id))
        .collect::<Result<Vec<_>>>()?;
    Ok((events, last))
}

/// The newest request history entry (where change watching starts).
pub fn last_change(c: &Connection) -> Result<i64> {
    Ok(c.query_row(
        "SELECT COALESCE(MAX(id), 0) FROM request_history",
        [],
        |r| r.get(0),
    )?)
}

/// Manual state change by library staff: located (with where), pulled, or cancelled.
/// Only the person who asked for the notes, library staff and above (and the HL7 feed, for
/// the requests it raised) may cancel or re-route a request: a clinician may not change
/// another's, nor one raised by the library, a pull list or an admission.
pub fn may_change(c: &Connection, who: &Principal, id: i64) -> Result<()> {
    use crate::auth::Role;
    if !matches!(who.role, Role::Clinician | Role::Porter) {
        return Ok(());
    }
    let by: String = c
        .prepare_cached("SELECT requested_by FROM requests WHERE id=?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found(format!("request {id}")))?;
    if by == who.actor {
        Ok(())
    } else {
        Err(Error::Forbidden {
            role: who.role.as_str().into(),
            action: format!("change request {id}: only its requester or library staff may"),
        })
    }
}

pub fn set_state(
    c: &Connection,
    who: &Principal,
    id: i64,
    state: &str,
    holder: Option<&str>,
    note: &str,
) -> Result<()> {
    may_change(c, who, id)?;
    let (patient_id, folder_id, cur, closed): (i64, Option<i64>, RequestState, Option<i64>) = c
        .query_row(
            "SELECT patient_id, folder_id, state, closed_at FROM requests WHERE id=?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?
        .ok_or_else(|| Error::not_found(format!("request {id}")))?;
    if closed.is_some() {
        return Err(Error::conflict(
            "state",
            format!("request {id} is closed ({cur}); make a new request"),
        ));
    }
    let refuse = || {
        Error::invalid(
            "state",
            "may be set to located, pulled or cancelled; the other states follow scans",
        )
    };
    let state: RequestState = state.parse().map_err(|_| refuse())?;
    let holder_id = match (state, holder) {
        (RequestState::Located, Some(h)) => {
            Some(locations::resolve_id(c, h)?.ok_or_else(|| {
                Error::invalid("holder_location", format!("no location with code {h:?}"))
            })?)
        }
        (RequestState::Located, None) => {
            return Err(Error::invalid(
                "holder_location",
                "say where the notes were found",
            ))
        }
        (RequestState::Pulled | RequestState::Cancelled, _) => None,
        (
            RequestState::Requested
            | RequestState::Dispatched
            | RequestState::Received
            | RequestState::Returned,
            _,
        ) => return Err(refuse()),
    };
    set(c, id, state, holder_id, now_ms(), note.trim(), &who.actor)?;
    audit::record(
        c,
        who,
        "request.state",
        Some(patient_id),
        folder_id,
        &format!("request {id}: {cur} -> {state}: {}", note.trim()),
    )
}

/// Send an open request somewhere else (a transfer). If the notes had arrived at the old
/// destination they now have to be fetched from there.
pub fn reroute(
    c: &Connection,
    who: &Principal,
    id: i64,
    destination_id: i64,
    note: &str,
) -> Result<()> {
    may_change(c, who, id)?;
    let (patient_id, folder_id, old_dest, state, closed): (i64, Option<i64>, i64, RequestState, Option<i64>) = c
        .query_row(
            "SELECT patient_id, folder_id, destination_id, state, closed_at FROM requests WHERE id=?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?
        .ok_or_else(|| Error::not_found(format!("request {id}")))?;
    if closed.is_some() {
        return Err(Error::conflict("state", format!("request {id} is closed")));
    }
    if old_dest == destination_id {
        return Ok(());
    }
    let now = now_ms();
    c.prepare_cached("UPDATE requests SET destination_id=?2, updated_at=?3 WHERE id=?1")?
        .execute(params![id, destination_id, now])?;
    let holder = holder_of(c, patient_id, folder_id)?.filter(|h| *h != destination_id);
    let new_state = match (state, holder) {
        (_, Some(_)) => RequestState::Located,
        (RequestState::Dispatched, None) => RequestState::Dispatched,
        (_, None) => RequestState::Requested,
    };
    let dest_code = locations::get(c, destination_id)?.code;
    set(
        c,
        id,
        new_state,
        holder,
        now,
        &format!("re-routed to {dest_code}: {note}"),
        &who.actor,
    )?;
    audit::record(
        c,
        who,
        "request.reroute",
        Some(patient_id),
        folder_id,
        &format!("request {id} re-routed to {dest_code}: {note}"),
    )
}

/// Close an open request without it coming back (superseded, e.g. on discharge).
pub fn close(c: &Connection, who: &Principal, id: i64, reason: &str) -> Result<()> {
    let now = now_ms();
    c.prepare_cached("UPDATE requests SET closed_at=?2, close_reason=?3, updated_at=?2 WHERE id=?1 AND closed_at IS NULL")?.execute(
        params![id, now, reason],
    )?;
    let state: RequestState = c
        .prepare_cached("SELECT state FROM requests WHERE id=?1")?
        .query_row([id], |r| r.get(0))?;
    history(
        c,
        id,
        now,
        state,
        None,
        &format!("closed: {reason}"),
        &who.actor,
    )
}

/// Reopen a request closed by [`close`] (e.g. a cancelled discharge).
pub fn reopen(c: &Connection, who: &Principal, id: i64, note: &str) -> Result<()> {
    let now = now_ms();
    c.prepare_cached(
        "UPDATE requests SET closed_at=NULL, close_reason=NULL, updated_at=?2 WHERE id=?1",
    )?
    .execute(params![id, now])?;
    let state: RequestState = c
        .prepare_cached("SELECT state FROM requests WHERE id=?1")?
        .query_row([id], |r| r.get(0))?;
    history(
        c,
        id,
        now,
        state,
        None,
        &format!("reopened: {note}"),
        &who.actor,
    )
}

/// Close an open request whose clinic has passed, through the state machine
/// ([`super::request_state::after_clinic_passed`]): notes never sent are cancelled with the
/// reason "clinic has passed"; anything else is left alone. Written to the request's history
/// (so the desk sees it) and to the audit log. Returns whether it was closed.
pub fn close_for_passed_clinic(c: &Connection, who: &Principal, id: i64, at: i64) -> Result<bool> {
    let (patient_id, folder_id, state, closed): (i64, Option<i64>, RequestState, Option<i64>) = c
        .prepare_cached("SELECT patient_id, folder_id, state, closed_at FROM requests WHERE id=?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?
        .ok_or_else(|| Error::not_found(format!("request {id}")))?;
    if closed.is_some() {
        return Ok(false);
    }
    let Some((next, reason)) = super::request_state::after_clinic_passed(state) else {
        return Ok(false);
    };
    set(c, id, next, None, at, reason, &who.actor)?;
    c.prepare_cached("UPDATE requests SET close_reason=?2 WHERE id=?1")?
        .execute(params![id, reason])?;
    audit::record(
        c,
        who,
        "request.close",
        Some(patient_id),
        folder_id,
        &format!("request {id}: {state} -> {next}: {reason}"),
    )?;
    Ok(true)
}

/// Escalate an open routine request not delivered after `after_days` working days: it becomes
/// urgent (the urgency it was made with is kept for the statistics), is marked escalated, and
/// the escalation is written to its history (so the desk sees it) and to the audit log. Returns
/// whether it was escalated (not when already escalated, closed, delivered or not routine).
pub fn escalate(
    c: &Connection,
    who: &Principal,
    id: i64,
    at: i64,
    after_days: i64,
) -> Result<bool> {
    let (patient_id, folder_id, state, u, closed, escalated): (
        i64,
        Option<i64>,
        RequestState,
        Urgency,
        Option<i64>,
        Option<i64>,
    ) = c
        .prepare_cached("SELECT patient_id, folder_id, state, urgency, closed_at, escalated_at FROM requests WHERE id=?1")?
        .query_row([id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()?
        .ok_or_else(|| Error::not_found(format!("request {id}")))?;
    if closed.is_some()
        || escalated.is_some()
        || u != Urgency::Routine
        || !state.awaiting_delivery()
    {
        return Ok(false);
    }
    c.prepare_cached(
        "UPDATE requests SET urgency=?2, escalated_at=?3, escalated_from=?4, updated_at=?3 WHERE id=?1",
    )?
    .execute(params![id, Urgency::Urgent, at, u])?;
    let note = format!(
        "escalated: routine request not delivered after {after_days} working day(s); now urgent"
    );
    history(c, id, at, state, None, &note, &who.actor)?;
    audit::record(
        c,
        who,
        "request.escalate",
        Some(patient_id),
        folder_id,
        &format!("request {id}: {note}"),
    )?;
    Ok(true)
}

/// Requests that became overdue since the last check; marks them so each is published once.
pub fn newly_overdue(c: &Connection, now: i64) -> Result<Vec<DeskEvent>> {
    let ids: Vec<i64> = c
        .prepare_cached(
            "SELECT id FROM requests WHERE closed_at IS NULL AND overdue_notified = 0 AND due_at < ?1
               AND state IN ('requested','located','pulled','dispatched') ORDER BY due_at LIMIT 1000",
        )?
        .query_map([now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        c.prepare_cached("UPDATE requests SET overdue_notified = 1 WHERE id=?1")?
            .execute([id])?;
        out.push(desk_event(c, "request.overdue", id)?);
    }
    Ok(out)
}

/// Move open requests of a retired patient to the survivor (after a merge).
/// Merge two registrations of one patient: the ledger's merge, then the requests and
/// appointments of the retired record follow to the survivor, in the caller's transaction.
/// The API, the HL7 A40 handler and any other face call this one function.
pub fn merge_patients(
    c: &Connection,
    who: &crate::auth::Principal,
    retired: &str,
    survivor: &str,
    reason: &str,
) -> Result<crate::ledger::patients::MergeOutcome> {
    let m = crate::ledger::patients::merge(c, who, retired, survivor, reason)?;
    follow_merge(c, m.retired.id, m.survivor.id)?;
    Ok(m)
}

/// Re-point the retired record's requests and appointments to the survivor.
pub fn follow_merge(c: &Connection, retired_id: i64, survivor_id: i64) -> Result<()> {
    c.prepare_cached("UPDATE requests SET patient_id=?2 WHERE patient_id=?1")?
        .execute(params![retired_id, survivor_id])?;
    c.prepare_cached("UPDATE appointments SET patient_id=?2 WHERE patient_id=?1")?
        .execute(params![retired_id, survivor_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state by its word.
    fn st(word: &str) -> RequestState {
        word.parse().expect("a request state")
    }

    #[test]
    fn overdue_only_before_delivery() {
        assert!(overdue(st("requested"), false, 10, 11));
        assert!(overdue(st("dispatched"), false, 10, 11));
        assert!(!overdue(st("received"), false, 10, 11));
        assert!(!overdue(st("requested"), true, 10, 11));
        assert!(!overdue(st("requested"), false, 10, 10));
    }

    /// A routine request made on the Friday before a bank holiday Monday, with a target of one
    /// working day, is due on Tuesday; urgent and emergency targets are clock time.
    #[test]
    fn targets_in_working_days_skip_bank_holidays() {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis()
        };
        let cfg = RequestsConfig {
            routine_working_days: 1,
            ..Default::default()
        };
        // Friday 22 May 2026; Monday 25 May is the spring bank holiday
        let fri = t("2026-05-22T10:00:00+01:00");
        assert_eq!(
            due_after(&cfg, Urgency::Routine, fri),
            t("2026-05-26T10:00:00+01:00")
        );
        assert_eq!(
            due_after(&cfg, Urgency::Urgent, fri),
            t("2026-05-22T14:00:00+01:00")
        );
        assert_eq!(target_text(&cfg, Urgency::Routine), "1 working day");
        assert_eq!(target_text(&cfg, Urgency::Urgent), "4 hours");
        assert_eq!(target_text(&cfg, Urgency::Emergency), "30 minutes");
        // a local holiday on the Tuesday moves it to Wednesday
        let cfg = RequestsConfig {
            routine_working_days: 1,
            local_holidays: vec![chrono::NaiveDate::from_ymd_opt(2026, 5, 26).unwrap()],
            ..Default::default()
        };
        assert_eq!(
            due_after(&cfg, Urgency::Routine, fri),
            t("2026-05-27T10:00:00+01:00")
        );
    }

    #[test]
    fn urgencies() {
        assert_eq!(urgency(" Emergency ").unwrap().as_str(), "emergency");
        assert!(urgency("soon")
            .unwrap_err()
            .to_string()
            .starts_with("urgency:"));
    }
}
