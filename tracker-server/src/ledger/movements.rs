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
        let n = c
            .prepare_cached(
                "INSERT OR IGNORE INTO movements(event_id, folder_id, location_id, action, destination_id, device_id, staff_id, read_at, received_at, raw, symbology, method, sent_by)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
            )?
            .execute(params![
                &e.uuid.as_bytes()[..], folder_id, loc, e.action.as_str(), dest, e.device_id, e.staff_id, e.read_at, now, e.raw, e.symbology, e.method.as_str(), who.actor
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
    use serde_json::json;

    const T0: i64 = 1_780_000_000_000; // 2026-05-28

    struct Ledger {
        c: Connection,
        scan: ScanConfig,
        folder: i64,
        barcode: String,
    }

    fn ledger() -> Ledger {
        let mut c = Connection::open_in_memory().expect("in-memory database");
        crate::storage::migrations::migrate(&mut c).expect("schema");
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
}
