//! Shelf audits (stock-takes). Library staff scan a shelf or bay card, then each folder on it.
//! Every folder scanned is classified at once:
//!
//! - **found here**: the ledger has it on this shelf, or (for a shelf with a terminal-digit
//!   range) it is filed in that range, its home is this library and the ledger has it in the
//!   library without a shelf;
//! - **found but expected elsewhere**: the ledger had it somewhere else; the scan is stored as a
//!   movement to this shelf (method `audit`), once, so the folder's place is corrected.
//!
//! When the audit is closed, the folders expected here but not scanned are listed as **not
//! found**, for follow-up. A not-found folder that has not been scanned anywhere within
//! `[shelf_audit] missing_after_hours` (or `missing_after_working_days`) of the close is
//! reported missing through [`super::missing::report`]; one scanned since is marked seen.
//!
//! The scans reach this module through [`super::scans::store_and_follow`] (the web scan page,
//! its offline queue, the API and bridges all send events with method `audit`): [`AuditScans`]
//! classifies them before the ledger stores them and writes the audit lines after.
//! Audits are opened by the shelf card (or the first audit scan at a shelf) and closed on the
//! scan page, the audit's page or the API.

use super::{missing, working_days::Calendar};
use crate::{
    audit,
    auth::{Permission, Principal, Role},
    config::ShelfAuditConfig,
    ledger::locations::{self, LocationKind},
    ledger::movements::{Action, EventResult, Method, StoredScan, ValidEvent},
    util::ms_to_rfc3339,
    Error, Result,
};
use casenote_core::identifiers::{FolderIdScheme, ShelfRange};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

crate::vocabulary! {
    /// Whether an audit is still taking scans.
    pub enum AuditStatus {
        Open = "open",
        Closed = "closed",
    }
}

crate::vocabulary! {
    /// What the audit found for one folder.
    pub enum Outcome {
        /// Scanned on the shelf, where it was expected.
        Found = "found",
        /// Scanned on the shelf, but the ledger had it elsewhere (now moved here).
        Elsewhere = "elsewhere",
        /// Expected on the shelf, not scanned before the audit was closed.
        NotFound = "not_found",
    }
}

crate::vocabulary! {
    /// Where the follow-up of a folder not found stands.
    pub enum FollowUp {
        /// Waiting: reported missing if not seen by the due time.
        Pending = "pending",
        /// Scanned somewhere after the audit closed: nothing more to do.
        SeenSince = "seen_since",
        /// Reported missing (a missing-notes case is open).
        Missing = "missing",
        /// The folder left use (closed, merged, destroyed) before it was due.
        Withdrawn = "withdrawn",
    }
}

/// A place in brief.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlaceRef {
    pub code: String,
    pub name: String,
}

/// One audit with its counts.
#[derive(Debug, Clone, Serialize)]
pub struct AuditSummary {
    pub id: i64,
    pub location: PlaceRef,
    /// The shelf's terminal-digit range when the audit was opened.
    pub filing_range: Option<String>,
    pub status: AuditStatus,
    pub opened_by: String,
    pub opened_at: String,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    /// From opening to closing (or to now, while open), in whole minutes.
    pub duration_minutes: i64,
    pub found: i64,
    pub elsewhere: i64,
    pub not_found: i64,
    /// Folders scanned (found here and found but expected elsewhere).
    pub scanned: i64,
}

/// One folder in an audit.
#[derive(Debug, Clone, Serialize)]
pub struct AuditLine {
    pub folder: String,
    pub filing_number: Option<String>,
    pub folder_type: String,
    pub volume: i64,
    pub volume_count: i64,
    pub outcome: Outcome,
    /// Elsewhere: where the ledger had it. Not found: where it was last recorded.
    pub expected_at: Option<PlaceRef>,
    pub scanned_at: Option<String>,
    pub scanned_by: Option<String>,
    pub follow_up: Option<FollowUp>,
    pub follow_up_at: Option<String>,
    pub missing_case: Option<i64>,
    #[serde(skip)]
    pub folder_id: i64,
    #[serde(skip)]
    pub patient_id: i64,
}

/// An audit and its three lists.
#[derive(Debug, Clone, Serialize)]
pub struct AuditDetail {
    pub audit: AuditSummary,
    pub found: Vec<AuditLine>,
    pub elsewhere: Vec<AuditLine>,
    pub not_found: Vec<AuditLine>,
}

/// Whether `who` may audit shelves: library staff and managers, and bridges' devices (a
/// handheld carried by library staff).
pub fn may_audit(who: &Principal) -> bool {
    who.can(Permission::EditRecords) || who.role == Role::Device
}

fn require(who: &Principal) -> Result<()> {
    if may_audit(who) {
        Ok(())
    } else {
        who.require(Permission::EditRecords)
    }
}

/// The shelf being audited.
struct Shelf {
    id: i64,
    code: String,
    range: Option<ShelfRange>,
    /// The topmost library or store the shelf is part of (or the shelf itself).
    library: i64,
}

fn shelf_by_id(c: &Connection, id: i64) -> Result<Shelf> {
    let l = locations::get(c, id)?;
    if !l.kind.is_library() {
        return Err(Error::invalid(
            "location",
            format!(
                "{} is a {}; a shelf audit is made at a library shelf, bay or store",
                l.code,
                l.kind.as_str().replace('_', " ")
            ),
        ));
    }
    let range = l
        .filing_range
        .as_deref()
        .map(ShelfRange::parse)
        .transpose()
        .map_err(|e| Error::invalid("filing_range", e.to_string()))?;
    // Walk up while the parent is still part of the library.
    let mut library = l.id;
    for _ in 0..16 {
        let up: Option<(i64, LocationKind)> = c
            .prepare_cached(
                "SELECT p.id, p.kind FROM locations l JOIN locations p ON p.id = l.parent_id WHERE l.id=?1",
            )?
            .query_row([library], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match up {
            Some((p, kind)) if kind.is_library() => library = p,
            _ => break,
        }
    }
    Ok(Shelf {
        id: l.id,
        code: l.code,
        range,
        library,
    })
}

fn shelf_by_code(c: &Connection, code: &str) -> Result<Shelf> {
    let id = locations::resolve_id(c, code)?
        .ok_or_else(|| Error::invalid("location", format!("no location with code {code:?}")))?;
    shelf_by_id(c, id)
}

/// Folders expected on `shelf`, restricted by `extra` (SQL over `f`; parameters from ?5). A
/// folder loaded onto a trolley, bag or crate is on it, not on the shelf, so not expected.
/// ?1 shelf, ?2 library, ?3 and ?4 the range's keys (or -1, -1 for no range).
fn expected_sql(extra: &str) -> String {
    format!(
        "WITH RECURSIVE lib(id) AS (SELECT ?2 UNION SELECT l.id FROM locations l JOIN lib ON l.parent_id = lib.id)
         SELECT f.id, COALESCE(f.cur_location_id, f.home_location_id) FROM folders f
         WHERE f.status IN ('active', 'temporary')
           AND (f.cur_location_id = ?1
             OR (f.filing_number LIKE '__-__-__'
                 AND CAST(substr(f.filing_number, 7, 2) AS INTEGER) * 100 + CAST(substr(f.filing_number, 4, 2) AS INTEGER) BETWEEN ?3 AND ?4
                 AND f.home_location_id IN (SELECT id FROM lib)
                 AND (f.cur_location_id IS NULL OR f.cur_location_id IN
                      (SELECT l.id FROM locations l JOIN lib ON lib.id = l.id WHERE l.kind IN ('library', 'store')))))
           AND f.id NOT IN (SELECT folder_id FROM container_contents)
           {extra}"
    )
}

fn range_keys(shelf: &Shelf) -> (i64, i64) {
    shelf
        .range
        .map(|r| {
            let (a, b) = r.keys();
            (i64::from(a), i64::from(b))
        })
        .unwrap_or((-1, -1))
}

fn is_expected(c: &Connection, shelf: &Shelf, folder_id: i64) -> Result<bool> {
    let (a, b) = range_keys(shelf);
    Ok(c.prepare_cached(&expected_sql("AND f.id = ?5"))?
        .query_row(
            params![shelf.id, shelf.library, a, b, folder_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

// ---------- opening and closing ----------

fn find_open(c: &Connection, location_id: i64) -> Result<Option<i64>> {
    Ok(
        c.prepare_cached("SELECT id FROM shelf_audits WHERE location_id=?1 AND status='open'")?
            .query_row([location_id], |r| r.get(0))
            .optional()?,
    )
}

fn insert_audit(
    c: &Connection,
    who: &Principal,
    shelf: &Shelf,
    event_id: Option<&str>,
    at_ms: i64,
) -> Result<i64> {
    c.execute(
        "INSERT INTO shelf_audits(location_id, status, filing_range, opened_by, opened_at, open_event_id) VALUES (?1,'open',?2,?3,?4,?5)",
        params![shelf.id, shelf.range.map(|r| r.text()), who.actor, at_ms, event_id],
    )?;
    let id = c.last_insert_rowid();
    audit::record(
        c,
        who,
        "shelf_audit.open",
        None,
        None,
        &format!("shelf audit {id} opened at {}", shelf.code),
    )?;
    Ok(id)
}

/// How an audit was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// A new audit.
    New,
    /// An audit already open at the shelf (someone else's, or an earlier card scan): the scans
    /// are added to it.
    Joined,
    /// The same open request again (a resent card scan).
    Again,
}

/// Open an audit at the shelf `location` (code or GLN), read at `at_ms`. `event_id` (the id the
/// scan page gave the card scan) makes a resend harmless. An audit already open at the shelf
/// is joined rather than doubled.
pub fn open(
    c: &Connection,
    who: &Principal,
    location: &str,
    event_id: Option<&str>,
    at_ms: i64,
) -> Result<(AuditSummary, Opened)> {
    require(who)?;
    if let Some(e) = event_id {
        let again: Option<i64> = c
            .prepare_cached("SELECT id FROM shelf_audits WHERE open_event_id=?1")?
            .query_row([e], |r| r.get(0))
            .optional()?;
        if let Some(id) = again {
            return Ok((summary(c, id)?, Opened::Again));
        }
    }
    let shelf = shelf_by_code(c, location)?;
    if let Some(id) = find_open(c, shelf.id)? {
        return Ok((summary(c, id)?, Opened::Joined));
    }
    let id = insert_audit(c, who, &shelf, event_id, at_ms)?;
    Ok((summary(c, id)?, Opened::New))
}

/// Close an audit at `at_ms`: the folders expected on the shelf and not scanned are listed as
/// not found, pending follow-up. `event_id` makes a resent close harmless.
pub fn close(
    c: &Connection,
    who: &Principal,
    id: i64,
    event_id: Option<&str>,
    at_ms: i64,
) -> Result<AuditDetail> {
    require(who)?;
    let s = summary(c, id)?;
    if s.status == AuditStatus::Closed {
        let same: Option<String> = c.query_row(
            "SELECT close_event_id FROM shelf_audits WHERE id=?1",
            [id],
            |r| r.get(0),
        )?;
        if event_id.is_some() && same.as_deref() == event_id {
            return get(c, id);
        }
        return Err(Error::conflict(
            "audit",
            format!(
                "shelf audit {id} was already closed by {}",
                s.closed_by.unwrap_or_default()
            ),
        ));
    }
    let (location_id, opened_at): (i64, i64) = c.query_row(
        "SELECT location_id, opened_at FROM shelf_audits WHERE id=?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let shelf = shelf_by_id(c, location_id)?;
    let closed_at = at_ms.max(opened_at);
    let (a, b) = range_keys(&shelf);
    let missing: Vec<(i64, i64)> = c
        .prepare_cached(&expected_sql(
            "AND NOT EXISTS (SELECT 1 FROM shelf_audit_lines x WHERE x.audit_id = ?5 AND x.folder_id = f.id)",
        ))?
        .query_map(params![shelf.id, shelf.library, a, b, id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (folder, last_place) in &missing {
        c.prepare_cached(
            "INSERT INTO shelf_audit_lines(audit_id, folder_id, outcome, expected_location_id, follow_up, follow_up_at) VALUES (?1,?2,'not_found',?3,'pending',?4)",
        )?
        .execute(params![id, folder, last_place, closed_at])?;
    }
    c.execute(
        "UPDATE shelf_audits SET status='closed', closed_by=?2, closed_at=?3, close_event_id=?4 WHERE id=?1",
        params![id, who.actor, closed_at, event_id],
    )?;
    let d = get(c, id)?;
    audit::record(
        c,
        who,
        "shelf_audit.close",
        None,
        None,
        &format!(
            "shelf audit {id} at {} closed: {} found here, {} found but expected elsewhere, {} not found",
            shelf.code, d.audit.found, d.audit.elsewhere, d.audit.not_found
        ),
    )?;
    Ok(d)
}

/// Close the audit open at `location` (the scan page's "Close audit", which knows the shelf
/// but not the audit's number). A resend of a close already done answers that audit.
pub fn close_at(
    c: &Connection,
    who: &Principal,
    location: &str,
    event_id: Option<&str>,
    at_ms: i64,
) -> Result<AuditDetail> {
    require(who)?;
    if let Some(e) = event_id {
        let done: Option<i64> = c
            .prepare_cached("SELECT id FROM shelf_audits WHERE close_event_id=?1")?
            .query_row([e], |r| r.get(0))
            .optional()?;
        if let Some(id) = done {
            return get(c, id);
        }
    }
    let shelf = shelf_by_code(c, location)?;
    let id = find_open(c, shelf.id)?.ok_or_else(|| {
        Error::conflict(
            "location",
            format!("no shelf audit is open at {}", shelf.code),
        )
    })?;
    close(c, who, id, event_id, at_ms)
}

// ---------- scans ----------

/// What an audit scan was found to be, before the ledger stored it.
#[derive(Debug, Clone, Copy)]
struct Pending {
    audit_id: i64,
    outcome: Outcome,
    expected: Option<i64>,
}

/// The audit scans of one batch: classified before the ledger stores them
/// ([`AuditScans::before_store`]), their lines written as each is stored
/// ([`AuditScans::after_store`]), in the same transaction.
#[derive(Debug, Default)]
pub struct AuditScans {
    pending: HashMap<(i64, i64, i64), Pending>,
}

impl AuditScans {
    /// Classify the batch's events with method `audit` (other events pass untouched). An
    /// audit scan by someone who may not audit, of a place that is not a library shelf, or
    /// dispatching, is refused naming the field; a folder already scanned in the audit is
    /// answered as a duplicate and not stored again.
    pub fn before_store(
        c: &Connection,
        who: &Principal,
        events: Vec<(usize, ValidEvent)>,
        results: &mut [Option<EventResult>],
    ) -> Result<(Vec<(usize, ValidEvent)>, Self)> {
        let mut this = Self::default();
        if !events.iter().any(|(_, e)| e.method == Method::Audit) {
            return Ok((events, this));
        }
        let mut keep = Vec::with_capacity(events.len());
        let mut seen: HashSet<(i64, i64)> = HashSet::new();
        let mut shelves: HashMap<i64, std::result::Result<Shelf, String>> = HashMap::new();
        for (slot, e) in events {
            if e.method != Method::Audit {
                keep.push((slot, e));
                continue;
            }
            let reject = |field: &str, why: String| {
                Some(EventResult::rejected(e.uuid.to_string(), field, why))
            };
            if !may_audit(who) {
                results[slot] = reject(
                    "method",
                    format!(
                        "a {} may not make shelf audits (library staff and records managers do)",
                        who.role.as_str().replace('_', " ")
                    ),
                );
                continue;
            }
            if e.action == Action::Dispatch {
                results[slot] = reject(
                    "action",
                    "an audit scan records where a folder was found; send it as seen".into(),
                );
                continue;
            }
            // An unknown place is refused by the ledger, naming the location.
            let Some(loc) = locations::resolve_id(c, &e.location)? else {
                keep.push((slot, e));
                continue;
            };
            let shelf = match shelves.entry(loc) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(match shelf_by_id(c, loc) {
                        Ok(s) => Ok(s),
                        Err(Error::Invalid { message, .. }) => Err(message),
                        Err(other) => return Err(other),
                    })
                }
            };
            let shelf = match shelf {
                Ok(s) => &*s,
                Err(why) => {
                    results[slot] = reject("location", why.clone());
                    continue;
                }
            };
            let folder: Option<(Option<i64>, i64)> = c
                .prepare_cached(
                    "SELECT cur_location_id, home_location_id FROM folders WHERE id=?1",
                )?
                .query_row([e.serial], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            // An unregistered folder is kept by the ledger as any other scan.
            let Some((cur, home)) = folder else {
                keep.push((slot, e));
                continue;
            };
            let audit_id = audit_for(c, who, shelf, e.read_at)?;
            let already: Option<Outcome> = c
                .prepare_cached(
                    "SELECT outcome FROM shelf_audit_lines WHERE audit_id=?1 AND folder_id=?2",
                )?
                .query_row(params![audit_id, e.serial], |r| r.get(0))
                .optional()?;
            let counted = matches!(already, Some(Outcome::Found | Outcome::Elsewhere));
            if counted || !seen.insert((audit_id, e.serial)) {
                results[slot] = Some(EventResult::duplicate(e.uuid.to_string()));
                continue;
            }
            let (outcome, expected) = if cur == Some(shelf.id) || is_expected(c, shelf, e.serial)? {
                (Outcome::Found, None)
            } else {
                (Outcome::Elsewhere, Some(cur.unwrap_or(home)))
            };
            this.pending.insert(
                (e.serial, loc, e.read_at),
                Pending {
                    audit_id,
                    outcome,
                    expected,
                },
            );
            keep.push((slot, e));
        }
        Ok((keep, this))
    }

    /// Write the audit line of a scan the ledger has just stored (other scans pass).
    pub fn after_store(&mut self, c: &Connection, who: &Principal, s: &StoredScan) -> Result<()> {
        let Some(p) = self
            .pending
            .remove(&(s.folder_id, s.location_id, s.read_at))
        else {
            return Ok(());
        };
        c.prepare_cached(
            "INSERT INTO shelf_audit_lines(audit_id, folder_id, outcome, expected_location_id, scanned_at, scanned_by)
             VALUES (?1,?2,?3,?4,?5,?6)
             ON CONFLICT(audit_id, folder_id) DO UPDATE SET outcome=excluded.outcome,
               expected_location_id=excluded.expected_location_id, scanned_at=excluded.scanned_at,
               scanned_by=excluded.scanned_by, follow_up=NULL, follow_up_at=NULL",
        )?
        .execute(params![p.audit_id, s.folder_id, p.outcome, p.expected, s.read_at, who.actor])?;
        let patient: i64 = c.query_row(
            "SELECT patient_id FROM folders WHERE id=?1",
            [s.folder_id],
            |r| r.get(0),
        )?;
        audit::record(
            c,
            who,
            "shelf_audit.scan",
            Some(patient),
            Some(s.folder_id),
            &format!("shelf audit {}: {}", p.audit_id, outcome_text(p.outcome)),
        )?;
        // A folder reported missing has turned up on the shelf.
        let shelf: String = c.query_row(
            "SELECT code FROM locations WHERE id=?1",
            [s.location_id],
            |r| r.get(0),
        )?;
        missing::found_by_scan(
            c,
            who,
            s.folder_id,
            &format!("found on {shelf} by shelf audit {}", p.audit_id),
        )?;
        Ok(())
    }
}

/// The audit a scan read at `read_at` at `shelf` belongs to: the one open there; or a closed one
/// whose time it falls in (a scan queued offline and sent after the close); or a new one,
/// opened by this scan.
fn audit_for(c: &Connection, who: &Principal, shelf: &Shelf, read_at: i64) -> Result<i64> {
    if let Some(id) = find_open(c, shelf.id)? {
        return Ok(id);
    }
    let late: Option<i64> = c
        .prepare_cached(
            "SELECT id FROM shelf_audits WHERE location_id=?1 AND status='closed' AND opened_at <= ?2 AND closed_at >= ?2 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![shelf.id, read_at], |r| r.get(0))
        .optional()?;
    match late {
        Some(id) => Ok(id),
        None => insert_audit(c, who, shelf, None, read_at),
    }
}

/// An outcome in words, for people.
pub fn outcome_text(o: Outcome) -> &'static str {
    match o {
        Outcome::Found => "found here",
        Outcome::Elsewhere => "found here but expected elsewhere",
        Outcome::NotFound => "expected here but not found",
    }
}

/// A follow-up in words, for people.
pub fn follow_up_text(f: FollowUp) -> &'static str {
    match f {
        FollowUp::Pending => "to look for",
        FollowUp::SeenSince => "seen since",
        FollowUp::Missing => "reported missing",
        FollowUp::Withdrawn => "no longer in use",
    }
}

/// What the latest audit at `location` recorded for a folder: (audit id, outcome, where the
/// ledger had it). For the scan page's answer.
pub fn scan_answer(
    c: &Connection,
    folder_id: i64,
    location: &str,
) -> Result<Option<(i64, Outcome, Option<PlaceRef>)>> {
    let Some(loc) = locations::resolve_id(c, location)? else {
        return Ok(None);
    };
    Ok(c
        .prepare_cached(
            "SELECT a.id, x.outcome, p.code, p.name FROM shelf_audit_lines x JOIN shelf_audits a ON a.id = x.audit_id
             LEFT JOIN locations p ON p.id = x.expected_location_id
             WHERE a.location_id=?1 AND x.folder_id=?2 ORDER BY a.id DESC LIMIT 1",
        )?
        .query_row(params![loc, folder_id], |r| {
            let code: Option<String> = r.get(2)?;
            let name: Option<String> = r.get(3)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                code.zip(name).map(|(code, name)| PlaceRef { code, name }),
            ))
        })
        .optional()?)
}

// ---------- reading ----------

const SUMMARY: &str = "SELECT a.id, l.code, l.name, a.filing_range, a.status, a.opened_by, a.opened_at, a.closed_by, a.closed_at,
    (SELECT count(*) FROM shelf_audit_lines x WHERE x.audit_id = a.id AND x.outcome = 'found'),
    (SELECT count(*) FROM shelf_audit_lines x WHERE x.audit_id = a.id AND x.outcome = 'elsewhere'),
    (SELECT count(*) FROM shelf_audit_lines x WHERE x.audit_id = a.id AND x.outcome = 'not_found')
  FROM shelf_audits a JOIN locations l ON l.id = a.location_id";

fn summary_row(r: &rusqlite::Row) -> rusqlite::Result<AuditSummary> {
    let opened: i64 = r.get(6)?;
    let closed: Option<i64> = r.get(8)?;
    let (found, elsewhere, not_found): (i64, i64, i64) = (r.get(9)?, r.get(10)?, r.get(11)?);
    Ok(AuditSummary {
        id: r.get(0)?,
        location: PlaceRef {
            code: r.get(1)?,
            name: r.get(2)?,
        },
        filing_range: r.get(3)?,
        status: r.get(4)?,
        opened_by: r.get(5)?,
        opened_at: ms_to_rfc3339(opened),
        closed_by: r.get(7)?,
        closed_at: closed.map(ms_to_rfc3339),
        duration_minutes: (closed.unwrap_or_else(crate::util::now_ms) - opened).max(0) / 60_000,
        found,
        elsewhere,
        not_found,
        scanned: found + elsewhere,
    })
}

pub fn summary(c: &Connection, id: i64) -> Result<AuditSummary> {
    c.prepare_cached(&format!("{SUMMARY} WHERE a.id=?1"))?
        .query_row([id], summary_row)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("shelf audit {id}")))
}

/// Audits, newest first; optionally only those at one place, or only open or closed ones.
pub fn list(
    c: &Connection,
    location: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditSummary>> {
    let status = status
        .map(|s| AuditStatus::parse_field("status", s))
        .transpose()?;
    let loc = match location {
        Some(code) => Some(locations::resolve_id(c, code)?.ok_or_else(|| {
            Error::invalid("location", format!("no location with code {code:?}"))
        })?),
        None => None,
    };
    let v = c
        .prepare_cached(&format!(
            "{SUMMARY} WHERE (?1 IS NULL OR a.location_id = ?1) AND (?2 IS NULL OR a.status = ?2) ORDER BY a.id DESC LIMIT ?3"
        ))?
        .query_map(params![loc, status, limit], summary_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// An audit with its lists: found here, found but expected elsewhere, not found (each in
/// shelf order).
/// Where a folder sits in shelf order (none without a filing number).
type ShelfKey = Option<(u8, u8, u8)>;

pub fn get(c: &Connection, id: i64) -> Result<AuditDetail> {
    let audit = summary(c, id)?;
    let mut lines: Vec<(ShelfKey, AuditLine)> = c
        .prepare_cached(
            "SELECT f.barcode, f.filing_number, f.folder_type, f.volume, f.volume_count, x.outcome, p.code, p.name,
                    x.scanned_at, x.scanned_by, x.follow_up, x.follow_up_at, x.missing_case_id, f.id, f.patient_id
             FROM shelf_audit_lines x JOIN folders f ON f.id = x.folder_id
             LEFT JOIN locations p ON p.id = x.expected_location_id
             WHERE x.audit_id = ?1",
        )?
        .query_map([id], |r| {
            let code: Option<String> = r.get(6)?;
            let name: Option<String> = r.get(7)?;
            let scanned: Option<i64> = r.get(8)?;
            let follow_at: Option<i64> = r.get(11)?;
            let filing: Option<String> = r.get(1)?;
            Ok((
                filing
                    .as_deref()
                    .and_then(|f| casenote_core::identifiers::FilingNumber::parse(f).ok())
                    .map(|f| f.shelf_key()),
                AuditLine {
                    folder: r.get(0)?,
                    filing_number: filing,
                    folder_type: r.get(2)?,
                    volume: r.get(3)?,
                    volume_count: r.get(4)?,
                    outcome: r.get(5)?,
                    expected_at: code.zip(name).map(|(code, name)| PlaceRef { code, name }),
                    scanned_at: scanned.map(ms_to_rfc3339),
                    scanned_by: r.get(9)?,
                    follow_up: r.get(10)?,
                    follow_up_at: follow_at.map(ms_to_rfc3339),
                    missing_case: r.get(12)?,
                    folder_id: r.get(13)?,
                    patient_id: r.get(14)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    lines.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.folder.cmp(&b.1.folder)));
    let mut d = AuditDetail {
        audit,
        found: Vec::new(),
        elsewhere: Vec::new(),
        not_found: Vec::new(),
    };
    for (_, l) in lines {
        match l.outcome {
            Outcome::Found => d.found.push(l),
            Outcome::Elsewhere => d.elsewhere.push(l),
            Outcome::NotFound => d.not_found.push(l),
        }
    }
    Ok(d)
}

// ---------- follow-up ----------

/// When folders an audit closed at `closed_at` did not find are due to be reported missing.
pub fn due_at(cfg: &ShelfAuditConfig, holidays: &[chrono::NaiveDate], closed_at: i64) -> i64 {
    match cfg.missing_after_working_days {
        Some(n) => {
            let tz = crate::util::site_tz();
            let closed = chrono::DateTime::from_timestamp_millis(closed_at)
                .unwrap_or_default()
                .with_timezone(&tz);
            let day = Calendar::new(holidays).add(closed.date_naive(), i64::from(n));
            // the same local time of day, on the due working day
            day.and_time(closed.time())
                .and_local_timezone(tz)
                .earliest()
                .map(|t| t.timestamp_millis())
                .unwrap_or(closed_at + i64::from(n) * 86_400_000)
        }
        None => closed_at.saturating_add(
            i64::try_from(cfg.missing_after_hours)
                .unwrap_or(i64::MAX / 4)
                .saturating_mul(3_600_000),
        ),
    }
}

/// A folder not found by a closed audit, waiting for follow-up: (audit, folder, closed at,
/// barcode, last read, status, shelf code).
type Due = (i64, i64, i64, String, Option<i64>, String, String);

/// Follow up the folders closed audits did not find, as of `now`: one scanned anywhere since
/// the audit closed is marked seen; one still unseen at its due time is reported missing
/// (through [`missing::report`], which audits it); one already missing is linked to its case.
/// Returns how many were reported missing.
pub fn follow_up(
    c: &Connection,
    scheme: &FolderIdScheme,
    cfg: &ShelfAuditConfig,
    holidays: &[chrono::NaiveDate],
    now: i64,
) -> Result<usize> {
    let who = Principal {
        actor: "system:shelf-audit".into(),
        role: Role::Admin,
    };
    let rows: Vec<Due> = c
        .prepare_cached(
            "SELECT x.audit_id, x.folder_id, a.closed_at, f.barcode, f.cur_read_at, f.status, l.code
             FROM shelf_audit_lines x JOIN shelf_audits a ON a.id = x.audit_id
             JOIN folders f ON f.id = x.folder_id JOIN locations l ON l.id = a.location_id
             WHERE x.follow_up = 'pending' AND a.status = 'closed'",
        )?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut reported = 0;
    for (audit_id, folder_id, closed_at, barcode, last_read, status, shelf) in rows {
        let set = |f: FollowUp, case: Option<i64>| -> Result<()> {
            c.execute(
                "UPDATE shelf_audit_lines SET follow_up=?3, follow_up_at=?4, missing_case_id=COALESCE(?5, missing_case_id) WHERE audit_id=?1 AND folder_id=?2",
                params![audit_id, folder_id, f, now, case],
            )?;
            Ok(())
        };
        if last_read.is_some_and(|t| t > closed_at) {
            set(FollowUp::SeenSince, None)?;
            continue;
        }
        if due_at(cfg, holidays, closed_at) > now {
            continue;
        }
        let open_case: Option<i64> = c
            .prepare_cached(
                "SELECT id FROM missing_cases WHERE folder_id=?1 AND status <> 'found' ORDER BY id DESC LIMIT 1",
            )?
            .query_row([folder_id], |r| r.get(0))
            .optional()?;
        match (open_case, status.as_str()) {
            (Some(case), _) => set(FollowUp::Missing, Some(case))?,
            (None, "active" | "temporary") => {
                let case = missing::report(
                    c,
                    &who,
                    scheme,
                    &barcode,
                    &format!(
                        "not found in shelf audit {audit_id} at {shelf} (closed {}), and not scanned anywhere since",
                        crate::util::local_text(&ms_to_rfc3339(closed_at))
                    ),
                )?;
                set(FollowUp::Missing, Some(case.id))?;
                reported += 1;
            }
            (None, _) => set(FollowUp::Withdrawn, None)?,
        }
    }
    if reported > 0 {
        tracing::info!(
            reported,
            "folders not found by shelf audits reported missing"
        );
    }
    Ok(reported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_after_hours_or_working_days() {
        let cfg = ShelfAuditConfig::default();
        // Friday 2026-11-27 10:00 UTC (10:00 GMT)
        let fri = 1_795_773_600_000;
        assert_eq!(due_at(&cfg, &[], fri), fri + 72 * 3_600_000);
        let cfg = ShelfAuditConfig {
            missing_after_working_days: Some(1),
            ..Default::default()
        };
        // one working day after Friday 27 November is not Monday 30 November (St Andrew's Day,
        // a Scottish bank holiday) but Tuesday 1 December, at the same time of day
        assert_eq!(due_at(&cfg, &[], fri), fri + 4 * 86_400_000);
        // and a local holiday on that Tuesday moves it on to the Wednesday
        let tue = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(due_at(&cfg, &[tue], fri), fri + 5 * 86_400_000);
    }
}
