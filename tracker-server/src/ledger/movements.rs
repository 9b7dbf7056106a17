//! The movement ledger: append-only scan events, stored once per event UUID, ordered by the
//! time the device read them (not when they arrived).

use crate::{
    audit,
    auth::Principal,
    ledger::locations,
    util::{now_ms, parse_rfc3339_ms},
    Result,
};
use label_printer::identifiers::{classify, scan::ScanConfig, strip_aim, ScanTarget};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// Most events accepted in one request.
pub const MAX_BATCH: usize = 5000;
/// Batches larger than this are written in a transaction of their own
/// ([`crate::storage::Db::write_solo`]).
const SOLO_BATCH: usize = 64;
/// Reads stamped further ahead than this are refused (a device clock is wrong).
pub const MAX_FUTURE_MS: i64 = 10 * 60 * 1000;

/// An event as sent by a bridge or a scanning page.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingEvent {
    pub event_id: String,
    pub device_id: String,
    #[serde(default)]
    pub staff_id: Option<String>,
    /// RFC 3339 time the device read the barcode or tag.
    pub read_at: String,
    /// The payload as read (AIM prefix allowed; EPC as 24 hex characters).
    pub raw: String,
    #[serde(default)]
    pub symbology: Option<String>,
    /// barcode, rfid or manual.
    pub method: String,
    /// Code or GLN of the place the folder was seen at (or moved into).
    pub location: String,
    /// seen (default), dispatch or receive.
    #[serde(default)]
    pub action: Option<String>,
    /// Where a dispatched folder is going.
    #[serde(default)]
    pub destination: Option<String>,
}

/// An event that passed the checks that need no database.
#[derive(Debug, Clone)]
pub struct ValidEvent {
    pub uuid: uuid::Uuid,
    pub device_id: String,
    pub staff_id: Option<String>,
    pub read_at: i64,
    pub raw: String,
    pub symbology: String,
    pub method: &'static str,
    pub location: String,
    pub action: &'static str,
    pub destination: Option<String>,
    pub serial: i64,
}

/// What happened to one event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventResult {
    pub event_id: String,
    /// stored, duplicate or rejected.
    pub status: &'static str,
    /// For stored events: false when no folder has that id yet (kept, listed as unmatched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl EventResult {
    pub fn rejected(event_id: String, field: &str, message: impl Into<String>) -> Self {
        Self {
            event_id,
            status: "rejected",
            matched: None,
            code: Some("invalid_field"),
            field: Some(field.to_string()),
            message: Some(message.into()),
        }
    }
}

/// Validate and store a batch of events as sent on the wire; one result per event, in order.
pub async fn ingest_batch(
    db: &crate::storage::Db,
    cfg: &ScanConfig,
    who: Principal,
    events: Vec<serde_json::Value>,
) -> Result<BatchResult> {
    let now = now_ms();
    let big = events.len() > SOLO_BATCH;
    let mut results: Vec<Option<EventResult>> = vec![None; events.len()];
    let mut valid = Vec::with_capacity(events.len());
    for (i, v) in events.into_iter().enumerate() {
        let id_hint = v
            .get("event_id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        match serde_path_to_error::deserialize::<_, IncomingEvent>(v) {
            Err(e) => {
                let field = e.path().to_string();
                let field = if field == "." { "event" } else { &field };
                results[i] = Some(EventResult::rejected(
                    id_hint,
                    field,
                    e.into_inner().to_string(),
                ));
            }
            Ok(ev) => match validate(&ev, cfg, now) {
                Ok(ok) => valid.push((i, ok)),
                Err((field, msg)) => results[i] = Some(EventResult::rejected(id_hint, &field, msg)),
            },
        }
    }
    let job = move |c: &Connection| {
        store(c, &who, valid, &mut results)?;
        Ok(results)
    };
    // Big batches (a bridge catching up) get a transaction of their own; small ones share a
    // group commit with whatever else is waiting.
    let results = if big {
        db.write_solo(job).await?
    } else {
        db.write(job).await?
    };
    let results: Vec<EventResult> = results.into_iter().flatten().collect();
    let count = |st: &str| results.iter().filter(|r| r.status == st).count();
    Ok(BatchResult {
        stored: count("stored"),
        duplicates: count("duplicate"),
        rejected: count("rejected"),
        results,
    })
}

#[derive(Debug, Serialize)]
pub struct BatchResult {
    pub results: Vec<EventResult>,
    pub stored: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

fn short_text(field: &str, v: &str, max: usize) -> Result<(), (String, String)> {
    if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
        return Err((
            field.to_string(),
            format!("must be 1-{max} printable characters"),
        ));
    }
    Ok(())
}

/// Checks that need no database. `Err((field, message))` names the field.
pub fn validate(
    e: &IncomingEvent,
    cfg: &ScanConfig,
    now: i64,
) -> Result<ValidEvent, (String, String)> {
    let uuid = uuid::Uuid::parse_str(e.event_id.trim()).map_err(|_| {
        (
            "event_id".to_string(),
            "must be a UUID made by the sender".to_string(),
        )
    })?;
    short_text("device_id", &e.device_id, 100)?;
    if let Some(s) = &e.staff_id {
        short_text("staff_id", s, 100)?;
    }
    let read_at = parse_rfc3339_ms(&e.read_at).ok_or_else(|| {
        (
            "read_at".to_string(),
            "must be an RFC 3339 time, e.g. 2026-11-25T08:00:00Z".to_string(),
        )
    })?;
    if read_at > now + MAX_FUTURE_MS {
        return Err((
            "read_at".into(),
            "is more than 10 minutes in the future; check the device clock".into(),
        ));
    }
    if read_at < 946_684_800_000 {
        return Err((
            "read_at".into(),
            "is before the year 2000; check the device clock".into(),
        ));
    }
    if e.raw.len() > 512 {
        return Err(("raw".into(), "is longer than 512 bytes".into()));
    }
    let method = match e.method.as_str() {
        "barcode" => "barcode",
        "rfid" => "rfid",
        "manual" => "manual",
        _ => return Err(("method".into(), "must be barcode, rfid or manual".into())),
    };
    let action = match e.action.as_deref().unwrap_or("seen") {
        "seen" => "seen",
        "dispatch" => "dispatch",
        "receive" => "receive",
        _ => return Err(("action".into(), "must be seen, dispatch or receive".into())),
    };
    if action == "dispatch" && e.destination.is_none() {
        return Err((
            "destination".into(),
            "is required when action is dispatch".into(),
        ));
    }
    short_text("location", &e.location, 64)?;
    let serial = match classify(&e.raw, cfg) {
        ScanTarget::Folder { serial } => serial as i64,
        ScanTarget::Location { .. } | ScanTarget::LocationGln { .. } => {
            return Err((
                "raw".into(),
                "is a location barcode, not a folder; send it as the event's location".into(),
            ))
        }
        ScanTarget::Staff { .. } => {
            return Err((
                "raw".into(),
                "is a staff badge, not a folder; send it as staff_id".into(),
            ))
        }
        ScanTarget::Unknown { reason } => {
            return Err(("raw".into(), format!("is not a folder id: {reason}")))
        }
    };
    let symbology = match &e.symbology {
        Some(s) => {
            short_text("symbology", s, 32)?;
            s.clone()
        }
        None => match strip_aim(&e.raw).0 {
            Some(s) => serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_else(|| "unknown".into()),
            None if method == "rfid" => "rfid".into(),
            None => "unknown".into(),
        },
    };
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

/// Store validated events (one writer transaction). `slots` are the positions in the request.
pub fn store(
    c: &Connection,
    who: &Principal,
    events: Vec<(usize, ValidEvent)>,
    results: &mut [Option<EventResult>],
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
                "INSERT OR IGNORE INTO movements(event_id, folder_id, location_id, action, destination_id, device_id, staff_id, read_at, received_at, raw, symbology, method)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
            )?
            .execute(params![
                &e.uuid.as_bytes()[..], folder_id, loc, e.action, dest, e.device_id, e.staff_id, e.read_at, now, e.raw, e.symbology, e.method
            ])?;
        if n == 0 {
            results[slot] = Some(EventResult {
                event_id,
                status: "duplicate",
                matched: None,
                code: None,
                field: None,
                message: None,
            });
            continue;
        }
        let movement_id = c.last_insert_rowid();
        stored += 1;
        if let Some(cur) = cur {
            if cur.read_at.is_none_or(|t| e.read_at >= t) {
                let same_run = cur.location == Some(loc)
                    && (cur.action.as_deref() == Some("dispatch")) == (e.action == "dispatch");
                let since = if same_run {
                    cur.since.unwrap_or(e.read_at)
                } else {
                    e.read_at
                };
                c.prepare_cached(
                    "UPDATE folders SET cur_movement_id=?1, cur_location_id=?2, cur_read_at=?3, cur_since=?4, cur_action=?5, cur_destination_id=?6 WHERE id=?7",
                )?
                .execute(params![movement_id, loc, e.read_at, since, e.action, dest, e.serial])?;
            } else {
                // A late event (a bridge replaying after an outage): it may change "since".
                recompute(c, e.serial)?;
            }
            // Requests for this folder follow its scans (dispatched, received, returned...).
            crate::workflow::requests::on_scan(c, e.serial, loc, e.action, dest, e.read_at)?;
        }
        results[slot] = Some(EventResult {
            event_id,
            status: "stored",
            matched: Some(folder_id.is_some()),
            code: None,
            field: None,
            message: if folder_id.is_none() {
                Some("no folder has this id yet; kept as unmatched".into())
            } else {
                None
            },
        });
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
