//! HL7 helpers: a world with an MLLP listener and mapped PAS ward codes, messages shaped like a
//! UK PAS feed, and the real `mllp_send` client (PyPI `hl7`) as the peer.
#![allow(dead_code)]

use super::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

pub const SB: u8 = 0x0B;
pub const EB: u8 = 0x1C;
pub const CR: u8 = 0x0D;

/// The common world with an MLLP listener, PAS location codes mapped, and a second ward.
pub async fn hl7_world_with(tweak: impl FnOnce(&mut tracker_server::config::Config)) -> World {
    let w = super::world_with(|c| {
        c.hl7.listen = Some("127.0.0.1:0".into());
        c.hl7.locations.insert("W5".into(), "LWARD5".into());
        c.hl7.locations.insert("W6".into(), "LWARD6".into());
        c.hl7.locations.insert("CLINA".into(), "LCLINA".into());
        tweak(c)
    })
    .await;
    let r =
        w.s.post(
            Some(&w.manager),
            "/api/v1/locations",
            json!({"code": "LWARD6", "name": "Ward 6", "kind": "ward"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    w
}

pub async fn hl7_world() -> World {
    hl7_world_with(|_| {}).await
}

/// RFC 3339 time `secs` from now (scans may be at most `[server] max_clock_skew_secs`, 2
/// minutes by default, ahead).
pub fn ts(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl World {
    pub async fn scan(&self, bc: &str, loc: &str, secs: i64, action: &str, dest: Option<&str>) {
        let r = self
            .s
            .post(
                Some(&self.device),
                "/api/v1/events",
                json!({"events": [event(bc, loc, &ts(secs), action, dest)]}),
            )
            .await;
        let v = self.s.ok_json(r).await;
        assert_eq!(v["stored"], 1, "{v}");
    }

    pub async fn request(&self, id: i64) -> Value {
        self.s
            .ok_json(
                self.s
                    .get(Some(&self.library), &format!("/api/v1/requests/{id}"))
                    .await,
            )
            .await
    }

    pub async fn queue(&self) -> Value {
        self.s
            .ok_json(self.s.get(Some(&self.library), "/api/v1/desk/queue").await)
            .await
    }

    pub async fn hl7_port(&self) -> u16 {
        for _ in 0..200 {
            if let Some(a) = self.s.hl7_addr.get() {
                return a.port();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the HL7 listener did not start");
    }
}

pub fn hl7(ctl: &str, event: &str, chi: &str, tail: &str) -> String {
    let (mtype, structure) = if event.starts_with('S') {
        ("SIU", format!("SIU_{event}"))
    } else {
        ("ADT", format!("ADT_{event}"))
    };
    format!(
        "MSH|^~\\&|TrakCare|GGC|CASENOTE|TRACKER|20261125090000||{mtype}^{event}^{structure}|{ctl}|P|2.5\rEVN|{event}|20261125090000\rPID|||{chi}^^^CHI^NH||KLEINSAMPLE^BARRY||19850419|M\r{tail}"
    )
}

/// Send messages with the real `mllp_send` client; returns one ACK per message.
/// None (skip) when `mllp_send` is not installed, unless CI=true.
pub async fn mllp_send(port: u16, messages: &[String]) -> Option<Vec<String>> {
    let raw: Vec<Vec<u8>> = messages.iter().map(|m| m.clone().into_bytes()).collect();
    mllp_send_bytes(port, &raw).await
}

/// [`mllp_send`] for messages given as bytes (other character sets than UTF-8).
pub async fn mllp_send_bytes(port: u16, messages: &[Vec<u8>]) -> Option<Vec<String>> {
    let probe = tokio::process::Command::new("mllp_send")
        .arg("--version")
        .output()
        .await;
    if probe.is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("mllp_send is required under CI: pip install hl7");
        }
        eprintln!("SKIPPED: mllp_send not found; install it with `pip install hl7`");
        return None;
    }
    let mut input = Vec::new();
    for m in messages {
        input.push(SB);
        input.extend_from_slice(m);
        input.extend_from_slice(&[EB, CR]);
    }
    // (mllp_send reads standard input as text under Python 3, so give it a file.)
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &input).unwrap();
    let child = tokio::process::Command::new("mllp_send")
        .args(["-p", &port.to_string(), "-f"])
        .arg(file.path())
        .arg("127.0.0.1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("mllp_send timed out")
        .unwrap();
    assert!(
        out.status.success(),
        "mllp_send failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acks: Vec<String> = out
        .stdout
        .split(|b| *b == EB)
        .map(|a| {
            String::from_utf8_lossy(a)
                .trim_matches(|c| c == SB as char || c == '\r' || c == '\n')
                .to_string()
        })
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(acks.len(), messages.len(), "{acks:?}");
    Some(acks)
}

pub fn ack_code(ack: &str) -> (String, String) {
    tracker_server::hl7::ack::read(ack).unwrap_or_else(|| panic!("not an ACK: {ack:?}"))
}
