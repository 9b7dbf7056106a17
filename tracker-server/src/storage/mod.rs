//! SQLite storage: one writer thread that batches jobs into group commits, and a pool of readers.
//!
//! Every change goes through [`Db::write`]: jobs queue on a channel; the writer thread takes
//! every job waiting (up to a limit), runs each inside its own savepoint (a failing job rolls
//! back alone), commits once, and only then answers each caller. Reads run on a bounded pool
//! of read-only connections in WAL mode, so they never wait for the writer. A big job (a batch
//! of thousands of scans, an import) runs alone in a transaction of its own instead
//! ([`Db::write_solo`], or in pieces with [`Db::write_pieces`]). Big jobs take turns with
//! the groups ([`Lanes`]): a small change waits for at most one big job or piece, never a
//! queue of them.

pub mod migrations;

pub mod write_stats;

use crate::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

type Completion = Box<dyn FnOnce(Option<String>) + Send>;
/// Runs a job on the writer connection: whether it succeeded, and how to answer its caller.
/// Given the reason instead of a connection (no transaction could begin), it answers its
/// caller with that reason without running.
type RunJob =
    Box<dyn FnOnce(std::result::Result<&Connection, String>) -> (bool, Completion) + Send>;

/// A queued change. `run` executes it on the writer connection and says whether it succeeded.
struct Job {
    kind: Kind,
    run: RunJob,
}

/// How a job is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A small change, in a savepoint of a group commit ([`Db::write`]).
    Group,
    /// A big job, in a transaction of its own without a savepoint ([`Db::write_solo`]).
    Solo,
    /// A piece of the big job numbered so ([`Db::write_pieces`]), in a savepoint. The pieces
    /// of one job share a transaction while nothing else waits for the writer.
    Piece(u64),
}

/// Page size of a new database, in bytes.
///
/// Small pages suit this workload: each scan changes a few rows in random places (the
/// folder's row, its trail index, the location index), and every page a transaction changes
/// is written whole to the WAL and then again to the database. With 1 KiB pages a scan writes
/// a quarter of the bytes it would with SQLite's default 4 KiB, and four times as many of the
/// busy pages fit in the cache: batched ingest runs about 60% faster (docs/benchmarks.md).
/// A database keeps the page size it was created with.
pub const PAGE_SIZE: i64 = 1024;

/// Page cache of the writer connection, in KiB (readers have 32 MiB each, used as needed),
/// once the database is larger than 1 GiB.
pub const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// Page cache of the writer while the database is smaller than 1 GiB, in KiB. When a b-tree
/// split reorders pages, SQLite parks a page under the number just past its lock-byte page
/// (the page at 1 GiB); while the database is smaller than that, every commit then walks the
/// writer's whole page-cache hash table to drop it, so each commit costs more the more pages
/// are cached (measured: HL7 messages a second fell by a third as a 64 MiB cache filled). A
/// database this small stays in the operating system's cache anyway.
pub const SMALL_DB_WRITER_CACHE_KIB: i64 = 4 * 1024;

/// Page cache of each pooled reader, in KiB (filled only as a read needs it): long reads
/// (reports, lists) visit the same pages many times within their transaction.
pub const READER_CACHE_KIB: i64 = 32_000;

/// Page cache of each [`Db::read_quick`] connection, in KiB: enough for every page one
/// lookup visits (a few dozen).
pub const QUICK_READER_CACHE_KIB: i64 = 256;

/// Transactions between checks of the database's size for the writer's cache.
const CACHE_CHECK_EVERY: u64 = 4096;

/// The writer's cache for a database of this many pages of this size, in KiB.
pub fn writer_cache_kib(pages: i64, page_size: i64) -> i64 {
    let lock_byte_page = (1i64 << 30) / page_size.max(512) + 1;
    if pages > lock_byte_page {
        WRITER_CACHE_KIB
    } else {
        SMALL_DB_WRITER_CACHE_KIB
    }
}

/// Size the writer's cache for the database as it is now.
/// Size the writer's page cache to the database (see [`writer_cache_kib`]).
pub fn size_writer_cache(conn: &Connection) -> rusqlite::Result<()> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    conn.pragma_update(None, "cache_size", -writer_cache_kib(pages, size))
}

/// Where the audit key lives when `[audit] key_file` is not set: next to the database, as
/// `<database>.audit-key`. Production sites should set `key_file` to a path outside the
/// database's directory and its backups (docs/security.md).
pub fn default_audit_key_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".audit-key");
    PathBuf::from(s)
}

/// Where audit anchors go when `[audit] anchor_file` is not set: `<database>.audit-anchors`.
pub fn default_anchor_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".audit-anchors");
    PathBuf::from(s)
}

/// Most jobs folded into one commit.
const MAX_GROUP: usize = 512;

/// Jobs queued for the writer at most (the channel's room, and the writer's lanes as much
/// again); a sender waits beyond that.
const QUEUE_LIMIT: usize = 4096;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// Dropped with the last handle: the checkpoint thread then stops.
    _checkpointer: Checkpointer,
    jobs: mpsc::SyncSender<Job>,
    readers: Mutex<Vec<Connection>>,
    /// Connections for [`Db::read_quick`], with a small page cache.
    quick_readers: Mutex<Vec<Connection>>,
    /// Held while the pieces of one big job are queued, so that two jobs' pieces do not
    /// alternate (each switch between them would end a transaction).
    queueing_pieces: Mutex<()>,
    reader_slots: tokio::sync::Semaphore,
    /// How long [`Db::write`] callers waited for their commit.
    write_stats: write_stats::WriteStats,
}

/// Prepared statements kept per connection. rusqlite keeps 16 by default, fewer than one HL7
/// message or ingest batch uses, so statements were prepared again on every call.
pub const STATEMENT_CACHE: usize = 256;

/// The writer connection's settings: the page size (while the file is still empty), WAL with
/// `synchronous=NORMAL`, the shared settings of [`configure`], and no checkpoints of its own
/// (a [`Checkpointer`] copies the WAL back on another thread, so no request waits for that
/// I/O). The benchmark's raw-SQLite ceiling opens its connection with this too.
pub fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    configure(conn)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", WAL_LIMIT_BYTES)?;
    Ok(())
}

/// The WAL's size, in bytes, past which the [`Checkpointer`] makes sure the WAL starts again
/// from its beginning, and that the writer cuts the file back to when it does
/// (`journal_size_limit`).
///
/// Each such restart holds the writer's lock for one checkpoint of the last few frames and
/// its two `fsync`s: 80-770 ms on the benchmark machine under the mixed load, longer as the
/// database grew. At 64 MiB that came every 13 s under the mixed load (which writes 5 MB of
/// WAL a second) and raised the where-is p99 from 6-9 to 11-15 ms; at 256 MiB, once a minute,
/// it later set the where-is p99 at 22-32 ms (9 ms with no restart at all). At 1 GiB it comes
/// every few minutes under that load, and the file, once grown, is overwritten in place rather
/// than cut and grown again (docs/benchmarks.md, "The WAL under a load that never stops").
pub const WAL_LIMIT_BYTES: i64 = 1024 * 1024 * 1024;

/// The background checkpointer: a thread that copies committed WAL pages back into the
/// database every half second ([`checkpoint_loop`]); dropping it stops the thread after a last
/// checkpoint.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Start checkpointing the database at `path` on a thread of its own.
    pub fn start(path: &Path) -> Result<Self> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let ck = Connection::open(path)?;
        // no busy handler: a checkpoint that would have to wait gives up at once (see
        // `checkpoint_round`)
        ck.busy_timeout(std::time::Duration::ZERO)?;
        let restart_over_frames = wal_frames(&ck, WAL_LIMIT_BYTES)?;
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(ck, restart_over_frames, stop_rx))
            .map_err(|e| Error::internal_from("cannot start the checkpoint thread", e))?;
        Ok(Self { _stop: stop_tx })
    }
}

/// How many WAL frames (a page and its 24-byte header) make `bytes`.
fn wal_frames(conn: &Connection, bytes: i64) -> rusqlite::Result<i64> {
    let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(bytes / (page + 24))
}

/// What one round of the checkpointer found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointRound {
    /// Frames in the WAL.
    pub wal_frames: i64,
    /// Of those, copied back into the database.
    pub copied: i64,
    /// The WAL will start again from its beginning at the next write.
    pub restarted: bool,
}

/// One round of the checkpointer: copy committed WAL pages back into the database (PASSIVE:
/// it never waits for, or blocks, the writer or readers). If the WAL is then longer than
/// `restart_over_frames` and all of it is copied back, also try a RESTART checkpoint, so that
/// the next write starts the WAL again from its beginning (and cuts the file back to
/// [`WAL_LIMIT_BYTES`]).
///
/// Without that the WAL grows for as long as the load lasts: SQLite starts it again only when
/// a write begins while every frame is copied back and no reader is still reading from the
/// WAL, and with scans arriving every few milliseconds and lookups running all the time that
/// moment never comes (the mixed load grew it by 5 MB a second; docs/benchmarks.md). RESTART
/// holds the writer's lock while it copies the few frames written since the PASSIVE round and
/// checks the readers; on a connection with no busy handler it gives up at once if the writer
/// is busy or a reader is still on the WAL, and the next round tries again.
pub fn checkpoint_round(
    conn: &Connection,
    restart_over_frames: i64,
) -> rusqlite::Result<CheckpointRound> {
    let checkpoint = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
    };
    let (_, wal_frames, copied) = checkpoint("PASSIVE")?;
    let mut round = CheckpointRound {
        wal_frames,
        copied,
        restarted: false,
    };
    if wal_frames > restart_over_frames && copied == wal_frames {
        let (blocked, _, _) = checkpoint("RESTART")?;
        round.restarted = blocked == 0;
    }
    Ok(round)
}
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

impl Db {
    /// Open (creating and migrating if needed) the database at `path`, with the audit key
    /// next to it ([`default_audit_key_path`], created if missing).
    pub fn open(path: &Path, readers: usize) -> Result<Self> {
        let key = crate::audit_key::AuditKey::load_or_create(&default_audit_key_path(path))?;
        Self::open_with_key(path, readers, key)
    }

    /// Open the database; the audit chain is keyed with `key`.
    pub fn open_with_key(
        path: &Path,
        readers: usize,
        key: crate::audit_key::AuditKey,
    ) -> Result<Self> {
        let mut conn = Connection::open(path)?;
        configure_writer(&conn)?;
        migrations::migrate(&mut conn)?;
        size_writer_cache(&conn)?;
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE_LIMIT);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                crate::audit_key::use_key_on_this_thread(Some(key));
                writer_loop(conn, rx)
            })
            .map_err(|e| Error::internal_from("cannot start the writer thread", e))?;
        let checkpointer = Checkpointer::start(path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                _checkpointer: checkpointer,
                jobs: tx,
                readers: Mutex::new(Vec::new()),
                quick_readers: Mutex::new(Vec::new()),
                queueing_pieces: Mutex::new(()),
                reader_slots: tokio::sync::Semaphore::new(readers.max(1)),
                write_stats: Default::default(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How long changes have waited for the writer since the server started.
    pub fn write_stats(&self) -> write_stats::WriteStatsSnapshot {
        self.inner.write_stats.snapshot()
    }

    fn enqueue<T: Send + 'static>(
        &self,
        kind: Kind,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<T>>> {
        let (otx, orx) = tokio::sync::oneshot::channel();
        let job = Job {
            kind,
            run: Box::new(move |conn: std::result::Result<&Connection, String>| {
                let r = match conn {
                    Err(why) => Err(Error::internal(why)),
                    Ok(conn) if kind == Kind::Solo => f(conn),
                    Ok(conn) => run_in_savepoint(conn, f),
                };
                let ok = r.is_ok();
                let done: Completion = Box::new(move |commit_error: Option<String>| {
                    let out = match (r, commit_error) {
                        (Ok(v), None) => Ok(v),
                        (Ok(_), Some(e)) => Err(Error::internal(e)),
                        (Err(e), _) => Err(e),
                    };
                    let _ = otx.send(out);
                });
                (ok, done)
            }),
        };
        self.inner
            .jobs
            .send(job)
            .map_err(|_| Error::internal("the writer thread has stopped"))?;
        Ok(orx)
    }

    /// Run `f` on the writer connection inside a transaction; answers after the commit.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let t = std::time::Instant::now();
        let rx = self.enqueue(Kind::Group, f)?;
        let r = rx
            .await
            .map_err(|_| Error::internal("the writer thread dropped the job"))?;
        self.inner.write_stats.record(t.elapsed());
        r
    }

    /// Like [`Db::write`], for a big job (thousands of rows, such as a batch of scan events):
    /// it gets a transaction of its own instead of a savepoint inside a group commit.
    ///
    /// Inside a savepoint SQLite keeps a copy of every page the job changes (the sub-journal)
    /// and, for an in-memory sub-journal, walks that copy at the end of every statement that
    /// checks constraints: the cost grows with the square of the job's size. A job of its own
    /// rolls back with its transaction instead, and the walk is empty.
    pub async fn write_solo<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let rx = self.enqueue(Kind::Solo, f)?;
        rx.await
            .map_err(|_| Error::internal("the writer thread dropped the job"))?
    }

    /// The pieces of one big job (a large batch of scans, cut up), queued together and run in
    /// order, each in a savepoint of its own. While nothing else waits for the writer the
    /// pieces share one transaction (as fast as the job whole); when a small change arrives,
    /// the pieces run so far are committed, the small changes waiting are committed, and the
    /// rest of the pieces go on in a new transaction. So no small change waits for more than
    /// one piece. Answers each piece's result, in order, once the last is committed; a piece
    /// that fails rolls back alone, and the others still run.
    pub async fn write_pieces<T, F>(&self, pieces: Vec<F>) -> Vec<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        static JOBS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let job = JOBS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let queued: Vec<_> = {
            let _one_job_at_a_time = self.inner.queueing_pieces.lock().expect("pieces lock");
            pieces
                .into_iter()
                .map(|f| self.enqueue(Kind::Piece(job), f))
                .collect()
        };
        let mut out = Vec::with_capacity(queued.len());
        for q in queued {
            out.push(match q {
                Ok(rx) => rx
                    .await
                    .unwrap_or_else(|_| Err(Error::internal("the writer thread dropped the job"))),
                Err(e) => Err(e),
            });
        }
        out
    }

    /// Blocking form of [`Db::write`] for the command line (not inside the async runtime).
    pub fn write_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let rx = self.enqueue(Kind::Group, f)?;
        rx.blocking_recv()
            .map_err(|_| Error::internal("the writer thread dropped the job"))?
    }

    /// Blocking form of [`Db::write_solo`] (a big import from the command line).
    pub fn write_solo_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let rx = self.enqueue(Kind::Solo, f)?;
        rx.blocking_recv()
            .map_err(|_| Error::internal("the writer thread dropped the job"))?
    }

    fn take_reader(&self, pool: &Mutex<Vec<Connection>>, cache_kib: i64) -> Result<Connection> {
        if let Some(c) = pool.lock().expect("reader pool lock").pop() {
            return Ok(c);
        }
        let c = Connection::open_with_flags(
            &self.inner.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&c)?;
        c.pragma_update(None, "cache_size", -cache_kib)?;
        Ok(c)
    }

    fn read_from<T>(
        &self,
        pool: &Mutex<Vec<Connection>>,
        cache_kib: i64,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let conn = self.take_reader(pool, cache_kib)?;
        let r = f(&conn);
        pool.lock().expect("reader pool lock").push(conn);
        r
    }

    /// Run a read on a pooled read-only connection, off the async threads.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _slot = self
            .inner
            .reader_slots
            .acquire()
            .await
            .map_err(|_| Error::internal("reader pool closed"))?;
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f))
            .await
            .map_err(Error::from)?
    }

    /// A short read on the calling thread, without handing it to the blocking pool: for the
    /// reads every request makes (a token's session, one folder's whereabouts), which read a
    /// handful of rows through their indexes in well under a millisecond. Handing such a read
    /// to another thread and back cost more processor time than the read itself (two thread
    /// wake-ups each way; docs/benchmarks.md, "Many readers"). Anything that may read many
    /// rows (a list, a report, a search by name) uses [`Db::read`].
    ///
    /// These reads have connections of their own with a small page cache
    /// ([`QUICK_READER_CACHE_KIB`]): in WAL mode a reader empties its cache whenever anything
    /// was committed since its last read, which under load is every time, and emptying a
    /// cache costs more the bigger it has grown.
    pub fn read_quick<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.read_from(&self.inner.quick_readers, QUICK_READER_CACHE_KIB, f)
    }

    /// Blocking form of [`Db::read`].
    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.read_from(&self.inner.readers, READER_CACHE_KIB, f)
    }
}

/// Run one transaction-control statement, prepared once.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn run_in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    control(conn, "SAVEPOINT job")?;
    match f(conn) {
        Ok(v) => {
            control(conn, "RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

/// A [`checkpoint_round`] every half second, until the database handle is dropped; then a
/// final checkpoint.
fn checkpoint_loop(conn: Connection, restart_over_frames: i64, stop: mpsc::Receiver<()>) {
    loop {
        match stop.recv_timeout(std::time::Duration::from_millis(500)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                match checkpoint_round(&conn, restart_over_frames) {
                    Ok(r) if r.restarted => tracing::debug!(
                        frames = r.wal_frames,
                        "WAL copied back; it starts again at the next write"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; will retry"),
                }
            }
            _ => {
                let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                return;
            }
        }
    }
}

/// The writer's two queues. Small jobs share group commits; big jobs (a whole job, or the
/// pieces of one) take turns with the groups: after each big transaction every small job
/// waiting is committed before the next big one starts, and the pieces of a big job are
/// committed as soon as a small job waits. So a small change (a where-is lookup's audit row, a
/// sign-in) waits for at most one piece or solo job, however many big ones are queued (a
/// bridge emptying its offline queue sends thousands of scans).
#[derive(Default)]
struct Lanes {
    group: std::collections::VecDeque<Job>,
    big: std::collections::VecDeque<Job>,
}

impl Lanes {
    fn push(&mut self, job: Job) {
        if job.kind == Kind::Group {
            self.group.push_back(job);
        } else {
            self.big.push_back(job);
        }
    }

    fn is_empty(&self) -> bool {
        self.group.is_empty() && self.big.is_empty()
    }

    /// Sort every job already sent into its lane; wait for one only when both are empty.
    /// False once every sender has gone and nothing is left to do.
    fn take_waiting(&mut self, rx: &mpsc::Receiver<Job>) -> bool {
        if self.is_empty() {
            match rx.recv() {
                Ok(j) => self.push(j),
                Err(_) => return false,
            }
        }
        self.take_sent(rx);
        true
    }

    /// Sort jobs already sent into their lanes, without waiting, while the lanes hold fewer
    /// than [`QUEUE_LIMIT`] (beyond that, senders wait on the channel as before).
    fn take_sent(&mut self, rx: &mpsc::Receiver<Job>) {
        while self.group.len() + self.big.len() < QUEUE_LIMIT {
            match rx.try_recv() {
                Ok(j) => self.push(j),
                Err(_) => break,
            }
        }
    }

    /// The next piece of big job `job`, if it is next in line and no small job waits.
    fn next_piece_of(&mut self, job: u64, rx: &mpsc::Receiver<Job>) -> Option<Job> {
        self.take_sent(rx);
        if !self.group.is_empty() {
            return None;
        }
        match self.big.front() {
            Some(j) if j.kind == Kind::Piece(job) => self.big.pop_front(),
            _ => None,
        }
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>) {
    let mut lanes = Lanes::default();
    let mut transactions = 0u64;
    while lanes.take_waiting(&rx) {
        if !lanes.group.is_empty() {
            run_group(&conn, &mut lanes);
            transactions += 1;
        }
        if let Some(job) = lanes.big.pop_front() {
            match job.kind {
                Kind::Piece(n) => run_pieces(&conn, job, n, &mut lanes, &rx),
                _ => run_solo(&conn, job),
            }
            transactions += 1;
        }
        if transactions >= CACHE_CHECK_EVERY {
            transactions = 0;
            if let Err(e) = size_writer_cache(&conn) {
                tracing::warn!(error = %e, "cannot size the writer's page cache");
            }
        }
    }
}

/// Begin a write transaction; on failure answer every job with the reason.
fn begin(conn: &Connection, jobs: Vec<Job>) -> Option<Vec<Job>> {
    match control(conn, "BEGIN IMMEDIATE") {
        Ok(()) => Some(jobs),
        Err(e) => {
            tracing::error!(error = %e, "cannot begin a write transaction");
            for job in jobs {
                let (_, done) = (job.run)(Err(format!("cannot begin a write transaction: {e}")));
                done(None);
            }
            None
        }
    }
}

/// Small jobs waiting, at most [`MAX_GROUP`], each in its own savepoint, committed together.
fn run_group(conn: &Connection, lanes: &mut Lanes) {
    let mut left = MAX_GROUP;
    run_together(conn, || {
        left = left.checked_sub(1)?;
        lanes.group.pop_front()
    });
}

/// Pieces of big job `n`, from `first`, each in its own savepoint, in one transaction until a
/// small job waits or the next job in line is not a piece of this one.
fn run_pieces(conn: &Connection, first: Job, n: u64, lanes: &mut Lanes, rx: &mpsc::Receiver<Job>) {
    let mut first = Some(first);
    run_together(conn, || first.take().or_else(|| lanes.next_piece_of(n, rx)));
}

/// Jobs from `next`, each in its own savepoint, in one transaction, then one commit; every job
/// is answered after it. If SQLite rolls the whole transaction back under a job (a full disk,
/// an I/O error), what ran in it is gone: those jobs are answered with an error and no more
/// are taken (they start a new transaction).
fn run_together(conn: &Connection, mut next: impl FnMut() -> Option<Job>) {
    let Some(first) = next() else {
        return;
    };
    let Some(mut jobs) = begin(conn, vec![first]) else {
        return;
    };
    let mut job = jobs.pop();
    let mut done: Vec<Completion> = Vec::new();
    while let Some(j) = job {
        done.push((j.run)(Ok(conn)).1);
        if conn.is_autocommit() {
            tracing::error!(
                "SQLite rolled the write transaction back; its changes are answered with an error"
            );
            for c in done {
                c(Some(
                    "the write transaction was rolled back (see the server log)".into(),
                ));
            }
            return;
        }
        job = next();
    }
    let commit_error = commit(conn);
    for c in done {
        c(commit_error.clone());
    }
}

/// A big job in a transaction of its own: rolled back whole if it fails.
fn run_solo(conn: &Connection, job: Job) {
    let Some(mut jobs) = begin(conn, vec![job]) else {
        return;
    };
    let job = jobs.pop().expect("one job");
    let (ok, done) = (job.run)(Ok(conn));
    if !ok {
        // The job's own error goes back to its caller; nothing of it stays.
        let _ = conn.execute_batch("ROLLBACK");
        done(None);
        return;
    }
    done(commit(conn));
}

/// Commit the open transaction; on failure roll it back and say why.
fn commit(conn: &Connection) -> Option<String> {
    control(conn, "COMMIT").err().map(|e| {
        tracing::error!(error = %e, "commit failed; the batch is rolled back");
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    })
}

/// Copy the live database to `dest` with SQLite's online backup (safe while the server writes).
pub fn backup(src: &Path, dest: &Path, mut progress: impl FnMut(i32, i32)) -> Result<()> {
    if dest.exists() {
        return Err(Error::invalid(
            "destination",
            format!("{} already exists; choose a new file", dest.display()),
        ));
    }
    let conn = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut out = Connection::open(dest)?;
    let backup = rusqlite::backup::Backup::new(&conn, &mut out)?;
    // One step copies everything inside a single read transaction. In WAL mode that never blocks
    // the server's writer, and unlike page-by-page steps it cannot be restarted forever by a
    // busy writer (SQLite restarts a stepped backup whenever another connection writes).
    let step = backup.step(-1)?;
    let p = backup.progress();
    progress(p.pagecount - p.remaining, p.pagecount);
    if step != rusqlite::backup::StepResult::Done {
        return Err(Error::internal(format!(
            "backup did not complete: {step:?}"
        )));
    }
    drop(backup);
    let ok: String = out.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(Error::internal(format!(
            "backup failed its integrity check: {ok}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add_location(c: &Connection, code: &str) -> Result<()> {
        c.execute(
            "INSERT INTO locations(code,name,kind,created_at) VALUES (?1,'x','ward','t')",
            [code],
        )?;
        Ok(())
    }

    async fn count_locations(db: &Db) -> i64 {
        db.read(|c| Ok(c.query_row("SELECT count(*) FROM locations", [], |r| r.get(0))?))
            .await
            .unwrap()
    }

    #[test]
    fn failing_job_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 2).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let ins = |code: &'static str| {
                let db = db.clone();
                async move {
                    db.write(move |c| {
                        add_location(c, code)?;
                        if code == "BAD" {
                            return Err(Error::invalid("code", "refused"));
                        }
                        Ok(())
                    })
                    .await
                }
            };
            let (a, b, c) = tokio::join!(ins("A"), ins("BAD"), ins("C"));
            assert!(a.is_ok() && b.is_err() && c.is_ok());
            assert_eq!(count_locations(&db).await, 2);
        });
    }

    #[test]
    fn the_writer_cache_stays_small_below_the_lock_byte_page() {
        // 1 KiB pages: the lock-byte page is page 1,048,577 (1 GiB)
        assert_eq!(writer_cache_kib(1, 1024), SMALL_DB_WRITER_CACHE_KIB);
        assert_eq!(writer_cache_kib(1_048_577, 1024), SMALL_DB_WRITER_CACHE_KIB);
        assert_eq!(writer_cache_kib(1_048_578, 1024), WRITER_CACHE_KIB);
        // 4 KiB pages: page 262,145
        assert_eq!(writer_cache_kib(262_145, 4096), SMALL_DB_WRITER_CACHE_KIB);
        assert_eq!(writer_cache_kib(262_146, 4096), WRITER_CACHE_KIB);
    }

    #[test]
    fn new_database_uses_small_pages() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        drop(Db::open(&p, 1).unwrap());
        let c = Connection::open(&p).unwrap();
        let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(size, PAGE_SIZE);
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn big_job_rolls_back_alone_and_small_jobs_still_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 2).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let small = |code: &'static str| {
                let db = db.clone();
                async move { db.write(move |c| add_location(c, code)).await }
            };
            let solo = |n: usize, fail: bool| {
                let db = db.clone();
                async move {
                    db.write_solo(move |c| {
                        for i in 0..n {
                            add_location(c, &format!("S{fail}{i}"))?;
                        }
                        if fail {
                            return Err(Error::invalid("events", "refused"));
                        }
                        Ok(n)
                    })
                    .await
                }
            };
            let (a, b, c, d) =
                tokio::join!(small("A"), solo(500, true), solo(300, false), small("D"));
            assert!(a.is_ok() && c.is_ok() && d.is_ok());
            assert!(b.unwrap_err().to_string().contains("refused"));
            // A, D and the 300 of the job that succeeded; none of the 500 of the one that failed.
            assert_eq!(count_locations(&db).await, 302);
        });
    }

    #[test]
    fn a_small_change_waits_for_one_big_piece_not_for_all_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 2).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let order = Arc::new(Mutex::new(Vec::<String>::new()));
        rt.block_on(async {
            let piece = |name: &'static str| {
                let order = order.clone();
                move |c: &Connection| {
                    add_location(c, name)?;
                    std::thread::sleep(std::time::Duration::from_millis(150));
                    order.lock().unwrap().push(name.to_string());
                    Ok(name)
                }
            };
            let pieces = vec![piece("P1"), piece("P2"), piece("P3"), piece("P4")];
            let big = {
                let db = db.clone();
                tokio::spawn(async move { db.write_pieces(pieces).await })
            };
            // the small change arrives while the first piece runs
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let t = std::time::Instant::now();
            let o = order.clone();
            db.write(move |c| {
                add_location(c, "SMALL")?;
                o.lock().unwrap().push("SMALL".into());
                Ok(())
            })
            .await
            .unwrap();
            let waited = t.elapsed();
            let results = big.await.unwrap();
            assert!(results.iter().all(|r| r.is_ok()));
            assert_eq!(
                order.lock().unwrap().clone(),
                ["P1", "SMALL", "P2", "P3", "P4"],
                "the small change is committed between the first and second pieces"
            );
            // at most the rest of one piece (150 ms), not the four (600 ms)
            assert!(waited < std::time::Duration::from_millis(400), "{waited:?}");
            assert_eq!(count_locations(&db).await, 5);
        });
    }

    #[test]
    fn a_failing_piece_rolls_back_alone_and_the_others_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 2).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let pieces: Vec<_> = (0..3)
                .map(|k| {
                    move |c: &Connection| {
                        for i in 0..100 {
                            add_location(c, &format!("K{k}-{i}"))?;
                        }
                        if k == 1 {
                            return Err(Error::invalid("events", "piece refused"));
                        }
                        Ok(k)
                    }
                })
                .collect();
            let r = db.write_pieces(pieces).await;
            assert_eq!(r.len(), 3);
            assert_eq!(*r[0].as_ref().unwrap(), 0);
            assert!(r[1]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("piece refused"));
            assert_eq!(*r[2].as_ref().unwrap(), 2);
            assert_eq!(count_locations(&db).await, 200);
        });
    }

    #[test]
    fn pieces_share_a_transaction_while_nothing_else_waits() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 2).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let reader = db.clone();
            let pieces: Vec<_> = (0..4)
                .map(|k| {
                    let reader = reader.clone();
                    move |c: &Connection| {
                        // what the other pieces wrote, as a reader sees it: nothing until the
                        // shared transaction commits
                        let committed: i64 = reader.read_blocking(|r| {
                            Ok(r.query_row("SELECT count(*) FROM locations", [], |x| x.get(0))?)
                        })?;
                        add_location(c, &format!("T{k}"))?;
                        std::thread::sleep(std::time::Duration::from_millis(30));
                        Ok(committed)
                    }
                })
                .collect();
            let seen: Vec<i64> = db
                .write_pieces(pieces)
                .await
                .into_iter()
                .map(|r| r.unwrap())
                .collect();
            assert_eq!(seen, [0, 0, 0, 0], "one transaction for the four pieces");
            assert_eq!(count_locations(&db).await, 4);
        });
    }

    /// When SQLite rolls the whole transaction back under a job (as on a full disk), the
    /// jobs run in it are answered with an error (none is told its change was kept), and the
    /// next job starts a transaction of its own and is kept.
    #[test]
    fn jobs_of_a_transaction_sqlite_rolled_back_are_answered_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 2).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            type Piece = Box<dyn FnOnce(&Connection) -> Result<&'static str> + Send>;
            let pieces: Vec<Piece> = vec![
                Box::new(|c| {
                    add_location(c, "KEPT-IF-COMMITTED")?;
                    // the other pieces are queued by now, and join this transaction
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    Ok("first")
                }),
                // stands in for SQLite rolling back on a full disk or an I/O error
                Box::new(|c| {
                    c.execute_batch("ROLLBACK")?;
                    Ok("second")
                }),
                Box::new(|c| add_location(c, "THIRD").map(|_| "third")),
            ];
            let r = db.write_pieces(pieces).await;
            assert!(r[0].is_err(), "its change was rolled back: {:?}", r[0]);
            assert!(r[1].is_err());
            assert_eq!(*r[2].as_ref().unwrap(), "third");
            let codes: Vec<String> = db
                .read(|c| {
                    Ok(c.prepare("SELECT code FROM locations")?
                        .query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?)
                })
                .await
                .unwrap();
            assert_eq!(codes, ["THIRD"]);
        });
    }

    #[test]
    fn the_checkpointer_starts_the_wal_again_once_no_reader_is_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = Connection::open(&path).unwrap();
        configure_writer(&w).unwrap();
        w.execute_batch("CREATE TABLE t(x BLOB)").unwrap();
        let write = |n: usize| {
            for _ in 0..n {
                w.execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                    .unwrap();
            }
        };
        // a reader in the middle of a read transaction, on the WAL as it is then
        let reader = || {
            let r = Connection::open(&path).unwrap();
            r.execute_batch("BEGIN").unwrap();
            let _: i64 = r
                .query_row("SELECT count(*) FROM t", [], |x| x.get(0))
                .unwrap();
            r
        };
        let ck = Connection::open(&path).unwrap();
        ck.busy_timeout(std::time::Duration::ZERO).unwrap();
        let limit = wal_frames(&ck, 100 * 1024).unwrap();
        assert_eq!(limit, 100 * 1024 / (PAGE_SIZE + 24));
        write(20);
        let early = reader();
        write(40);
        let late = reader();
        let round = checkpoint_round(&ck, limit).unwrap();
        assert!(round.wal_frames > limit, "{round:?}");
        assert!(
            round.copied < round.wal_frames && !round.restarted,
            "the frames the early reader may still need stay: {round:?}"
        );
        // all copied back, but a reader is still on the WAL: the round gives up at once
        early.execute_batch("COMMIT").unwrap();
        let round = checkpoint_round(&ck, limit).unwrap();
        assert_eq!(round.copied, round.wal_frames, "{round:?}");
        assert!(!round.restarted, "{round:?}");
        write(1);
        let grown = checkpoint_round(&ck, i64::MAX).unwrap();
        assert!(grown.wal_frames > round.wal_frames, "{grown:?}");
        // nobody reading: the next write starts at the WAL's beginning
        late.execute_batch("COMMIT").unwrap();
        let round = checkpoint_round(&ck, limit).unwrap();
        assert!(round.restarted, "{round:?}");
        write(1);
        let after = checkpoint_round(&ck, i64::MAX).unwrap();
        assert!(after.wal_frames < 10, "the WAL started again: {after:?}");
        let rows: i64 = w
            .query_row("SELECT count(*) FROM t", [], |x| x.get(0))
            .unwrap();
        assert_eq!(rows, 62);
    }

    #[test]
    fn quick_reads_see_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 2).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            for i in 0..50 {
                db.write(move |c| add_location(c, &format!("Q{i}")))
                    .await
                    .unwrap();
                let n: i64 = db
                    .read_quick(|c| {
                        Ok(c.query_row("SELECT count(*) FROM locations", [], |r| r.get(0))?)
                    })
                    .unwrap();
                assert_eq!(n, i + 1);
            }
        });
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        {
            let c = Connection::open(&p).unwrap();
            c.pragma_update(None, "user_version", 999).unwrap();
        }
        let err = Db::open(&p, 1).err().unwrap().to_string();
        assert!(err.contains("schema version 999"), "{err}");
    }

    #[test]
    fn migrating_restores_the_connection_settings() {
        let mut c = Connection::open_in_memory().unwrap();
        configure(&c).unwrap();
        migrations::migrate(&mut c).unwrap();
        let fk: i64 = c
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        let temp: i64 = c.query_row("PRAGMA temp_store", [], |r| r.get(0)).unwrap();
        assert_eq!(
            (fk, temp),
            (1, 2),
            "foreign keys on, temporary data in memory"
        );
    }

    /// A database at `version` in a file, as an earlier release left it (WAL mode).
    fn database_at(path: &Path, version: usize) -> Connection {
        let c = Connection::open(path).unwrap();
        configure_writer(&c).unwrap();
        for m in &migrations::MIGRATIONS[..version] {
            c.execute_batch(m).unwrap();
        }
        c.pragma_update(None, "user_version", version as i64)
            .unwrap();
        c
    }

    fn journal_mode(c: &Connection) -> String {
        c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn an_upgrade_leaves_the_database_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        let mut c = database_at(&p, migrations::CURRENT - 1);
        let m = migrations::migrate(&mut c).unwrap();
        assert_eq!(m.to, migrations::CURRENT);
        assert_eq!(journal_mode(&c), "wal");
        drop(c);
        assert_eq!(journal_mode(&Connection::open(&p).unwrap()), "wal");
    }

    #[test]
    fn an_upgrade_with_another_connection_open_runs_in_wal_mode_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        let mut c = database_at(&p, migrations::CURRENT - 1);
        let other = Connection::open(&p).unwrap();
        let _: i64 = other
            .query_row("SELECT count(*) FROM folders", [], |r| r.get(0))
            .unwrap();
        let t = std::time::Instant::now();
        let m = migrations::migrate(&mut c).unwrap();
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(m.to, migrations::CURRENT);
        assert_eq!(journal_mode(&c), "wal");
        let busy: i64 = c
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 10_000, "the writer's busy timeout is back");
        let v: i64 = other
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, migrations::CURRENT);
    }

    #[test]
    fn existing_database_is_migrated_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        let mut c = Connection::open(&p).unwrap();
        assert_eq!(migrations::migrate(&mut c).unwrap().from, 0);
        let again = migrations::migrate(&mut c).unwrap();
        assert_eq!(
            (again.from, again.to),
            (migrations::CURRENT, migrations::CURRENT)
        );
    }
}
