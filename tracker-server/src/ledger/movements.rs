//! The movement ledger: append-only scan events, stored once per event UUID, ordered by the
//! time the device read them (not when they arrived).

use crate::{audit, auth::Principal, ledger::locations, util::now_ms, Error, Result};
use casenote_core::identifiers::{classify, scan::ScanConfig, strip_aim, ScanTarget, Symbology};
pub use casenote_core::wire::{Action, BatchResult, EventResult, EventStatus, Method, ScanEvent};
use rusqlite::{params, Connection, OptionalExtension};

/// Most events accepted in one request.
pub const MAX_BATCH: usize = casenote_core::wire::MAX_BATCH;
/// Reads stamped further ahead than this are refused (a device clock is wrong).
/// How far ahead of the server's clock a read time may be, by default (`[server]
/// max_clock_skew_secs`). A read further ahead would pin the folder there and make the next
/// real scans look late, so it is refused.
pub const DEFAULT_MAX_CLOCK_SKEW_MS: i64 = 2 * 60 * 1000;

/// An event that passed the checks that need no database.
#[derive(Debug, Clone)]
pub struct ValidEvent {
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
    pub serial: i64,
}

fn short_text(field: &str, v: &str, max: usize) -> Result<()> {
    if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("must be 1-{max} printable characters"),
        ));
    }
    Ok(())
}

/// The checks every event gets, whatever it scanned (a folder or a container), that need no
/// database: returns its read time (ms). A refusal is [`Error::Invalid`] naming the field.
pub fn check_common(e: &ScanEvent, now: i64, max_skew_ms: i64) -> Result<i64> {
    short_text("device_id", &e.device_id, 100)?;
    if let Some(s) = &e.staff_id {
        short_text("staff_id", s, 100)?;
    }
    let read_at = e.read_at.timestamp_millis();
    if read_at > now + max_skew_ms {
        return Err(Error::invalid(
            "read_at",
            format!(
                "is {} s ahead of the server's clock (at most {} s allowed); check the device's clock (NTP)",
                (read_at - now) / 1000,
                max_skew_ms / 1000
            ),
        ));
    }
    if read_at < 946_684_800_000 {
        return Err(Error::invalid(
            "read_at",
            "is before the year 2000; check the device clock",
        ));
    }
    if e.raw.len() > 512 {
        return Err(Error::invalid("raw", "is longer than 512 bytes"));
    }
    if e.action == Action::Dispatch && e.destination.is_none() {
        return Err(Error::invalid(
            "destination",
            "is required when action is dispatch",
        ));
    }
    short_text("location", &e.location, 64)?;
    if let Some(k) = &e.container {
        short_text("container", k, 64)?;
    }
    Ok(read_at)
}

/// The symbology word stored for an event: as sent, else from the AIM identifier.
pub fn symbology_word(e: &ScanEvent) -> String {
    let word = |s: Symbology| {
        serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_else(|| "unknown".into())
    };
    match (e.symbology, strip_aim(&e.raw).0) {
        (Some(s), _) | (None, Some(s)) => word(s),
        (None, None) if e.method == Method::Rfid => "rfid".into(),
        (None, None) => "unknown".into(),
    }
}

/// Checks that need no database. A refusal is [`Error::Invalid`] naming the field.
pub fn validate(e: &ScanEvent, cfg: &ScanConfig, now: i64, max_skew_ms: i64) -> Result<ValidEvent> {
    let uuid = e.event_id;
    let read_at = check_common(e, now, max_skew_ms)?;
    let (method, action) = (e.method, e.action);
    let serial = match classify(&e.raw, cfg) {
        ScanTarget::Folder { serial } => serial as i64,
        ScanTarget::Location { .. } | ScanTarget::LocationGln { .. } => {
            return Err(Error::invalid(
                "raw",
                "is a location barcode, not a folder; send it as the event's location",
            ))
        }
        ScanTarget::Staff { .. } => {
            return Err(Error::invalid(
                "raw",
                "is a staff badge, not a folder; send it as staff_id",
            ))
        }
        ScanTarget::Container { .. } => {
            return Err(Error::invalid(
                "raw",
                "is a container label (trolley, bag or crate), not a folder",
            ))
        }
        ScanTarget::Unknown { reason } => {
            return Err(Error::invalid(
                "raw",
                format!("is not a folder id: {reason}"),
            ))
        }
    };
    let symbology = symbology_word(e);
    Ok(ValidEvent {
        uuid,
        device_id: e.device_id.clone(),
        staff_id: e.staff_id.clone(),
        read_at,
        raw: e.raw.clone(),
        symbology,
        method,
        location: e.location.clone(),
        action,
        destination: e.destination.clone(),
        serial,
    })
}

/// Current-state columns of a folder.
struct Cur {
    read_at: Option<i64>,
    location: Option<i64>,
    since: Option<i64>,
    action: Option<String>,
}

/// A newly stored scan of a registered folder, as handed to the follow-up step of [`store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredScan {
    pub folder_id: i64,
    pub location_id: i64,
    pub action: Action,
    pub destination_id: Option<i64>,
    pub read_at: i64,
}

/// The numbers of the words movements repeat (action, symbology, method, device, staff badge,
/// sender) in `movement_words`: `movement_log` stores the number, the `movements` view shows
/// the word. A new word is added on first use.
///
/// Numbers are remembered for one transaction only: a word added in a transaction that is
/// then rolled back loses its number, which a later word may get. Make one per batch.
#[derive(Debug, Default)]
pub struct Words {
    known: std::collections::HashMap<String, i64>,
}

impl Words {
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of `word`, added to the dictionary if it is new.
    pub fn id(&mut self, c: &Connection, word: &str) -> Result<i64> {
        if let Some(&id) = self.known.get(word) {
            return Ok(id);
        }
        let found: Option<i64> = c
            .prepare_cached("SELECT id FROM movement_words WHERE word = ?1")?
            .query_row([word], |r| r.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                c.prepare_cached("INSERT INTO movement_words(word) VALUES (?1)")?
                    .execute([word])?;
                c.last_insert_rowid()
            }
        };
        self.known.insert(word.to_owned(), id);
        Ok(id)
    }

    /// [`Words::id`] of a word that may be absent.
    pub fn id_of(&mut self, c: &Connection, word: Option<&str>) -> Result<Option<i64>> {
        word.map(|w| self.id(c, w)).transpose()
    }
}

/// Store validated events (inside the caller's writer transaction). `slots` are the positions
/// in the request. `follow` runs in the same transaction for every newly stored scan of a
/// registered folder (the workflow layer moves requests on with it; see
/// [`crate::workflow::scans`]).
pub fn store(
    c: &Connection,
    who: &Principal,
    events: Vec<(usize, ValidEvent)>,
    results: &mut [Option<EventResult>],
    follow: &mut dyn FnMut(&Connection, &StoredScan) -> Result<()>,
) -> Result<()> {
    let now = now_ms();
    let mut stored = 0usize;
    let mut words = Words::new();
    for (slot, e) in events {
        let event_id = e.uuid.to_string();
        let Some(loc) = locations::resolve_id(c, &e.location)? else {
            results[slot] = Some(EventResult::rejected(
                event_id,
                "location",
                format!("no location with code or GLN {:?}", e.location),
            ));
            continue;
        };
        let dest = match &e.destination {
            Some(d) => match locations::resolve_id(c, d)? {
                Some(id) => Some(id),
                None => {
                    results[slot] = Some(EventResult::rejected(
                        event_id,
                        "destination",
                        format!("no location with code or GLN {d:?}"),
                    ));
                    continue;
                }
            },
            None => None,
        };
        let cur: Option<Cur> = c
            .prepare_cached("SELECT cur_read_at, cur_location_id, cur_since, cur_action FROM folders WHERE id=?1")?
            .query_row([e.serial], |r| Ok(Cur { read_at: r.get(0)?, location: r.get(1)?, since: r.get(2)?, action: r.get(3)? }))
            .optional()?;
        let folder_id = cur.as_ref().map(|_| e.serial);
        // the ledger table itself, not the `movements` view: a view's INSTEAD OF trigger
        // reports neither the row it added nor that it ignored a duplicate
        let n = c
            .prepare_cached(
                "INSERT OR IGNORE INTO movement_log(event_id, folder_id, location_id, action_word, destination_id, device_word, staff_word, read_at, received_at, raw, symbology_word, method_word, sent_by_word)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
            )?
            .execute(params![
                &e.uuid.as_bytes()[..],
                folder_id,
                loc,
                words.id(c, e.action.as_str())?,
                dest,
                words.id(c, &e.device_id)?,
                words.id_of(c, e.staff_id.as_deref())?,
                e.read_at,
                now,
                e.raw,
                words.id(c, &e.symbology)?,
                words.id(c, e.method.as_str())?,
                words.id(c, &who.actor)?
            ])?;
        if n == 0 {
            // The same event again (a bridge resending) is a duplicate; another scan under an
            // id already used is refused, naming the id, so it is not silently lost.
            let same: bool = c
                .prepare_cached(
                    "SELECT folder_id IS ?2 AND location_id=?3 AND action=?4 AND destination_id IS ?5
                        AND device_id=?6 AND staff_id IS ?7 AND read_at=?8 AND raw=?9
                       FROM movements WHERE event_id=?1",
                )?
                .query_row(
                    params![&e.uuid.as_bytes()[..], folder_id, loc, e.action.as_str(), dest, e.device_id, e.staff_id, e.read_at, e.raw],
                    |r| r.get(0),
                )?;
            results[slot] = Some(if same {
                EventResult::duplicate(event_id)
            } else {
                EventResult::rejected(
                    event_id.clone(),
                    "event_id",
                    format!("{event_id} was already used for a different scan; every scan needs its own event id"),
                )
            });
            continue;
        }
        let movement_id = c.last_insert_rowid();
        stored += 1;
        if let Some(cur) = cur {
            if cur.read_at.is_none_or(|t| e.read_at >= t) {
                let same_run = cur.location == Some(loc)
                    && (cur.action.as_deref() == Some("dispatch"))
                        == (e.action == Action::Dispatch);
                let since = if same_run {
                    cur.since.unwrap_or(e.read_at)
                } else {
                    e.read_at
                };
                c.prepare_cached(
                    "UPDATE folders SET cur_movement_id=?1, cur_location_id=?2, cur_read_at=?3, cur_since=?4, cur_action=?5, cur_destination_id=?6 WHERE id=?7",
                )?
                .execute(params![movement_id, loc, e.read_at, since, e.action.as_str(), dest, e.serial])?;
            } else {
                // A late event (a bridge replaying after an outage): it may change "since".
                recompute(c, e.serial)?;
            }
            follow(
                c,
                &StoredScan {
                    folder_id: e.serial,
                    location_id: loc,
                    action: e.action,
                    destination_id: dest,
                    read_at: e.read_at,
                },
            )?;
        }
        results[slot] = Some(EventResult::stored(event_id, folder_id.is_some()));
    }
    audit::record(
        c,
        who,
        "events.ingest",
        None,
        None,
        &format!("{stored} event(s) stored"),
    )?;
    Ok(())
}

/// Rebuild a folder's current state from its ledger (latest by read time, then arrival).
pub fn recompute(c: &Connection, folder_id: i64) -> Result<()> {
    let mut st = c.prepare_cached(
        "SELECT id, location_id, read_at, action, destination_id FROM movements WHERE folder_id=?1 ORDER BY read_at DESC, id DESC LIMIT 1000",
    )?;
    let rows: Vec<(i64, i64, i64, String, Option<i64>)> = st
        .query_map([folder_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let Some(latest) = rows.first() else {
        c.execute(
            "UPDATE folders SET cur_movement_id=NULL, cur_location_id=NULL, cur_read_at=NULL, cur_since=NULL, cur_action=NULL, cur_destination_id=NULL WHERE id=?1",
            [folder_id],
        )?;
        return Ok(());
    };
    let dispatching = latest.3 == "dispatch";
    let since = rows
        .iter()
        .take_while(|r| r.1 == latest.1 && (r.3 == "dispatch") == dispatching)
        .last()
        .map(|r| r.2)
        .unwrap_or(latest.2);
    c.execute(
        "UPDATE folders SET cur_movement_id=?1, cur_location_id=?2, cur_read_at=?3, cur_since=?4, cur_action=?5, cur_destination_id=?6 WHERE id=?7",
        params![latest.0, latest.1, latest.2, since, latest.3, latest.4, folder_id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The ledger's rules on a real (in-memory) SQLite database with the server's schema.
    use super::*;
    use crate::ledger::{folders, patients};
    use crate::storage::migrations::{migrate, MIGRATIONS};
    use rusqlite::types::Value;
    use serde_json::json;

    const T0: i64 = 1_780_000_000_000; // 2026-05-28

    struct Ledger {
        c: Connection,
        scan: ScanConfig,
        folder: i64,
        barcode: String,
    }

    fn ledger() -> Ledger {
        ledger_at(MIGRATIONS.len())
    }

    /// A ledger whose schema is at `version` (older versions as an earlier release left them).
    fn ledger_at(version: usize) -> Ledger {
        let mut c = Connection::open_in_memory().expect("in-memory database");
        if version == MIGRATIONS.len() {
            crate::storage::migrations::migrate(&mut c).expect("schema");
        } else {
            for m in &MIGRATIONS[..version] {
                c.execute_batch(m).expect("an earlier migration");
            }
            c.pragma_update(None, "user_version", version as i64)
                .expect("schema version");
        }
        for (code, kind) in [("LLIB", "library"), ("LWARD5", "ward"), ("LWARD7", "ward")] {
            let n: locations::NewLocation =
                serde_json::from_value(json!({"code": code, "name": code, "kind": kind}))
                    .expect("location");
            locations::create(&c, &n, "L").expect("create location");
        }
        let p: patients::NewPatient = serde_json::from_value(json!({
            "chi": "1904851231", "family_name": "Test", "given_name": "Ledger",
            "dob": "1985-04-19", "sex": "unknown"
        }))
        .expect("patient");
        let p = patients::insert(&c, &patients::validate(&p).expect("valid")).expect("insert");
        let scan = ScanConfig::default();
        let nf: folders::NewFolder = serde_json::from_value(json!({
            "patient": "1904851231", "folder_type": "main", "home_location": "LLIB"
        }))
        .expect("folder");
        let f = folders::create(&c, &scan.folder, p.id, &nf).expect("create folder");
        Ledger {
            c,
            scan,
            folder: f.id,
            barcode: f.barcode,
        }
    }

    impl Ledger {
        /// Store one scan at `loc`, read `at` ms after T0; returns what the ledger answered.
        fn scan(&self, id: u128, loc: &str, action: &str, at: i64) -> EventResult {
            let mut v = json!({
                "event_id": uuid::Uuid::from_u128(id).to_string(),
                "device_id": "test-scanner",
                "read_at": crate::util::ms_to_rfc3339(T0 + at),
                "raw": self.barcode,
                "method": "barcode",
                "location": loc,
                "action": action,
            });
            if action == "dispatch" {
                v["destination"] = json!("LWARD7");
            }
            let ev: ScanEvent = serde_json::from_value(v).expect("event");
            let valid =
                validate(&ev, &self.scan, T0 + at, DEFAULT_MAX_CLOCK_SKEW_MS).expect("valid event");
            let mut results = vec![None];
            let mut followed = 0;
            store(
                &self.c,
                &Principal::system(),
                vec![(0, valid)],
                &mut results,
                &mut |_, s| {
                    assert_eq!(s.folder_id, self.folder);
                    followed += 1;
                    Ok(())
                },
            )
            .expect("store");
            let r = results.remove(0).expect("a result");
            assert_eq!(followed, usize::from(r.status == EventStatus::Stored));
            r
        }

        /// (location code, since, read time) of the folder's current position, in ms after T0.
        fn now(&self) -> (String, i64, i64) {
            self.c
                .query_row(
                    "SELECT l.code, f.cur_since, f.cur_read_at FROM folders f JOIN locations l ON l.id = f.cur_location_id WHERE f.id = ?1",
                    [self.folder],
                    |r| Ok((r.get(0)?, r.get::<_, i64>(1)? - T0, r.get::<_, i64>(2)? - T0)),
                )
                .expect("current position")
        }
    }

    #[test]
    fn since_is_the_first_scan_of_an_unbroken_run_at_one_place() {
        let l = ledger();
        l.scan(1, "LWARD5", "receive", 1_000);
        l.scan(2, "LWARD5", "seen", 5_000);
        l.scan(3, "LWARD5", "seen", 9_000);
        assert_eq!(l.now(), ("LWARD5".into(), 1_000, 9_000));
        // moving on starts a new run
        l.scan(4, "LWARD7", "receive", 12_000);
        assert_eq!(l.now(), ("LWARD7".into(), 12_000, 12_000));
        // dispatching from the same place also starts one
        l.scan(5, "LWARD7", "dispatch", 15_000);
        assert_eq!(l.now(), ("LWARD7".into(), 15_000, 15_000));
    }

    #[test]
    fn a_late_scan_keeps_the_current_place_and_corrects_since() {
        let l = ledger();
        l.scan(1, "LWARD5", "receive", 10_000);
        l.scan(2, "LWARD7", "receive", 20_000);
        // A bridge replays a scan read before the newest one, at the same ward: the folder
        // stays where the newest scan put it, and its run there started earlier.
        let r = l.scan(3, "LWARD7", "seen", 15_000);
        assert_eq!(r.status, EventStatus::Stored);
        assert_eq!(l.now(), ("LWARD7".into(), 15_000, 20_000));
        // A late scan somewhere else does not move the folder either, and splits no run.
        l.scan(4, "LWARD5", "seen", 5_000);
        assert_eq!(l.now(), ("LWARD7".into(), 15_000, 20_000));
        // A late scan at another place inside the run ends the run there.
        l.scan(5, "LWARD5", "seen", 17_000);
        assert_eq!(l.now(), ("LWARD7".into(), 20_000, 20_000));
    }

    #[test]
    fn the_same_event_is_stored_once() {
        let l = ledger();
        assert_eq!(
            l.scan(1, "LWARD5", "receive", 1_000).status,
            EventStatus::Stored
        );
        assert_eq!(
            l.scan(1, "LWARD5", "receive", 1_000).status,
            EventStatus::Duplicate
        );
        let n: i64 =
            l.c.query_row("SELECT count(*) FROM movements", [], |r| r.get(0))
                .expect("count");
        assert_eq!(n, 1);
    }

    #[test]
    fn refusals_name_the_field() {
        let l = ledger();
        let ev: ScanEvent = serde_json::from_value(json!({
            "event_id": uuid::Uuid::from_u128(9).to_string(), "device_id": "d",
            "read_at": crate::util::ms_to_rfc3339(T0 + 3_600_000), "raw": l.barcode,
            "method": "barcode", "location": "LWARD5"
        }))
        .expect("event");
        let e =
            validate(&ev, &l.scan, T0, DEFAULT_MAX_CLOCK_SKEW_MS).expect_err("read an hour ahead");
        assert_eq!(e.field(), Some("read_at"));
        let ev: ScanEvent = serde_json::from_value(json!({
            "event_id": uuid::Uuid::from_u128(9).to_string(), "device_id": "d",
            "read_at": crate::util::ms_to_rfc3339(T0), "raw": "LWARD5",
            "method": "barcode", "location": "LWARD5"
        }))
        .expect("event");
        let e = validate(&ev, &l.scan, T0, DEFAULT_MAX_CLOCK_SKEW_MS)
            .expect_err("a location card is no folder");
        assert_eq!(e.field(), Some("raw"));
    }

    /// Every row of `movements` (all columns, in id order).
    fn all_movements(c: &Connection) -> Vec<Vec<Value>> {
        let mut st = c
            .prepare("SELECT * FROM movements ORDER BY id")
            .expect("select");
        let n = st.column_count();
        st.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    fn location_id(c: &Connection, code: &str) -> i64 {
        c.query_row("SELECT id FROM locations WHERE code = ?1", [code], |r| {
            r.get(0)
        })
        .expect("location")
    }

    fn word_counts(c: &Connection) -> Vec<(String, i64)> {
        let mut st = c
            .prepare("SELECT word, count(*) FROM movement_words GROUP BY word ORDER BY word")
            .expect("select");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    /// The migration to the compact ledger keeps every movement as it was: ids, event ids,
    /// unknown folders, destinations, senders and staff set or not, every device; each word is
    /// kept once; and a scan sent again after the upgrade is still a duplicate.
    #[test]
    fn the_compact_ledger_keeps_every_movement() {
        let version = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE movement_words"))
            .expect("the compact ledger's migration");
        let mut l = ledger_at(version);
        let (ward5, ward7, lib) = (
            location_id(&l.c, "LWARD5"),
            location_id(&l.c, "LWARD7"),
            location_id(&l.c, "LLIB"),
        );
        // The scan that `l.scan(1, "LWARD5", "receive", 1_000)` stores, as the previous
        // release stored it.
        l.c.execute(
            "INSERT INTO movements(event_id, folder_id, location_id, action, destination_id, device_id, staff_id, read_at, received_at, raw, symbology, method, sent_by)
             VALUES (?1, ?2, ?3, 'receive', NULL, 'test-scanner', NULL, ?4, ?5, ?6, 'code128', 'barcode', 'system:cli')",
            params![&uuid::Uuid::from_u128(1).as_bytes()[..], l.folder, ward5, T0 + 1_000, T0 + 1_500, l.barcode],
        )
        .expect("the first scan");
        let devices = ["ward5-portal", "porter-7", "S0042", "library-desk"];
        let staff = [None, Some("S0042"), Some("S0077"), Some("user:porter")];
        let senders = [None, Some("token:ward5-bridge"), Some("user:porter")];
        let methods = ["barcode", "rfid", "manual", "audit"];
        let symbologies = ["code128", "rfid", "keyed", "data_matrix", "legacy-reader"];
        for i in 0..240i64 {
            let known = i % 7 != 3;
            let action = ["seen", "receive", "dispatch"][(i % 3) as usize];
            let location = [ward5, ward7, lib][(i % 5 % 3) as usize];
            let raw = if known {
                l.barcode.clone()
            } else {
                format!("]C0UNKNOWN{i}")
            };
            l.c.execute(
                "INSERT INTO movements(event_id, folder_id, location_id, action, destination_id, device_id, staff_id, read_at, received_at, raw, symbology, method, sent_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    &uuid::Uuid::from_u128(1_000 + i as u128).as_bytes()[..],
                    known.then_some(l.folder),
                    location,
                    action,
                    (action == "dispatch").then_some(if location == ward7 { ward5 } else { ward7 }),
                    devices[(i % 4) as usize],
                    staff[(i % 4 + i / 4 % 2) as usize % 4],
                    T0 + 2_000 + i * 60_000,
                    T0 + 2_000 + i * 60_000 + i % 11,
                    raw,
                    symbologies[(i % 5) as usize],
                    methods[(i / 3 % 4) as usize],
                    senders[(i % 3) as usize],
                ],
            )
            .expect("an old movement");
        }
        let before = all_movements(&l.c);
        assert_eq!(before.len(), 241);
        let words_before: std::collections::BTreeSet<String> = {
            let mut st =
                l.c.prepare(
                    "SELECT action FROM movements UNION SELECT symbology FROM movements
                     UNION SELECT method FROM movements UNION SELECT device_id FROM movements
                     UNION SELECT staff_id FROM movements WHERE staff_id IS NOT NULL
                     UNION SELECT sent_by FROM movements WHERE sent_by IS NOT NULL",
                )
                .expect("words");
            st.query_map([], |r| r.get(0))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows")
        };

        let m = migrate(&mut l.c).expect("migrate");
        assert_eq!((m.from, m.to), (version, MIGRATIONS.len()));
        assert_eq!(
            all_movements(&l.c),
            before,
            "every movement reads back the same"
        );
        // the statistics' movements per hour and place, filled from the movements stored
        assert_eq!(counted_hours(&l.c), hours_counted_again(&l.c));
        assert!(!counted_hours(&l.c).is_empty());
        let kind: String =
            l.c.query_row(
                "SELECT type FROM sqlite_master WHERE name = 'movements'",
                [],
                |r| r.get(0),
            )
            .expect("movements");
        assert_eq!(kind, "view");
        // each word once, and every word of the old ledger among them
        let words = word_counts(&l.c);
        assert!(words.iter().all(|(_, n)| *n == 1), "{words:?}");
        let words: std::collections::BTreeSet<String> = words.into_iter().map(|(w, _)| w).collect();
        assert!(words.is_superset(&words_before), "{words:?}");
        // "S0042" is a device and a badge, "user:porter" a badge and a sender: one word each
        let n: i64 =
            l.c.query_row(
                "SELECT count(*) FROM movement_words WHERE word IN ('S0042', 'user:porter')",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(n, 2);
        let words_after = word_counts(&l.c).len();

        // The first scan sent again is a duplicate; another scan under its id is refused.
        assert_eq!(
            l.scan(1, "LWARD5", "receive", 1_000).status,
            EventStatus::Duplicate
        );
        let other = l.scan(1, "LWARD7", "receive", 1_000);
        assert_eq!(other.status, EventStatus::Rejected);
        assert_eq!(other.field.as_deref(), Some("event_id"));
        assert_eq!(all_movements(&l.c), before, "nothing was added");
        // A new scan is stored after the old ones, with the words it shares not added again.
        assert_eq!(
            l.scan(5_000, "LWARD5", "seen", 40_000_000).status,
            EventStatus::Stored
        );
        let after = all_movements(&l.c);
        assert_eq!(after.len(), 242);
        let last = after.last().expect("the new scan");
        assert_eq!(last[0], Value::Integer(242));
        assert_eq!(last[4], Value::Text("seen".into()));
        assert_eq!(last[6], Value::Text("test-scanner".into()));
        assert_eq!(last[7], Value::Null);
        assert_eq!(last[13], Value::Text("system:cli".into()));
        assert_eq!(word_counts(&l.c).len(), words_after);
        // and counted as it is stored, the resent and refused ones not at all
        assert_eq!(counted_hours(&l.c), hours_counted_again(&l.c));
    }

    /// `movement_hours` as kept by the trigger.
    fn counted_hours(c: &Connection) -> Vec<(i64, i64, i64)> {
        let mut st = c
            .prepare("SELECT hour, location_id, n FROM movement_hours ORDER BY 1, 2")
            .expect("hours");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    /// The same counted from the movements: scans of known folders, stock-takes left out.
    fn hours_counted_again(c: &Connection) -> Vec<(i64, i64, i64)> {
        let mut st = c
            .prepare(
                "SELECT read_at / 3600000, location_id, count(*) FROM movements
                  WHERE folder_id IS NOT NULL AND method <> 'audit' GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .expect("hours");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    /// Inserts of the old kind into the `movements` view still work (tools and tests write
    /// them): new words are added once, and a resent event id is ignored.
    #[test]
    fn the_movements_view_takes_inserts_of_the_old_kind() {
        let l = ledger();
        let ward5 = location_id(&l.c, "LWARD5");
        let insert = |id: u128, device: &str, staff: Option<&str>| {
            l.c.execute(
                "INSERT OR IGNORE INTO movements(event_id, folder_id, location_id, action, device_id, staff_id, read_at, received_at, raw, symbology, method)
                 VALUES (?1, ?2, ?3, 'seen', ?4, ?5, ?6, ?6, ?7, 'code128', 'barcode')",
                params![&uuid::Uuid::from_u128(id).as_bytes()[..], l.folder, ward5, device, staff, T0 + id as i64, l.barcode],
            )
            .expect("insert through the view");
        };
        insert(1, "old-tool", Some("old-tool"));
        insert(2, "old-tool", None);
        insert(2, "another-tool", None);
        let rows = all_movements(&l.c);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][6], Value::Text("old-tool".into()));
        assert_eq!(rows[0][7], Value::Text("old-tool".into()));
        assert_eq!(rows[1][7], Value::Null);
        assert_eq!(rows[1][13], Value::Null);
        let words = word_counts(&l.c);
        assert!(words.iter().all(|(_, n)| *n == 1), "{words:?}");
        assert!(words.iter().any(|(w, _)| w == "old-tool"));
        assert!(words.iter().any(|(w, _)| w == "another-tool"));
        // a missing word is refused as before (action is required)
        assert!(l
            .c
            .execute(
                "INSERT INTO movements(event_id, location_id, device_id, read_at, received_at, raw, symbology, method)
                 VALUES (x'00', ?1, 'd', 1, 1, 'r', 'qr', 'barcode')",
                [ward5],
            )
            .is_err());
    }

    /// The query plan of each reader of movements, through the view.
    fn plan(c: &Connection, sql: &str) -> String {
        let mut st = c
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let n = st.parameter_count();
        let args: Vec<Value> = (0..n).map(|_| Value::Integer(1)).collect();
        st.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("rows")
            .join("\n")
    }

    /// Reading through the `movements` view costs no table scan a query did not already make:
    /// the trail, the duplicate check, the rebuild of a folder's place and the availability
    /// checks find their rows by index, and every word is one primary-key step. (The
    /// queries are those of `whereis`, `store`, `recompute` and `reports::availability`.)
    #[test]
    fn readers_of_the_view_use_the_indexes() {
        let l = ledger();
        let indexed = [
            "SELECT m.read_at, l.code, l.name, l.kind, m.action, d.code, m.device_id, m.staff_id, m.method, m.received_at, m.sent_by
             FROM movements m JOIN locations l ON l.id = m.location_id LEFT JOIN locations d ON d.id = m.destination_id
             WHERE m.folder_id=?1 ORDER BY m.read_at DESC, m.id DESC LIMIT ?2",
            "SELECT folder_id IS ?2 AND location_id=?3 AND action=?4 AND destination_id IS ?5
                AND device_id=?6 AND staff_id IS ?7 AND read_at=?8 AND raw=?9
               FROM movements WHERE event_id=?1",
            "SELECT id, location_id, read_at, action, destination_id FROM movements WHERE folder_id=?1 ORDER BY read_at DESC, id DESC LIMIT 1000",
            "SELECT m.location_id, l.kind, m.action, m.destination_id FROM movements m
             JOIN locations l ON l.id = m.location_id
             WHERE m.folder_id=?1 AND m.read_at <= ?2 ORDER BY m.read_at DESC, m.id DESC LIMIT 1",
            "SELECT EXISTS(SELECT 1 FROM movements WHERE folder_id=?1 AND read_at > ?2
               AND read_at <= ?3 AND location_id IN (?4, ?5) AND action != 'dispatch')",
        ];
        for sql in indexed {
            let p = plan(&l.c, sql);
            assert!(
                p.contains("INDEX movements_folder") || p.contains("INDEX movement_log_event"),
                "{sql}\n{p}"
            );
            assert!(
                p.lines()
                    .all(|l| !l.starts_with("SCAN") || l == "SCAN CONSTANT ROW"),
                "{sql}\n{p}"
            );
            assert!(
                !p.contains("MATERIALIZE") && !p.contains("CO-ROUTINE"),
                "{sql}\n{p}"
            );
        }
        // Statistics read a period's scans: one pass over the ledger, as before, and only the
        // word they test (the method) is looked up, by its number.
        let stats = plan(
            &l.c,
            "SELECT m.read_at / 3600000 AS h, l.code, count(*)
             FROM movements m JOIN locations l ON l.id = m.location_id
             WHERE m.read_at >= ?1 AND m.read_at < ?2 AND m.folder_id IS NOT NULL
               AND m.method <> 'audit'
             GROUP BY h, l.code",
        );
        // (the pass reads the ledger's rows, or the trail index, which carries every column
        // asked for since migration 19)
        let passes: Vec<&str> = stats.lines().filter(|l| l.contains(" m ")).collect();
        assert_eq!(passes.len(), 1, "{stats}");
        assert!(
            passes[0].starts_with("SCAN m")
                || passes[0].starts_with("SEARCH m USING COVERING INDEX movements_folder"),
            "{stats}"
        );
        assert_eq!(
            stats.matches("SCAN").count(),
            stats.matches("SCAN m").count(),
            "{stats}"
        );
        assert_eq!(
            stats.matches("SEARCH w USING INTEGER PRIMARY KEY").count(),
            1,
            "{stats}"
        );
        assert!(
            !stats.contains("MATERIALIZE") && !stats.contains("CO-ROUTINE"),
            "{stats}"
        );
        // Counting and the newest id read no words, and the newest id takes one step.
        let count = plan(&l.c, "SELECT count(*) FROM movements");
        assert!(!count.contains("SEARCH w"), "{count}");
        let newest = plan(&l.c, "SELECT max(id) FROM movements");
        assert_eq!(newest, "SEARCH m", "{newest}");
    }
}
