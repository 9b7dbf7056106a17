//! The handheld scanners' durable state, kept in the queue's database so that a bridge restart
//! (a crash, a power cut, `Restart=always`) loses nothing a porter did:
//!
//! - each scanner's **session**: the location card and staff badge last scanned, and when;
//! - folder scans **held** because no location card was scanned yet: they become events with
//!   the location of the next location card, or, if none comes within the session time, dead
//!   letters that say so in words and can be requeued with a location.
//!
//! Dead letters are explained in a sentence ([`DeadLetter::sentence`]) and repaired with
//! [`Queue::requeue`] (the `requeue` command).

use crate::queue::{DeadLetter, Queue, QueueError};
use casenote_core::wire::ScanEvent;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, OptionalExtension};

/// A porter's session on one scanner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    pub location: Option<String>,
    pub staff: Option<String>,
    /// The container (its GRAI) folders are being loaded onto.
    pub container: Option<String>,
    pub last_scan: Option<DateTime<Utc>>,
}

/// The dead-letter code of held scans no location card ever came for.
pub const NO_LOCATION: &str = "no_location";

/// What [`Queue::requeue`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requeued {
    pub requeued: usize,
    /// Dead letters left alone because they have no location and none was given.
    pub need_location: Vec<String>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

impl Queue {
    /// Store the session of scanner `device_id` (durable when this returns).
    pub fn save_session(&self, device_id: &str, s: &SessionState) -> Result<(), QueueError> {
        self.conn().execute(
            "INSERT INTO handheld_sessions (device_id, location, staff, last_scan_ms, container)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(device_id) DO UPDATE SET location = excluded.location,
               staff = excluded.staff, last_scan_ms = excluded.last_scan_ms,
               container = excluded.container",
            params![
                device_id,
                s.location,
                s.staff,
                s.last_scan.map(ms),
                s.container
            ],
        )?;
        Ok(())
    }

    /// The stored session of scanner `device_id`, if any.
    pub fn load_session(&self, device_id: &str) -> Result<Option<SessionState>, QueueError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT location, staff, last_scan_ms, container FROM handheld_sessions WHERE device_id = ?1",
                [device_id],
                |r| {
                    Ok(SessionState {
                        location: r.get(0)?,
                        staff: r.get(1)?,
                        last_scan: r.get::<_, Option<i64>>(2)?.and_then(time),
                        container: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Hold a folder scan that has no location yet (its `location` is empty). Durable when
    /// this returns; the same event id twice is held once.
    pub fn hold(&self, e: &ScanEvent) -> Result<(), QueueError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO held_scans (event_id, device_id, held_at_ms, body)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                e.event_id.to_string(),
                e.device_id,
                Utc::now().timestamp_millis(),
                e.to_json()
            ],
        )?;
        Ok(())
    }

    /// Folder scans of `device_id` waiting for a location card.
    pub fn held_count(&self, device_id: &str) -> Result<u64, QueueError> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM held_scans WHERE device_id = ?1",
            [device_id],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// A location card was scanned: the held scans of `device_id` become events at `location`
    /// (in the order they were scanned, with their own event ids and read times), in one
    /// transaction with their removal from the held list. Returns the events queued.
    pub fn release_held(
        &self,
        device_id: &str,
        location: &str,
    ) -> Result<Vec<ScanEvent>, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let held: Vec<(String, String)> = {
            let mut st = tx.prepare_cached(
                "SELECT event_id, body FROM held_scans WHERE device_id = ?1 ORDER BY held_at_ms, rowid",
            )?;
            let rows = st.query_map([device_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for (id, body) in held {
            tx.execute("DELETE FROM held_scans WHERE event_id = ?1", [&id])?;
            let Ok(mut e) = serde_json::from_str::<ScanEvent>(&body) else {
                // Not ours to drop: keep it where a person can see it.
                tx.execute(
                    "INSERT OR REPLACE INTO dead_letter (event_id, queued_at_ms, rejected_at_ms, code, field, message, body)
                     VALUES (?1, ?2, ?2, 'unreadable', 'body', 'a held scan could not be read back', ?3)",
                    params![id, Utc::now().timestamp_millis(), body],
                )?;
                continue;
            };
            e.location = location.to_string();
            tx.execute(
                "INSERT OR IGNORE INTO events (event_id, queued_at_ms, body) VALUES (?1, ?2, ?3)",
                params![id, Utc::now().timestamp_millis(), e.to_json()],
            )?;
            out.push(e);
        }
        tx.commit()?;
        drop(conn);
        if !out.is_empty() {
            self.notify();
        }
        Ok(out)
    }

    /// Held scans of `device_id` read before `before` (the session ended with no location
    /// card) become dead letters that say what happened. Returns how many.
    pub fn expire_held(&self, device_id: &str, before: DateTime<Utc>) -> Result<usize, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "INSERT OR REPLACE INTO dead_letter (event_id, queued_at_ms, rejected_at_ms, code, field, message, body)
             SELECT event_id, held_at_ms, ?3, ?4, 'location',
                    'scanned with no location card before it or after it in the same session', body
             FROM held_scans WHERE device_id = ?1 AND held_at_ms < ?2",
            params![device_id, ms(before), Utc::now().timestamp_millis(), NO_LOCATION],
        )?;
        tx.execute(
            "DELETE FROM held_scans WHERE device_id = ?1 AND held_at_ms < ?2",
            params![device_id, ms(before)],
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// Put dead letters back in the queue: those named by `ids` (all when `None`), with their
    /// location set to `location` when given. A dead letter with no location is left alone
    /// unless a location is given (it is reported in `need_location`).
    pub fn requeue(
        &self,
        ids: Option<&[String]>,
        location: Option<&str>,
    ) -> Result<Requeued, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let rows: Vec<(String, i64, String)> = {
            let mut st = tx.prepare_cached(
                "SELECT event_id, queued_at_ms, body FROM dead_letter ORDER BY queued_at_ms",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut done = Requeued::default();
        for (id, queued_at, body) in rows {
            if ids.is_some_and(|ids| !ids.contains(&id)) {
                continue;
            }
            let body = match (serde_json::from_str::<ScanEvent>(&body), location) {
                (Ok(mut e), Some(l)) => {
                    e.location = l.to_string();
                    e.to_json()
                }
                (Ok(e), None) if e.location.is_empty() => {
                    done.need_location.push(id);
                    continue;
                }
                _ => body,
            };
            tx.execute(
                "INSERT OR IGNORE INTO events (event_id, queued_at_ms, body) VALUES (?1, ?2, ?3)",
                params![id, queued_at, body],
            )?;
            tx.execute("DELETE FROM dead_letter WHERE event_id = ?1", [&id])?;
            done.requeued += 1;
        }
        tx.commit()?;
        drop(conn);
        if done.requeued > 0 {
            self.notify();
        }
        Ok(done)
    }
}

impl DeadLetter {
    /// What happened, in a sentence an engineer or a records officer understands, with what
    /// to do about it.
    pub fn sentence(&self) -> String {
        let when = time(self.rejected_at_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "at an unknown time".into());
        let ev = serde_json::from_str::<ScanEvent>(&self.body).ok();
        let what = match &ev {
            Some(e) => format!(
                "The scan of {} by {} at {}{}",
                e.raw,
                e.device_id,
                e.read_at.format("%Y-%m-%d %H:%M:%S UTC"),
                if e.location.is_empty() {
                    String::new()
                } else {
                    format!(" at location {}", e.location)
                }
            ),
            None => "A scan (its record could not be read back)".into(),
        };
        let why = match self.code.as_str() {
            NO_LOCATION => format!(
                "was not sent: it was {}. Find out where the porter was and run \
                 `firmware-bridge requeue --config <file> --event {} --location <code>`.",
                self.message, self.event_id
            ),
            _ => format!(
                "was refused by the server on {when} ({}: {}; code {}). Fix the cause on the \
                 server (for example add the location or register the folder), then run \
                 `firmware-bridge requeue --config <file> --event {}`{}.",
                self.field,
                self.message,
                self.code,
                self.event_id,
                if self.field == "location" {
                    " (add `--location <code>` to send it with another location)"
                } else {
                    ""
                }
            ),
        };
        format!("{what} {why}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casenote_core::identifiers::scan::Symbology;
    use casenote_core::wire::{Action, Method};

    fn folder(dev: &str, n: u32) -> ScanEvent {
        ScanEvent::new(
            dev,
            Some("S00042".into()),
            Utc::now(),
            format!("]C0F{n:09}"),
            Symbology::Code128,
            Method::Barcode,
            String::new(),
            Action::Receive,
            None,
        )
    }

    #[test]
    fn sessions_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sqlite3");
        let s = SessionState {
            location: Some("LWARD5".into()),
            staff: Some("S00042".into()),
            container: Some("006141410000123".into()),
            last_scan: time(Utc::now().timestamp_millis()),
        };
        {
            let q = Queue::open(&path).unwrap();
            q.save_session("hh1", &s).unwrap();
            std::mem::forget(q); // as kill -9
        }
        let q = Queue::open(&path).unwrap();
        assert_eq!(q.load_session("hh1").unwrap(), Some(s));
        assert_eq!(q.load_session("hh2").unwrap(), None);
    }

    #[test]
    fn held_scans_take_the_next_location_or_become_readable_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(&dir.path().join("q.sqlite3")).unwrap();
        let (a, b, c) = (folder("hh1", 1), folder("hh1", 2), folder("hh2", 3));
        for e in [&a, &b, &c, &a] {
            q.hold(e).unwrap();
        }
        assert_eq!(q.held_count("hh1").unwrap(), 2);
        let out = q.release_held("hh1", "LWARD7").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].event_id, out[1].event_id), (a.event_id, b.event_id));
        let queued = q.peek(10).unwrap();
        assert_eq!(queued.len(), 2);
        let back: ScanEvent = serde_json::from_str(&queued[0].body).unwrap();
        assert_eq!(back.location, "LWARD7");
        assert_eq!(
            back.read_at.timestamp_millis(),
            a.read_at.timestamp_millis(),
            "the time it was scanned"
        );
        assert_eq!(q.held_count("hh1").unwrap(), 0);
        // hh2's session ends with no location card: a dead letter that says what to do
        let n = q
            .expire_held("hh2", Utc::now() + chrono::Duration::seconds(1))
            .unwrap();
        assert_eq!(n, 1);
        let d = &q.dead_letters(10).unwrap()[0];
        assert_eq!(d.code, NO_LOCATION);
        let s = d.sentence();
        assert!(s.contains("]C0F000000003") && s.contains("by hh2"), "{s}");
        assert!(s.contains("no location card"), "{s}");
        assert!(s.contains("--location <code>"), "{s}");
        // requeue without a location leaves it; with one, it is queued at that place
        let r = q.requeue(None, None).unwrap();
        assert_eq!((r.requeued, r.need_location.len()), (0, 1));
        let r = q
            .requeue(Some(&[c.event_id.to_string()]), Some("LWARD5"))
            .unwrap();
        assert_eq!(r.requeued, 1);
        assert_eq!(q.depth().unwrap(), 3);
        assert!(q.dead_letters(10).unwrap().is_empty());
    }

    #[test]
    fn a_server_refusal_reads_as_a_sentence() {
        let mut e = folder("ward5-porter", 7);
        e.location = "LWARD99".into();
        let d = DeadLetter {
            event_id: e.event_id.to_string(),
            code: "unknown_location".into(),
            field: "location".into(),
            message: "no such place: LWARD99".into(),
            rejected_at_ms: 1_796_374_800_000,
            body: e.to_json(),
        };
        let s = d.sentence();
        assert!(
            s.starts_with("The scan of ]C0F000000007 by ward5-porter at "),
            "{s}"
        );
        assert!(s.contains("at location LWARD99 was refused by the server on 2026-12-04 09:00 UTC (location: no such place: LWARD99; code unknown_location)"), "{s}");
        assert!(s.contains("--location <code>"), "{s}");
    }
}
