//! Device health reported by bridges: online, last read, queue depth, oldest queued event, and
//! each device's read rate against its own norm ([`read_norms`]).

use super::read_norms::{self, DeviceHealthConfig, ReadHealth};
use crate::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

pub use casenote_core::wire::{DeviceReport, Heartbeat};

#[derive(Debug, Serialize)]
pub struct DeviceStatus {
    pub device_id: String,
    pub bridge_id: String,
    pub description: String,
    pub online: bool,
    pub last_read_at: Option<String>,
    pub queue_depth: i64,
    pub oldest_event_age_s: Option<i64>,
    pub last_heartbeat: String,
    /// Dropped since the bridge started: other systems' tags, corrupt messages, scans
    /// refused for want of a location.
    pub foreign_reads: i64,
    pub corrupt_messages: i64,
    pub refused_scans: i64,
    /// Reads since the bridge started, error replies from the reader, and its last error.
    pub reads: i64,
    pub reader_errors: i64,
    pub last_error: Option<String>,
    /// The read rate against the device's own norm ([`read_norms::verdict`]).
    pub read_health: ReadHealth,
}

pub fn validate(h: &Heartbeat) -> Result<()> {
    if h.bridge_id.is_empty() || h.bridge_id.len() > 100 {
        return Err(Error::invalid("bridge_id", "must be 1-100 characters"));
    }
    if h.devices.len() > 256 {
        return Err(Error::invalid("devices", "at most 256 devices per bridge"));
    }
    for (i, d) in h.devices.iter().enumerate() {
        if d.device_id.is_empty() || d.device_id.len() > 100 {
            return Err(Error::invalid(
                format!("devices[{i}].device_id"),
                "must be 1-100 characters",
            ));
        }
    }
    Ok(())
}

/// Store a heartbeat received at `now_ms`: each device's latest report, and the reads since
/// its previous report into its hourly counts (the `reads` stored from the previous report is
/// the counter's last value, so the increase is exact).
pub fn record(c: &Connection, h: &Heartbeat, now_ms: i64) -> Result<()> {
    let now = crate::util::ms_to_rfc3339(now_ms);
    for d in &h.devices {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let previous: Option<i64> = c
            .prepare_cached("SELECT reads FROM devices WHERE device_id=?1")?
            .query_row([&d.device_id], |r| r.get(0))
            .optional()?;
        read_norms::record_reads(c, &d.device_id, previous, now_ms, n(d.reads))?;
        c.prepare_cached(
            "INSERT INTO devices(device_id, bridge_id, description, online, last_read_at, queue_depth, oldest_event_age_s, last_heartbeat, foreign_reads, corrupt_messages, refused_scans, reads, reader_errors, last_error)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)
             ON CONFLICT(device_id) DO UPDATE SET bridge_id=excluded.bridge_id, description=excluded.description, online=excluded.online,
               last_read_at=excluded.last_read_at, queue_depth=excluded.queue_depth, oldest_event_age_s=excluded.oldest_event_age_s, last_heartbeat=excluded.last_heartbeat,
               foreign_reads=excluded.foreign_reads, corrupt_messages=excluded.corrupt_messages, refused_scans=excluded.refused_scans,
               reads=excluded.reads, reader_errors=excluded.reader_errors, last_error=excluded.last_error",
        )?
        .execute(params![d.device_id, h.bridge_id, d.description, d.online, d.last_read_at, d.queue_depth, d.oldest_event_age_s, now,
            n(d.foreign_reads), n(d.corrupt_messages), n(d.refused_scans), n(d.reads), n(d.reader_errors),
            d.last_error.as_deref().map(|e| e.chars().take(300).collect::<String>())])?;
    }
    Ok(())
}

/// A device's name for people: its description from the bridge's heartbeat, or "scan page
/// (user)" for scans made in the browser. `None` when nothing better than the id is known.
pub fn display_name(c: &Connection, device_id: &str) -> Result<Option<String>> {
    if let Some(user) = device_id.strip_prefix("web:") {
        let name: Option<String> = c
            .prepare_cached("SELECT display_name FROM users WHERE username=?1")?
            .query_row([user], |r| r.get(0))
            .optional()?;
        return Ok(Some(format!(
            "scan page ({})",
            name.as_deref().unwrap_or(user)
        )));
    }
    Ok(
        c.prepare_cached("SELECT description FROM devices WHERE device_id=?1")?
            .query_row([device_id], |r| r.get::<_, String>(0))
            .optional()?
            .filter(|d| !d.trim().is_empty()),
    )
}

/// Every device with its latest report and its read health at `now_ms` (days counted in
/// `tz`), by device id.
pub fn list(
    c: &Connection,
    cfg: &DeviceHealthConfig,
    now_ms: i64,
    tz: chrono_tz::Tz,
) -> Result<Vec<DeviceStatus>> {
    let mut st = c.prepare("SELECT device_id, bridge_id, description, online, last_read_at, queue_depth, oldest_event_age_s, last_heartbeat, foreign_reads, corrupt_messages, refused_scans, reads, reader_errors, last_error FROM devices ORDER BY device_id")?;
    let rows = st
        .query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                (r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?),
                [r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?],
                r.get(13)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut v = Vec::with_capacity(rows.len());
    for (ids, state, counts, last_error) in rows {
        let (device_id, bridge_id, description, online) = ids;
        let (last_read_at, queue_depth, oldest_event_age_s, last_heartbeat) = state;
        let [foreign_reads, corrupt_messages, refused_scans, reads, reader_errors] = counts;
        let read_health = read_norms::health_of(c, &device_id, now_ms, cfg, tz)?;
        v.push(DeviceStatus {
            device_id,
            bridge_id,
            description,
            online,
            last_read_at,
            queue_depth,
            oldest_event_age_s,
            last_heartbeat,
            foreign_reads,
            corrupt_messages,
            refused_scans,
            reads,
            reader_errors,
            last_error,
            read_health,
        });
    }
    Ok(v)
}
