//! Soak (issue 17): the real server under a steady stream of scans for a long time, SIGKILLed
//! at regular intervals and started again on the same database. At the end nothing may be lost,
//! nothing doubled, and the server's memory must stay flat.
//!
//! What runs:
//! - **The server**, a child process ([`ServerCommand`]) on a fixed port of 127.0.0.1. Every
//!   `kill_every` (plus a random part of a second, then at the first moment a request is in
//!   flight, so that the kill falls mid-request) it is SIGKILLed, and started again on the same
//!   database `down` later (a service manager's restart delay), so that the bridges meet refused
//!   connections in between. The restart time is spawn to listening (the first TCP connection
//!   it accepts).
//! - **Bridges**, simulated as firmware-bridge behaves (`firmware_bridge::delivery`): each has
//!   its own device token and device id, and a queue that keeps every event until the server has
//!   answered `stored` or `duplicate` for it. Scans are read at `rate` a second in all,
//!   spread over the bridges; every `batch_every` the new scans join the queues, with UUIDv7
//!   event ids and their read time as `read_at`. Each bridge sends the oldest events of its
//!   queue (at most 500), one request at a time. A failed request (connection refused or cut
//!   off while the server is dead, an HTTP error) leaves the queue as it was and is retried
//!   after the bridge's own backoff ([`firmware_bridge::delivery::backoff`] with its default
//!   settings). Every `lost_ack_every`-th answered batch of a bridge is treated as a lost ACK:
//!   its events stay queued and go again with the next batch, as a bridge does when an answer
//!   never reaches it.
//! - **A sampler** reads the server's VmRSS and VmHWM every second.
//!
//! At the end (the queues drained, the server stopped) the database is opened and checked: every
//! event sent is stored exactly once, with the folder, place and read time sent, and this run's
//! devices have no other movements; each scanned folder's current place is its last scan; the
//! audit chain still verifies. Memory is judged per server life, by [`Options::max_growth_pct`]
//! and [`Options::max_growth_mb`] (see [`Report::markdown`] for the criterion as reported).

use crate::support::{self, WARDS};
use anyhow::{bail, Context, Result};
use casenote_core::wire::{BatchResult, EventStatus};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rusqlite::{params_from_iter, Connection, OptionalExtension};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the soak starts the server: the command for a database and the address to listen on.
/// The soak sets its standard streams (output discarded, errors appended to a log file beside
/// the database).
pub type ServerCommand = Box<dyn Fn(&Path, SocketAddr) -> Result<Command> + Send + Sync>;

/// At most this many events per request, as a bridge's default `batch_size`.
const MAX_BATCH: usize = 500;
/// How long the bridges may take, after the last scan, to have every event acknowledged.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// What to run.
pub struct Options {
    /// How long scans are read.
    pub duration: Duration,
    /// Scans a second, over all bridges.
    pub rate: u32,
    /// SIGKILL the server this often (zero: never).
    pub kill_every: Duration,
    /// How long the server stays dead before it is started again, as a service manager's
    /// restart delay (`RestartSec=`).
    pub down: Duration,
    /// The database; built with `folders` folders (ten movements each) if it does not exist.
    pub db: PathBuf,
    pub folders: u64,
    /// Simulated bridges.
    pub bridges: usize,
    /// New scans join the bridges' queues this often.
    pub batch_every: Duration,
    /// Every this many answered batches of a bridge, the answer is dropped (zero: never).
    pub lost_ack_every: u32,
    /// "Memory flat": how far RSS may grow, whichever is larger of a share (per cent) and an
    /// amount (MB).
    pub max_growth_pct: f64,
    pub max_growth_mb: f64,
    /// Starts the server.
    pub server: ServerCommand,
    /// The command line, for the report.
    pub command: String,
}

impl Options {
    /// The soak (30 minutes at 500 events/s, SIGKILL every 5 minutes) on `db`.
    pub fn new(db: PathBuf, server: ServerCommand) -> Self {
        Self {
            duration: Duration::from_secs(30 * 60),
            rate: 500,
            kill_every: Duration::from_secs(300),
            down: Duration::from_secs(2),
            db,
            folders: 5_000,
            bridges: 5,
            batch_every: Duration::from_millis(100),
            lost_ack_every: 25,
            max_growth_pct: 10.0,
            max_growth_mb: 8.0,
            server,
            command: String::new(),
        }
    }

    /// The warm-up of a server life, and the length of the windows its memory is compared over:
    /// a minute, or a quarter of the time between kills if that is shorter.
    pub fn window(&self) -> Duration {
        let quarter = if self.kill_every.is_zero() {
            self.duration / 4
        } else {
            self.kill_every / 4
        };
        quarter.min(Duration::from_secs(60))
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One scan read by a bridge.
#[derive(Clone, Copy)]
struct Ev {
    id: uuid::Uuid,
    read_ms: i64,
    /// When the bridge had it acknowledged (0: not yet).
    ack_ms: i64,
    folder: i64,
    ward: u16,
    /// Answers "stored" and "duplicate" received for it.
    stored: u8,
    dups: u8,
}

/// Why requests failed.
#[derive(Default, Clone, Copy)]
struct Failures {
    refused: u64,
    cut_off: u64,
    timed_out: u64,
    http: u64,
    unreadable: u64,
}

impl Failures {
    fn total(&self) -> u64 {
        self.refused + self.cut_off + self.timed_out + self.http + self.unreadable
    }
}

#[derive(Default)]
struct Counters {
    /// Batches answered, and those whose answer was dropped on purpose (and their events).
    answered: u64,
    dropped: u64,
    dropped_events: u64,
    /// Answers for events answered before (sent again after a dropped answer), and how many of
    /// them said "duplicate".
    again: u64,
    again_dup: u64,
    /// First answers that said "duplicate": the server had committed the event but its answer
    /// was lost when it was killed.
    first_dup: u64,
    first_stored: u64,
    rejected: Vec<String>,
    failures: Failures,
    last_error: String,
}

/// A bridge's queue: events not yet acknowledged (index into the run's events, the event as
/// sent), oldest first.
type Queue = Mutex<VecDeque<(usize, Arc<str>)>>;

struct Shared {
    events: Mutex<Vec<Ev>>,
    /// Per bridge.
    queues: Vec<Queue>,
    wake: Vec<tokio::sync::Notify>,
    /// Set when the scans stop; cleared by the generator once it has made its last events.
    stop: AtomicBool,
    generating: AtomicBool,
    in_flight: AtomicUsize,
    counters: Mutex<Counters>,
}

/// What the run learnt about the database before it started.
struct Setup {
    devices: Vec<String>,
    tokens: Vec<String>,
    /// Location id of each ward code.
    wards: Vec<(String, i64)>,
    folders: Vec<i64>,
    movements_before: i64,
    audit_before: std::result::Result<u64, String>,
}

/// One life of the server process.
struct Life {
    pid: u32,
    /// Spawn to listening.
    restart: Duration,
    listening: Instant,
    ended: Option<Instant>,
    /// Seconds since listening, VmRSS in kB.
    samples: Vec<(f64, u64)>,
    hwm_kb: u64,
    /// How it ended (None: still running).
    end: Option<End>,
}

/// How a server life ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// SIGKILLed by the soak, with this many requests in flight.
    Killed(usize),
    /// Exited without being killed by the soak (its exit status): a failure.
    Exited(String),
    /// Stopped after the run.
    Stopped,
}

impl Life {
    fn new(pid: u32, restart: Duration, listening: Instant) -> Self {
        Self {
            pid,
            restart,
            listening,
            ended: None,
            samples: Vec::new(),
            hwm_kb: 0,
            end: None,
        }
    }
}

impl Life {
    fn sample(&mut self) {
        let rss = support::rss_kb(self.pid, "VmRSS:");
        let hwm = support::rss_kb(self.pid, "VmHWM:");
        if rss > 0 {
            self.samples
                .push((self.listening.elapsed().as_secs_f64(), rss));
            self.hwm_kb = self.hwm_kb.max(hwm);
        }
    }

    fn length(&self) -> f64 {
        self.ended
            .unwrap_or_else(Instant::now)
            .duration_since(self.listening)
            .as_secs_f64()
    }
}

/// The server process: started on the same database and port each time.
struct Server<'a> {
    cmd: &'a ServerCommand,
    db: PathBuf,
    addr: SocketAddr,
    log: PathBuf,
    child: Option<Child>,
}

impl Server<'_> {
    /// Start it and wait until it accepts connections; returns its pid, spawn-to-listening
    /// time and the moment it listened.
    fn start(&mut self) -> Result<(u32, Duration, Instant)> {
        for _attempt in 0..20 {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .with_context(|| format!("opening {}", self.log.display()))?;
            let mut cmd = (self.cmd)(&self.db, self.addr)?;
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log));
            let spawned = Instant::now();
            let mut child = cmd.spawn().context("starting the server")?;
            loop {
                if TcpStream::connect_timeout(&self.addr, Duration::from_millis(500)).is_ok() {
                    let listening = Instant::now();
                    let pid = child.id();
                    self.child = Some(child);
                    return Ok((pid, listening - spawned, listening));
                }
                if child.try_wait()?.is_some() {
                    break; // it exited: the port may not be free yet after a kill
                }
                if spawned.elapsed() > Duration::from_secs(120) {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!(
                        "the server did not listen within 2 minutes; see {}",
                        self.log.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        bail!(
            "the server exited before listening on {}, 20 times; see {}",
            self.addr,
            self.log.display()
        )
    }

    /// Its exit status, if it has exited.
    fn exited(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(match self.child.as_mut() {
            Some(c) => c.try_wait()?,
            None => None,
        })
    }

    /// The end of its log, on one line.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(5)..].join(" / ")
    }

    /// SIGKILL (`Child::kill` on Unix) and reap it.
    fn kill(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().context("killing the server")?;
            c.wait()?;
        }
        Ok(())
    }
}

impl Drop for Server<'_> {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The server's lives: started, watched, killed and started again.
struct Supervisor<'a> {
    server: Server<'a>,
    lives: Arc<Mutex<Vec<Life>>>,
    /// The restart delay.
    down: Duration,
    /// Kill (or exit) to listening again, per restart.
    downtimes: Vec<Duration>,
    /// Exits the soak did not cause.
    exits: Vec<String>,
}

impl Supervisor<'_> {
    fn lives(&self) -> std::sync::MutexGuard<'_, Vec<Life>> {
        self.lives.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start(&mut self) -> Result<Instant> {
        let (pid, restart, listening) = self.server.start()?;
        self.lives().push(Life::new(pid, restart, listening));
        Ok(listening)
    }

    /// End the current life (a last memory sample first); returns when.
    fn end_life(&self, end: End) -> Instant {
        let now = Instant::now();
        if let Some(l) = self.lives().last_mut() {
            if l.end.is_none() {
                l.sample();
                l.ended = Some(now);
                l.end = Some(end);
            }
        }
        now
    }

    /// SIGKILL the server with `in_flight` requests in flight; returns when.
    fn kill(&mut self, in_flight: usize) -> Result<Instant> {
        let at = self.end_life(End::Killed(in_flight));
        self.server.kill()?;
        Ok(at)
    }

    /// Start the server again after the restart delay (down since `since`).
    fn restart(&mut self, since: Instant) -> Result<()> {
        std::thread::sleep(self.down);
        let listening = self.start()?;
        self.downtimes.push(listening - since);
        Ok(())
    }

    /// Wait until `until`. A server that exits by itself meanwhile is noted (a failure) and
    /// started again after the restart delay, as a service manager would.
    fn watch(&mut self, until: Instant) -> Result<()> {
        loop {
            if let Some(status) = self.server.exited()? {
                let at = self.end_life(End::Exited(status.to_string()));
                let tail = self.server.log_tail();
                eprintln!(
                    "soak: the server EXITED without being killed ({status}); restarting it in {:.1} s; the end of its log: {tail}",
                    self.down.as_secs_f64()
                );
                self.exits.push(if tail.is_empty() {
                    status.to_string()
                } else {
                    format!("{status}; the end of its log: {tail}")
                });
                self.server.kill()?; // reap it
                self.restart(at)?;
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
    }
}

/// Clears its flag when dropped (stops the sampler however the run ends).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// A port outside the range the system hands out for outgoing connections, so that no client
/// takes it while the server is dead; else any free port.
fn pick_port() -> Result<SocketAddr> {
    let mut rng = StdRng::from_entropy();
    for _ in 0..200 {
        let addr: SocketAddr = ([127, 0, 0, 1], rng.gen_range(20_000..32_000)).into();
        if TcpListener::bind(addr).is_ok() {
            return Ok(addr);
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Tokens, devices and the badge for this run, straight into the database; what it holds.
fn prepare(db: &Path, bridges: usize) -> Result<Setup> {
    let c = Connection::open(db)?;
    c.busy_timeout(Duration::from_secs(10))?;
    let run = format!("{:08x}", rand::random::<u32>());
    let devices: Vec<String> = (0..bridges)
        .map(|i| format!("soak-{run}-bridge{i}"))
        .collect();
    let mut tokens = Vec::new();
    for d in &devices {
        let t = tracker_server::auth::new_token("ct_");
        tracker_server::auth::insert_api_token(&c, d, tracker_server::auth::Role::Device, &t)?;
        tokens.push(t);
    }
    support::register_badge(&c)?;
    let mut wards = Vec::new();
    for i in 1..=WARDS {
        let code = format!("LWARD{i}");
        let id: Option<i64> = c
            .query_row("SELECT id FROM locations WHERE code=?1", [&code], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(id) = id else {
            bail!(
                "{} has no location {code}: use a database built by casenote-bench",
                db.display()
            );
        };
        wards.push((code, id));
    }
    let folders: Vec<i64> = c
        .prepare("SELECT id FROM folders WHERE status='active' ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if folders.is_empty() {
        bail!("{} has no active folders", db.display());
    }
    let movements_before = c.query_row("SELECT count(*) FROM movements", [], |r| r.get(0))?;
    let audit_before = verify_audit(db, &c);
    Ok(Setup {
        devices,
        tokens,
        wards,
        folders,
        movements_before,
        audit_before,
    })
}

/// Walk the audit chain with the database's key (and its anchors, if any were written).
fn verify_audit(db: &Path, c: &Connection) -> std::result::Result<u64, String> {
    let key =
        tracker_server::audit::AuditKey::load(&tracker_server::storage::default_audit_key_path(db))
            .map_err(|e| e.to_string())?;
    let v = tracker_server::audit::verify(c, &[key]).map_err(|e| e.to_string())?;
    let anchors = std::fs::read_to_string(tracker_server::storage::default_anchor_path(db))
        .unwrap_or_default();
    tracker_server::audit::check_anchors(c, &anchors).map_err(|e| e.to_string())?;
    Ok(v.rows)
}

/// Read scans at the rate, until told to stop; each batch of new scans joins the bridges'
/// queues (round robin).
async fn generate(sh: Arc<Shared>, o: GenOpts) {
    let mut rng = StdRng::from_entropy();
    let scheme = casenote_core::identifiers::FolderIdScheme::default();
    // a folder is never scanned twice in the same millisecond, so its last scan is one scan
    let mut last_read: HashMap<i64, i64> = HashMap::new();
    let t0 = Instant::now();
    let mut made = 0u64;
    let mut prev_ms = now_ms();
    let mut tick = tokio::time::interval(o.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let stopping = sh.stop.load(Ordering::SeqCst);
        let due = (o.rate as f64 * t0.elapsed().as_secs_f64()) as u64;
        let n = due - made;
        let now = now_ms().max(prev_ms);
        if n > 0 {
            let mut new: Vec<Vec<(usize, Arc<str>)>> = vec![Vec::new(); o.devices.len()];
            {
                let mut evs = sh.events.lock().unwrap_or_else(|e| e.into_inner());
                for k in 0..n {
                    // read times spread over the interval since the last batch
                    let read_ms = prev_ms + ((k + 1) as i64 * (now - prev_ms)) / n as i64;
                    let mut folder = o.folders[rng.gen_range(0..o.folders.len())];
                    for _ in 0..20 {
                        if last_read.get(&folder) != Some(&read_ms) {
                            break;
                        }
                        folder = o.folders[rng.gen_range(0..o.folders.len())];
                    }
                    last_read.insert(folder, read_ms);
                    let ward = rng.gen_range(0..o.wards.len());
                    let b = ((made + k) % o.devices.len() as u64) as usize;
                    // bridges make time-ordered UUIDv7 ids (firmware-bridge events.rs)
                    let id = uuid::Uuid::now_v7();
                    let body = support::scan_event(
                        &id,
                        &o.devices[b],
                        read_ms,
                        &scheme.format(folder as u64).text,
                        &o.wards[ward],
                    )
                    .to_string();
                    new[b].push((evs.len(), Arc::from(body)));
                    evs.push(Ev {
                        id,
                        read_ms,
                        ack_ms: 0,
                        folder,
                        ward: ward as u16,
                        stored: 0,
                        dups: 0,
                    });
                }
            }
            for (b, list) in new.into_iter().enumerate() {
                sh.queues[b]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(list);
                sh.wake[b].notify_one();
            }
            made = due;
            prev_ms = now;
        }
        if stopping {
            break;
        }
    }
    sh.generating.store(false, Ordering::SeqCst);
    for w in &sh.wake {
        w.notify_one();
    }
}

struct GenOpts {
    rate: u32,
    every: Duration,
    folders: Arc<Vec<i64>>,
    wards: Vec<String>,
    devices: Vec<String>,
}

/// One bridge's delivery loop: the oldest queued events, one request at a time, until the
/// scans have stopped and its queue is empty.
async fn deliver(
    sh: Arc<Shared>,
    b: usize,
    url: String,
    token: String,
    every: Duration,
    lost_ack_every: u32,
) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let cfg = firmware_bridge::config::DeliveryConfig::default();
    let mut failures = 0u32;
    let mut answered = 0u64;
    loop {
        let batch: Vec<(usize, Arc<str>)> = sh.queues[b]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .take(MAX_BATCH)
            .cloned()
            .collect();
        if batch.is_empty() {
            if !sh.generating.load(Ordering::SeqCst) {
                return Ok(());
            }
            tokio::select! {
                _ = sh.wake[b].notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
            continue;
        }
        let mut body =
            String::with_capacity(batch.iter().map(|(_, e)| e.len() + 1).sum::<usize>() + 16);
        body.push_str("{\"events\":[");
        for (i, (_, e)) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(e);
        }
        body.push_str("]}");
        sh.in_flight.fetch_add(1, Ordering::SeqCst);
        let answer = post(&client, &url, &token, body).await;
        sh.in_flight.fetch_sub(1, Ordering::SeqCst);
        let res = match answer {
            Ok(res) => res,
            Err((kind, why)) => {
                {
                    let mut c = sh.counters.lock().unwrap_or_else(|e| e.into_inner());
                    let f = &mut c.failures;
                    *match kind {
                        Failed::Refused => &mut f.refused,
                        Failed::CutOff => &mut f.cut_off,
                        Failed::TimedOut => &mut f.timed_out,
                        Failed::Http => &mut f.http,
                        Failed::Unreadable => &mut f.unreadable,
                    } += 1;
                    c.last_error = why;
                }
                let wait = firmware_bridge::delivery::backoff(
                    cfg.retry_base_ms,
                    cfg.retry_max_ms,
                    failures,
                );
                failures = failures.saturating_add(1);
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        failures = 0;
        let evs_ids_match = res.results.len() == batch.len() && {
            let evs = sh.events.lock().unwrap_or_else(|e| e.into_inner());
            batch
                .iter()
                .zip(&res.results)
                .all(|((i, _), r)| r.event_id == evs[*i].id.to_string())
        };
        if !evs_ids_match {
            // a bridge keeps what was not answered; here that is the whole batch
            {
                let mut c = sh.counters.lock().unwrap_or_else(|e| e.into_inner());
                c.failures.unreadable += 1;
                c.last_error = "the answer is not for the batch sent".into();
            }
            tokio::time::sleep(every).await;
            continue;
        }
        answered += 1;
        let drop_ack = lost_ack_every > 0 && answered.is_multiple_of(lost_ack_every as u64);
        let now = now_ms();
        {
            let mut evs = sh.events.lock().unwrap_or_else(|e| e.into_inner());
            let mut c = sh.counters.lock().unwrap_or_else(|e| e.into_inner());
            c.answered += 1;
            for ((i, _), r) in batch.iter().zip(&res.results) {
                let e = &mut evs[*i];
                let before = e.stored as u32 + e.dups as u32 > 0;
                match r.status {
                    EventStatus::Stored => e.stored = e.stored.saturating_add(1),
                    EventStatus::Duplicate => e.dups = e.dups.saturating_add(1),
                    EventStatus::Rejected => c.rejected.push(format!(
                        "{}: {} {}",
                        r.event_id,
                        r.field.as_deref().unwrap_or(""),
                        r.message.as_deref().unwrap_or("")
                    )),
                }
                match (before, r.status) {
                    (true, s) => {
                        c.again += 1;
                        c.again_dup += (s == EventStatus::Duplicate) as u64;
                    }
                    (false, EventStatus::Duplicate) => c.first_dup += 1,
                    (false, EventStatus::Stored) => c.first_stored += 1,
                    (false, EventStatus::Rejected) => {}
                }
                if !drop_ack && e.ack_ms == 0 {
                    e.ack_ms = now;
                }
            }
            if drop_ack {
                c.dropped += 1;
                c.dropped_events += batch.len() as u64;
            }
        }
        if !drop_ack {
            let mut q = sh.queues[b].lock().unwrap_or_else(|e| e.into_inner());
            for (i, _) in &batch {
                if q.front().map(|(j, _)| j) == Some(i) {
                    q.pop_front();
                } else {
                    bail!("bridge {b}: its queue changed under a batch in flight");
                }
            }
        }
    }
}

enum Failed {
    Refused,
    CutOff,
    TimedOut,
    Http,
    Unreadable,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: String,
) -> std::result::Result<BatchResult, (Failed, String)> {
    let kind = |e: &reqwest::Error| {
        if e.is_timeout() {
            Failed::TimedOut
        } else if e.is_connect() {
            Failed::Refused
        } else {
            Failed::CutOff
        }
    };
    let r = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| (kind(&e), e.to_string()))?;
    let status = r.status();
    if !status.is_success() {
        let text: String = r
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        return Err((Failed::Http, format!("server answered {status}: {text}")));
    }
    let bytes = r.bytes().await.map_err(|e| (kind(&e), e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| (Failed::Unreadable, e.to_string()))
}

/// What the database holds after the run.
struct DbCheck {
    lost: u64,
    doubled: u64,
    wrong: u64,
    run_rows: i64,
    extra: i64,
    folders_checked: u64,
    place_wrong: u64,
    examples: Vec<String>,
    audit_after: std::result::Result<u64, String>,
    movements_after: i64,
}

fn check_db(db: &Path, setup: &Setup, events: &[Ev]) -> Result<DbCheck> {
    let c = Connection::open(db)?;
    c.busy_timeout(Duration::from_secs(10))?;
    let mut st =
        c.prepare("SELECT folder_id, location_id, read_at FROM movements WHERE event_id=?1")?;
    let (mut lost, mut doubled, mut wrong) = (0u64, 0u64, 0u64);
    let mut examples = Vec::new();
    fn note(s: String, ex: &mut Vec<String>) {
        if ex.len() < 5 {
            ex.push(s);
        }
    }
    for e in events {
        let rows: Vec<(Option<i64>, i64, i64)> = st
            .query_map([&e.id.as_bytes()[..]], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        match rows.as_slice() {
            [] => {
                lost += 1;
                note(format!("event {} is not stored", e.id), &mut examples);
            }
            [(f, l, t)] => {
                if *f != Some(e.folder) || *l != setup.wards[e.ward as usize].1 || *t != e.read_ms {
                    wrong += 1;
                    note(
                        format!("event {} is stored with other content", e.id),
                        &mut examples,
                    );
                }
            }
            more => {
                doubled += 1;
                note(
                    format!("event {} is stored {} times", e.id, more.len()),
                    &mut examples,
                );
            }
        }
    }
    let placeholders = vec!["?"; setup.devices.len()].join(",");
    let run_rows: i64 = c.query_row(
        &format!("SELECT count(*) FROM movements WHERE device_id IN ({placeholders})"),
        params_from_iter(&setup.devices),
        |r| r.get(0),
    )?;
    let extra = run_rows - (events.len() as i64 - lost as i64);
    // each folder's last scan (no folder is scanned twice in the same millisecond)
    let mut last: HashMap<i64, &Ev> = HashMap::new();
    for e in events {
        let slot = last.entry(e.folder).or_insert(e);
        if e.read_ms > slot.read_ms {
            *slot = e;
        }
    }
    let mut cur = c.prepare(
        "SELECT f.cur_location_id, f.cur_read_at, m.event_id FROM folders f
         LEFT JOIN movements m ON m.id = f.cur_movement_id WHERE f.id=?1",
    )?;
    let mut place_wrong = 0u64;
    for (folder, e) in &last {
        let (loc, at, id): (Option<i64>, Option<i64>, Option<Vec<u8>>) =
            cur.query_row([folder], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        if loc != Some(setup.wards[e.ward as usize].1)
            || at != Some(e.read_ms)
            || id.as_deref() != Some(&e.id.as_bytes()[..])
        {
            place_wrong += 1;
            note(
                format!(
                    "folder {folder} is at location {loc:?} since {at:?}, its last scan was {} at {}",
                    setup.wards[e.ward as usize].0, e.read_ms
                ),
                &mut examples,
            );
        }
    }
    let movements_after = c.query_row("SELECT count(*) FROM movements", [], |r| r.get(0))?;
    let audit_after = verify_audit(db, &c);
    Ok(DbCheck {
        lost,
        doubled,
        wrong,
        run_rows,
        extra,
        folders_checked: last.len() as u64,
        place_wrong,
        examples,
        audit_after,
        movements_after,
    })
}

/// The figures of one server life.
pub struct LifeFigures {
    /// Seconds from listening to its end.
    pub length_s: f64,
    pub restart_ms: f64,
    /// VmRSS at the first sample past the warm-up, at the end, and the peak (VmHWM), in kB.
    pub warm_kb: Option<u64>,
    pub end_kb: Option<u64>,
    pub hwm_kb: u64,
    /// Median VmRSS over the window after the warm-up and over the last window, if the life was
    /// long enough (three windows) to judge.
    pub early_kb: Option<u64>,
    pub late_kb: Option<u64>,
    pub end: Option<End>,
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

fn life_figures(l: &Life, window: f64) -> LifeFigures {
    let len = l.length();
    let (early_kb, late_kb) = if len >= 3.0 * window {
        (
            median(
                l.samples
                    .iter()
                    .filter(|(t, _)| *t >= window && *t < 2.0 * window)
                    .map(|(_, k)| *k)
                    .collect(),
            ),
            median(
                l.samples
                    .iter()
                    .filter(|(t, _)| *t >= len - window)
                    .map(|(_, k)| *k)
                    .collect(),
            ),
        )
    } else {
        (None, None)
    };
    LifeFigures {
        length_s: len,
        restart_ms: l.restart.as_secs_f64() * 1000.0,
        warm_kb: l
            .samples
            .iter()
            .find(|(t, _)| *t >= window)
            .map(|(_, k)| *k),
        end_kb: l.samples.last().map(|(_, k)| *k),
        hwm_kb: l.hwm_kb,
        early_kb,
        late_kb,
        end: l.end.clone(),
    }
}

/// "Memory flat": (1) in every life that had three windows, the median RSS over its last
/// window is at most `max_pct` per cent or `max_mb` MB (whichever is larger) above the median
/// over the window after the warm-up; (2) no life of at least two windows ends with RSS more
/// than that above the first such life's end. Returns what was found, and the failures.
fn judge_memory(
    figs: &[LifeFigures],
    window: f64,
    max_pct: f64,
    max_mb: f64,
) -> (Vec<String>, Vec<String>) {
    let tol = |kb: u64| (kb as f64 * max_pct / 100.0).max(max_mb * 1024.0);
    let w = secs(window);
    let (mut memory, mut failures) = (Vec::new(), Vec::new());
    let judged: Vec<(usize, u64, u64)> = figs
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((i, f.early_kb?, f.late_kb?)))
        .collect();
    let worst = judged
        .iter()
        .max_by_key(|(_, e, l)| *l as i64 - *e as i64)
        .copied();
    match worst {
        Some((i, e, l)) => {
            let ok = l as f64 <= e as f64 + tol(e);
            memory.push(format!(
                "within each of the {} lives of at least {} s, the largest growth: life {}, median RSS over the last {w} s {} MB against {} MB over the {w} s after warm-up, {:+.1} MB ({})",
                judged.len(),
                secs(3.0 * window),
                i + 1,
                mb(l),
                mb(e),
                (l as f64 - e as f64) / 1024.0,
                if ok { "flat" } else { "GROWS" }
            ));
            for &(i, e, l) in &judged {
                if l as f64 > e as f64 + tol(e) {
                    failures.push(format!(
                        "MEMORY: life {} grew from {} MB to {} MB (allowed: {:.1} MB)",
                        i + 1,
                        mb(e),
                        mb(l),
                        tol(e) / 1024.0
                    ));
                }
            }
        }
        None => failures.push(format!(
            "MEMORY: no server life lasted {} s (three windows), so growth cannot be judged",
            secs(3.0 * window)
        )),
    }
    let warm_lives: Vec<(usize, u64)> = figs
        .iter()
        .enumerate()
        .filter(|(_, f)| f.length_s >= 2.0 * window)
        .filter_map(|(i, f)| f.end_kb.map(|k| (i, k)))
        .collect();
    if let Some(&(first_i, first)) = warm_lives.first() {
        let worst = warm_lives
            .iter()
            .max_by_key(|(_, k)| *k)
            .copied()
            .unwrap_or((first_i, first));
        let ok = worst.1 as f64 <= first as f64 + tol(first);
        memory.push(format!(
            "across lives: the highest end-of-life RSS is {} MB (life {}), against {} MB at the end of life {} ({})",
            mb(worst.1),
            worst.0 + 1,
            mb(first),
            first_i + 1,
            if ok { "flat" } else { "GROWS" }
        ));
        if !ok {
            failures.push(format!(
                "MEMORY: end-of-life RSS grew from {} MB (life {}) to {} MB (life {})",
                mb(first),
                first_i + 1,
                mb(worst.1),
                worst.0 + 1
            ));
        }
    }

    (memory, failures)
}

/// The outcome: the figures, and what failed (empty when the soak passed).
pub struct Report {
    pub failures: Vec<String>,
    markdown: String,
    pub events: u64,
    pub lives: Vec<LifeFigures>,
}

impl Report {
    /// The report as a Markdown section, the criterion and the verdict included.
    pub fn markdown(&self) -> &str {
        &self.markdown
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// An error listing the failures, if the soak failed.
    pub fn verdict(&self) -> Result<()> {
        if !self.passed() {
            bail!("the soak failed:\n- {}", self.failures.join("\n- "));
        }
        Ok(())
    }
}

fn pct_ms(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return -1;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Seconds without a useless ".0".
fn secs(s: f64) -> String {
    let t = format!("{s:.1}");
    t.strip_suffix(".0").map(str::to_string).unwrap_or(t)
}

fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

fn opt_mb(kb: Option<u64>) -> String {
    kb.map(mb).unwrap_or_else(|| "-".into())
}

/// Run the soak. An error is a soak that could not run (the server would not start, the
/// database is not one the benchmarks built); a run that found something lost, doubled or
/// growing returns a report whose `failures` say what.
pub fn run(o: &Options) -> Result<Report> {
    if o.bridges == 0 || o.rate == 0 {
        bail!("the soak needs at least one bridge and a rate above zero");
    }
    if !o.db.exists() {
        eprintln!(
            "building {} ({} folders, {} movements)",
            o.db.display(),
            o.folders,
            o.folders * 10
        );
        support::populate(&o.db, o.folders, o.folders * 10)?;
    }
    let setup = prepare(&o.db, o.bridges)?;
    let addr = pick_port()?;
    let mut log = o.db.clone().into_os_string();
    log.push(".soak-server.log");
    let lives: Arc<Mutex<Vec<Life>>> = Arc::default();
    let mut sup = Supervisor {
        server: Server {
            cmd: &o.server,
            db: o.db.clone(),
            addr,
            log: PathBuf::from(log),
            child: None,
        },
        lives: lives.clone(),
        down: o.down,
        downtimes: Vec::new(),
        exits: Vec::new(),
    };
    sup.start()?;

    // the sampler: every second, the living server's memory (and a line a minute on progress)
    let sampling = StopOnDrop(Arc::new(AtomicBool::new(true)));
    let sampler = {
        let (lives, sampling) = (lives.clone(), sampling.0.clone());
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut n = 1u32;
            while sampling.load(Ordering::SeqCst) {
                if let Some(l) = lives.lock().unwrap_or_else(|e| e.into_inner()).last_mut() {
                    if l.ended.is_none() {
                        l.sample();
                        if n.is_multiple_of(60) {
                            eprintln!(
                                "soak: {n} s, server RSS {} MB",
                                opt_mb(l.samples.last().map(|s| s.1))
                            );
                        }
                    }
                }
                let next = t0 + Duration::from_secs(n as u64);
                n += 1;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        })
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sh = Arc::new(Shared {
        events: Mutex::new(Vec::with_capacity(
            (o.rate as f64 * o.duration.as_secs_f64() * 1.01) as usize + 1024,
        )),
        queues: (0..o.bridges).map(|_| Mutex::default()).collect(),
        wake: (0..o.bridges).map(|_| tokio::sync::Notify::new()).collect(),
        stop: AtomicBool::new(false),
        generating: AtomicBool::new(true),
        in_flight: AtomicUsize::new(0),
        counters: Mutex::default(),
    });
    let url = format!("http://{addr}/api/v1/events");
    let t0 = Instant::now();
    let gen = rt.spawn(generate(
        sh.clone(),
        GenOpts {
            rate: o.rate,
            every: o.batch_every,
            folders: Arc::new(setup.folders.clone()),
            wards: setup.wards.iter().map(|(c, _)| c.clone()).collect(),
            devices: setup.devices.clone(),
        },
    ));
    let bridges: Vec<_> = (0..o.bridges)
        .map(|b| {
            rt.spawn(deliver(
                sh.clone(),
                b,
                url.clone(),
                setup.tokens[b].clone(),
                o.batch_every,
                o.lost_ack_every,
            ))
        })
        .collect();

    // the kills
    let mut rng = StdRng::from_entropy();
    let mut k = 1u32;
    while !o.kill_every.is_zero() {
        let at = o.kill_every * k + Duration::from_millis(rng.gen_range(0..1000));
        if at >= o.duration {
            break;
        }
        sup.watch(t0 + at)?;
        // mid-request if one comes within a second (one usually does)
        let wait = Instant::now();
        while sh.in_flight.load(Ordering::SeqCst) == 0 && wait.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_micros(500));
        }
        let killed = sup.kill(sh.in_flight.load(Ordering::SeqCst))?;
        eprintln!(
            "soak: {:.0} s, server SIGKILLed ({} scans read so far); restarting in {:.1} s",
            t0.elapsed().as_secs_f64(),
            sh.events.lock().unwrap_or_else(|e| e.into_inner()).len(),
            o.down.as_secs_f64()
        );
        sup.restart(killed)?;
        k += 1;
    }
    sup.watch(t0 + o.duration)?;
    sh.stop.store(true, Ordering::SeqCst);
    let read_s = t0.elapsed().as_secs_f64();
    // every queue drained, the server still running (and watched)
    let drain_start = Instant::now();
    while !(gen.is_finished() && bridges.iter().all(|b| b.is_finished()))
        && drain_start.elapsed() < DRAIN_TIMEOUT
    {
        sup.watch(Instant::now() + Duration::from_millis(50))?;
    }
    let drain_s = drain_start.elapsed().as_secs_f64();
    let drained = (gen.is_finished() && bridges.iter().all(|b| b.is_finished())).then(|| {
        rt.block_on(async {
            let mut errors = Vec::new();
            for b in bridges {
                match b.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => errors.push(e.to_string()),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            errors
        })
    });
    sup.end_life(End::Stopped);
    sup.server.kill()?;
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(sampling);
    let _ = sampler.join();
    let events: Vec<Ev> = std::mem::take(&mut *sh.events.lock().unwrap_or_else(|e| e.into_inner()));
    let counters = std::mem::take(&mut *sh.counters.lock().unwrap_or_else(|e| e.into_inner()));
    eprintln!("soak: checking {} events in the database", events.len());
    let check = check_db(&o.db, &setup, &events)?;
    let lives = std::mem::take(&mut *lives.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(report(
        o, &setup, &events, &counters, &check, &lives, &sup, drained, read_s, drain_s,
    ))
}

#[allow(clippy::too_many_arguments)]
fn report(
    o: &Options,
    setup: &Setup,
    events: &[Ev],
    c: &Counters,
    check: &DbCheck,
    lives: &[Life],
    sup: &Supervisor,
    drained: Option<Vec<String>>,
    read_s: f64,
    drain_s: f64,
) -> Report {
    let mut failures = Vec::new();
    let n = events.len() as u64;
    let unacked = events.iter().filter(|e| e.ack_ms == 0).count() as u64;
    let stored_twice = events.iter().filter(|e| e.stored > 1).count() as u64;
    match &drained {
        None => failures.push(format!(
            "the bridges did not deliver everything within {} s of the last scan (last error: {})",
            DRAIN_TIMEOUT.as_secs(),
            c.last_error
        )),
        Some(errors) if !errors.is_empty() => {
            failures.push(format!("a bridge failed: {}", errors.join("; ")))
        }
        Some(_) => {}
    }
    if !sup.exits.is_empty() {
        failures.push(format!(
            "the server exited {} time(s) without being killed: {}",
            sup.exits.len(),
            sup.exits.join("; ")
        ));
    }
    if unacked > 0 {
        failures.push(format!("{unacked} events were never acknowledged"));
    }
    if check.lost > 0 {
        failures.push(format!(
            "LOST: {} events sent are not in the database",
            check.lost
        ));
    }
    if check.doubled > 0 || stored_twice > 0 || check.extra > 0 {
        failures.push(format!(
            "DOUBLED: {} event ids stored more than once, {} events answered \"stored\" twice, {} movements of this run's devices beyond the events sent",
            check.doubled, stored_twice, check.extra
        ));
    }
    if check.wrong > 0 {
        failures.push(format!(
            "{} events are stored with a folder, place or read time other than sent",
            check.wrong
        ));
    }
    if !c.rejected.is_empty() {
        failures.push(format!(
            "{} events were rejected, e.g. {}",
            c.rejected.len(),
            c.rejected[0]
        ));
    }
    if c.again != c.again_dup {
        failures.push(format!(
            "{} of {} events sent again after their answer was dropped were not answered \"duplicate\"",
            c.again - c.again_dup,
            c.again
        ));
    }
    if check.place_wrong > 0 {
        failures.push(format!(
            "{} of {} folders are not where their last scan put them",
            check.place_wrong, check.folders_checked
        ));
    }
    let audit_line = match (&setup.audit_before, &check.audit_after) {
        (Ok(b), Ok(a)) => format!("verifies: {a} rows (were {b} before the run)"),
        (Ok(_), Err(e)) => {
            failures.push(format!("the audit chain no longer verifies: {e}"));
            format!("BROKEN: {e}")
        }
        (Err(b), Ok(a)) => format!("verifies: {a} rows (did not before the run: {b})"),
        (Err(b), Err(a)) => format!("not verifiable, already before the run ({b}); after: {a}"),
    };
    if !check.examples.is_empty() {
        failures.push(format!("for example: {}", check.examples.join("; ")));
    }

    // memory
    let window = o.window().as_secs_f64();
    let figs: Vec<LifeFigures> = lives.iter().map(|l| life_figures(l, window)).collect();
    let (memory, memory_failures) = judge_memory(&figs, window, o.max_growth_pct, o.max_growth_mb);
    failures.extend(memory_failures);

    // latency
    let mut lat: Vec<i64> = events
        .iter()
        .filter(|e| e.ack_ms > 0)
        .map(|e| e.ack_ms - e.read_ms)
        .collect();
    lat.sort_unstable();
    let kills: Vec<usize> = figs
        .iter()
        .filter_map(|f| match f.end {
            Some(End::Killed(n)) => Some(n),
            _ => None,
        })
        .collect();
    let restarts: Vec<f64> = figs.iter().skip(1).map(|f| f.restart_ms).collect();
    let restart_list = restarts
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    let in_flight_list = kills
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let down_list = sup
        .downtimes
        .iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ");
    let fl = &c.failures;
    let mut life_rows = String::new();
    for (i, f) in figs.iter().enumerate() {
        life_rows += &format!(
            "| {} | {:.0} s | {} | {:.0} ms | {} | {} | {} | {} / {} |\n",
            i + 1,
            f.length_s,
            match &f.end {
                Some(End::Killed(n)) => format!("SIGKILL ({n} in flight)"),
                Some(End::Exited(how)) => format!("**exited by itself** ({how})"),
                Some(End::Stopped) => "stopped after the run".into(),
                None => "-".into(),
            },
            f.restart_ms,
            opt_mb(f.warm_kb),
            opt_mb(f.end_kb),
            mb(f.hwm_kb),
            opt_mb(f.early_kb),
            opt_mb(f.late_kb),
        );
    }
    let verdict = if failures.is_empty() {
        "**Result: passed** (nothing lost, nothing doubled, memory flat).".to_string()
    } else {
        format!(
            "**Result: FAILED**\n\n{}",
            failures
                .iter()
                .map(|f| format!("- {f}\n"))
                .collect::<String>()
        )
    };
    let minutes = secs(o.duration.as_secs_f64() / 60.0);
    let kill_s = o.kill_every.as_secs();
    let every_kill = if kill_s == 0 {
        "never".to_string()
    } else if kill_s.is_multiple_of(60) {
        format!(
            "every {} minute{}",
            kill_s / 60,
            if kill_s == 60 { "" } else { "s" }
        )
    } else {
        format!("every {kill_s} s")
    };
    let markdown = format!(
        "## Soak: {minutes} minute{plural}, SIGKILL {every_kill}\n\n\
         Measured {date}. Machine: {machine}.\n\n\
         Command: `{command}`\n\n\
         The real server in a child process, on a database of {folders} folders ({before} movements before the run), \
         fed {rate} scans a second by {bridges} simulated bridges that behave as firmware-bridge does: UUIDv7 event ids, the read time as `read_at`, \
         new scans queued every {every} ms and sent oldest first (at most {max_batch} a request, one request at a time), \
         each kept until the server answers `stored` or `duplicate` for it and retried with the bridge's backoff otherwise; \
         every {lost_every}th answered batch of a bridge is treated as a lost ACK (its events stay queued and are sent again). \
         Every {kill} s, plus a random part of a second and then at the first moment a request is in flight, the server is SIGKILLed, \
         and started again on the same database {down:.1} s later (a service manager's restart delay). \
         After the last scan the bridges deliver what they hold, the server is stopped, and the database is checked.\n\n\
         | measure | result |\n|---|---|\n\
         | scans read and sent | {n} in {read_s:.0} s ({rate_got:.1} events/s) |\n\
         | stored, checked in the database after the run | {stored_ok} event ids exactly once, with the folder, place and read time sent |\n\
         | movements of this run's devices in the database (all movements: before / after) | {run_rows} ({before} / {after}) |\n\
         | lost / doubled / stored wrongly / movements beyond those sent | {lost} / {doubled} / {wrong} / {extra} |\n\
         | never acknowledged by the end | {unacked} (every queue was empty {drain_s:.1} s after the last scan) |\n\
         | first answers: `stored` / `duplicate` (the server committed, the answer was lost in a kill) | {first_stored} / {first_dup} |\n\
         | batches whose answer was dropped on purpose, and their events | {dropped} / {dropped_events} |\n\
         | answers for events sent again after a dropped answer, and of them `duplicate` | {again} / {again_dup} |\n\
         | requests failed while the server was down: all (refused / cut off / timed out / HTTP error / unreadable) | {failed} ({refused} / {cut} / {timed} / {http} / {unread}) |\n\
         | SIGKILLs, and requests in flight at each | {n_kills} ({in_flight_list}) |\n\
         | server exits the soak did not cause | {n_exits} |\n\
         | restart, spawn to listening, each (ms) | {restart_list} |\n\
         | server down, SIGKILL (or exit) to listening again, each (s; {down:.1} s of it the restart delay) | {down_list} |\n\
         | read-to-acknowledged latency p50 / p99 / max | {p50} / {p99} / {pmax} ms |\n\
         | folders whose current place is their last scan | {place_ok} of {folders_checked} |\n\
         | audit chain | {audit_line} |\n\n\
         Server memory per life (MB; RSS sampled every second; warm-up and windows of {w} s):\n\n\
         | life | length | ended | start (spawn to listening) | RSS at {w} s | RSS at the end | peak (VmHWM) | median RSS, first window after warm-up / last window |\n|---|---|---|---|---|---|---|---|\n\
         {life_rows}\n\
         Memory is flat when (1) in every life of at least {three_w} s the median RSS over the last {w} s is at most {pct}% or {mbt} MB \
         (whichever is larger) above the median over the {w} s after the warm-up, and (2) no life that lasted \
         at least {two_w} s ends with RSS more than {pct}% or {mbt} MB above the first such life's end.\n\n\
         - {memory}\n\n\
         {verdict}\n",
        plural = if minutes == "1" { "" } else { "s" },
        rate = o.rate,
        kill = o.kill_every.as_secs(),
        date = chrono::Utc::now().format("%Y-%m-%d"),
        machine = support::machine(),
        command = o.command,
        folders = setup.folders.len(),
        before = setup.movements_before,
        bridges = o.bridges,
        every = o.batch_every.as_millis(),
        max_batch = MAX_BATCH,
        lost_every = o.lost_ack_every,
        rate_got = n as f64 / read_s,
        stored_ok = n - check.lost - check.doubled - check.wrong,
        lost = check.lost,
        doubled = check.doubled.max(stored_twice),
        wrong = check.wrong,
        extra = check.extra,
        first_stored = c.first_stored,
        first_dup = c.first_dup,
        dropped = c.dropped,
        dropped_events = c.dropped_events,
        again = c.again,
        again_dup = c.again_dup,
        run_rows = check.run_rows,
        after = check.movements_after,
        failed = fl.total(),
        refused = fl.refused,
        cut = fl.cut_off,
        timed = fl.timed_out,
        http = fl.http,
        unread = fl.unreadable,
        n_kills = kills.len(),
        n_exits = sup.exits.len(),
        down = o.down.as_secs_f64(),
        p50 = pct_ms(&lat, 0.50),
        p99 = pct_ms(&lat, 0.99),
        pmax = lat.last().copied().unwrap_or(-1),
        place_ok = check.folders_checked - check.place_wrong,
        folders_checked = check.folders_checked,
        pct = o.max_growth_pct,
        mbt = o.max_growth_mb,
        w = secs(window),
        two_w = secs(2.0 * window),
        three_w = secs(3.0 * window),
        memory = memory.join("\n- "),
    );
    Report {
        failures,
        markdown,
        events: n,
        lives: figs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A life of `secs` seconds whose RSS goes from `from` to `to` MB in a straight line.
    fn life(secs: u64, from: f64, to: f64) -> Life {
        let listening = Instant::now();
        Life {
            pid: 0,
            restart: Duration::from_millis(20),
            listening,
            ended: Some(listening + Duration::from_secs(secs)),
            samples: (0..=secs)
                .map(|t| {
                    let mb = from + (to - from) * t as f64 / secs as f64;
                    (t as f64, (mb * 1024.0) as u64)
                })
                .collect(),
            hwm_kb: (to.max(from) * 1024.0) as u64,
            end: Some(End::Killed(1)),
        }
    }

    fn judge(lives: &[Life], window: f64) -> Vec<String> {
        let figs: Vec<LifeFigures> = lives.iter().map(|l| life_figures(l, window)).collect();
        judge_memory(&figs, window, 10.0, 8.0).1
    }

    #[test]
    fn flat_memory_passes_and_growth_fails() {
        let flat = [
            life(300, 30.0, 31.0),
            life(300, 30.0, 31.5),
            life(300, 30.0, 30.5),
        ];
        assert!(judge(&flat, 60.0).is_empty());
        // a leak within a life: 30 MB to 60 MB over five minutes
        let leak = [life(300, 30.0, 60.0), life(300, 30.0, 31.0)];
        let f = judge(&leak, 60.0);
        assert!(f.iter().any(|f| f.contains("life 1 grew")), "{f:?}");
        // each life flat, but every life ends higher than the one before
        let creep = [
            life(300, 30.0, 32.0),
            life(300, 40.0, 42.0),
            life(300, 50.0, 52.0),
        ];
        let f = judge(&creep, 60.0);
        assert!(
            f.iter().any(|f| f.contains("end-of-life RSS grew")),
            "{f:?}"
        );
        // lives too short to judge are a failure, not a pass
        let f = judge(&[life(100, 30.0, 30.0)], 60.0);
        assert!(f.iter().any(|f| f.contains("cannot be judged")), "{f:?}");
    }

    /// Movements for `events` written as the server would (the folder's current place is its
    /// latest scan); the check finds them all, then finds each thing broken on purpose.
    #[test]
    fn the_database_check_finds_lost_extra_and_misplaced_scans() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("check.db");
        support::populate(&db, 50, 100)?;
        let setup = prepare(&db, 1)?;
        let device = &setup.devices[0];
        let now = now_ms();
        let events: Vec<Ev> = (0..200)
            .map(|i| Ev {
                id: uuid::Uuid::now_v7(),
                read_ms: now + i,
                ack_ms: now + i + 50,
                folder: setup.folders[(i as usize * 7) % setup.folders.len()],
                ward: (i % WARDS as i64) as u16,
                stored: 1,
                dups: 0,
            })
            .collect();
        let c = Connection::open(&db)?;
        let insert = |c: &Connection, id: &uuid::Uuid, e: &Ev| -> Result<i64> {
            c.execute(
                "INSERT INTO movements(event_id, folder_id, location_id, action, device_id, staff_id, read_at, received_at, raw, symbology, method)
                 VALUES (?1,?2,?3,'seen',?4,'S00042',?5,?5,'x','code128','barcode')",
                rusqlite::params![&id.as_bytes()[..], e.folder, setup.wards[e.ward as usize].1, device, e.read_ms],
            )?;
            // (an insert through the `movements` view sets no last_insert_rowid)
            Ok(c.query_row(
                "SELECT id FROM movement_log WHERE event_id=?1",
                [&id.as_bytes()[..]],
                |r| r.get(0),
            )?)
        };
        for e in &events {
            let m = insert(&c, &e.id, e)?;
            c.execute(
                "UPDATE folders SET cur_movement_id=?1, cur_location_id=?2, cur_read_at=?3 WHERE id=?4",
                rusqlite::params![m, setup.wards[e.ward as usize].1, e.read_ms, e.folder],
            )?;
        }
        let ok = check_db(&db, &setup, &events)?;
        assert_eq!(
            (ok.lost, ok.doubled, ok.wrong, ok.extra, ok.place_wrong),
            (0, 0, 0, 0, 0)
        );
        assert_eq!(ok.run_rows, 200);
        assert_eq!(ok.folders_checked, 50);

        // an event lost (an early scan of its folder, so the folder's place is still right)
        c.execute(
            "DELETE FROM movement_log WHERE event_id=?1",
            [&events[0].id.as_bytes()[..]],
        )?;
        // a movement of this run's device that was never sent (a doubled scan under a new id)
        insert(&c, &uuid::Uuid::now_v7(), &events[5])?;
        // a folder not where its last scan put it
        let last = events.last().unwrap();
        c.execute(
            "UPDATE folders SET cur_location_id=1 WHERE id=?1",
            [last.folder],
        )?;
        // an event stored with another read time
        c.execute(
            "UPDATE movement_log SET read_at=read_at-1 WHERE event_id=?1",
            [&events[1].id.as_bytes()[..]],
        )?;
        let bad = check_db(&db, &setup, &events)?;
        assert_eq!(bad.lost, 1);
        assert_eq!(bad.extra, 1);
        assert_eq!(bad.place_wrong, 1);
        assert_eq!(bad.wrong, 1);
        Ok(())
    }
}
