//! Recording scans: the use case behind `POST /api/v1/events`, the web scan page and the demo.
//! Each event is checked on its own (a refusal names the field), its sender is checked (the
//! device is the sender's, the staff badge exists), then the batch is stored in the
//! ledger ([`crate::ledger::movements::store`]) and, in the same transaction, the requests for
//! each scanned folder follow the scan ([`requests::on_scan`]).

use super::{requests, shelf_audit};
use crate::{
    auth::Principal,
    ledger::movements::{self, BatchResult, EventResult, ScanEvent, StoredScan, ValidEvent},
    ledger::{device_bindings, staff},
    util::now_ms,
    Result,
};
use casenote_core::identifiers::scan::ScanConfig;
use rusqlite::Connection;
use std::collections::HashMap;

/// Batches larger than this are written in a transaction of their own
/// ([`crate::storage::Db::write_solo`]).
const SOLO_BATCH: usize = 64;

/// Move the scanned folder's requests on (dispatched, received, returned...).
pub fn follow(c: &Connection, s: &StoredScan) -> Result<()> {
    requests::on_scan(
        c,
        s.folder_id,
        s.location_id,
        s.action,
        s.destination_id,
        s.read_at,
    )
}

/// Store validated events and let their requests follow, in the caller's transaction. Scans
/// with method `audit` are classified for their shelf audit before they are stored, and their
/// audit lines written as they are ([`shelf_audit::AuditScans`]).
pub fn store_and_follow(
    c: &Connection,
    who: &Principal,
    events: Vec<(usize, ValidEvent)>,
    results: &mut [Option<EventResult>],
) -> Result<()> {
    let (events, mut audits) = shelf_audit::AuditScans::before_store(c, who, events, results)?;
    movements::store(c, who, events, results, &mut |c, s| {
        follow(c, s)?;
        audits.after_store(c, who, s)
    })
}

/// Who may send these events, in the caller's transaction: the device must not belong to
/// another token ([`device_bindings::may_send_as`], which binds an unbound device to the
/// sending token), and a staff badge must be known ([`staff::known`]), or be the sending
/// person's own name. A refused event gets its result here; the others are returned. Each
/// device and badge of a batch is looked up once.
fn check_senders(
    c: &Connection,
    who: &Principal,
    staff_prefix: &str,
    events: Vec<(usize, ValidEvent)>,
    results: &mut [Option<EventResult>],
) -> Result<Vec<(usize, ValidEvent)>> {
    let mut devices: HashMap<String, std::result::Result<(), String>> = HashMap::new();
    let mut badges: HashMap<String, bool> = HashMap::new();
    let mut allowed = Vec::with_capacity(events.len());
    for (i, e) in events {
        if !devices.contains_key(&e.device_id) {
            let may = device_bindings::may_send_as(c, who, &e.device_id)?;
            devices.insert(e.device_id.clone(), may);
        }
        if let Some(Err(why)) = devices.get(&e.device_id) {
            results[i] = Some(EventResult::rejected(
                e.uuid.to_string(),
                "device_id",
                why.clone(),
            ));
            continue;
        }
        if let Some(badge) = &e.staff_id {
            if !badges.contains_key(badge) {
                let known =
                    who.actor == format!("user:{badge}") || staff::known(c, staff_prefix, badge)?;
                badges.insert(badge.clone(), known);
            }
            if badges.get(badge) == Some(&false) {
                results[i] = Some(EventResult::rejected(
                    e.uuid.to_string(),
                    "staff_id",
                    format!("no staff badge {badge} is registered; print it from the Labels page (which registers it) or register it"),
                ));
                continue;
            }
        }
        allowed.push((i, e));
    }
    Ok(allowed)
}

/// Validate and store a batch of events as sent on the wire; one result per event, in order.
pub async fn ingest_batch(
    db: &crate::storage::Db,
    cfg: &ScanConfig,
    max_skew_secs: u64,
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
        match serde_path_to_error::deserialize::<_, ScanEvent>(v) {
            Err(e) => {
                let field = e.path().to_string();
                let field = if field == "." { "event" } else { &field };
                results[i] = Some(EventResult::rejected(
                    id_hint,
                    field,
                    e.into_inner().to_string(),
                ));
            }
            Ok(ev) => match movements::validate(&ev, cfg, now, max_skew_secs as i64 * 1000) {
                Ok(ok) => valid.push((i, ok)),
                Err(e) => {
                    let field = e.field().unwrap_or("event").to_string();
                    results[i] = Some(EventResult::rejected(id_hint, &field, e.public_message()));
                }
            },
        }
    }
    let prefix = cfg.staff_prefix.clone();
    let job = move |c: &Connection| {
        let checked = check_senders(c, &who, &prefix, valid, &mut results)?;
        store_and_follow(c, &who, checked, &mut results)?;
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
    Ok(BatchResult::new(results))
}
