//! "Where is this file?": the current place of a folder, since when, seen by whom, whether it is
//! in transit, and its trail.

use crate::{
    ledger::containers::{self, OnContainer},
    ledger::folders::{self, Folder},
    ledger::patients::Patient,
    util::ms_to_rfc3339,
    Result,
};
use casenote_core::wire::Action;
use rusqlite::Connection;
use serde::Serialize;

pub use crate::ledger::locations::Place;
pub use crate::ledger::patients::PatientBrief;

#[derive(Debug, Serialize)]
pub struct TrailEntry {
    pub read_at: String,
    pub location: Place,
    pub action: Action,
    pub destination: Option<String>,
    pub device_id: String,
    /// The device's name for people (its description, or "scan page (user)").
    pub device_name: Option<String>,
    pub staff_id: Option<String>,
    /// The name of the member of staff the badge (or user name) belongs to.
    pub staff_name: Option<String>,
    pub method: String,
    pub received_at: String,
    /// Who sent the scan to the server: the signed-in user (`user:<name>`) or the API token
    /// (`token:<name>`); empty for scans stored before this was recorded.
    pub sent_by: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Current {
    pub location: Place,
    /// When the folder arrived at this place (first scan of the latest run there).
    pub since: String,
    pub last_seen_at: String,
    pub seen_by_staff: Option<String>,
    pub seen_by_staff_name: Option<String>,
    pub seen_by_device: String,
    pub seen_by_device_name: Option<String>,
    pub method: String,
    pub in_transit: bool,
    pub destination: Option<Place>,
}

#[derive(Debug, Serialize)]
pub struct WhereIs {
    pub folder: Folder,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientBrief>,
    /// None when the folder has never been scanned: it is assumed to be at its home location.
    pub current: Option<Current>,
    pub home_location: String,
    /// Where an open request expects the folder to go next (None when not requested).
    pub expected: Option<crate::workflow::requests::Expected>,
    /// The container (trolley, bag, crate) the folder is on now, and where that was last seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_container: Option<OnContainer>,
    pub trail: Vec<TrailEntry>,
}

impl WhereIs {
    /// "on trolley T3 (last seen Ward 5 door, 10:42)" when the folder is on a container; the
    /// time is the site's local time (with the date when it was not today).
    pub fn on_container_text(&self) -> Option<String> {
        let k = self.on_container.as_ref()?;
        Some(match &k.last_seen {
            Some(seen) => format!(
                "on {} {} (last seen {}, {})",
                k.kind.label(),
                k.name,
                seen.location.name,
                short_local_time(&seen.read_at)
            ),
            None => format!("on {} {}", k.kind.label(), k.name),
        })
    }
}

/// A time for a sentence: `10:42` today, `Sat 5 Dec 10:42` on another day (site's local time).
fn short_local_time(rfc: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc) {
        Ok(t) => {
            let local = t.with_timezone(&crate::util::site_tz());
            if local.date_naive() == crate::util::site_today() {
                local.format("%H:%M").to_string()
            } else {
                local.format("%a %-d %b %H:%M").to_string()
            }
        }
        Err(_) => crate::util::local_text(rfc),
    }
}

/// The words of `movement_words` met while reading one trail, each looked up once.
#[derive(Default)]
struct WordsRead {
    seen: std::collections::HashMap<i64, String>,
}

impl WordsRead {
    fn get(&mut self, c: &Connection, id: i64) -> Result<String> {
        if let Some(w) = self.seen.get(&id) {
            return Ok(w.clone());
        }
        let w: String = c
            .prepare_cached("SELECT word FROM movement_words WHERE id = ?1")?
            .query_row([id], |r| r.get(0))?;
        self.seen.insert(id, w.clone());
        Ok(w)
    }
}

/// A folder's trail, newest first: read from the trail index alone (migration 19 made it
/// carry these columns), not from the ledger's rows.
const TRAIL_SQL: &str = "SELECT m.read_at, l.code, l.name, l.kind, m.action_word, d.code, m.device_word, m.staff_word, m.method_word, m.received_at, m.sent_by_word
     FROM movement_log m JOIN locations l ON l.id = m.location_id LEFT JOIN locations d ON d.id = m.destination_id
     WHERE m.folder_id=?1 ORDER BY m.read_at DESC, m.id DESC LIMIT ?2";

/// How many trail entries are returned.
pub const TRAIL_LIMIT: i64 = 200;

fn place(c: &Connection, id: i64) -> Result<Place> {
    Ok(
        c.prepare_cached("SELECT code, name, kind FROM locations WHERE id=?1")?
            .query_row([id], |r| {
                Ok(Place {
                    code: r.get(0)?,
                    name: r.get(1)?,
                    kind: r.get(2)?,
                })
            })?,
    )
}

pub fn for_folder(c: &Connection, folder: Folder, patient: Option<&Patient>) -> Result<WhereIs> {
    // `movement_log` itself, not the `movements` view: the view looks each of a row's words
    // up again, five lookups a row; a trail repeats a handful of words, looked up once each
    // here ([`WordsRead`]). This read is most of a where-is lookup's work.
    let mut st = c.prepare_cached(TRAIL_SQL)?;
    type Row = (
        i64,
        Place,
        i64,
        Option<String>,
        i64,
        Option<i64>,
        i64,
        i64,
        Option<i64>,
    );
    let rows: Vec<Row> = st
        .query_map(rusqlite::params![folder.id, TRAIL_LIMIT], |r| {
            Ok((
                r.get(0)?,
                Place {
                    code: r.get(1)?,
                    name: r.get(2)?,
                    kind: r.get(3)?,
                },
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut words = WordsRead::default();
    let trail = rows
        .into_iter()
        .map(
            |(
                read_at,
                location,
                action,
                destination,
                device,
                staff,
                method,
                received_at,
                sent_by,
            )| {
                let action = words.get(c, action)?;
                Ok(TrailEntry {
                    read_at: ms_to_rfc3339(read_at),
                    location,
                    action: action.parse().map_err(|e: String| {
                        crate::Error::internal(format!("movement action in the ledger: {e}"))
                    })?,
                    destination,
                    device_id: words.get(c, device)?,
                    device_name: None,
                    staff_id: staff.map(|w| words.get(c, w)).transpose()?,
                    staff_name: None,
                    method: words.get(c, method)?,
                    received_at: ms_to_rfc3339(received_at),
                    sent_by: sent_by.map(|w| words.get(c, w)).transpose()?,
                })
            },
        )
        .collect::<Result<Vec<TrailEntry>>>()?;
    // Names, not codes: who carried it and with what (looked up once per distinct id).
    let mut trail = trail;
    let mut staff = std::collections::HashMap::new();
    let mut devices = std::collections::HashMap::new();
    for t in &mut trail {
        if let Some(id) = &t.staff_id {
            if !staff.contains_key(id) {
                staff.insert(id.clone(), crate::ledger::staff::display_name(c, id)?);
            }
            t.staff_name = staff[id].clone();
        }
        if !devices.contains_key(&t.device_id) {
            devices.insert(
                t.device_id.clone(),
                crate::ledger::devices::display_name(c, &t.device_id)?,
            );
        }
        t.device_name = devices[&t.device_id].clone();
    }
    let cur: Option<(i64, i64, Option<i64>)> = c
        .prepare_cached("SELECT cur_location_id, cur_since, cur_destination_id FROM folders WHERE id=?1 AND cur_location_id IS NOT NULL")?
        .query_row([folder.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .ok();
    let current = match (cur, trail.first()) {
        (Some((loc, since, dest)), Some(last)) => Some(Current {
            location: place(c, loc)?,
            since: ms_to_rfc3339(since),
            last_seen_at: last.read_at.clone(),
            seen_by_staff: last.staff_id.clone(),
            seen_by_staff_name: last.staff_name.clone(),
            seen_by_device: last.device_id.clone(),
            seen_by_device_name: last.device_name.clone(),
            method: last.method.clone(),
            in_transit: last.action == Action::Dispatch,
            destination: dest.map(|d| place(c, d)).transpose()?,
        }),
        _ => None,
    };
    let on_container = containers::carrying(c, folder.id)?;
    Ok(WhereIs {
        expected: crate::workflow::requests::expected_for_folder(c, folder.id)?,
        home_location: folder.home_location.clone(),
        folder,
        patient: patient.map(PatientBrief::from),
        current,
        on_container,
        trail,
    })
}

/// Every volume of a patient's notes.
pub fn for_patient(
    c: &Connection,
    patient: &Patient,
    include_patient: bool,
) -> Result<Vec<WhereIs>> {
    folders::for_patient(c, patient.id)?
        .into_iter()
        .map(|f| for_folder(c, f, include_patient.then_some(patient)))
        .collect()
}

/// Keys a porter (a caller who may locate folders but not read patients) is never sent: the
/// internal patient id links the volumes of one patient, and the folder type can reveal a
/// sensitive service (`mental_health`, `sexual_health`).
pub const HIDDEN_FROM_PORTERS: &[&str] = &["patient_id", "folder_type"];

/// Remove [`HIDDEN_FROM_PORTERS`] wherever they occur in an answer.
pub fn redact_for_porters(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in HIDDEN_FROM_PORTERS {
                m.remove(*k);
            }
            m.values_mut().for_each(redact_for_porters);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact_for_porters),
        _ => {}
    }
}

#[cfg(test)]
mod porter_tests {
    #[test]
    fn porters_get_neither_patient_ids_nor_folder_types() {
        let mut v = serde_json::json!({"folder": {"id": 1, "patient_id": 7, "folder_type": "mental_health",
            "barcode": "F1"}, "list": [{"patient_id": 7, "folder_type": "main", "barcode": "F2"}]});
        super::redact_for_porters(&mut v);
        let s = v.to_string();
        assert!(
            !s.contains("patient_id") && !s.contains("folder_type"),
            "{s}"
        );
        assert!(s.contains("F1") && s.contains("F2"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trail is read from the trail index only; a change to the query or the index that
    /// sends it back to the ledger's rows (one page read per movement) fails here.
    #[test]
    fn the_trail_is_read_from_its_index_alone() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::storage::migrations::migrate(&mut c).unwrap();
        let plan: Vec<String> = c
            .prepare(&format!("EXPLAIN QUERY PLAN {TRAIL_SQL}"))
            .unwrap()
            .query_map(rusqlite::params![1, TRAIL_LIMIT], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let ledger = plan
            .iter()
            .find(|p| p.contains(" m "))
            .expect("the ledger's step");
        assert!(
            ledger.contains("USING COVERING INDEX movements_folder"),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
    }
}
