//! Missing notes: mark a folder missing, list where to search (from its trail), escalate to the
//! records manager, open a temporary folder on the manager's instruction (tracked like any
//! other), and when the original turns up, merge the temporary into it (temporary -> merged).

use crate::{
    audit, auth::Principal, ledger::folders, util::now_rfc3339, workflow::whereis, Error, Result,
};
use casenote_core::identifiers::FolderIdScheme;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct MissingCase {
    pub id: i64,
    pub folder: String,
    pub patient_id: i64,
    pub status: String,
    pub reason: String,
    pub reported_by: String,
    pub reported_at: String,
    pub escalated_by: Option<String>,
    pub escalated_at: Option<String>,
    pub escalation_note: Option<String>,
    pub temporary_folder: Option<String>,
    pub temporary_authorised_by: Option<String>,
    pub found_at: Option<String>,
    pub note: String,
}

/// Where to look: the last places, and the people and devices that last saw it.
#[derive(Debug, Serialize)]
pub struct SearchList {
    pub folder: String,
    pub status: crate::ledger::folders::FolderStatus,
    pub places: Vec<SearchPlace>,
    pub staff: Vec<String>,
    pub devices: Vec<String>,
    pub open_requests: Vec<i64>,
}

#[derive(Debug, Serialize)]
pub struct SearchPlace {
    pub code: String,
    pub name: String,
    pub last_seen_at: String,
    pub action: String,
}

fn open_case(c: &Connection, folder_id: i64) -> Result<Option<i64>> {
    Ok(c
        .prepare_cached("SELECT id FROM missing_cases WHERE folder_id=?1 AND status NOT IN ('found') ORDER BY id DESC LIMIT 1")?
        .query_row([folder_id], |r| r.get(0))
        .optional()?)
}

pub fn get(c: &Connection, id: i64) -> Result<MissingCase> {
    c.query_row(
        "SELECT m.id, f.barcode, m.patient_id, m.status, m.reason, m.reported_by, m.reported_at, m.escalated_by, m.escalated_at, m.escalation_note, t.barcode, m.temporary_authorised_by, m.found_at, m.note
         FROM missing_cases m JOIN folders f ON f.id = m.folder_id LEFT JOIN folders t ON t.id = m.temporary_folder_id WHERE m.id=?1",
        [id],
        |r| {
            Ok(MissingCase {
                id: r.get(0)?,
                folder: r.get(1)?,
                patient_id: r.get(2)?,
                status: r.get(3)?,
                reason: r.get(4)?,
                reported_by: r.get(5)?,
                reported_at: r.get(6)?,
                escalated_by: r.get(7)?,
                escalated_at: r.get(8)?,
                escalation_note: r.get(9)?,
                temporary_folder: r.get(10)?,
                temporary_authorised_by: r.get(11)?,
                found_at: r.get(12)?,
                note: r.get(13)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| Error::not_found(format!("missing case {id}")))
}

fn need_text(field: &str, v: &str) -> Result<String> {
    let v = v.trim();
    if v.is_empty() || v.len() > 1000 {
        return Err(Error::invalid(field, "must be 1-1000 characters"));
    }
    Ok(v.to_string())
}

/// Mark a folder missing and open a case.
pub fn report(
    c: &Connection,
    who: &Principal,
    scheme: &FolderIdScheme,
    barcode: &str,
    reason: &str,
) -> Result<MissingCase> {
    let reason = need_text("reason", reason)?;
    let f = folders::by_barcode(c, scheme, barcode)?;
    if open_case(c, f.id)?.is_some() {
        return Err(Error::conflict(
            "folder",
            format!("folder {} is already reported missing", f.barcode),
        ));
    }
    folders::set_status(c, f.id, "missing")?;
    c.execute(
        "INSERT INTO missing_cases(folder_id, patient_id, status, reason, reported_by, reported_at) VALUES (?1,?2,'open',?3,?4,?5)",
        params![f.id, f.patient_id, reason, who.actor, now_rfc3339()],
    )?;
    let id = c.last_insert_rowid();
    audit::record(
        c,
        who,
        "folder.missing",
        Some(f.patient_id),
        Some(f.id),
        &format!("missing case {id}: {reason}"),
    )?;
    get(c, id)
}

/// The search list: distinct places from the trail (most recent first), staff and devices.
pub fn search_list(c: &Connection, scheme: &FolderIdScheme, barcode: &str) -> Result<SearchList> {
    let f = folders::by_barcode(c, scheme, barcode)?;
    let w = whereis::for_folder(c, f.clone(), None)?;
    let mut places: Vec<SearchPlace> = Vec::new();
    let mut staff: Vec<String> = Vec::new();
    let mut devices: Vec<String> = Vec::new();
    for t in &w.trail {
        if !places.iter().any(|p| p.code == t.location.code) && places.len() < 10 {
            places.push(SearchPlace {
                code: t.location.code.clone(),
                name: t.location.name.clone(),
                last_seen_at: t.read_at.clone(),
                action: t.action.to_string(),
            });
        }
        if let Some(d) = &t.destination {
            if t.action == casenote_core::wire::Action::Dispatch
                && !places.iter().any(|p| &p.code == d)
                && places.len() < 10
            {
                places.push(SearchPlace {
                    code: d.clone(),
                    name: String::new(),
                    last_seen_at: t.read_at.clone(),
                    action: "dispatched towards".into(),
                });
            }
        }
        if let Some(s) = &t.staff_id {
            if !staff.contains(s) && staff.len() < 10 {
                staff.push(s.clone());
            }
        }
        if !devices.contains(&t.device_id) && devices.len() < 10 {
            devices.push(t.device_id.clone());
        }
    }
    let open_requests: Vec<i64> = c
        .prepare_cached("SELECT id FROM requests WHERE closed_at IS NULL AND (folder_id=?1 OR (folder_id IS NULL AND patient_id=?2))")?
        .query_map(params![f.id, f.patient_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(SearchList {
        folder: f.barcode,
        status: f.status,
        places,
        staff,
        devices,
        open_requests,
    })
}

fn case_for(
    c: &Connection,
    scheme: &FolderIdScheme,
    barcode: &str,
) -> Result<(folders::Folder, i64)> {
    let f = folders::by_barcode(c, scheme, barcode)?;
    let id = open_case(c, f.id)?.ok_or_else(|| {
        Error::conflict(
            "folder",
            format!("folder {} is not reported missing", f.barcode),
        )
    })?;
    Ok((f, id))
}

/// Escalate to the records manager.
pub fn escalate(
    c: &Connection,
    who: &Principal,
    scheme: &FolderIdScheme,
    barcode: &str,
    note: &str,
) -> Result<MissingCase> {
    let note = need_text("note", note)?;
    let (f, id) = case_for(c, scheme, barcode)?;
    c.execute(
        "UPDATE missing_cases SET status = CASE WHEN status='open' THEN 'escalated' ELSE status END, escalated_by=?2, escalated_at=?3, escalation_note=?4 WHERE id=?1",
        params![id, who.actor, now_rfc3339(), note],
    )?;
    audit::record(
        c,
        who,
        "folder.missing.escalate",
        Some(f.patient_id),
        Some(f.id),
        &format!("missing case {id} escalated: {note}"),
    )?;
    get(c, id)
}

/// On a records manager's instruction: open a temporary folder for the patient.
pub fn open_temporary(
    c: &Connection,
    who: &Principal,
    scheme: &FolderIdScheme,
    barcode: &str,
    instruction: &str,
) -> Result<(MissingCase, folders::Folder)> {
    let instruction = need_text("instruction", instruction)?;
    let (f, id) = case_for(c, scheme, barcode)?;
    let existing: Option<i64> = c.query_row(
        "SELECT temporary_folder_id FROM missing_cases WHERE id=?1",
        [id],
        |r| r.get(0),
    )?;
    if existing.is_some() {
        return Err(Error::conflict(
            "folder",
            "a temporary folder is already open for this case",
        ));
    }
    let t = folders::create(
        c,
        scheme,
        f.patient_id,
        &folders::NewFolder {
            patient: String::new(),
            folder_type: "temporary".into(),
            home_location: f.home_location.clone(),
            filing_number: f.filing_number.clone(),
        },
    )?;
    c.execute(
        "UPDATE missing_cases SET status='temporary', temporary_folder_id=?2, temporary_authorised_by=?3, note = note || ?4 WHERE id=?1",
        params![id, t.id, who.actor, format!("temporary folder {} opened: {instruction}\n", t.barcode)],
    )?;
    audit::record(
        c,
        who,
        "folder.temporary",
        Some(f.patient_id),
        Some(t.id),
        &format!(
            "temporary folder {} for missing {} (case {id}): {instruction}",
            t.barcode, f.barcode
        ),
    )?;
    Ok((get(c, id)?, t))
}

/// The original turned up: it is active again; a temporary folder is merged into it.
pub fn found(
    c: &Connection,
    who: &Principal,
    scheme: &FolderIdScheme,
    barcode: &str,
    note: &str,
) -> Result<MissingCase> {
    let note = need_text("note", note)?;
    let (f, id) = case_for(c, scheme, barcode)?;
    close_found(c, who, &f, id, &note)
}

/// A folder with an open missing case was scanned where it should be (a shelf audit found
/// it): the case is closed as found. `None` when the folder has no open case, or when a
/// temporary folder was opened for it (its contents are merged by hand, with [`found`]).
pub fn found_by_scan(
    c: &Connection,
    who: &Principal,
    folder_id: i64,
    note: &str,
) -> Result<Option<MissingCase>> {
    let Some(id) = open_case(c, folder_id)? else {
        return Ok(None);
    };
    let temporary: Option<i64> = c.query_row(
        "SELECT temporary_folder_id FROM missing_cases WHERE id=?1",
        [id],
        |r| r.get(0),
    )?;
    if temporary.is_some() {
        return Ok(None);
    }
    let f = folders::get(c, folder_id)?;
    close_found(c, who, &f, id, &need_text("note", note)?).map(Some)
}

fn close_found(
    c: &Connection,
    who: &Principal,
    f: &folders::Folder,
    id: i64,
    note: &str,
) -> Result<MissingCase> {
    folders::set_status(c, f.id, "active")?;
    let temp: Option<i64> = c.query_row(
        "SELECT temporary_folder_id FROM missing_cases WHERE id=?1",
        [id],
        |r| r.get(0),
    )?;
    let mut text = format!("found: {note}\n");
    if let Some(t) = temp {
        let tf = folders::set_status(c, t, "merged")?;
        text.push_str(&format!(
            "temporary folder {} merged into {}\n",
            tf.barcode, f.barcode
        ));
        audit::record(
            c,
            who,
            "folder.temporary.merge",
            Some(f.patient_id),
            Some(t),
            &format!(
                "temporary folder {} merged into original {} (case {id})",
                tf.barcode, f.barcode
            ),
        )?;
    }
    c.execute(
        "UPDATE missing_cases SET status='found', found_at=?2, note = note || ?3 WHERE id=?1",
        params![id, now_rfc3339(), text],
    )?;
    audit::record(
        c,
        who,
        "folder.found",
        Some(f.patient_id),
        Some(f.id),
        &format!("missing case {id} closed: {note}"),
    )?;
    get(c, id)
}

/// The open missing case of a folder, if any.
pub fn case_of(
    c: &Connection,
    scheme: &FolderIdScheme,
    barcode: &str,
) -> Result<Option<MissingCase>> {
    let f = folders::by_barcode(c, scheme, barcode)?;
    let id: Option<i64> = c
        .query_row(
            "SELECT id FROM missing_cases WHERE folder_id=?1 ORDER BY id DESC LIMIT 1",
            [f.id],
            |r| r.get(0),
        )
        .optional()?;
    id.map(|i| get(c, i)).transpose()
}
