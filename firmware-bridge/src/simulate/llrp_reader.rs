//! A simulated LLRP reader (TCP), written from the EPCglobal LLRP 1.1 specification, not from
//! the bridge's decoder: it parses the client's messages and builds its own with code of its
//! own.
//!
//! What it does, as a fixed reader does:
//! - on a connection, a READER_EVENT_NOTIFICATION with ConnectionAttemptEvent: status 0
//!   (success), or, while another client holds the reader, status 2 ("a client initiated
//!   connection already exists") followed by closing the connection; the client already
//!   connected is told status 4 ("another connection attempted");
//! - answers DELETE/ADD/ENABLE/START_ROSPEC with their responses and an LLRPStatus; a message
//!   type it does not support gets ERROR_MESSAGE with M_UnsupportedMessage (109);
//! - sends KEEPALIVE periodically and counts the KEEPALIVE_ACKs;
//! - once the ROSpec is started, sends RO_ACCESS_REPORTs for the tags in the field of the
//!   antennas the ROSpec's AISpec names (0 = all), with AntennaID, PeakRSSI and
//!   FirstSeenTimestampUTC by its own clock;
//! - faults: refuse ADD_ROSPEC, a clock off by N ms, unplugged antennas (AntennaEvent), a
//!   corrupt message between reports, unsupported message types.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A tag in range of one antenna.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlrpTag {
    pub epc: Vec<u8>,
    pub antenna: u16,
    pub rssi_dbm: i8,
}

/// Faults to inject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LlrpFaults {
    /// Answer ADD_ROSPEC with this status code and description.
    pub refuse_add_rospec: Option<(u16, String)>,
    /// The reader's clock minus true time, in ms.
    pub clock_offset_ms: i64,
    /// Antennas reported disconnected (AntennaEvent) when a connection starts; no tags are
    /// read on them.
    pub unplugged: Vec<u16>,
    /// Send one corrupt message before the next report.
    pub corrupt_next: bool,
    /// Message types answered with ERROR_MESSAGE M_UnsupportedMessage.
    pub unsupported: Vec<u16>,
}

/// What the reader knows and has seen.
#[derive(Debug, Default)]
pub struct LlrpReaderState {
    pub field: Vec<LlrpTag>,
    pub faults: LlrpFaults,
    /// Message types received from clients, in order.
    pub received: Vec<u16>,
    pub keepalive_acks: u32,
    /// Connections accepted (status 0) and refused (status 2).
    pub accepted: u32,
    pub refused: u32,
    holder: Option<u64>,
    /// Pending "another connection attempted" notices for the holder.
    notify_holder: u32,
}

const HEADER: usize = 10;

fn msg(t: u16, id: u32, body: &[u8]) -> Vec<u8> {
    // version 1 in bits 10-12 of the first two bytes
    let mut m = ((1u16 << 10) | t).to_be_bytes().to_vec();
    m.extend_from_slice(&((HEADER + body.len()) as u32).to_be_bytes());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn param(t: u16, body: &[u8]) -> Vec<u8> {
    let mut p = t.to_be_bytes().to_vec();
    p.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
    p.extend_from_slice(body);
    p
}

/// LLRPStatus (287): StatusCode, ErrorDescription.
fn status(code: u16, text: &str) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(&(text.len() as u16).to_be_bytes());
    b.extend_from_slice(text.as_bytes());
    param(287, &b)
}

fn now_us(offset_ms: i64) -> u64 {
    let t = chrono::Utc::now().timestamp_micros() + offset_ms * 1000;
    t.max(0) as u64
}

/// READER_EVENT_NOTIFICATION (63) with ReaderEventNotificationData (246): UTCTimestamp (128)
/// and the given event parameters.
fn notification(events: &[Vec<u8>], offset_ms: i64) -> Vec<u8> {
    let mut data = param(128, &now_us(offset_ms).to_be_bytes());
    for e in events {
        data.extend_from_slice(e);
    }
    msg(63, 0, &param(246, &data))
}

fn connection_attempt(code: u16) -> Vec<u8> {
    param(256, &code.to_be_bytes())
}

/// The antenna IDs in the AISpec (183) of an ADD_ROSPEC body: ROSpec (177) = ROSpecID u32,
/// Priority u8, CurrentState u8, then ROBoundarySpec, then SpecParameters.
fn rospec_antennas(body: &[u8]) -> Option<Vec<u16>> {
    let p = body.get(4..)?; // inside ROSpec TLV header
    let mut rest = p.get(6..)?; // id + priority + state
    while rest.len() >= 4 {
        let t = u16::from_be_bytes([rest[0], rest[1]]) & 0x3FF;
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if len < 4 || len > rest.len() {
            return None;
        }
        if t == 183 {
            let v = &rest[4..len];
            let n = u16::from_be_bytes([*v.first()?, *v.get(1)?]) as usize;
            return (0..n)
                .map(|i| {
                    let a = v.get(2 + 2 * i..4 + 2 * i)?;
                    Some(u16::from_be_bytes([a[0], a[1]]))
                })
                .collect();
        }
        rest = &rest[len..];
    }
    None
}

/// One connection's view of the ROSpec.
#[derive(Default)]
struct Conn {
    antennas: Vec<u16>,
    started: bool,
}

/// The simulated reader, listening on 127.0.0.1.
pub struct LlrpReaderSim {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<LlrpReaderState>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl LlrpReaderSim {
    /// Listen on an ephemeral port; KEEPALIVE every `keepalive`.
    pub fn start(keepalive: Duration) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(LlrpReaderState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("sim-llrp".into())
            .spawn(move || {
                let mut next_conn = 0u64;
                let mut conns = Vec::new();
                while !sp.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            next_conn += 1;
                            let (st, sp, n) = (st.clone(), sp.clone(), next_conn);
                            conns.push(std::thread::spawn(move || {
                                let _ = serve(s, n, &st, &sp, keepalive);
                            }));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                for c in conns {
                    let _ = c.join();
                }
            })?;
        Ok(Self {
            addr,
            state,
            stop,
            handle: Some(handle),
        })
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut LlrpReaderState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Put `epc` in the field of `antenna` only.
    pub fn tag_at(&self, epc: &[u8], antenna: u16, rssi_dbm: i8) {
        self.with(|s| {
            s.field.retain(|t| t.epc != epc);
            s.field.push(LlrpTag {
                epc: epc.to_vec(),
                antenna,
                rssi_dbm,
            });
        })
    }

    pub fn tag_gone(&self, epc: &[u8]) {
        self.with(|s| s.field.retain(|t| t.epc != epc));
    }
}

impl Drop for LlrpReaderSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn lock(s: &Mutex<LlrpReaderState>) -> std::sync::MutexGuard<'_, LlrpReaderState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// One client connection.
fn serve(
    mut s: TcpStream,
    n: u64,
    state: &Mutex<LlrpReaderState>,
    stop: &AtomicBool,
    keepalive: Duration,
) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_millis(10)))?;
    let offset = lock(state).faults.clock_offset_ms;
    {
        let mut st = lock(state);
        if st.holder.is_some() {
            // "a Client initiated connection already exists": say so, then close.
            st.refused += 1;
            st.notify_holder += 1;
            drop(st);
            s.write_all(&notification(&[connection_attempt(2)], offset))?;
            s.write_all(&notification(&[param(257, &[])], offset))?;
            return Ok(());
        }
        st.holder = Some(n);
        st.accepted += 1;
    }
    let result = run(&mut s, state, stop, keepalive, offset);
    lock(state).holder = None;
    result
}

fn run(
    s: &mut TcpStream,
    state: &Mutex<LlrpReaderState>,
    stop: &AtomicBool,
    keepalive: Duration,
    offset: i64,
) -> io::Result<()> {
    s.write_all(&notification(&[connection_attempt(0)], offset))?;
    let unplugged = lock(state).faults.unplugged.clone();
    for a in unplugged {
        let mut e = vec![0u8]; // EventType 0: disconnected
        e.extend_from_slice(&a.to_be_bytes());
        s.write_all(&notification(&[param(255, &e)], offset))?;
    }
    let mut conn = Conn::default();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut last_keepalive = Instant::now();
    let mut last_report = Instant::now();
    let mut keepalive_id = 1000u32;
    let mut report_id = 5000u32;
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        while buf.len() >= HEADER {
            let t = u16::from_be_bytes([buf[0], buf[1]]) & 0x3FF;
            let len = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]) as usize;
            if len < HEADER {
                return Ok(()); // garbage: a reader drops such a client
            }
            if buf.len() < len {
                break;
            }
            let id = u32::from_be_bytes([buf[6], buf[7], buf[8], buf[9]]);
            let body: Vec<u8> = buf[HEADER..len].to_vec();
            buf.drain(..len);
            let answer = answer(t, id, &body, state, &mut conn);
            if !answer.is_empty() {
                s.write_all(&answer)?;
            }
        }
        let mut st = lock(state);
        if st.notify_holder > 0 {
            st.notify_holder -= 1;
            drop(st);
            s.write_all(&notification(&[connection_attempt(4)], offset))?;
            st = lock(state);
        }
        if last_keepalive.elapsed() >= keepalive {
            last_keepalive = Instant::now();
            keepalive_id += 1;
            drop(st);
            s.write_all(&msg(62, keepalive_id, &[]))?;
            st = lock(state);
        }
        if conn.started && last_report.elapsed() >= Duration::from_millis(20) {
            last_report = Instant::now();
            let mut out = Vec::new();
            if std::mem::take(&mut st.faults.corrupt_next) {
                // a header whose length field cannot be right
                out.extend_from_slice(&[0x04, 0x3D, 0, 0, 0, 4, 0, 0, 0, 1]);
            }
            let mut body = Vec::new();
            for t in st.field.iter().filter(|t| {
                (conn.antennas.is_empty()
                    || conn.antennas.contains(&0)
                    || conn.antennas.contains(&t.antenna))
                    && !st.faults.unplugged.contains(&t.antenna)
            }) {
                let mut d = Vec::new();
                if t.epc.len() == 12 {
                    d.push(0x80 | 13); // EPC-96 TV
                    d.extend_from_slice(&t.epc);
                } else {
                    let mut e = ((t.epc.len() * 8) as u16).to_be_bytes().to_vec();
                    e.extend_from_slice(&t.epc);
                    d.extend(param(241, &e));
                }
                d.push(0x80 | 1); // AntennaID
                d.extend_from_slice(&t.antenna.to_be_bytes());
                d.push(0x80 | 6); // PeakRSSI
                d.push(t.rssi_dbm as u8);
                d.push(0x80 | 2); // FirstSeenTimestampUTC
                d.extend_from_slice(&now_us(offset).to_be_bytes());
                body.extend(param(240, &d));
            }
            drop(st);
            if !body.is_empty() {
                report_id += 1;
                out.extend(msg(61, report_id, &body));
            }
            if !out.is_empty() {
                s.write_all(&out)?;
            }
        }
    }
    Ok(())
}

/// The reader's answer to one client message.
fn answer(
    t: u16,
    id: u32,
    body: &[u8],
    state: &Mutex<LlrpReaderState>,
    conn: &mut Conn,
) -> Vec<u8> {
    let mut st = lock(state);
    st.received.push(t);
    if st.faults.unsupported.contains(&t) {
        return msg(100, id, &status(109, "M_UnsupportedMessage"));
    }
    match t {
        72 => {
            st.keepalive_acks += 1;
            Vec::new()
        }
        21 => msg(31, id, &status(0, "")), // DELETE_ROSPEC
        20 => {
            if let Some((code, text)) = st.faults.refuse_add_rospec.clone() {
                return msg(30, id, &status(code, &text));
            }
            match rospec_antennas(body) {
                Some(a) => {
                    conn.antennas = a;
                    msg(30, id, &status(0, ""))
                }
                None => msg(
                    30,
                    id,
                    &status(100, "M_ParameterError: ROSpec could not be read"),
                ),
            }
        }
        24 => msg(34, id, &status(0, "")), // ENABLE_ROSPEC
        22 => {
            conn.started = true;
            msg(32, id, &status(0, ""))
        }
        64 => Vec::new(), // ENABLE_EVENTS_AND_REPORTS has no response
        _ => msg(100, id, &status(109, "M_UnsupportedMessage")),
    }
}
