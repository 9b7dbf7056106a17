//! HL7 throughput over one MLLP connection: a real server (temporary SQLite file), one client
//! sending A04 (register) then A01 (admit: raises a request) for each patient, waiting for
//! each ACK before the next message. Target: >= 2,000 messages/s.
//!
//! Run: `cargo run --release -p tracker-server --example hl7_bench -- [patients]`

use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracker_server::{app::AppState, config::Config, ledger::locations, storage::Db};

/// Valid CHI numbers (Mod-11) with their dates of birth.
pub fn chis(n: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n);
    'outer: for yy in 50..100u32 {
        for mm in 1..=12u32 {
            for dd in 1..=28u32 {
                for serial in 0..100u32 {
                    let first9 = format!("{dd:02}{mm:02}{yy:02}{serial:02}1");
                    let sum: u32 = first9
                        .bytes()
                        .zip((2..=10).rev())
                        .map(|(b, w)| (b - b'0') as u32 * w)
                        .sum();
                    let c = match 11 - sum % 11 {
                        11 => 0,
                        10 => continue,
                        c => c,
                    };
                    out.push((format!("{first9}{c}"), format!("19{yy:02}{mm:02}{dd:02}")));
                    if out.len() == n {
                        break 'outer;
                    }
                }
            }
        }
    }
    out
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.database.path = dir.path().join("bench.db");
    cfg.hl7.listen = Some("127.0.0.1:0".into());
    cfg.hl7.locations.insert("W5".into(), "LWARD5".into());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let db = Db::open(&cfg.database.path, 4).unwrap();
        db.write(|c| {
            for (code, kind) in [("LLIB", "library"), ("LWARD5", "ward"), ("LCODING", "coding")] {
                locations::create(
                    c,
                    &locations::NewLocation {
                        code: code.into(),
                        name: code.into(),
                        kind: kind.into(),
                        gln: None,
                        parent: None,
                        preparation_area: None,
                        filing_range: None,
                    },
                    "L",
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let state = AppState::new(db, cfg);
        let addr = state.hl7_addr.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        tokio::spawn(tracker_server::serve(listener, state, std::future::pending()));
        let hl7 = loop {
            if let Some(a) = addr.get() {
                break *a;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        };
        let mut sock = tokio::net::TcpStream::connect(hl7).await.unwrap();
        sock.set_nodelay(true).unwrap();
        let people = chis(n);
        let mut msgs = Vec::with_capacity(2 * n);
        for (i, (chi, dob)) in people.iter().enumerate() {
            for ev in ["A04", "A01"] {
                msgs.push(format!(
                    "MSH|^~\\&|BENCH|GGC|CASENOTE|TRACKER|20261125090000||ADT^{ev}^ADT_{ev}|{ev}-{i}|P|2.5\rEVN|{ev}|20261125090000\rPID|||{chi}^^^CHI^NH||BENCH^PATIENT{i}||{dob}|M\rPV1||I|W5^1^1^GGC\r"
                ));
            }
        }
        let mut buf = vec![0u8; 8192];
        let (mut aa, mut other) = (0usize, 0usize);
        let start = Instant::now();
        for m in &msgs {
            let mut frame = vec![0x0B];
            frame.extend_from_slice(m.as_bytes());
            frame.extend_from_slice(&[0x1C, 0x0D]);
            sock.write_all(&frame).await.unwrap();
            let mut got = Vec::new();
            while !got.ends_with(&[0x1C, 0x0D]) {
                let k = sock.read(&mut buf).await.unwrap();
                assert!(k > 0);
                got.extend_from_slice(&buf[..k]);
            }
            if got.windows(7).any(|w| w == b"MSA|AA|") {
                aa += 1;
            } else {
                other += 1;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "hl7_bench: {} messages ({} patients x A04+A01) over one MLLP connection in {:.2} s = {:.0} messages/s; {} AA, {} not AA (target >= 2000/s)",
            msgs.len(),
            n,
            secs,
            msgs.len() as f64 / secs,
            aa,
            other
        );
    });
}
