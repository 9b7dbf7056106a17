//! Containers: trolleys, bags and crates that carry folders. Each has a name people use ("T3"),
//! a GS1 GRAI on its barcode label and, when the organisation has a GS1 company prefix, the
//! same GRAI as an EPC GRAI-96 for an RFID tag.
//!
//! What this module keeps (the workflow layer, [`crate::workflow::scans`], decides when):
//!
//! - which folders are on which container now (`container_contents`; a folder is on one
//!   container at most);
//! - every scan of a container at a place, every folder loaded onto one and every unload
//!   (`container_events`, one row per event id, so a resent event is recognised);
//! - where each container was last seen (its place and time).
//!
//! Scanning a container at a place gives each folder on it one movement there, as if each had
//! been scanned, with an event id derived from the container scan's id and the folder
//! ([`derived_event_id`]): a resend derives the same ids, so nothing is recorded twice.

use crate::{
    audit,
    auth::Principal,
    ledger::{
        locations::{self, Place},
        movements::{self, ValidEvent},
    },
    util::{ms_to_rfc3339, now_ms},
    Error, Result,
};
use casenote_core::identifiers::{validate_grai, Grai};
use casenote_core::wire::{Action, Method, ScanEvent};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

crate::vocabulary! {
    /// What a container is.
    pub enum ContainerKind {
        Trolley = "trolley",
        Bag = "bag",
        Crate = "crate",
    }
}

impl ContainerKind {
    /// The word for people ("on trolley T3").
    pub fn label(self) -> &'static str {
        match self {
            Self::Trolley => "trolley",
            Self::Bag => "bag",
            Self::Crate => "crate",
        }
    }
}

crate::vocabulary! {
    /// What happened to a container.
    pub enum ContainerEventKind {
        /// Scanned (or read by a portal) at a place: its folders moved there.
        Scan = "scan",
        /// A folder was put on it.
        Load = "load",
        /// Folders were taken off it.
        Unload = "unload",
    }
}

/// `[containers]` in the server's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContainersConfig {
    /// The GRAI asset type of the containers this server registers: a number, written with as
    /// many digits as the GS1 company prefix leaves of 12 (with prefix 0614141, asset type 1
    /// is `00001`). Env: CASENOTE_CONTAINER_ASSET_TYPE.
    pub grai_asset_type: u64,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        Self { grai_asset_type: 1 }
    }
}

/// Where a container was last seen.
#[derive(Debug, Serialize)]
pub struct LastSeen {
    pub location: Place,
    /// RFC 3339, UTC.
    pub read_at: String,
}

/// A registered container.
#[derive(Debug, Serialize)]
pub struct Container {
    pub id: i64,
    pub kind: ContainerKind,
    pub name: String,
    /// The GRAI (value of AI 8003) on its label.
    pub grai: String,
    /// Its GRAI-96 EPC (hex) for an RFID tag, when it has one.
    pub epc: Option<String>,
    /// Code of the place it is kept.
    pub home_location: Option<String>,
    pub active: bool,
    pub last_seen: Option<LastSeen>,
    /// How many folders are on it now.
    pub folders: i64,
}

impl Container {
    /// "trolley T3".
    pub fn title(&self) -> String {
        format!("{} {}", self.kind.label(), self.name)
    }
}

/// A container to register.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewContainer {
    /// `trolley`, `bag` or `crate`.
    pub kind: String,
    /// What people call it, e.g. `T3`.
    pub name: String,
    /// Code or GLN of the place it is kept.
    #[serde(default)]
    pub home_location: Option<String>,
    /// The GRAI already on the container (AI 8003 value), if it came with one; otherwise one
    /// is made from the company prefix, the configured asset type and the next serial.
    #[serde(default)]
    pub grai: Option<String>,
}

const SELECT: &str = "SELECT k.id, k.kind, k.name, k.grai, k.epc, h.code, k.active,
    l.code, l.name, l.kind, k.cur_read_at,
    (SELECT count(*) FROM container_contents cc WHERE cc.container_id = k.id)
  FROM containers k LEFT JOIN locations h ON h.id = k.home_location_id
  LEFT JOIN locations l ON l.id = k.cur_location_id";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Container> {
    let seen_at: Option<i64> = r.get(10)?;
    let last_seen = match (r.get::<_, Option<String>>(7)?, seen_at) {
        (Some(code), Some(at)) => Some(LastSeen {
            location: Place {
                code,
                name: r.get(8)?,
                kind: r.get(9)?,
            },
            read_at: ms_to_rfc3339(at),
        }),
        _ => None,
    };
    Ok(Container {
        id: r.get(0)?,
        kind: r.get(1)?,
        name: r.get(2)?,
        grai: r.get(3)?,
        epc: r.get(4)?,
        home_location: r.get(5)?,
        active: r.get(6)?,
        last_seen,
        folders: r.get(11)?,
    })
}

/// Every container, by name.
pub fn list(c: &Connection) -> Result<Vec<Container>> {
    let mut st = c.prepare_cached(&format!("{SELECT} ORDER BY k.name"))?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One container.
pub fn get(c: &Connection, id: i64) -> Result<Container> {
    c.prepare_cached(&format!("{SELECT} WHERE k.id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("container {id}")))
}

/// The container with this GRAI (AI 8003 value) or name.
pub fn resolve(c: &Connection, grai_or_name: &str) -> Result<Option<Container>> {
    let id: Option<i64> = c
        .prepare_cached("SELECT id FROM containers WHERE grai = ?1 OR name = ?1 COLLATE NOCASE")?
        .query_row([grai_or_name.trim()], |r| r.get(0))
        .optional()?;
    id.map(|id| get(c, id)).transpose()
}

/// Register a container. Its GRAI is the one given, or one made from `company_prefix`, the
/// configured asset type and the next serial; its EPC is the GRAI-96 of that GRAI when the
/// GRAI is this organisation's and its serial is numeric. Audited as `containers.create`.
pub fn create(
    c: &Connection,
    who: &Principal,
    n: &NewContainer,
    company_prefix: Option<&str>,
    cfg: &ContainersConfig,
) -> Result<Container> {
    let kind = ContainerKind::parse_field("kind", n.kind.trim())?;
    let name = n.name.trim().to_string();
    if name.is_empty()
        || name.len() > 20
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == ' ')
    {
        return Err(Error::invalid(
            "name",
            "must be 1-20 letters, digits, spaces or hyphens, e.g. T3",
        ));
    }
    if resolve(c, &name)?.is_some() {
        return Err(Error::conflict(
            "name",
            format!("a container is already called {name}"),
        ));
    }
    let home = match n.home_location.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(code) => Some(locations::resolve_id(c, code)?.ok_or_else(|| {
            Error::invalid(
                "home_location",
                format!("no location with code or GLN {code:?}"),
            )
        })?),
    };
    let grai = match n.grai.as_deref().map(str::trim) {
        Some(g) if !g.is_empty() => {
            let g = g.trim_start_matches("(8003)");
            validate_grai(g).map_err(|e| Error::invalid("grai", e.to_string()))?;
            g.to_string()
        }
        _ => {
            let prefix = company_prefix.ok_or_else(|| {
                Error::invalid(
                    "grai",
                    "no GS1 company prefix is configured (identifiers.gs1_company_prefix), so no GRAI can be made: give the GRAI already on the container",
                )
            })?;
            let digits = 12usize.saturating_sub(prefix.len());
            let asset_type = if digits == 0 {
                String::new()
            } else {
                format!("{:0digits$}", cfg.grai_asset_type)
            };
            let next: i64 =
                c.query_row("SELECT coalesce(max(id), 0) + 1 FROM containers", [], |r| {
                    r.get(0)
                })?;
            Grai::new(prefix, &asset_type, &next.to_string())
                .map_err(|e| Error::invalid("grai", e.to_string()))?
                .ai_value()
        }
    };
    if c.query_row("SELECT 1 FROM containers WHERE grai = ?1", [&grai], |_| {
        Ok(())
    })
    .optional()?
    .is_some()
    {
        return Err(Error::conflict(
            "grai",
            "another container already has this GRAI",
        ));
    }
    let epc = company_prefix
        .and_then(|p| Grai::from_ai_value(&grai, p).ok())
        .and_then(|g| g.to_epc(0).ok())
        .and_then(|e| e.to_hex().ok());
    c.execute(
        "INSERT INTO containers (kind, name, grai, epc, home_location_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![kind, name, grai, epc, home, now_ms()],
    )?;
    let k = get(c, c.last_insert_rowid())?;
    audit::record(c, who, "containers.create", None, None, &k.title())?;
    Ok(k)
}

/// Retire a container (it can no longer be loaded) or bring it back. A container with
/// folders on it cannot be retired. Audited as `containers.retire` / `containers.reinstate`.
pub fn set_active(c: &Connection, who: &Principal, id: i64, active: bool) -> Result<Container> {
    let k = get(c, id)?;
    if !active && k.folders > 0 {
        return Err(Error::conflict(
            "container",
            format!(
                "{} still has {} folder(s) on it: take them off first",
                k.title(),
                k.folders
            ),
        ));
    }
    c.execute(
        "UPDATE containers SET active = ?1 WHERE id = ?2",
        params![active, id],
    )?;
    let action = if active {
        "containers.reinstate"
    } else {
        "containers.retire"
    };
    audit::record(c, who, action, None, None, &k.title())?;
    get(c, id)
}

/// A folder on a container now.
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub folder_id: i64,
    /// For the audit log only: the container page and API show folder barcodes, never whose.
    #[serde(skip)]
    pub patient_id: i64,
    pub barcode: String,
    /// RFC 3339, UTC.
    pub loaded_at: String,
}

/// The folders on container `id`, in the order they were loaded.
pub fn contents(c: &Connection, id: i64) -> Result<Vec<Loaded>> {
    let mut st = c.prepare_cached(
        "SELECT f.id, f.patient_id, f.barcode, cc.loaded_at FROM container_contents cc
         JOIN folders f ON f.id = cc.folder_id WHERE cc.container_id = ?1 ORDER BY cc.loaded_at, f.id",
    )?;
    let rows = st.query_map([id], |r| {
        Ok(Loaded {
            folder_id: r.get(0)?,
            patient_id: r.get(1)?,
            barcode: r.get(2)?,
            loaded_at: ms_to_rfc3339(r.get(3)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The container a folder is on now, if any.
#[derive(Debug, Serialize)]
pub struct OnContainer {
    pub id: i64,
    pub kind: ContainerKind,
    pub name: String,
    /// RFC 3339, UTC.
    pub loaded_at: String,
    /// Where the container was last seen (by a scan of it, or a folder loaded onto it).
    pub last_seen: Option<LastSeen>,
}

/// The container folder `folder_id` is on, if any.
pub fn carrying(c: &Connection, folder_id: i64) -> Result<Option<OnContainer>> {
    let row: Option<(i64, i64)> = c
        .prepare_cached(
            "SELECT container_id, loaded_at FROM container_contents WHERE folder_id = ?1",
        )?
        .query_row([folder_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((id, loaded_at)) = row else {
        return Ok(None);
    };
    let k = get(c, id)?;
    Ok(Some(OnContainer {
        id,
        kind: k.kind,
        name: k.name,
        loaded_at: ms_to_rfc3339(loaded_at),
        last_seen: k.last_seen,
    }))
}

/// A scan of a container that passed the checks needing no database.
#[derive(Debug, Clone)]
pub struct ContainerScan {
    pub uuid: uuid::Uuid,
    pub device_id: String,
    pub staff_id: Option<String>,
    pub read_at: i64,
    pub raw: String,
    pub symbology: String,
    pub method: Method,
    pub location: String,
    pub action: Action,
    pub destination: Option<String>,
    /// The container's GRAI, as read.
    pub grai: String,
}

/// Check a scan whose payload is the container `grai` (the same checks as a folder's scan).
pub fn validate_scan(
    e: &ScanEvent,
    grai: String,
    now: i64,
    max_skew_ms: i64,
) -> Result<ContainerScan> {
    let read_at = movements::check_common(e, now, max_skew_ms)?;
    if e.container.is_some() {
        return Err(Error::invalid(
            "container",
            "only a folder can be loaded onto a container; this scan is of a container",
        ));
    }
    if e.method == Method::Audit {
        return Err(Error::invalid(
            "method",
            "a shelf audit counts folders, not containers: scan the folders on the shelf",
        ));
    }
    Ok(ContainerScan {
        uuid: e.event_id,
        device_id: e.device_id.clone(),
        staff_id: e.staff_id.clone(),
        read_at,
        raw: e.raw.clone(),
        symbology: movements::symbology_word(e),
        method: e.method,
        location: e.location.clone(),
        action: e.action,
        destination: e.destination.clone(),
        grai,
    })
}

/// The event id of the movement a container scan gives one folder on it: a name-based UUID
/// (version 8, SHA-256 of the container event's id and the folder's id), the same every time
/// the same container event is sent.
pub fn derived_event_id(container_event: uuid::Uuid, folder_id: i64) -> uuid::Uuid {
    let mut h = Sha256::new();
    h.update(b"casenote-tracker container movement\0");
    h.update(container_event.as_bytes());
    h.update(folder_id.to_be_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b)
}

/// What recording a container event did.
#[derive(Debug)]
pub enum Recorded {
    /// New. For a scan at a place: the movements to store, one per folder on the container
    /// that was not already there.
    Stored {
        container: Container,
        moves: Vec<ValidEvent>,
    },
    /// The same event id was recorded before: nothing changed.
    Duplicate,
    /// Refused: the field and why.
    Refused {
        field: &'static str,
        message: String,
    },
}

fn refused(field: &'static str, message: impl Into<String>) -> Recorded {
    Recorded::Refused {
        field,
        message: message.into(),
    }
}

/// The container was seen at `loc` at `at`: keep it as its last sighting unless a later one
/// is known.
fn seen(c: &Connection, id: i64, loc: i64, at: i64) -> Result<()> {
    c.prepare_cached(
        "UPDATE containers SET cur_location_id = ?2, cur_read_at = ?3
         WHERE id = ?1 AND (cur_read_at IS NULL OR cur_read_at <= ?3)",
    )?
    .execute(params![id, loc, at])?;
    Ok(())
}

fn patient_of(c: &Connection, folder_id: i64) -> Result<Option<i64>> {
    Ok(
        c.prepare_cached("SELECT patient_id FROM folders WHERE id = ?1")?
            .query_row([folder_id], |r| r.get(0))
            .optional()?,
    )
}

/// A folder on a container: its id and current place, action and destination.
type FolderNow = (i64, Option<i64>, Option<String>, Option<i64>);

/// Record a scan of a container at a place, in the caller's transaction. Returns the
/// movements its folders get (the caller stores them, so that requests follow as for any
/// scan): every folder loaded onto it no later than the scan, except those whose current
/// place is already this place with the same action (a container read again at the same
/// door moves nothing twice).
pub fn record_scan(c: &Connection, who: &Principal, s: &ContainerScan) -> Result<Recorded> {
    let Some(k) = resolve(c, &s.grai)? else {
        return Ok(refused(
            "raw",
            format!(
                "no container has GRAI {}; register it on the Containers page",
                s.grai
            ),
        ));
    };
    let Some(loc) = locations::resolve_id(c, &s.location)? else {
        return Ok(refused(
            "location",
            format!("no location with code or GLN {:?}", s.location),
        ));
    };
    let dest = match &s.destination {
        Some(d) => match locations::resolve_id(c, d)? {
            Some(id) => Some(id),
            None => {
                return Ok(refused(
                    "destination",
                    format!("no location with code or GLN {d:?}"),
                ))
            }
        },
        None => None,
    };
    let n = c
        .prepare_cached(
            "INSERT OR IGNORE INTO container_events (event_id, container_id, kind, location_id, action, device_id, staff_id, read_at, received_at, raw, sent_by)
             VALUES (?1, ?2, 'scan', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            &s.uuid.as_bytes()[..], k.id, loc, s.action.as_str(), s.device_id, s.staff_id,
            s.read_at, now_ms(), s.raw, who.actor
        ])?;
    if n == 0 {
        return Ok(Recorded::Duplicate);
    }
    let row = c.last_insert_rowid();
    seen(c, k.id, loc, s.read_at)?;
    let on: Vec<FolderNow> = {
        let mut st = c.prepare_cached(
            "SELECT f.id, f.cur_location_id, f.cur_action, f.cur_destination_id
             FROM container_contents cc JOIN folders f ON f.id = cc.folder_id
             WHERE cc.container_id = ?1 AND cc.loaded_at <= ?2 ORDER BY cc.loaded_at, f.id",
        )?;
        let rows = st.query_map(params![k.id, s.read_at], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let moves: Vec<ValidEvent> = on
        .into_iter()
        .filter(|(_, cur_loc, cur_action, cur_dest)| {
            !(*cur_loc == Some(loc)
                && cur_action.as_deref() == Some(s.action.as_str())
                && *cur_dest == dest)
        })
        .map(|(folder, ..)| ValidEvent {
            uuid: derived_event_id(s.uuid, folder),
            device_id: s.device_id.clone(),
            staff_id: s.staff_id.clone(),
            read_at: s.read_at,
            raw: s.raw.clone(),
            symbology: s.symbology.clone(),
            method: s.method,
            location: s.location.clone(),
            action: s.action,
            destination: s.destination.clone(),
            serial: folder,
        })
        .collect();
    c.execute(
        "UPDATE container_events SET folders = ?1 WHERE id = ?2",
        params![moves.len() as i64, row],
    )?;
    audit::record(
        c,
        who,
        "containers.scan",
        None,
        None,
        &format!(
            "{} scanned at {}: {} folder(s) moved",
            k.title(),
            s.location,
            moves.len()
        ),
    )?;
    Ok(Recorded::Stored {
        container: get(c, k.id)?,
        moves,
    })
}

/// Load the folder of scan `e` onto the container `container` (its GRAI or name), in the
/// caller's transaction. The folder's place does not change: it is "on" the container, which
/// is taken to be where the folder was loaded. A folder on another container moves to this
/// one. Audited as `containers.load` against the folder and its patient.
pub fn load(c: &Connection, who: &Principal, e: &ValidEvent, container: &str) -> Result<Recorded> {
    let Some(k) = resolve(c, container)? else {
        return Ok(refused(
            "container",
            format!(
                "no container has GRAI or name {container:?}; register it on the Containers page"
            ),
        ));
    };
    if !k.active {
        return Ok(refused(
            "container",
            format!("{} is retired; use another container", k.title()),
        ));
    }
    let Some(patient) = patient_of(c, e.serial)? else {
        return Ok(refused(
            "raw",
            "no folder has this id; register the folder before loading it onto a container",
        ));
    };
    let Some(loc) = locations::resolve_id(c, &e.location)? else {
        return Ok(refused(
            "location",
            format!("no location with code or GLN {:?}", e.location),
        ));
    };
    let n = c
        .prepare_cached(
            "INSERT OR IGNORE INTO container_events (event_id, container_id, kind, folder_id, location_id, action, device_id, staff_id, read_at, received_at, raw, sent_by, folders)
             VALUES (?1, ?2, 'load', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1)",
        )?
        .execute(params![
            &e.uuid.as_bytes()[..], k.id, e.serial, loc, e.action.as_str(), e.device_id, e.staff_id,
            e.read_at, now_ms(), e.raw, who.actor
        ])?;
    if n == 0 {
        return Ok(Recorded::Duplicate);
    }
    // A load read before the folder's current load (a bridge replaying) changes nothing.
    c.prepare_cached(
        "INSERT INTO container_contents (folder_id, container_id, loaded_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(folder_id) DO UPDATE SET container_id = excluded.container_id, loaded_at = excluded.loaded_at
         WHERE excluded.loaded_at >= container_contents.loaded_at",
    )?
    .execute(params![e.serial, k.id, e.read_at])?;
    seen(c, k.id, loc, e.read_at)?;
    audit::record(
        c,
        who,
        "containers.load",
        Some(patient),
        Some(e.serial),
        &format!("onto {} at {}", k.title(), e.location),
    )?;
    Ok(Recorded::Stored {
        container: get(c, k.id)?,
        moves: Vec::new(),
    })
}

/// Take a folder off the container it is on, because it was scanned by hand at `read_at`
/// (a scan read before it was loaded leaves it on). Returns the container it came off.
/// Audited as `containers.unload` against the folder and its patient.
pub fn take_off(
    c: &Connection,
    who: &Principal,
    folder_id: i64,
    read_at: i64,
) -> Result<Option<i64>> {
    let on: Option<(i64, String)> = c
        .prepare_cached(
            "SELECT cc.container_id, k.kind || ' ' || k.name FROM container_contents cc
             JOIN containers k ON k.id = cc.container_id
             WHERE cc.folder_id = ?1 AND cc.loaded_at <= ?2",
        )?
        .query_row(params![folder_id, read_at], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((id, title)) = on else {
        return Ok(None);
    };
    c.execute(
        "DELETE FROM container_contents WHERE folder_id = ?1",
        [folder_id],
    )?;
    unload_event(c, who, id, Some(folder_id), read_at, 1)?;
    audit::record(
        c,
        who,
        "containers.unload",
        patient_of(c, folder_id)?,
        Some(folder_id),
        &format!("off {title}: scanned by hand"),
    )?;
    Ok(Some(id))
}

fn unload_event(
    c: &Connection,
    who: &Principal,
    id: i64,
    folder: Option<i64>,
    at: i64,
    count: usize,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO container_events (event_id, container_id, kind, folder_id, device_id, read_at, received_at, raw, sent_by, folders)
         VALUES (?1, ?2, 'unload', ?3, ?4, ?5, ?6, '', ?4, ?7)",
    )?
    .execute(params![
        &uuid::Uuid::now_v7().as_bytes()[..],
        id,
        folder,
        who.actor,
        at,
        now_ms(),
        count as i64
    ])?;
    Ok(())
}

/// Take every folder off container `id` (emptied at the end of a round). Their places stay
/// as the container's last scan left them. Audited as `containers.unload` per folder.
pub fn unload_all(c: &Connection, who: &Principal, id: i64) -> Result<usize> {
    let k = get(c, id)?;
    let on = contents(c, id)?;
    if on.is_empty() {
        return Ok(0);
    }
    c.execute(
        "DELETE FROM container_contents WHERE container_id = ?1",
        [id],
    )?;
    unload_event(c, who, id, None, now_ms(), on.len())?;
    for f in &on {
        audit::record(
            c,
            who,
            "containers.unload",
            Some(f.patient_id),
            Some(f.folder_id),
            &format!("off {}: emptied", k.title()),
        )?;
    }
    Ok(on.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::migrations::{migrate, MIGRATIONS};

    /// The containers migration keeps every print job (the table is rebuilt for the wider
    /// template CHECK), and container labels can then be stored.
    #[test]
    fn the_migration_keeps_print_jobs() {
        let mut c = Connection::open_in_memory().unwrap();
        let before = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE containers"))
            .expect("the containers migration");
        for m in &MIGRATIONS[..before] {
            c.execute_batch(m).unwrap();
        }
        c.pragma_update(None, "user_version", before as i64)
            .unwrap();
        c.execute_batch(
            "INSERT INTO printers(name, url, stock, dpi, rfid, active, created_at)
               VALUES ('p', 'tcp://127.0.0.1:9100', '100x50', 203, 0, 1, '2026-01-01T00:00:00Z');
             INSERT INTO print_jobs(id, printer_id, template, subject, copies, status, requested_by, created_at, zpl)
               VALUES (7, 1, 'location', 'LWARD5', 2, 'sent', 'user:library', '2026-01-01T00:00:00Z', '^XA^XZ');",
        )
        .unwrap();
        migrate(&mut c).unwrap();
        let kept: (String, String, i64) = c
            .query_row(
                "SELECT template, subject, copies FROM print_jobs WHERE id = 7",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(kept, ("location".into(), "LWARD5".into(), 2));
        c.execute(
            "INSERT INTO print_jobs(printer_id, template, subject, copies, status, requested_by, created_at, zpl)
               VALUES (1, 'container', 'T3', 1, 'queued', 'user:library', '2026-01-01T00:00:00Z', '^XA^XZ')",
            [],
        )
        .unwrap();
        assert!(c
            .execute(
                "INSERT INTO print_jobs(printer_id, template, subject, copies, status, requested_by, created_at, zpl)
                   VALUES (1, 'poster', 'x', 1, 'queued', 'u', 't', 'z')",
                [],
            )
            .is_err());
    }

    #[test]
    fn derived_ids_are_stable_distinct_and_version_8() {
        let e = uuid::Uuid::from_u128(0x0192f0c1_0000_7000_8000_000000000001);
        let a = derived_event_id(e, 1);
        assert_eq!(a, derived_event_id(e, 1));
        assert_ne!(a, derived_event_id(e, 2));
        assert_ne!(a, derived_event_id(uuid::Uuid::from_u128(2), 1));
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
    }
}
