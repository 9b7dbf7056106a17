//! Recording scans: the use case behind `POST /api/v1/events`, the web scan page and the demo.
//! Each event is checked on its own (a refusal names the field), its sender is checked (the
//! device is the sender's, the staff badge exists), then the batch is stored in the
//! ledger ([`crate::ledger::movements::store`]) and, in the same transaction, the requests for
//! each scanned folder follow the scan ([`requests::on_scan`]).
//!
//! Containers (trolleys, bags, crates; [`crate::ledger::containers`]): an event whose payload
//! is a container's GRAI (barcode or GRAI-96 tag) is the container seen at a place, and gives
//! each folder on it one movement there, stored through [`store_and_follow`] like any scan; an
//! event with `container` set loads its folder onto that container; a folder scanned by hand
//! (barcode or typed, not an RFID read) at a place comes off the container it was on. The
//! events of a batch are handled in the order sent.

use super::{requests, shelf_audit};
use crate::{
    auth::Principal,
    ledger::containers::{self, ContainerScan, Recorded},
    ledger::movements::{self, BatchResult, EventResult, ScanEvent, StoredScan, ValidEvent},
    ledger::{device_bindings, staff},
    util::now_ms,
    Result,
};
use casenote_core::identifiers::scan::{classify, ScanConfig, ScanTarget};
use casenote_core::wire::Method;
use rusqlite::Connection;
use std::collections::{HashMap, HashSet};

/// Batches larger than this are written in pieces ([`crate::storage::Db::write_pieces`]).
const SOLO_BATCH: usize = 64;

/// Events in one piece of a big batch: the most a small change waits for behind a batch (a
/// few milliseconds even on a database of millions of folders; docs/benchmarks.md, "Mixed
/// load"). Each piece runs in a savepoint, whose cost grows with the square of its size
/// ([`crate::storage::Db::write_solo`]), so pieces stay at most [`SOLO_BATCH`].
const PIECE: usize = 64;

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

/// Folder scans at a place: as [`store_and_follow`] (shelf audit scans classified for their
/// audit, requests moved on), and a folder scanned by hand (not read by an RFID reader, which
/// also reads folders riding on a trolley) comes off its container.
fn store_folder_scans(
    c: &Connection,
    who: &Principal,
    events: Vec<(usize, ValidEvent)>,
    results: &mut [Option<EventResult>],
) -> Result<()> {
    let by_hand: HashSet<i64> = events
        .iter()
        .filter(|(_, e)| e.method != Method::Rfid)
        .map(|(_, e)| e.serial)
        .collect();
    let (events, mut audits) = shelf_audit::AuditScans::before_store(c, who, events, results)?;
    movements::store(c, who, events, results, &mut |c, s| {
        if by_hand.contains(&s.folder_id) {
            containers::take_off(c, who, s.folder_id, s.read_at)?;
        }
        follow(c, s)?;
        audits.after_store(c, who, s)
    })
}

/// An event that passed the checks needing no database, by what it is.
#[derive(Debug)]
pub enum Checked {
    /// A folder scanned at a place.
    Folder(ValidEvent),
    /// A folder loaded onto a container (its GRAI or name).
    Load(ValidEvent, String),
    /// A container scanned at a place.
    Container(ContainerScan),
}

impl Checked {
    fn uuid(&self) -> uuid::Uuid {
        match self {
            Self::Folder(e) | Self::Load(e, _) => e.uuid,
            Self::Container(s) => s.uuid,
        }
    }

    fn device_id(&self) -> &str {
        match self {
            Self::Folder(e) | Self::Load(e, _) => &e.device_id,
            Self::Container(s) => &s.device_id,
        }
    }

    fn staff_id(&self) -> Option<&String> {
        match self {
            Self::Folder(e) | Self::Load(e, _) => e.staff_id.as_ref(),
            Self::Container(s) => s.staff_id.as_ref(),
        }
    }
}

/// Check one event as sent (a folder scan, a container scan or a load), without the database.
pub fn check(e: &ScanEvent, cfg: &ScanConfig, now: i64, max_skew_ms: i64) -> Result<Checked> {
    if let ScanTarget::Container { grai } = classify(&e.raw, cfg) {
        return containers::validate_scan(e, grai, now, max_skew_ms).map(Checked::Container);
    }
    let v = movements::validate(e, cfg, now, max_skew_ms)?;
    if e.container.is_some() && e.method == Method::Audit {
        return Err(crate::Error::invalid(
            "container",
            "a shelf audit scan cannot load a folder onto a container",
        ));
    }
    Ok(match &e.container {
        Some(k) => Checked::Load(v, k.clone()),
        None => Checked::Folder(v),
    })
}

fn answer(uuid: uuid::Uuid, r: &Recorded) -> EventResult {
    let id = uuid.to_string();
    match r {
        Recorded::Stored { .. } => EventResult::stored(id, true),
        Recorded::Duplicate => EventResult::duplicate(id),
        Recorded::Refused { field, message } => EventResult::rejected(id, field, message.clone()),
    }
}

/// A container seen at a place: record it and store one movement for each folder on it
/// (through [`store_and_follow`], so requests move on as for any scan). Returns the answer.
pub fn store_container_scan(
    c: &Connection,
    who: &Principal,
    s: &ContainerScan,
) -> Result<(EventResult, Recorded)> {
    let r = containers::record_scan(c, who, s)?;
    if let Recorded::Stored { moves, .. } = &r {
        let mut sub = vec![None; moves.len()];
        store_and_follow(
            c,
            who,
            moves.iter().cloned().enumerate().collect(),
            &mut sub,
        )?;
        // A folder's movement refused on its own (it cannot be, short of a corrupt folder row)
        // is said in the log, without the folder: the container's answer stays "stored".
        let refused = sub
            .iter()
            .flatten()
            .filter(|r| r.status == casenote_core::wire::EventStatus::Rejected)
            .count();
        if refused > 0 {
            tracing::warn!(event = %s.uuid, refused, "folders on a container were not moved");
        }
    }
    Ok((answer(s.uuid, &r), r))
}

/// Store checked events in the order sent, in the caller's transaction: runs of folder scans
/// together, loads and container scans one by one.
pub fn store_checked(
    c: &Connection,
    who: &Principal,
    events: Vec<(usize, Checked)>,
    results: &mut [Option<EventResult>],
) -> Result<()> {
    let mut run: Vec<(usize, ValidEvent)> = Vec::new();
    for (i, ev) in events {
        let other = match ev {
            Checked::Folder(v) => {
                run.push((i, v));
                continue;
            }
            other => other,
        };
        if !run.is_empty() {
            store_folder_scans(c, who, std::mem::take(&mut run), results)?;
        }
        results[i] = Some(match other {
            Checked::Load(v, k) => answer(v.uuid, &containers::load(c, who, &v, &k)?),
            Checked::Container(s) => store_container_scan(c, who, &s)?.0,
            Checked::Folder(_) => unreachable!("folder scans are collected above"),
        });
    }
    if !run.is_empty() {
        store_folder_scans(c, who, run, results)?;
    }
    Ok(())
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
    events: Vec<(usize, Checked)>,
    results: &mut [Option<EventResult>],
) -> Result<Vec<(usize, Checked)>> {
    let mut devices: HashMap<String, std::result::Result<(), String>> = HashMap::new();
    let mut badges: HashMap<String, bool> = HashMap::new();
    let mut allowed = Vec::with_capacity(events.len());
    for (i, e) in events {
        if !devices.contains_key(e.device_id()) {
            let may = device_bindings::may_send_as(c, who, e.device_id())?;
            devices.insert(e.device_id().to_string(), may);
        }
        if let Some(Err(why)) = devices.get(e.device_id()) {
            results[i] = Some(EventResult::rejected(
                e.uuid().to_string(),
                "device_id",
                why.clone(),
            ));
            continue;
        }
        if let Some(badge) = e.staff_id() {
            if !badges.contains_key(badge) {
                let known =
                    who.actor == format!("user:{badge}") || staff::known(c, staff_prefix, badge)?;
                badges.insert(badge.clone(), known);
            }
            if badges.get(badge) == Some(&false) {
                results[i] = Some(EventResult::rejected(
                    e.uuid().to_string(),
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
            Ok(ev) => match check(&ev, cfg, now, max_skew_secs as i64 * 1000) {
                Ok(ok) => valid.push((i, ok)),
                Err(e) => {
                    let field = e.field().unwrap_or("event").to_string();
                    results[i] = Some(EventResult::rejected(id_hint, &field, e.public_message()));
                }
            },
        }
    }
    let prefix = cfg.staff_prefix.clone();
    if !big {
        // A small batch shares a group commit with whatever else is waiting.
        let job = move |c: &Connection| {
            let checked = check_senders(c, &who, &prefix, valid, &mut results)?;
            store_checked(c, &who, checked, &mut results)?;
            Ok(results)
        };
        let results = db.write(job).await?;
        return Ok(BatchResult::new(results.into_iter().flatten().collect()));
    }
    // A big batch (a bridge catching up) is stored in pieces, in the order sent; small changes
    // (a lookup's audit row, a sign-in) are committed between the pieces instead of waiting
    // for the whole batch. If a piece fails (its own savepoint is rolled back), the request
    // is answered with that error, but the other pieces, before and after it, are stored:
    // the bridge sends the batch again, and their events are answered `duplicate`.
    let mut pieces = Vec::new();
    let mut valid = valid.into_iter().peekable();
    while valid.peek().is_some() {
        let piece: Vec<(usize, Checked)> = valid.by_ref().take(PIECE).collect();
        let (who, prefix) = (who.clone(), prefix.clone());
        pieces.push(move |c: &Connection| {
            // numbered from 0 within the piece; answered with the batch's own numbers
            let (at, piece): (Vec<usize>, Vec<(usize, Checked)>) = piece
                .into_iter()
                .enumerate()
                .map(|(k, (i, e))| (i, (k, e)))
                .unzip();
            let mut answers: Vec<Option<EventResult>> = vec![None; at.len()];
            let checked = check_senders(c, &who, &prefix, piece, &mut answers)?;
            store_checked(c, &who, checked, &mut answers)?;
            Ok(at.into_iter().zip(answers).collect::<Vec<_>>())
        });
    }
    for piece in db.write_pieces(pieces).await {
        for (i, answer) in piece? {
            if answer.is_some() {
                results[i] = answer;
            }
        }
    }
    let results: Vec<EventResult> = results.into_iter().flatten().collect();
    Ok(BatchResult::new(results))
}
