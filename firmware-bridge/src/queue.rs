//! Durable local queue (SQLite, WAL, `synchronous=FULL`).
//!
//! An event is committed here before anything else happens to it (before the scanner gets its
//! ACK, before any network I/O). It leaves the queue only when the server has answered
//! `stored` or `duplicate` for its `event_id`; a `rejected` event moves to the `dead_letter`
//! table with the server's reason. Nothing is deleted silently. A `kill -9` at any point
//! loses nothing that was committed.
//!
//! Group commit: events pushed together (a portal's burst of movements, several devices at
//! once) share one transaction and so one fsync. A pusher hands its events to the group and
//! waits; one pusher at a time leads, committing everything waiting in one transaction, and
//! every pusher returns only when the transaction holding its events is durable (or with its
//! error). So the promise "committed before any ACK or send" is unchanged, and the rate is
//! no longer one fsync per event.

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
    /// The group transaction that held this event failed (the leader saw the cause).
    #[error("queue database: the commit holding this event failed: {0}")]
    Group(String),
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
    group: (Mutex<Group>, Condvar),
    /// Transactions committed by [`Queue::push_all`] (each one fsync), for benchmarks.
    commits: std::sync::atomic::AtomicU64,
}

/// Events waiting for the next group transaction.
#[derive(Default)]
struct Group {
    /// (event_id, queued_at_ms, body) of the batch being filled.
    pending: Vec<(String, i64, String)>,
    /// Number of the batch being filled; batches are committed in order.
    filling: u64,
    /// Every batch up to this one has been committed (or has failed).
    done: u64,
    /// A pusher is committing.
    leading: bool,
    /// Batches that failed, with the cause (pruned as their pushers collect them).
    failed: Vec<(u64, String)>,
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
            );
            CREATE TABLE IF NOT EXISTS handheld_sessions (
                device_id TEXT PRIMARY KEY,
                location TEXT,
                staff TEXT,
                last_scan_ms INTEGER
            );
            CREATE TABLE IF NOT EXISTS held_scans (
                event_id TEXT PRIMARY KEY,
                device_id TEXT NOT NULL,
                held_at_ms INTEGER NOT NULL,
                body TEXT NOT NULL
            );",
        )?;
        // The container a porter is loading (added later: a queue written by an older bridge
        // gains the column, keeping its sessions).
        let has_container: bool = conn.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('handheld_sessions') WHERE name = 'container'",
            [],
            |r| r.get(0),
        )?;
        if !has_container {
            conn.execute_batch("ALTER TABLE handheld_sessions ADD COLUMN container TEXT;")?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            signal: (Mutex::new(0), Condvar::new()),
            group: (
                Mutex::new(Group {
                    filling: 1,
                    ..Default::default()
                }),
                Condvar::new(),
            ),
            commits: Default::default(),
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wake the delivery thread: events were added outside [`Queue::push_all`].
    pub(crate) fn notify(&self) {
        let (m, c) = &self.signal;
        *m.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        c.notify_all();
    }

    /// Commit an event (durable when this returns). A second push of the same `event_id` is
    /// a no-op.
    pub fn push(&self, e: &ScanEvent) -> Result<(), QueueError> {
        self.push_all(std::slice::from_ref(e))
    }

    /// Commit events (all durable when this returns, in this order), sharing one fsync with
    /// whatever else is being pushed at the same moment.
    pub fn push_all(&self, events: &[ScanEvent]) -> Result<(), QueueError> {
        if events.is_empty() {
            return Ok(());
        }
        let at = now_ms();
        let (m, cv) = &self.group;
        let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
        g.pending.extend(
            events
                .iter()
                .map(|e| (e.event_id.to_string(), at, e.to_json())),
        );
        let mine = g.filling;
        if g.leading {
            // Someone is committing: ours go in the next transaction. Wait for it.
            while g.done < mine {
                g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
            }
        } else {
            g.leading = true;
            while !g.pending.is_empty() {
                let batch = std::mem::take(&mut g.pending);
                let number = g.filling;
                g.filling += 1;
                drop(g);
                let r = self.commit_batch(&batch);
                g = m.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(e) = r {
                    g.failed.push((number, e.to_string()));
                }
                g.done = number;
                cv.notify_all();
            }
            g.leading = false;
        }
        let failed = g
            .failed
            .iter()
            .position(|(n, _)| *n == mine)
            .map(|i| g.failed.remove(i).1);
        // Causes nobody collected (a pusher that left) are dropped once far behind.
        let done = g.done;
        g.failed.retain(|(n, _)| n + 64 > done);
        drop(g);
        if let Some(cause) = failed {
            return Err(QueueError::Group(cause));
        }
        self.notify();
        Ok(())
    }

    /// One transaction, one fsync, for a batch of events.
    fn commit_batch(&self, batch: &[(String, i64, String)]) -> Result<(), QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (event_id, queued_at_ms, body) VALUES (?1, ?2, ?3)",
            )?;
            for (id, at, body) in batch {
                st.execute(params![id, at, body])?;
            }
        }
        tx.commit()?;
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Group transactions committed so far (each one fsync).
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The old way, one transaction per event: the baseline `firmware-bridge bench` compares
    /// group commit with, measured in the same run.
    pub fn push_unbatched(&self, e: &ScanEvent) -> Result<(), QueueError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO events (event_id, queued_at_ms, body) VALUES (?1, ?2, ?3)",
            params![e.event_id.to_string(), now_ms(), e.to_json()],
        )?;
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
    fn concurrent_pushers_share_commits_and_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let q = std::sync::Arc::new(Queue::open(&dir.path().join("q.sqlite3")).unwrap());
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let evs: Vec<ScanEvent> = (0..100).map(|n| ev(t * 1000 + n)).collect();
                    for e in &evs {
                        q.push(e).unwrap();
                    }
                    evs
                })
            })
            .collect();
        let mut pushed = Vec::new();
        for t in threads {
            pushed.push(t.join().unwrap());
        }
        let got = q.peek(10_000).unwrap();
        assert_eq!(got.len(), 800);
        // each device's events keep their order
        for evs in &pushed {
            let ids: Vec<String> = evs.iter().map(|e| e.event_id.to_string()).collect();
            let order: Vec<&String> = got
                .iter()
                .map(|g| &g.event_id)
                .filter(|id| ids.contains(id))
                .collect();
            assert_eq!(order, ids.iter().collect::<Vec<_>>());
        }
        // a burst goes in one transaction
        let before = q.commits();
        let burst: Vec<ScanEvent> = (0..50).map(|n| ev(90_000 + n)).collect();
        q.push_all(&burst).unwrap();
        assert_eq!(q.commits(), before + 1);
        assert!(q.commits() <= 801);
    }

    #[test]
    fn a_failed_group_commit_is_reported_to_its_pushers() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(&dir.path().join("q.sqlite3")).unwrap();
        q.push(&ev(1)).unwrap();
        // the disk "fills": every write now fails
        q.conn()
            .execute_batch("CREATE TRIGGER full BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;")
            .unwrap();
        let e = q.push_all(&[ev(2), ev(3)]).unwrap_err();
        assert!(e.to_string().contains("disk is full"), "{e}");
        // nothing half-written: the failed batch is not in the queue, the earlier event is
        assert_eq!(q.depth().unwrap(), 1);
        q.conn().execute_batch("DROP TRIGGER full").unwrap();
        q.push_all(&[ev(2), ev(3)]).unwrap();
        assert_eq!(q.depth().unwrap(), 3);
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
        assert_eq!(q.requeue(None, None).unwrap().requeued, 1);
        assert_eq!(q.depth().unwrap(), 2);
        // queue order is kept: the requeued event comes after the one still waiting
        assert_eq!(q.peek(10).unwrap()[0].event_id, ids[2]);
    }
}
