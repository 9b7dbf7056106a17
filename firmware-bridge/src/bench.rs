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

/// Durable-queue figures: events per second committed to disk, min/median/max over runs.
#[derive(Debug, Clone)]
pub struct QueueBench {
    pub events: usize,
    pub runs: usize,
    /// One transaction (one fsync) per event: the old way, measured in the same run.
    pub unbatched: [f64; 3],
    /// `devices` threads each pushing one event at a time, concurrently (group commit).
    pub concurrent: [f64; 3],
    /// Portal bursts of `burst` events (a trolley through a door), one push each.
    pub bursts: [f64; 3],
    pub devices: usize,
    pub burst: usize,
    /// Mean events per fsync in the concurrent case.
    pub events_per_commit: f64,
}

fn min_med_max(mut v: Vec<f64>) -> [f64; 3] {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return [0.0; 3];
    }
    [v[0], v[v.len() / 2], v[v.len() - 1]]
}

fn bench_event(n: usize) -> casenote_core::wire::ScanEvent {
    use casenote_core::identifiers::scan::Symbology;
    use casenote_core::wire::{Action, Method, ScanEvent};
    ScanEvent::new(
        "bench",
        None,
        chrono::Utc::now(),
        format!("]C0F{n:09}"),
        Symbology::Code128,
        Method::Barcode,
        "LBENCH".into(),
        Action::Receive,
        None,
    )
}

/// Commit `events` events to a queue in `dir` three ways, `runs` times each (a fresh queue file
/// each run, synchronous=FULL, so every commit is a real fsync of this machine's disk).
pub fn queue(
    dir: &std::path::Path,
    events: usize,
    devices: usize,
    burst: usize,
    runs: usize,
) -> Result<QueueBench, crate::queue::QueueError> {
    use crate::queue::Queue;
    use std::sync::Arc;
    let devices = devices.max(1);
    let burst = burst.max(1);
    let (mut un, mut co, mut bu) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_commit = Vec::new();
    for run in 0..runs.max(1) {
        let evs: Vec<_> = (0..events).map(bench_event).collect();
        let q = Queue::open(&dir.join(format!("unbatched-{run}.sqlite3")))?;
        let t = Instant::now();
        for e in &evs {
            q.push_unbatched(e)?;
        }
        un.push(events as f64 / t.elapsed().as_secs_f64());

        let q = Arc::new(Queue::open(&dir.join(format!("concurrent-{run}.sqlite3")))?);
        let t = Instant::now();
        let threads: Vec<_> = (0..devices)
            .map(|d| {
                let q = q.clone();
                let mine: Vec<_> = evs.iter().skip(d).step_by(devices).cloned().collect();
                std::thread::spawn(move || mine.iter().try_for_each(|e| q.push(e)))
            })
            .collect();
        for th in threads {
            th.join().expect("bench thread")?;
        }
        co.push(events as f64 / t.elapsed().as_secs_f64());
        per_commit.push(events as f64 / q.commits().max(1) as f64);
        assert_eq!(q.depth()? as usize, events, "every event committed");

        let q = Queue::open(&dir.join(format!("bursts-{run}.sqlite3")))?;
        let t = Instant::now();
        for chunk in evs.chunks(burst) {
            q.push_all(chunk)?;
        }
        bu.push(events as f64 / t.elapsed().as_secs_f64());
    }
    Ok(QueueBench {
        events,
        runs: runs.max(1),
        unbatched: min_med_max(un),
        concurrent: min_med_max(co),
        bursts: min_med_max(bu),
        devices,
        burst,
        events_per_commit: per_commit.iter().sum::<f64>() / per_commit.len().max(1) as f64,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn queue_bench_commits_everything_and_groups_bursts() {
        let dir = tempfile::tempdir().unwrap();
        let q = super::queue(dir.path(), 200, 4, 50, 1).unwrap();
        assert!(q.unbatched[1] > 0.0 && q.concurrent[1] > 0.0 && q.bursts[1] > 0.0);
        assert!(q.events_per_commit >= 1.0);
    }
}
