//! A device is a transport + a protocol + a role. Each runs in its own thread: open the
//! transport, decode, turn reads into events, commit them to the queue (before any ACK to the
//! scanner), and reopen with exponential backoff when the device fails or is unplugged.

use crate::config::{DeviceConfig, Protocol, Role};
use crate::frames::hid::{PosDecoder, WedgeDecoder};
use crate::frames::line::LineSession;
use crate::frames::llrp::{LlrpSession, RoSpecParams};
use crate::frames::r2000::{R2000Params, R2000Session};
use crate::frames::ssi::SsiDecoder;
use crate::frames::{BarcodeRead, ProtocolSession, Step, TagRead};
use crate::handheld::{Handheld, HandheldOutcome};
use crate::portal::Portal;
use crate::queue::{Queue, QueueError};
use crate::transports::{self, Transport};
use casenote_core::identifiers::scan::ScanConfig;
use casenote_core::wire::ScanEvent;
use chrono::{DateTime, Utc};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Device health, shared with the heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceHealth {
    pub online: bool,
    pub last_read_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub reads: u64,
    pub events: u64,
    pub opens: u64,
    /// Folder scans refused at the device because no location was known.
    pub refused: u64,
    /// Corrupt messages from the device, dropped (the good ones around them are kept).
    pub corrupt: u64,
    /// Tag reads dropped because the EPC is not one of this board's folders.
    pub foreign_reads: u64,
    /// Error replies from the reader (antenna missing, command refused...).
    pub reader_errors: u64,
}

pub type SharedHealth = Arc<Mutex<DeviceHealth>>;

/// A connection that lasted this long counts as working: the reopen backoff starts again.
pub const STABLE_SESSION: Duration = Duration::from_secs(30);

/// The wait before a reopen: the backoff delay less up to a quarter at random (`r` in [0, 1)),
/// so bridges restarted together do not hammer a reader or the network in step.
pub fn with_jitter(delay: Duration, r: f64) -> Duration {
    delay.mul_f64(1.0 - 0.25 * r.clamp(0.0, 1.0))
}

fn lock(h: &SharedHealth) -> std::sync::MutexGuard<'_, DeviceHealth> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("device I/O: {0}")]
    Io(#[from] io::Error),
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    #[error("reader protocol: {0}")]
    Protocol(String),
}

/// Role state that lives across reconnects (a porter's session survives a cable wiggle).
enum Logic {
    Handheld(Handheld),
    Portal(Portal),
}

struct Device {
    cfg: DeviceConfig,
    scan: ScanConfig,
    queue: Arc<Queue>,
    health: SharedHealth,
    stop: Arc<AtomicBool>,
    logic: Logic,
    started: Instant,
    last_held_check: Instant,
}

/// Start a device thread.
pub fn spawn(
    cfg: DeviceConfig,
    scan: ScanConfig,
    queue: Arc<Queue>,
    stop: Arc<AtomicBool>,
) -> (JoinHandle<()>, SharedHealth) {
    let health = SharedHealth::default();
    let logic = match cfg.role {
        Role::Handheld => {
            let mut hh = Handheld::new(&cfg.id, cfg.handheld.clone());
            // A porter's session survives a bridge restart (until it would have expired).
            match queue.load_session(&cfg.id) {
                Ok(Some(s)) => {
                    hh.restore(s, Utc::now());
                    if let Some(l) = hh.location() {
                        tracing::info!(device = %cfg.id, location = %l, "porter's session restored");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(device = %cfg.id, error = %e, "cannot read the stored session")
                }
            }
            Logic::Handheld(hh)
        }
        Role::Portal => Logic::Portal(Portal::new(
            &cfg.id,
            cfg.portal.clone(),
            scan.gs1_company_prefix.clone(),
        )),
    };
    let mut dev = Device {
        cfg,
        scan,
        queue,
        health: health.clone(),
        stop,
        logic,
        started: Instant::now(),
        last_held_check: Instant::now(),
    };
    let name = format!("dev-{}", dev.cfg.id);
    let h = std::thread::Builder::new()
        .name(name)
        .spawn(move || dev.run())
        .expect("spawn device thread");
    (h, health)
}

impl Device {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopped() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
        }
    }

    fn run(&mut self) {
        let min = Duration::from_millis(self.cfg.reopen_min_ms.max(10));
        let max = Duration::from_millis(self.cfg.reopen_max_ms.max(self.cfg.reopen_min_ms));
        let mut delay = min;
        let mut failures = 0u32;
        while !self.stopped() {
            match transports::open(&self.cfg) {
                Ok(t) => {
                    let what = t.describe();
                    tracing::info!(device = %self.cfg.id, transport = %what, "device online");
                    {
                        let mut h = lock(&self.health);
                        h.online = true;
                        h.opens += 1;
                        h.last_error = None;
                    }
                    let opened = Instant::now();
                    let r = self.session(t);
                    lock(&self.health).online = false;
                    // Only a connection that worked for a while resets the backoff: a reader
                    // that accepts the connection and then refuses a command (ADD_ROSPEC) or
                    // closes it (another client holds it) is retried ever more slowly.
                    if opened.elapsed() >= STABLE_SESSION {
                        delay = min;
                        failures = 0;
                    }
                    match r {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(device = %self.cfg.id, error = %e, "device offline, reopening");
                            lock(&self.health).last_error = Some(e.to_string());
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::warn!(device = %self.cfg.id, error = %e, retry_in_ms = delay.as_millis() as u64, "cannot open device");
                    }
                    lock(&self.health).last_error = Some(e.to_string());
                }
            }
            // Portal passages still close while the reader is away.
            self.tick_logic();
            self.sleep(with_jitter(delay, rand::random::<f64>()));
            delay = (delay * 2).min(max);
        }
        tracing::info!(device = %self.cfg.id, "device stopped");
    }

    fn mono_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The protocol this device speaks, for one connection.
    fn protocol(&self) -> Box<dyn ProtocolSession> {
        let c = &self.cfg;
        match c.protocol {
            Protocol::Line => Box::new(LineSession::new(c.line.clone())),
            Protocol::Ssi => Box::new(SsiDecoder::new()),
            Protocol::HidPos => Box::new(PosDecoder::new()),
            Protocol::Wedge => Box::new(WedgeDecoder::new(c.keyboard_layout)),
            Protocol::R2000 => Box::new(R2000Session::new(R2000Params {
                address: c.r2000.address,
                repeat: c.r2000.repeat,
                round_timeout_ms: c.r2000.round_timeout_ms,
                antennas: c.r2000_antennas(),
                switching: c.r2000.antenna_switching,
            })),
            Protocol::Llrp => Box::new(LlrpSession::new(
                RoSpecParams {
                    rospec_id: c.llrp.rospec_id,
                    antennas: c.llrp.antennas.clone(),
                    report_every_n_tags: c.llrp.report_every_n_tags.max(1),
                },
                c.llrp.silence_timeout_s,
            )),
        }
    }

    /// One connection: start the protocol, then read, decode, store and answer until the
    /// device fails or the bridge stops.
    fn session(&mut self, mut t: Box<dyn Transport>) -> Result<(), SessionError> {
        let mut proto = self.protocol();
        let hello = proto.start(self.mono_ms());
        if !hello.is_empty() {
            t.write_all(&hello)?;
        }
        let mut buf = vec![0u8; 8192];
        let mut last_byte = Instant::now();
        let mut last_tick = Instant::now();
        let mut steps: Vec<Step> = Vec::new();
        let mut tags: Vec<TagRead> = Vec::new();
        let mut foreign_warned: Option<Instant> = None;
        let (mut clock_warned, mut clock_off_seen): (Option<Instant>, u64) = (None, 0);
        let mut reader_errors_warned: std::collections::HashMap<String, Instant> =
            Default::default();
        loop {
            if self.stopped() {
                return Ok(());
            }
            let n = t.read(&mut buf)?;
            let idle_ms = last_byte.elapsed().as_millis() as u64;
            if n > 0 {
                last_byte = Instant::now();
            }
            proto
                .feed(&buf[..n], self.mono_ms(), idle_ms, &mut steps)
                .map_err(|e| SessionError::Protocol(e.0))?;
            for step in steps.drain(..) {
                match step {
                    Step::Barcode { read, ack } => {
                        // Durable first, then ACK: if the queue write fails the scanner gets
                        // no ACK and keeps the barcode.
                        let beep = self.on_barcode(&read)?;
                        if !ack.is_empty() {
                            t.write_all(&ack)?;
                            // A scanner that takes commands hears that it was not accepted.
                            if beep && self.cfg.protocol == Protocol::Ssi {
                                t.write_all(&crate::frames::ssi::beep(
                                    crate::frames::ssi::BEEP_REFUSED,
                                ))?;
                            }
                        }
                    }
                    Step::Tag(read) => tags.push(read),
                    Step::Send(bytes) => t.write_all(&bytes)?,
                    Step::Warn(m) => tracing::warn!(device = %self.cfg.id, "{m}"),
                    Step::Corrupt(m) => {
                        tracing::warn!(device = %self.cfg.id, "{m}");
                        lock(&self.health).corrupt += 1;
                    }
                    Step::ReaderError(m) => {
                        let mut h = lock(&self.health);
                        h.reader_errors += 1;
                        // A missing antenna answers every round: warn about each error at most
                        // once a minute while it lasts, with the count.
                        let due = reader_errors_warned
                            .get(&m)
                            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
                        if due {
                            tracing::warn!(device = %self.cfg.id, reader_errors = h.reader_errors, "reader error: {m}");
                            if reader_errors_warned.len() > 64 {
                                reader_errors_warned.clear();
                            }
                            reader_errors_warned.insert(m.clone(), Instant::now());
                        }
                        h.last_error = Some(m);
                    }
                    Step::Debug(m) => tracing::debug!(device = %self.cfg.id, "{m}"),
                }
            }
            if !tags.is_empty() {
                let wall = Utc::now().timestamp_millis();
                if let Logic::Portal(p) = &mut self.logic {
                    for r in &tags {
                        p.on_read(r, wall);
                    }
                }
                let (foreign, clock_off) = match &self.logic {
                    Logic::Portal(p) => (
                        Some(p.stats.foreign_reads),
                        (p.stats.reader_clock_off, p.stats.reader_clock_off_ms),
                    ),
                    _ => (None, (0, 0)),
                };
                if clock_off.0 > clock_off_seen
                    && clock_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(600))
                {
                    tracing::warn!(
                        device = %self.cfg.id,
                        reader_minus_bridge_ms = clock_off.1,
                        reads = clock_off.0,
                        "the reader's clock is too far from the bridge's: its time stamps are ignored and the bridge's clock is used; set the reader's time (NTP) or raise portal.reader_clock_max_skew_ms"
                    );
                    clock_warned = Some(Instant::now());
                }
                clock_off_seen = clock_off.0;
                let mut h = lock(&self.health);
                h.reads += tags.len() as u64;
                h.last_read_at = Some(Utc::now());
                if let Some(f) = foreign {
                    // Other systems' tags (or a wrong GS1 company prefix) make a portal produce
                    // nothing: say so, once a minute at most, with the counts.
                    let due = foreign_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
                    if f > h.foreign_reads && due {
                        tracing::warn!(
                            device = %self.cfg.id,
                            foreign_reads = f,
                            reads = h.reads,
                            "tags that are not this board's folders were read and dropped; if folders are not being seen, check the GS1 company prefix ([identifiers] gs1_company_prefix)"
                        );
                        foreign_warned = Some(Instant::now());
                    }
                    h.foreign_reads = f;
                }
                tags.clear();
            }
            if last_tick.elapsed() >= Duration::from_millis(100) {
                last_tick = Instant::now();
                self.tick_logic_checked()?;
            }
        }
    }

    fn tick_logic(&mut self) {
        if let Err(e) = self.tick_logic_checked() {
            tracing::error!(device = %self.cfg.id, error = %e, "cannot queue portal movements");
        }
    }

    fn tick_logic_checked(&mut self) -> Result<(), QueueError> {
        let events = match &mut self.logic {
            Logic::Portal(p) => p.tick(Utc::now().timestamp_millis()),
            Logic::Handheld(_) => return self.expire_held(),
        };
        // A trolley of folders through the door: one transaction, one fsync.
        self.commit(&events)
    }

    fn commit(&self, events: &[ScanEvent]) -> Result<(), QueueError> {
        self.queue.push_all(events)?;
        lock(&self.health).events += events.len() as u64;
        for e in events {
            tracing::info!(
                device = %self.cfg.id,
                event_id = %e.event_id,
                action = ?e.action,
                location = %e.location,
                "event queued"
            );
        }
        Ok(())
    }

    /// Handle a barcode from a handheld scanner. Returns whether the porter should hear an
    /// error beep (the scan was not a case-note barcode, or has no location yet).
    fn on_barcode(&mut self, read: &BarcodeRead) -> Result<bool, QueueError> {
        let now = Utc::now();
        {
            let mut h = lock(&self.health);
            h.reads += 1;
            h.last_read_at = Some(now);
        }
        let Logic::Handheld(hh) = &mut self.logic else {
            return Ok(false);
        };
        let id = self.cfg.id.clone();
        let outcome = hh.on_scan(read, now, &self.scan);
        let session = hh.session();
        let mut beep = false;
        match outcome {
            HandheldOutcome::Event(e) => {
                self.commit(std::slice::from_ref(&e))?;
                self.queue.save_session(&id, &session)?;
            }
            HandheldOutcome::LocationSet(code) => {
                self.queue.save_session(&id, &session)?;
                tracing::info!(device = %id, location = %code, "location set");
                let released = self.queue.release_held(&id, &code)?;
                if !released.is_empty() {
                    lock(&self.health).events += released.len() as u64;
                    tracing::info!(device = %id, location = %code, events = released.len(), "folder scans held for a location card queued with this location");
                }
            }
            HandheldOutcome::StaffSet(_) => {
                self.queue.save_session(&id, &session)?;
                tracing::info!(device = %id, "staff badge scanned")
            }
            HandheldOutcome::ContainerSet(_) => {
                self.queue.save_session(&id, &session)?;
                tracing::info!(device = %id, "container scanned: the next folders are loaded onto it (scan a location card first to record the container at a place)")
            }
            HandheldOutcome::Repeat => {
                tracing::debug!(device = %id, "repeat read ignored")
            }
            HandheldOutcome::Held(e) => {
                self.queue.hold(&e)?;
                self.queue.save_session(&id, &session)?;
                let waiting = self.queue.held_count(&id)?;
                beep = true;
                tracing::warn!(device = %id, waiting, "folder scanned before a location card: held, and sent with the next location card scanned (scan the location card)")
            }
            HandheldOutcome::NoLocation => {
                lock(&self.health).refused += 1;
                beep = true;
                tracing::warn!(device = %id, "folder scanned before a location card; scan a location card first (not queued)")
            }
            HandheldOutcome::Ignored(kind) => {
                lock(&self.health).refused += 1;
                beep = true;
                tracing::warn!(device = %id, kind = %kind, len = read.raw.len(), "not a case-note barcode: ignored (not a folder, location card or staff badge)")
            }
        }
        Ok(beep)
    }

    /// Held folder scans whose session ended with no location card become dead letters that
    /// say so (checked every few seconds).
    fn expire_held(&mut self) -> Result<(), QueueError> {
        let Logic::Handheld(hh) = &self.logic else {
            return Ok(());
        };
        if self.last_held_check.elapsed() < Duration::from_secs(5) {
            return Ok(());
        }
        self.last_held_check = Instant::now();
        let n = self
            .queue
            .expire_held(&self.cfg.id, Utc::now() - hh.timeout())?;
        if n > 0 {
            tracing::warn!(device = %self.cfg.id, scans = n, "folder scans held for a location card that never came are now dead letters; see `firmware-bridge queue-status` and `firmware-bridge requeue --location`");
        }
        Ok(())
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::*;

    #[test]
    fn jitter_shortens_the_delay_by_at_most_a_quarter() {
        let d = Duration::from_millis(8000);
        assert_eq!(with_jitter(d, 0.0), d);
        assert_eq!(with_jitter(d, 0.5), Duration::from_millis(7000));
        assert!(with_jitter(d, 0.999) > Duration::from_millis(6000));
        assert_eq!(with_jitter(d, 7.0), Duration::from_millis(6000));
    }
}
