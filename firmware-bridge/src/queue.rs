//! Durable local queue (SQLite, WAL, `synchronous=FULL`).
//!
//! An event is committed here before anything else happens to it (before the scanner gets its
//! ACK, before any network I/O). It leaves the queue only when the server has answered
//! `stored` or `duplicate` for its `event_id`; a `rejected` event moves to the `dead_letter`
//! table with the server's reason. Nothing is deleted silently. A `kill -9` at any point
//! loses nothing that was committed.

use casenote_core::wire::ScanEvent;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the queue directory: {0}")]
    Io(#[from] std::io::Error),
}

/// An event waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    pub seq: i64,
    pub event_id: String,
    /// The event's JSON object, exactly as it will be sent.
    pub body: String,
}

/// A dead-lettered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub event_id: String,
    pub code: String,
    pub field: String,
    pub message: String,
    pub rejected_at_ms: i64,
    pub body: String,
}

/// Queue statistics for health reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    pub depth: u64,
    pub oldest_event_age_s: Option<u64>,
    pub dead_letters: u64,
}

pub struct Queue {
    conn: Mutex<Connection>,
    signal: (Mutex<u64>, Condvar),
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Queue {
    /// Open (or create) the queue at `path`.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                event_id TEXT NOT NULL UNIQUE,
                queued_at_ms INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                body TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS dead_letter (
                event_id TEXT PRIMARY KEY,
                queued_at_ms INTEGER NOT NULL,
                rejected_at_ms INTEGER NOT NULL,
                code TEXT NOT NULL,
                field TEXT NOT NULL,
                message TEXT NOT NULL,
                body TEXT NOT NULL
            );",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
            signal: (Mutex::new(0), Condvar::new()),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commit an event (durable when this returns). A second push of the same `event_id` is
    /// a no-op.
    pub fn push(&self, e: &ScanEvent) -> Result<(), QueueError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO events (event_id, queued_at_ms, body) VALUES (?1, ?2, ?3)",
            params![e.event_id.to_string(), now_ms(), e.to_json()],
        )?;
        let (m, c) = &self.signal;
        *m.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        c.notify_all();
        Ok(())
    }

    /// Wait until something is pushed or `timeout` passes.
    pub fn wait_for_push(&self, seen: &mut u64, timeout: Duration) {
        let (m, c) = &self.signal;
        let g = m.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) = c
            .wait_timeout_while(g, timeout, |n| *n == *seen)
            .unwrap_or_else(|e| e.into_inner());
        *seen = *g;
    }

    /// The oldest `limit` events, in queue order.
    pub fn peek(&self, limit: usize) -> Result<Vec<QueuedEvent>, QueueError> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("SELECT seq, event_id, body FROM events ORDER BY seq LIMIT ?1")?;
        let rows = st.query_map([limit as i64], |r| {
            Ok(QueuedEvent {
                seq: r.get(0)?,
                event_id: r.get(1)?,
                body: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Count a delivery attempt for these events.
    pub fn mark_attempt(&self, ids: &[String]) -> Result<(), QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut st =
                tx.prepare_cached("UPDATE events SET attempts = attempts + 1 WHERE event_id = ?1")?;
            for id in ids {
                st.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Remove events the server has stored (or already had). Returns how many were removed.
    pub fn remove(&self, ids: &[String]) -> Result<usize, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut n = 0;
        {
            let mut st = tx.prepare_cached("DELETE FROM events WHERE event_id = ?1")?;
            for id in ids {
                n += st.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Move a rejected event to the dead-letter table, in one transaction.
    pub fn dead_letter(
        &self,
        id: &str,
        code: &str,
        field: &str,
        message: &str,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let moved = tx.execute(
            "INSERT OR REPLACE INTO dead_letter
                (event_id, queued_at_ms, rejected_at_ms, code, field, message, body)
             SELECT event_id, queued_at_ms, ?2, ?3, ?4, ?5, body FROM events WHERE event_id = ?1",
            params![id, now_ms(), code, field, message],
        )?;
        tx.execute("DELETE FROM events WHERE event_id = ?1", [id])?;
        tx.commit()?;
        Ok(moved == 1)
    }

    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT event_id, code, field, message, rejected_at_ms, body FROM dead_letter
             ORDER BY rejected_at_ms LIMIT ?1",
        )?;
        let rows = st.query_map([limit as i64], |r| {
            Ok(DeadLetter {
                event_id: r.get(0)?,
                code: r.get(1)?,
                field: r.get(2)?,
                message: r.get(3)?,
                rejected_at_ms: r.get(4)?,
                body: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Put dead-lettered events back in the queue (after the cause was fixed on the server).
    pub fn requeue_dead_letters(&self) -> Result<usize, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO events (event_id, queued_at_ms, body)
             SELECT event_id, queued_at_ms, body FROM dead_letter ORDER BY queued_at_ms",
            [],
        )?;
        tx.execute("DELETE FROM dead_letter", [])?;
        tx.commit()?;
        Ok(n)
    }

    pub fn depth(&self) -> Result<u64, QueueError> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    pub fn stats(&self) -> Result<QueueStats, QueueError> {
        let conn = self.conn();
        let (depth, oldest): (i64, Option<i64>) =
            conn.query_row("SELECT COUNT(*), MIN(queued_at_ms) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let dead: i64 = conn
            .query_row("SELECT COUNT(*) FROM dead_letter", [], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        Ok(QueueStats {
            depth: depth as u64,
            oldest_event_age_s: oldest.map(|t| ((now_ms() - t).max(0) / 1000) as u64),
            dead_letters: dead as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casenote_core::identifiers::scan::Symbology;
    use casenote_core::wire::{Action, Method};

    fn ev(n: u32) -> ScanEvent {
        ScanEvent::new(
            "dev",
            None,
            chrono::Utc::now(),
            format!("]C0F{n:09}"),
            Symbology::Code128,
            Method::Barcode,
            "LWARD5".into(),
            Action::Receive,
            None,
        )
    }

    #[test]
    fn survives_drop_without_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sqlite3");
        let events: Vec<_> = (0..5).map(ev).collect();
        {
            let q = Queue::open(&path).unwrap();
            for e in &events {
                q.push(e).unwrap();
            }
            q.push(&events[0]).unwrap(); // same id again: ignored
                                         // dropped here with no explicit flush or close
            std::mem::forget(q); // not even the destructor runs (as with kill -9)
        }
        let q = Queue::open(&path).unwrap();
        let got = q.peek(100).unwrap();
        assert_eq!(got.len(), 5);
        for (g, e) in got.iter().zip(&events) {
            assert_eq!(g.event_id, e.event_id.to_string());
            let back: ScanEvent = serde_json::from_str(&g.body).unwrap();
            assert_eq!(back.raw, e.raw);
        }
        let s = q.stats().unwrap();
        assert_eq!(s.depth, 5);
        assert!(s.oldest_event_age_s.is_some());
        let mode: String = q
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = q
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
    }

    #[test]
    fn remove_and_dead_letter() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(&dir.path().join("q.sqlite3")).unwrap();
        let events: Vec<_> = (0..3).map(ev).collect();
        for e in &events {
            q.push(e).unwrap();
        }
        let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
        assert_eq!(q.remove(&ids[..1]).unwrap(), 1);
        assert!(q
            .dead_letter(&ids[1], "unknown_folder", "raw", "no such folder")
            .unwrap());
        assert_eq!(q.depth().unwrap(), 1);
        let dl = q.dead_letters(10).unwrap();
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0].code, "unknown_folder");
        assert_eq!(q.stats().unwrap().dead_letters, 1);
        assert_eq!(q.requeue_dead_letters().unwrap(), 1);
        assert_eq!(q.depth().unwrap(), 2);
        // queue order is kept: the requeued event comes after the one still waiting
        assert_eq!(q.peek(10).unwrap()[0].event_id, ids[2]);
    }
}
