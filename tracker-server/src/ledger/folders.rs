//! Case-note folders (volumes). Each has an opaque barcode id allocated here; it never carries
//! the CHI or a name.

use crate::{
    ledger::locations,
    util::{ms_to_rfc3339, now_rfc3339},
    Error, Result,
};
use casenote_core::identifiers::{FilingNumber, FolderIdScheme};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

crate::vocabulary! {
    /// The kind of notes a folder holds; each kind has its own volume numbering.
    pub enum FolderType {
        Main = "main",
        Maternity = "maternity",
        MentalHealth = "mental_health",
        Xray = "xray",
        Temporary = "temporary",
        Oncology = "oncology",
        Paediatric = "paediatric",
        Other = "other",
    }
}

crate::vocabulary! {
    /// A folder's standing in the records service.
    pub enum FolderStatus {
        Active = "active",
        Missing = "missing",
        Temporary = "temporary",
        Merged = "merged",
        Closed = "closed",
        SentForScanning = "sent_for_scanning",
        Destroyed = "destroyed",
    }
}

impl FolderStatus {
    /// A folder in this status is still part of the patient's notes (not merged away, closed
    /// or destroyed), so it is pulled, requested and listed.
    pub fn in_use(self) -> bool {
        match self {
            Self::Active | Self::Missing | Self::Temporary | Self::SentForScanning => true,
            Self::Merged | Self::Closed | Self::Destroyed => false,
        }
    }
}

pub const TYPES: &[&str] = FolderType::WORDS;
pub const STATUSES: &[&str] = FolderStatus::WORDS;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFolder {
    /// CHI or NHS number of the patient.
    pub patient: String,
    pub folder_type: String,
    /// Code of the location the folder is filed at (normally the library).
    pub home_location: String,
    /// Six-digit terminal-digit filing number; derived from the serial when absent.
    #[serde(default)]
    pub filing_number: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Folder {
    pub id: i64,
    pub barcode: String,
    pub patient_id: i64,
    pub folder_type: FolderType,
    pub volume: i64,
    pub volume_count: i64,
    pub status: FolderStatus,
    pub filing_number: Option<String>,
    pub home_location: String,
    pub created_at: String,
}

const SELECT: &str = "SELECT f.id, f.barcode, f.patient_id, f.folder_type, f.volume, f.volume_count, f.status, f.filing_number, h.code, f.created_at
  FROM folders f JOIN locations h ON h.id = f.home_location_id";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Folder> {
    Ok(Folder {
        id: r.get(0)?,
        barcode: r.get(1)?,
        patient_id: r.get(2)?,
        folder_type: r.get(3)?,
        volume: r.get(4)?,
        volume_count: r.get(5)?,
        status: r.get(6)?,
        filing_number: r.get(7)?,
        home_location: r.get(8)?,
        created_at: r.get(9)?,
    })
}

pub fn get(c: &Connection, id: i64) -> Result<Folder> {
    c.prepare_cached(&format!("{SELECT} WHERE f.id=?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("folder {id}")))
}

/// Find a folder by its barcode text (check character verified first).
pub fn by_barcode(c: &Connection, scheme: &FolderIdScheme, barcode: &str) -> Result<Folder> {
    let id = scheme
        .parse(barcode)
        .map_err(|e| Error::invalid("barcode", e.to_string()))?;
    get(c, id.serial as i64).map_err(|_| Error::not_found(format!("folder {}", id.text)))
}

pub fn for_patient(c: &Connection, patient_id: i64) -> Result<Vec<Folder>> {
    let mut st = c.prepare_cached(&format!(
        "{SELECT} WHERE f.patient_id=?1 ORDER BY f.folder_type, f.volume"
    ))?;
    let v = st
        .query_map([patient_id], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// Register a new folder; it becomes the next volume of that patient's folders of that type.
pub fn create(
    c: &Connection,
    scheme: &FolderIdScheme,
    patient_id: i64,
    n: &NewFolder,
) -> Result<Folder> {
    let folder_type = FolderType::parse_field("folder_type", &n.folder_type)?;
    let home = locations::resolve_id(c, &n.home_location)?.ok_or_else(|| {
        Error::invalid(
            "home_location",
            format!("no location with code {:?}", n.home_location),
        )
    })?;
    let serial: i64 = c.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM folders", [], |r| {
        r.get(0)
    })?;
    let filing = match &n.filing_number {
        Some(f) => {
            FilingNumber::parse(f).map_err(|e| Error::invalid("filing_number", e.to_string()))?
        }
        None => FilingNumber::from_serial(serial as u64),
    };
    let volume: i64 = c.query_row(
        "SELECT COALESCE(MAX(volume), 0) + 1 FROM folders WHERE patient_id=?1 AND folder_type=?2",
        params![patient_id, folder_type],
        |r| r.get(0),
    )?;
    let barcode = scheme.format(serial as u64).text;
    let status = match folder_type {
        FolderType::Temporary => FolderStatus::Temporary,
        _ => FolderStatus::Active,
    };
    c.prepare_cached(
        "INSERT INTO folders(id, barcode, patient_id, folder_type, volume, volume_count, status, filing_number, home_location_id, created_at)
         VALUES (?1,?2,?3,?4,?5,?5,?6,?7,?8,?9)",
    )?
    .execute(params![serial, barcode, patient_id, folder_type, volume, status, filing.blocks(), home, now_rfc3339()])?;
    c.prepare_cached("UPDATE folders SET volume_count=?1 WHERE patient_id=?2 AND folder_type=?3")?
        .execute(params![volume, patient_id, folder_type])?;
    get(c, serial)
}

pub fn set_status(c: &Connection, id: i64, status: &str) -> Result<Folder> {
    let status = FolderStatus::parse_field("status", status)?;
    let cur = get(c, id)?;
    if cur.status == FolderStatus::Destroyed {
        return Err(Error::conflict(
            "status",
            "a destroyed folder cannot change status",
        ));
    }
    c.execute(
        "UPDATE folders SET status=?1 WHERE id=?2",
        params![status, id],
    )?;
    get(c, id)
}

/// A folder as listed at a location or in a report.
#[derive(Debug, Serialize)]
pub struct FolderAt {
    pub barcode: String,
    pub folder_type: String,
    pub volume: i64,
    pub volume_count: i64,
    pub location: String,
    pub since: String,
    pub days_out: Option<i64>,
    pub patient_id: i64,
}

/// Folders whose latest scan puts them at `location_id`.
pub fn at_location(c: &Connection, location_id: i64, limit: i64) -> Result<Vec<FolderAt>> {
    let mut st = c.prepare_cached(
        "SELECT f.barcode, f.folder_type, f.volume, f.volume_count, l.code, f.cur_since, f.patient_id
         FROM folders f JOIN locations l ON l.id = f.cur_location_id
         WHERE f.cur_location_id=?1 ORDER BY f.cur_since LIMIT ?2",
    )?;
    let v = st
        .query_map(params![location_id, limit], |r| {
            Ok(FolderAt {
                barcode: r.get(0)?,
                folder_type: r.get(1)?,
                volume: r.get(2)?,
                volume_count: r.get(3)?,
                location: r.get(4)?,
                since: ms_to_rfc3339(r.get(5)?),
                days_out: None,
                patient_id: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// The bands of days out of the library that the statistics page and the out-of-library
/// report both show: up to 3 days, 4-7, 8-14, 15-30, over 30.
const DAYS_OUT_BANDS: [(&str, i64, i64); 5] = [
    ("up to 3 days", 0, 3),
    ("4-7 days", 4, 7),
    ("8-14 days", 8, 14),
    ("15-30 days", 15, 30),
    ("over 30 days", 31, i64::MAX),
];

/// Folders counted by band of [`DAYS_OUT_BANDS`].
#[derive(Default)]
struct DaysOutCounts([i64; DAYS_OUT_BANDS.len()]);

impl DaysOutCounts {
    /// Count one folder out for `days` (`n` 1), or take one off again (`n` -1). A negative
    /// number of days (a clock ahead) falls in no band.
    fn add(&mut self, days: i64, n: i64) {
        if let Some(i) = DAYS_OUT_BANDS
            .iter()
            .position(|(_, lo, hi)| days >= *lo && days <= *hi)
        {
            self.0[i] += n;
        }
    }

    fn labelled(self) -> Vec<(String, i64)> {
        DAYS_OUT_BANDS
            .iter()
            .zip(self.0)
            .map(|((label, _, _), n)| (label.to_string(), n))
            .collect()
    }
}

/// How long the listed folders have been out of the library, in [`DAYS_OUT_BANDS`].
pub fn by_days_out(out: &[FolderAt]) -> Vec<(String, i64)> {
    let mut n = DaysOutCounts::default();
    out.iter()
        .filter_map(|f| f.days_out)
        .for_each(|d| n.add(d, 1));
    n.labelled()
}

/// Folders at a place that is not a library or store (`l`, the place; `f`, the folder) since
/// before `?1`: the condition [`out_of_library_from`] and [`out_of_library_by_days`] share.
macro_rules! outside_the_library {
    () => {
        "l.kind NOT IN ('library', 'store', 'shelf') AND f.cur_since < ?1"
    };
}

/// Folders that no longer count as out of the library wherever they were last seen.
macro_rules! gone {
    () => {
        "('destroyed', 'closed')"
    };
}

/// The folders out of the library (see [`out_of_library`]): the `FROM` and `WHERE` of the list.
/// `?1` is the time a folder must have been out since.
macro_rules! out_of_library_from {
    () => {
        concat!(
            "FROM locations l CROSS JOIN folders f ON f.cur_location_id = l.id WHERE ",
            outside_the_library!(),
            " AND f.status NOT IN ",
            gone!()
        )
    };
}

/// How many folders are out of the library now, by how long (the statistics page's chart).
/// Counted as the rows are read: no sort and no list, however many folders are out. (Listing
/// them first, sorted, held a few hundred bytes a folder for each view of the page.)
///
/// Every folder at a place outside the library is read from the current-place index alone
/// (`folders_cur_location` holds the place and `cur_since`); the few destroyed or closed among
/// them are then found through the index of folders not active and taken off again. Reading
/// each folder's row for its status instead cost a random page read a folder: 56 s for 2.5
/// million folders out, against 0.4 s from the index (docs/benchmarks.md).
pub fn out_of_library_by_days(c: &Connection, now_ms: i64) -> Result<Vec<(String, i64)>> {
    let mut n = DaysOutCounts::default();
    for (sql, sign) in [(SINCE_OF_ALL_OUT, 1), (SINCE_OF_GONE_OUT, -1)] {
        let mut st = c.prepare_cached(sql)?;
        let mut rows = st.query(params![now_ms])?;
        while let Some(r) = rows.next()? {
            let since: i64 = r.get(0)?;
            n.add((now_ms - since) / 86_400_000, sign);
        }
    }
    Ok(n.labelled())
}

/// When each folder at a place outside the library got there, whatever its status.
const SINCE_OF_ALL_OUT: &str = concat!(
    "SELECT f.cur_since FROM locations l CROSS JOIN folders f ON f.cur_location_id = l.id WHERE ",
    outside_the_library!()
);

/// The same for the destroyed or closed among them (`status <> 'active'` lets this use the
/// index of folders not active).
const SINCE_OF_GONE_OUT: &str = concat!(
    "SELECT f.cur_since FROM folders f JOIN locations l ON l.id = f.cur_location_id
     WHERE f.status <> 'active' AND f.status IN ",
    gone!(),
    " AND ",
    outside_the_library!()
);

/// Folders whose current place is not a library or store, for longer than `days`.
///
/// The places are the outer loop (`CROSS JOIN`), each looked up in the folders' current-place
/// index: otherwise SQLite could walk the whole index, the library's millions of folders
/// included, to find the few thousand out (two seconds at five million folders).
pub fn out_of_library(c: &Connection, days: i64, now_ms: i64, limit: i64) -> Result<Vec<FolderAt>> {
    if !(0..=3650).contains(&days) {
        return Err(Error::invalid("days", "must be 0..=3650"));
    }
    let cutoff = now_ms - days * 86_400_000;
    let mut st = c.prepare_cached(concat!(
        "SELECT f.barcode, f.folder_type, f.volume, f.volume_count, l.code, f.cur_since, f.patient_id ",
        out_of_library_from!(),
        " ORDER BY f.cur_since LIMIT ?2"
    ))?;
    let v = st
        .query_map(params![cutoff, limit], |r| {
            let since: i64 = r.get(5)?;
            Ok(FolderAt {
                barcode: r.get(0)?,
                folder_type: r.get(1)?,
                volume: r.get(2)?,
                volume_count: r.get(3)?,
                location: r.get(4)?,
                since: ms_to_rfc3339(since),
                days_out: Some((now_ms - since) / 86_400_000),
                patient_id: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::patients;
    use serde_json::json;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn out_of_library_is_counted_by_days_out_without_listing() {
        let mut c = Connection::open_in_memory().expect("in-memory database");
        crate::storage::migrations::migrate(&mut c).expect("schema");
        for (code, kind) in [("LLIB", "library"), ("LWARD5", "ward"), ("LOPD", "clinic")] {
            let n: locations::NewLocation =
                serde_json::from_value(json!({"code": code, "name": code, "kind": kind}))
                    .expect("location");
            locations::create(&c, &n, "L").expect("create location");
        }
        let p: patients::NewPatient = serde_json::from_value(json!({
            "chi": "1904851231", "family_name": "Test", "given_name": "Bands",
            "dob": "1985-04-19", "sex": "unknown"
        }))
        .expect("patient");
        let p = patients::insert(&c, &patients::validate(&p).expect("valid")).expect("insert");
        let scheme = FolderIdScheme::default();
        // (place, days out, status): one folder in each band, two in one, and the ones that
        // must not count (in the library, destroyed, a clock ahead)
        let folders = [
            ("LWARD5", 0, "active"),
            ("LOPD", 3, "active"),
            ("LWARD5", 4, "active"),
            ("LWARD5", 14, "active"),
            ("LOPD", 15, "active"),
            ("LWARD5", 30, "active"),
            ("LOPD", 31, "active"),
            ("LWARD5", 400, "active"),
            ("LLIB", 50, "active"),
            ("LWARD5", 50, "destroyed"),
            ("LOPD", 2, "closed"),
            ("LWARD5", 20, "missing"),
            ("LLIB", 9, "destroyed"),
            ("LWARD5", -2, "active"),
        ];
        for (place, days, status) in folders {
            let nf: NewFolder = serde_json::from_value(json!({
                "patient": "1904851231", "folder_type": "other", "home_location": "LLIB"
            }))
            .expect("folder");
            let f = create(&c, &scheme, p.id, &nf).expect("create folder");
            c.execute(
                "UPDATE folders SET cur_location_id = (SELECT id FROM locations WHERE code = ?1),
                 cur_since = ?2, status = ?3 WHERE id = ?4",
                params![place, NOW - days * DAY - 1_000, status, f.id],
            )
            .expect("place the folder");
        }
        let counted = out_of_library_by_days(&c, NOW).expect("counted");
        let want: Vec<(String, i64)> = [
            ("up to 3 days", 2),
            ("4-7 days", 1),
            ("8-14 days", 1),
            ("15-30 days", 3),
            ("over 30 days", 2),
        ]
        .iter()
        .map(|(l, n)| (l.to_string(), *n))
        .collect();
        assert_eq!(counted, want);
        // the folders out are read from the current-place index alone, not row by row, and
        // the ones taken off again from the index of folders not active
        for (sql, index) in [
            (SINCE_OF_ALL_OUT, "COVERING INDEX folders_cur_location"),
            (SINCE_OF_GONE_OUT, "INDEX folders_not_active"),
        ] {
            let plan: Vec<String> = c
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan")
                .query_map([NOW], |r| r.get(3))
                .expect("plan rows")
                .collect::<rusqlite::Result<_>>()
                .expect("plan read");
            assert!(plan.iter().any(|d| d.contains(index)), "{index}: {plan:?}");
        }
        // the same bands as the listed report's
        let listed = out_of_library(&c, 0, NOW, 1_000).expect("listed");
        assert_eq!(by_days_out(&listed), want);
    }
}
