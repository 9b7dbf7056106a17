//! A device is a transport + a protocol + a role. Each runs in its own thread: open the
//! transport, decode, turn reads into events, commit them to the queue (before any ACK to the
//! scanner), and reopen with exponential backoff when the device fails or is unplugged.

use crate::config::{DeviceConfig, Protocol, Role};
use crate::frames::hid::{PosDecoder, WedgeDecoder};
use crate::frames::line::LineFramer;
use crate::frames::llrp::{self, LlrpDecoder, LlrpMessage, RoSpecParams};
use crate::frames::r2000::{self, R2000Decoder, R2000Item};
use crate::frames::ssi::{self, SsiDecoder, SsiItem};
use crate::frames::{BarcodeRead, TagRead};
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
}

pub type SharedHealth = Arc<Mutex<DeviceHealth>>;

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

/// Per-connection decoder state.
enum Decoder {
    Line(LineFramer),
    Ssi(SsiDecoder),
    Pos(PosDecoder),
    Wedge(WedgeDecoder),
    R2000 {
        dec: R2000Decoder,
        last_cmd: Instant,
    },
    Llrp {
        dec: LlrpDecoder,
        next_id: u32,
    },
}

struct Device {
    cfg: DeviceConfig,
    scan: ScanConfig,
    queue: Arc<Queue>,
    health: SharedHealth,
    stop: Arc<AtomicBool>,
    logic: Logic,
    started: Instant,
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
        Role::Handheld => Logic::Handheld(Handheld::new(&cfg.id, cfg.handheld.clone())),
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
                    delay = min;
                    failures = 0;
                    let r = self.session(t);
                    lock(&self.health).online = false;
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
            self.sleep(delay);
            delay = (delay * 2).min(max);
        }
        tracing::info!(device = %self.cfg.id, "device stopped");
    }

    fn mono_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn session(&mut self, mut t: Box<dyn Transport>) -> Result<(), SessionError> {
        let mut dec = match self.cfg.protocol {
            Protocol::Line => Decoder::Line(LineFramer::new(self.cfg.line.clone())),
            Protocol::Ssi => Decoder::Ssi(SsiDecoder::new()),
            Protocol::HidPos => Decoder::Pos(PosDecoder::new()),
            Protocol::Wedge => Decoder::Wedge(WedgeDecoder::new(self.cfg.keyboard_layout)),
            Protocol::R2000 => {
                t.write_all(&r2000::real_time_inventory(
                    self.cfg.r2000.address,
                    self.cfg.r2000.repeat,
                ))?;
                Decoder::R2000 {
                    dec: R2000Decoder::new(),
                    last_cmd: Instant::now(),
                }
            }
            Protocol::Llrp => {
                let l = &self.cfg.llrp;
                let p = RoSpecParams {
                    rospec_id: l.rospec_id,
                    antennas: l.antennas.clone(),
                    report_every_n_tags: l.report_every_n_tags.max(1),
                };
                t.write_all(&llrp::delete_rospec(1, 0))?;
                t.write_all(&llrp::add_rospec(2, &p))?;
                t.write_all(&llrp::enable_rospec(3, l.rospec_id))?;
                t.write_all(&llrp::start_rospec(4, l.rospec_id))?;
                t.write_all(&llrp::enable_events_and_reports(5))?;
                Decoder::Llrp {
                    dec: LlrpDecoder::new(),
                    next_id: 6,
                }
            }
        };
        let mut buf = vec![0u8; 8192];
        let mut last_byte = Instant::now();
        let mut last_tick = Instant::now();
        let mut tags: Vec<TagRead> = Vec::new();
        let mut r2000_items: Vec<R2000Item> = Vec::new();
        loop {
            if self.stopped() {
                return Ok(());
            }
            let n = t.read(&mut buf)?;
            let now = self.mono_ms();
            let bytes = &buf[..n];
            if n > 0 {
                last_byte = Instant::now();
            }
            let idle = last_byte.elapsed();
            match &mut dec {
                Decoder::Line(f) => {
                    let mut reads = f.push(bytes, now);
                    if n == 0 {
                        reads.extend(f.poll_idle(now));
                    }
                    for r in reads {
                        match r {
                            Ok(read) => self.on_barcode(&read)?,
                            Err(e) => {
                                tracing::warn!(device = %self.cfg.id, error = %e, "frame dropped")
                            }
                        }
                    }
                }
                Decoder::Pos(d) => {
                    for r in d.push(bytes) {
                        match r {
                            Ok(read) => self.on_barcode(&read)?,
                            Err(e) => {
                                tracing::warn!(device = %self.cfg.id, error = %e, "report dropped")
                            }
                        }
                    }
                }
                Decoder::Wedge(d) => {
                    for r in d.push(bytes) {
                        match r {
                            Ok(read) => self.on_barcode(&read)?,
                            Err(e) => {
                                tracing::warn!(device = %self.cfg.id, error = %e, "report dropped")
                            }
                        }
                    }
                }
                Decoder::Ssi(d) => {
                    if n == 0 && d.buffered() > 0 && idle > Duration::from_millis(500) {
                        d.reset_partial(); // the scanner will resend after its ACK timeout
                    }
                    for item in d.push(bytes) {
                        match item {
                            SsiItem::Barcode(read) => {
                                // Durable first, then ACK: if the queue write fails the
                                // scanner gets no ACK and keeps the barcode.
                                self.on_barcode(&read)?;
                                t.write_all(&ssi::host_ack())?;
                            }
                            SsiItem::AckOnly(_) => t.write_all(&ssi::host_ack())?,
                            SsiItem::BadChecksum => t.write_all(&ssi::host_nak())?,
                            SsiItem::ScannerAck(_) => {}
                        }
                    }
                }
                Decoder::R2000 { dec, last_cmd } => {
                    if n == 0 && dec.buffered() > 0 && idle > Duration::from_millis(500) {
                        dec.reset_partial();
                    }
                    r2000_items.clear();
                    dec.push_into(bytes, &mut r2000_items);
                    let mut round_done = false;
                    for item in r2000_items.drain(..) {
                        match item {
                            R2000Item::Tag { read, .. } => tags.push(read),
                            R2000Item::EndOfRound { .. } => round_done = true,
                            R2000Item::Error { code, .. } => {
                                if code != 0x36 {
                                    // 0x36 = no tag in the field, the normal idle answer
                                    tracing::debug!(device = %self.cfg.id, code, "reader error code");
                                }
                                round_done = true;
                            }
                            R2000Item::BadCheck => {
                                tracing::debug!(device = %self.cfg.id, "bad check byte from reader")
                            }
                            R2000Item::Other { .. } => {}
                        }
                    }
                    let timeout = Duration::from_millis(self.cfg.r2000.round_timeout_ms.max(50));
                    if round_done || last_cmd.elapsed() > timeout {
                        t.write_all(&r2000::real_time_inventory(
                            self.cfg.r2000.address,
                            self.cfg.r2000.repeat,
                        ))?;
                        *last_cmd = Instant::now();
                    }
                }
                Decoder::Llrp { dec, next_id } => {
                    let silence = self.cfg.llrp.silence_timeout_s;
                    if silence > 0 && idle > Duration::from_secs(silence) {
                        return Err(SessionError::Protocol(format!(
                            "reader silent for {silence} s"
                        )));
                    }
                    for m in dec.push(bytes) {
                        match m.map_err(|e| SessionError::Protocol(e.to_string()))? {
                            LlrpMessage::RoAccessReport { tags: ts, .. } => tags.extend(ts),
                            LlrpMessage::Keepalive { id } => {
                                t.write_all(&llrp::keepalive_ack(id))?
                            }
                            LlrpMessage::Response {
                                msg_type,
                                status,
                                description,
                                ..
                            } => {
                                if status != 0 && msg_type != llrp::DELETE_ROSPEC_RESPONSE {
                                    return Err(SessionError::Protocol(format!(
                                        "reader refused message type {msg_type}: status {status} {description}"
                                    )));
                                }
                            }
                            LlrpMessage::ReaderEventNotification { .. }
                            | LlrpMessage::Other { .. } => {}
                        }
                    }
                    let _ = next_id;
                }
            }
            if !tags.is_empty() {
                let wall = Utc::now().timestamp_millis();
                if let Logic::Portal(p) = &mut self.logic {
                    for r in &tags {
                        p.on_read(r, wall);
                    }
                }
                let mut h = lock(&self.health);
                h.reads += tags.len() as u64;
                h.last_read_at = Some(Utc::now());
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
            Logic::Handheld(_) => return Ok(()),
        };
        for e in events {
            self.commit(&e)?;
        }
        Ok(())
    }

    fn commit(&self, e: &ScanEvent) -> Result<(), QueueError> {
        self.queue.push(e)?;
        lock(&self.health).events += 1;
        tracing::info!(
            device = %self.cfg.id,
            event_id = %e.event_id,
            action = ?e.action,
            location = %e.location,
            "event queued"
        );
        Ok(())
    }

    fn on_barcode(&mut self, read: &BarcodeRead) -> Result<(), QueueError> {
        let now = Utc::now();
        {
            let mut h = lock(&self.health);
            h.reads += 1;
            h.last_read_at = Some(now);
        }
        let Logic::Handheld(hh) = &mut self.logic else {
            return Ok(());
        };
        match hh.on_scan(read, now, &self.scan) {
            HandheldOutcome::Event(e) => self.commit(&e)?,
            HandheldOutcome::LocationSet(code) => {
                tracing::info!(device = %self.cfg.id, location = %code, "location set")
            }
            HandheldOutcome::StaffSet(_) => {
                tracing::info!(device = %self.cfg.id, "staff badge scanned")
            }
            HandheldOutcome::Repeat => {
                tracing::debug!(device = %self.cfg.id, "repeat read ignored")
            }
            HandheldOutcome::NoLocation => {
                lock(&self.health).refused += 1;
                tracing::warn!(device = %self.cfg.id, "folder scanned before a location card; scan a location card first (not queued)")
            }
            HandheldOutcome::Ignored(kind) => {
                tracing::warn!(device = %self.cfg.id, kind = %kind, len = read.raw.len(), "unrecognised barcode ignored")
            }
        }
        Ok(())
    }
}
