//! Throughput benchmark for the portal path: R2000 frame decoding plus portal logic, on one
//! core, with a realistic mix (many reads per passage, foreign tags in the field).

use crate::config::PortalConfig;
use crate::frames::r2000::{self, R2000Decoder, R2000Item};
use crate::portal::Portal;
use casenote_core::identifiers::Giai96;
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct BenchResult {
    pub reads: u64,
    pub movements: u64,
    pub decode_and_portal_reads_per_s: f64,
    pub portal_only_reads_per_s: f64,
}

/// Run with `reads` tag reads spread over `tags` folders (plus 10% foreign tags).
pub fn run(reads: u64, tags: u64) -> BenchResult {
    let prefix = "0614141";
    let epcs: Vec<Vec<u8>> = (0..tags)
        .map(|a| {
            Giai96 {
                filter: 1,
                company_prefix: prefix.into(),
                asset_reference: 1000 + a,
            }
            .encode()
            .expect("valid")
            .to_vec()
        })
        .collect();
    let foreign = hex::decode("341816E80000000000010015").expect("hex");
    // Pre-encode a stream: each tag passes antenna 1 then antenna 2.
    let per_tag = (reads / tags.max(1)).max(2);
    let mut stream = Vec::new();
    let mut n = 0u64;
    for (i, e) in epcs.iter().enumerate() {
        for k in 0..per_tag {
            let ant = if k < per_tag / 2 { 1 } else { 2 };
            stream.extend(r2000::tag_frame(1, ant, 3, e, 60));
            n += 1;
            if (k + i as u64).is_multiple_of(10) {
                stream.extend(r2000::tag_frame(1, 1, 3, &foreign, 40));
                n += 1;
            }
        }
    }
    let cfg = PortalConfig {
        location: "LBENCH".into(),
        ..Default::default()
    };

    // Decode + portal, fed in 4 KiB chunks as from a serial port.
    let mut portal = Portal::new("bench", cfg.clone(), Some(prefix.into()));
    let mut dec = R2000Decoder::new();
    let mut items = Vec::with_capacity(512);
    let mut movements = 0;
    let t0 = Instant::now();
    let mut now_ms = 0i64;
    for chunk in stream.chunks(4096) {
        items.clear();
        dec.push_into(chunk, &mut items);
        for it in &items {
            if let R2000Item::Tag { read, .. } = it {
                portal.on_read(read, now_ms);
            }
        }
        now_ms += 1;
        if now_ms.rem_euclid(100) == 0 {
            movements += portal.tick(now_ms).len() as u64;
        }
    }
    movements += portal.tick(now_ms + 1_000_000).len() as u64;
    let full = t0.elapsed().as_secs_f64();

    // Portal only, reads already decoded.
    let mut reads_vec = Vec::new();
    R2000Decoder::new().push_into(&stream, &mut items);
    for it in items.drain(..) {
        if let R2000Item::Tag { read, .. } = it {
            reads_vec.push(read);
        }
    }
    let mut portal = Portal::new("bench", cfg, Some(prefix.into()));
    let t1 = Instant::now();
    for (i, r) in reads_vec.iter().enumerate() {
        portal.on_read(r, (i / 1000) as i64);
    }
    let _ = portal.tick(i64::MAX / 2);
    let only = t1.elapsed().as_secs_f64();
    BenchResult {
        reads: n,
        movements,
        decode_and_portal_reads_per_s: n as f64 / full,
        portal_only_reads_per_s: reads_vec.len() as f64 / only,
    }
}
