//! A tiny fake tracking server implementing the events/heartbeat contract, with idempotency by
//! `event_id`, plus helpers. std only: TcpListener and minimal HTTP/1.1.
#![allow(dead_code)]

use casenote_core::wire::{BatchResult, EventResult, ScanEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Answer every events request with this status.
    Status(u16),
    /// Store the next batch, then drop the connection without answering (once).
    StoreThenDropOnce,
}

#[derive(Default)]
pub struct State {
    /// event_id -> event, and arrival order.
    pub events: HashMap<String, Value>,
    pub order: Vec<String>,
    pub requests: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub heartbeats: u64,
    pub unauthorized: u64,
    pub max_batch: usize,
    pub mode: Option<Mode>,
}

pub struct FakeServer {
    pub port: u16,
    pub token: String,
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(token: &str) -> Self {
        let mut s = Self {
            port: 0,
            token: token.into(),
            state: Arc::new(Mutex::new(State {
                mode: Some(Mode::Normal),
                ..Default::default()
            })),
            stop: Arc::new(AtomicBool::new(false)),
            handle: None,
        };
        s.listen();
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn listen(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind fake server");
        self.port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        self.stop.store(false, Ordering::SeqCst);
        let (stop, state, token) = (self.stop.clone(), self.state.clone(), self.token.clone());
        self.handle = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (state, token) = (state.clone(), token.clone());
                        std::thread::spawn(move || {
                            let _ = handle(conn, &state, &token);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }

    /// Go away: the port refuses connections until [`FakeServer::restart`].
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }

    /// Come back on the same port with the same stored events.
    pub fn restart(&mut self) {
        self.listen();
    }

    pub fn set_mode(&self, m: Mode) {
        self.state.lock().unwrap().mode = Some(m);
    }

    pub fn stored(&self) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.order.iter().map(|id| s.events[id].clone()).collect()
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().events.len()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn handle(mut conn: TcpStream, state: &Mutex<State>, token: &str) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut len = 0usize;
    let mut auth = String::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap_or(0),
            "authorization" => auth = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let reply = |conn: &mut TcpStream, status: u16, v: Value| {
        let b = v.to_string();
        let _ = write!(
            conn,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
            b.len()
        );
    };
    if auth != format!("Bearer {token}") {
        state.lock().unwrap().unauthorized += 1;
        reply(&mut conn, 401, json!({"error": "unauthorized"}));
        return Ok(());
    }
    if path == "/api/v1/devices/heartbeat" {
        state.lock().unwrap().heartbeats += 1;
        reply(&mut conn, 200, json!({"ok": true}));
        return Ok(());
    }
    if path != "/api/v1/events" {
        reply(&mut conn, 404, json!({}));
        return Ok(());
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let events = v["events"].as_array().cloned().unwrap_or_default();
    let mut s = state.lock().unwrap();
    s.requests += 1;
    match s.mode {
        Some(Mode::Status(code)) => {
            drop(s);
            reply(&mut conn, code, json!({"error": "unavailable"}));
            return Ok(());
        }
        _ if events.len() > 5000 => {
            drop(s);
            reply(&mut conn, 413, json!({}));
            return Ok(());
        }
        _ => {}
    }
    s.max_batch = s.max_batch.max(events.len());
    let mut results = Vec::new();
    for e in events {
        let id = e["event_id"].as_str().unwrap_or("").to_string();
        // Each event is read as the shared contract type, as the real server does.
        let ev: ScanEvent = match serde_json::from_value(e.clone()) {
            Ok(ev) => ev,
            Err(err) => {
                s.rejected += 1;
                results.push(EventResult::rejected(id, "event", err.to_string()));
                continue;
            }
        };
        if ev.location == "LREJECT" {
            s.rejected += 1;
            results.push(EventResult::rejected(
                id,
                "location",
                "no location with code or GLN \"LREJECT\"",
            ));
        } else if s.events.contains_key(&id) {
            s.duplicates += 1;
            results.push(EventResult::duplicate(id));
        } else {
            s.events.insert(id.clone(), e);
            s.order.push(id.clone());
            results.push(EventResult::stored(id, true));
        }
    }
    if s.mode == Some(Mode::StoreThenDropOnce) {
        s.mode = Some(Mode::Normal);
        // stored, but the answer is lost: the bridge must retry and get "duplicate"
        let _ = conn.shutdown(std::net::Shutdown::Both);
        return Ok(());
    }
    drop(s);
    reply(
        &mut conn,
        200,
        serde_json::to_value(BatchResult::new(results)).expect("a batch result serialises"),
    );
    Ok(())
}

/// Poll `f` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// How many stored events carry this raw payload.
pub fn raw_count(events: &[Value], raw: &str) -> usize {
    events.iter().filter(|e| e["raw"] == raw).count()
}

/// A bridge delivering to `server` (token "t"), its queue in `dir`, no heartbeats.
pub fn bridge_config(
    server: &FakeServer,
    dir: &std::path::Path,
) -> firmware_bridge::config::Config {
    firmware_bridge::config::Config {
        server_url: server.url(),
        token: "t".into(),
        queue_path: dir.join("q.sqlite3"),
        heartbeat_interval_s: 0,
        ..Default::default()
    }
}

/// [`bridge_config`] for a portal test: the GS1 company prefix of the test folders and a
/// quick delivery poll.
pub fn portal_bridge_config(
    server: &FakeServer,
    dir: &std::path::Path,
) -> firmware_bridge::config::Config {
    let mut c = bridge_config(server, dir);
    c.scan.gs1_company_prefix = Some("0614141".into());
    c.delivery.idle_poll_ms = 50;
    c
}

/// Wait (up to `timeout`) until the device's last error contains `part`.
pub fn wait_for_last_error(
    health: &firmware_bridge::devices::SharedHealth,
    part: &str,
    timeout: Duration,
) -> bool {
    wait_until(timeout, || {
        health
            .lock()
            .unwrap()
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(part))
    })
}
