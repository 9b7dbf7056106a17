//! Everything at once: a hospital's day compressed into a few minutes against the real server
//! in a child process, on the large benchmark database.
//!
//! * bridges send scans steadily (`--events-per-sec`, default 500) in small batches, and every
//!   `--burst-every-secs` one bridge sends a burst (`--burst`, default 5,000) in batches of 500, as a
//!   bridge does when it empties its offline queue after a network cut;
//! * `--web-users` (default 200) signed-in clinicians look folders up through the HTML where-is
//!   page, each waiting a think time (1-5 s) between lookups;
//! * an HL7 feed (the simulated PAS: admissions, transfers, discharges, bookings) at
//!   `--hl7-per-sec` (default 50) messages a second on one MLLP connection, each ACK awaited;
//! * pull lists for `--clinics` (default 60) clinics built at the same moment, once a minute;
//! * the statistics page opened every 10 s by a records manager.
//!
//! It reports the where-is page p50/p99, read-to-stored p99 of the steady scans, how long the
//! bursts took to store, the HL7 ACK p99, pull-list and statistics times, the server's CPU and
//! memory, and how long changes (each lookup's audit row among them) waited for the writer, from
//! the server's own counters (`/healthz`).

use anyhow::{bail, Context, Result};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tracker_server::{auth, storage::write_stats::WriteStatsSnapshot};

/// What to run.
pub struct MixedOpts {
    pub minutes: f64,
    pub events_per_sec: u32,
    pub burst: u32,
    pub burst_every_secs: u64,
    pub web_users: u32,
    pub hl7_per_sec: u32,
    pub clinics: u32,
}

const BRIDGES: u32 = 10;
const HL7_PATIENTS: u32 = 2_000;
const APPOINTMENTS_PER_CLINIC: u32 = 30;
const PASSWORD: &str = "mixed-load-bench-password";

/// One reading of the server, taken every second.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    /// Seconds since the start of the load.
    at: f64,
    /// CPU, in % of one core.
    cpu: f64,
    rss_kib: u64,
    anon_kib: u64,
    /// The size of the database's WAL file.
    wal_kib: u64,
}

/// Latencies gathered by the load tasks.
#[derive(Default)]
struct Gathered {
    whereis: Vec<Duration>,
    whereis_errors: u64,
    scan_latency: Vec<Duration>,
    events_stored: u64,
    bursts: Vec<Duration>,
    hl7_acks: Vec<Duration>,
    hl7_not_aa: u64,
    pull_lists: Vec<Duration>,
    statistics: Vec<Duration>,
}

/// The clinic locations, their sessions today with appointments, the users, tokens and HL7
/// patients the load needs; idempotent (rows of an earlier run are replaced).
fn prepare(db: &Path, o: &MixedOpts, folders: u64) -> Result<(Vec<String>, Vec<String>)> {
    let mut c = Connection::open(db)?;
    c.busy_timeout(Duration::from_secs(30))?;
    let now = chrono::Utc::now();
    let now_s = now.to_rfc3339();
    let tx = c.transaction()?;
    // device tokens, one per bridge
    tx.execute("DELETE FROM api_tokens WHERE name LIKE 'bench-mixed-%'", [])?;
    tx.execute(
        "DELETE FROM device_bindings WHERE token_name LIKE 'bench-mixed-%'",
        [],
    )?;
    let mut tokens = Vec::new();
    for k in 0..BRIDGES {
        let t = auth::new_token("ct_");
        auth::insert_api_token(&tx, &format!("bench-mixed-{k}"), auth::Role::Device, &t)?;
        tokens.push(t);
    }
    tracker_server::ledger::staff::register(&tx, "S00042", "Bench Porter")?;
    // users: clinicians for where-is, one library officer, one records manager; one password
    // hash for all (hashing is slow on purpose; signing in still checks it for each)
    let hash = auth::hash_password(PASSWORD)?;
    tx.execute(
        "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username LIKE 'mixed%')",
        [],
    )?;
    let mut users = Vec::new();
    for (name, role) in (0..o.web_users)
        .map(|i| (format!("mixedclin{i}"), "clinician"))
        .chain([
            ("mixedlib".to_string(), "library"),
            ("mixedrm".to_string(), "records_manager"),
        ])
    {
        tx.execute(
            "INSERT INTO users(username, display_name, role, password_hash, active, created_at)
             VALUES (?1, ?1, ?2, ?3, 1, ?4)
             ON CONFLICT(username) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash, active = 1",
            params![name, role, hash, now_s],
        )?;
        users.push(name);
    }
    // clinics for the pull lists, and the four the simulated PAS books into
    let tz = chrono_tz::Europe::London;
    let today = now.with_timezone(&tz).date_naive();
    let start = now.timestamp_millis() + 3 * 3_600_000;
    for code in ["LCLINA", "LCLINB", "LCLINC", "LCLIND"]
        .into_iter()
        .map(String::from)
        .chain((1..=o.clinics).map(|n| format!("LBCLIN{n}")))
    {
        tx.execute(
            "INSERT OR IGNORE INTO locations(code, name, kind, created_at) VALUES (?1, ?1, 'clinic', ?2)",
            params![code, now_s],
        )?;
    }
    // where the HL7 feed's coding requests go (`[requests] coding_location`)
    tx.execute(
        "INSERT OR IGNORE INTO locations(code, name, kind, created_at) VALUES ('LCODING', 'Clinical Coding', 'coding', ?1)",
        [&now_s],
    )?;
    tx.execute("DELETE FROM appointments WHERE session_id IN (SELECT id FROM clinic_sessions WHERE name = 'bench-mixed')", [])?;
    tx.execute("DELETE FROM clinic_sessions WHERE name = 'bench-mixed'", [])?;
    let mut rng = StdRng::seed_from_u64(3);
    let n_patients: i64 = tx.query_row("SELECT max(id) FROM patients", [], |r| r.get(0))?;
    for n in 1..=o.clinics {
        let loc: i64 = tx.query_row(
            "SELECT id FROM locations WHERE code = ?1",
            [format!("LBCLIN{n}")],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO clinic_sessions(clinic_location_id, name, date, start_at, end_at, created_at)
             VALUES (?1, 'bench-mixed', ?2, ?3, ?4, ?5)",
            params![loc, today.to_string(), start, start + 3 * 3_600_000, now_s],
        )?;
        let session = tx.last_insert_rowid();
        for k in 0..APPOINTMENTS_PER_CLINIC {
            let patient: i64 = rng.gen_range(1..=n_patients.min(folders as i64).max(1));
            tx.execute(
                "INSERT INTO appointments(session_id, patient_id, slot_start, slot_minutes, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 10, 'booked', ?4, ?4)",
                params![session, patient, start + k as i64 * 600_000, now_s],
            )?;
        }
    }
    // patients with real CHI numbers for the HL7 feed (the bulk data has synthetic ones)
    let mut made = 0;
    let mut serial = 0u32;
    while made < HL7_PATIENTS {
        serial += 1;
        let body = format!("0101{:02}{:03}", 50 + serial / 1000 % 50, serial % 1000);
        let Some(chi) = (0..10)
            .map(|d| format!("{body}{d}"))
            .find(|c| casenote_core::identifiers::chi::validate_chi(c).is_ok())
        else {
            continue;
        };
        tx.execute(
            "INSERT OR IGNORE INTO patients(chi, family_name, given_name, family_key, dob, sex, created_at, updated_at)
             VALUES (?1, ?2, 'Morag', ?2, ?3, 'female', ?4, ?4)",
            params![chi, format!("MIXED{made}"), format!("19{}-01-01", 50 + serial / 1000 % 50), now_s],
        )?;
        made += 1;
    }
    tx.commit()?;
    Ok((tokens, users))
}

fn hl7_patients(db: &Path) -> Result<Vec<tracker_server::hl7::simulated_pas::PasPatient>> {
    let c = Connection::open(db)?;
    let mut st = c.prepare(
        "SELECT chi, family_name, given_name, dob FROM patients WHERE family_name LIKE 'MIXED%' ORDER BY id",
    )?;
    let v = st
        .query_map([], |r| {
            Ok(tracker_server::hl7::simulated_pas::PasPatient {
                chi: r.get(0)?,
                family: r.get(1)?,
                given: r.get(2)?,
                dob: r.get::<_, String>(3)?.replace('-', ""),
                sex: 'F',
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

async fn sign_in(client: &reqwest::Client, base: &str, user: &str) -> Result<String> {
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("signing in {user}: {}", r.text().await?);
    }
    let v: Value = r.json().await?;
    Ok(v["token"].as_str().unwrap_or_default().to_string())
}

async fn writer_stats(client: &reqwest::Client, base: &str) -> Result<WriteStatsSnapshot> {
    let v: Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await?
        .json()
        .await?;
    Ok(serde_json::from_value(v["writer"].clone())?)
}

/// Run the mixed load on `db` (already built); returns a Markdown section.
pub fn run(db: &Path, o: &MixedOpts) -> Result<String> {
    let (folders, movements_before) = crate::counts(db)?;
    eprintln!("preparing users, clinics and HL7 patients ...");
    let (tokens, users) = prepare(db, o, folders)?;
    let pas_patients = hl7_patients(db)?;
    let t_start = Instant::now();
    let (mut child, port, hl7_port) = crate::start_server_child_with_hl7(db)?;
    let startup = t_start.elapsed();
    let pid = child.id();
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new()?;
    let run_for = Duration::from_secs_f64(o.minutes * 60.0);
    let gathered = Arc::new(Mutex::new(Gathered::default()));
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let result = rt.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .timeout(Duration::from_secs(60))
            .build()?;
        // sign everyone in first (each sign-in checks the password hash)
        let mut sessions = Vec::new();
        for u in &users {
            sessions.push(sign_in(&client, &base, u).await?);
        }
        let rm_session = sessions.pop().context("no records manager")?;
        let lib_session = sessions.pop().context("no library user")?;
        let stats_before = writer_stats(&client, &base).await?;
        let audit_before: i64 = Connection::open(db)?
            .query_row("SELECT max(id) FROM audit_log", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .unwrap_or(0);
        let t0 = Instant::now();
        let deadline = t0 + run_for;
        let scheme = casenote_core::identifiers::FolderIdScheme::default();
        let mut tasks: Vec<tokio::task::JoinHandle<Result<()>>> = Vec::new();

        // ---- bridges: steady scans, and bursts ----
        let per_bridge_batch = (o.events_per_sec / BRIDGES / 10).max(1) as usize;
        for (k, token) in tokens.iter().enumerate() {
            let (client, base, token, g, scheme) = (
                client.clone(),
                base.clone(),
                token.clone(),
                gathered.clone(),
                scheme.clone(),
            );
            let burst = o.burst as usize;
            let burst_every = Duration::from_secs(o.burst_every_secs.max(1));
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(100 + k as u64);
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                // bridges take turns at bursting, the first after 20 s
                let mut next_burst = t0 + Duration::from_secs(20) + burst_every * k as u32;
                while Instant::now() < deadline {
                    tick.tick().await;
                    let read = Instant::now();
                    let now = chrono::Utc::now().timestamp_millis();
                    let evs: Vec<Value> = (0..per_bridge_batch)
                        .map(|_| bridge_event(&mut rng, folders, &scheme, now, k))
                        .collect();
                    let stored = post_events(&client, &base, &token, &evs).await?;
                    let lat = read.elapsed();
                    {
                        let mut got = g.lock().await;
                        got.events_stored += stored;
                        got.scan_latency.extend(std::iter::repeat_n(lat, evs.len()));
                    }
                    if burst > 0 && Instant::now() >= next_burst {
                        next_burst += burst_every * BRIDGES;
                        // the queue of a bridge that was cut off for a while
                        let t = Instant::now();
                        let now = chrono::Utc::now().timestamp_millis();
                        let mut sent = 0;
                        let mut stored = 0;
                        while sent < burst {
                            let n = (burst - sent).min(500);
                            let evs: Vec<Value> = (0..n)
                                .map(|i| {
                                    bridge_event(
                                        &mut rng,
                                        folders,
                                        &scheme,
                                        now - 60_000 + ((sent + i) * 60_000 / burst) as i64,
                                        k,
                                    )
                                })
                                .collect();
                            stored += post_events(&client, &base, &token, &evs).await?;
                            sent += n;
                        }
                        let mut got = g.lock().await;
                        got.bursts.push(t.elapsed());
                        got.events_stored += stored;
                    }
                }
                Ok(())
            }));
        }

        // ---- web users: where-is through the HTML page, with think time ----
        for (k, session) in sessions.iter().enumerate() {
            let (client, base, session, g, scheme) = (
                client.clone(),
                base.clone(),
                session.clone(),
                gathered.clone(),
                scheme.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(1000 + k as u64);
                // start spread over the first think time
                tokio::time::sleep(Duration::from_millis(rng.gen_range(0..5_000))).await;
                while Instant::now() < deadline {
                    let fid = rng.gen_range(1..=folders);
                    let url = format!("{base}/whereis?q={}", scheme.format(fid).text);
                    let (ok, body, lat) = get_page(&client, &url, &session).await?;
                    {
                        let mut got = g.lock().await;
                        if ok && body.contains(&scheme.format(fid).text) {
                            got.whereis.push(lat);
                        } else {
                            got.whereis_errors += 1;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(rng.gen_range(1_000..5_000))).await;
                }
                Ok(())
            }));
        }

        // ---- pull lists for every clinic at the same moment, once a minute ----
        {
            let (client, base, g) = (client.clone(), base.clone(), gathered.clone());
            let clinics = o.clinics;
            let date = chrono::Utc::now()
                .with_timezone(&chrono_tz::Europe::London)
                .date_naive()
                .to_string();
            tasks.push(tokio::spawn(async move {
                let mut next = t0 + Duration::from_secs(30);
                while next < deadline {
                    tokio::time::sleep_until(next.into()).await;
                    let mut all = Vec::new();
                    for n in 1..=clinics {
                        let url = format!("{base}/pull-lists?clinic=LBCLIN{n}&date={date}");
                        let (client, session) = (client.clone(), lib_session.clone());
                        all.push(tokio::spawn(async move {
                            let (ok, _, lat) = get_page(&client, &url, &session).await?;
                            if !ok {
                                bail!("pull list {url} failed");
                            }
                            anyhow::Ok(lat)
                        }));
                    }
                    for t in all {
                        let d = t.await??;
                        g.lock().await.pull_lists.push(d);
                    }
                    next += Duration::from_secs(60);
                }
                Ok(())
            }));
        }

        // ---- the statistics page every 10 s ----
        {
            let (client, base, g) = (client.clone(), base.clone(), gathered.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(10));
                while Instant::now() < deadline {
                    tick.tick().await;
                    let url = format!("{base}/statistics");
                    let (ok, _, lat) = get_page(&client, &url, &rm_session).await?;
                    if !ok {
                        bail!("statistics page failed");
                    }
                    g.lock().await.statistics.push(lat);
                }
                Ok(())
            }));
        }

        // ---- HL7 at a steady rate on one MLLP connection (blocking client, own thread) ----
        let hl7 = {
            let rate = o.hl7_per_sec.max(1);
            std::thread::spawn(move || -> Result<(Vec<Duration>, u64)> {
                use tracker_server::hl7::{client::MllpClient, simulated_pas::SimulatedPas};
                let mut pas = SimulatedPas::new(pas_patients, 12);
                pas.application = "BENCHPAS".into();
                let addr: std::net::SocketAddr = format!("127.0.0.1:{hl7_port}").parse()?;
                let mut client = MllpClient::connect(addr, Duration::from_secs(30))?;
                let gap = Duration::from_secs_f64(1.0 / rate as f64);
                let mut next = Instant::now();
                let (mut acks, mut not_aa) = (Vec::new(), 0u64);
                let mut reported = 0;
                while Instant::now() < deadline {
                    let m = pas.next_message().bytes;
                    let s = Instant::now();
                    let ack = client.send(&m).context("sending over MLLP")?;
                    acks.push(s.elapsed());
                    let ack = String::from_utf8_lossy(&ack);
                    let (code, text) = tracker_server::hl7::ack::read(&ack).unwrap_or_default();
                    if code != "AA" {
                        not_aa += 1;
                        if reported < 5 {
                            reported += 1;
                            eprintln!("HL7 answered {code}: {text}");
                        }
                    }
                    next += gap;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                Ok((acks, not_aa))
            })
        };

        // ---- the server's CPU and memory, once a second ----
        {
            let samples = samples.clone();
            let wal = wal_path(db);
            tasks.push(tokio::spawn(async move {
                let mut last = (Instant::now(), crate::cpu_ms(pid));
                while Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let (t, cpu) = (Instant::now(), crate::cpu_ms(pid));
                    let pct = 100.0 * (cpu - last.1) / (1000.0 * (t - last.0).as_secs_f64());
                    last = (t, cpu);
                    samples.lock().await.push(Sample {
                        at: t0.elapsed().as_secs_f64(),
                        cpu: pct,
                        rss_kib: crate::rss_kb(pid, "VmRSS:"),
                        anon_kib: crate::rss_kb(pid, "RssAnon:"),
                        wal_kib: std::fs::metadata(&wal).map_or(0, |m| m.len() / 1024),
                    });
                }
                Ok(())
            }));
        }

        for t in tasks {
            t.await??;
        }
        let (acks, not_aa) = hl7
            .join()
            .map_err(|_| anyhow::anyhow!("the HL7 thread panicked"))??;
        {
            let mut g = gathered.lock().await;
            g.hl7_acks = acks;
            g.hl7_not_aa = not_aa;
        }
        let elapsed = t0.elapsed();
        let stats = writer_stats(&client, &base).await?.since(&stats_before);
        let audit_rows: i64 = Connection::open(db)?.query_row(
            "SELECT count(*) FROM audit_log WHERE id > ?1",
            [audit_before],
            |r| r.get(0),
        )?;
        anyhow::Ok((elapsed, stats, audit_rows))
    });
    let peak = crate::rss_kb(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    let (elapsed, stats, audit_rows) = result?;
    let mut guard = rt.block_on(gathered.lock_owned());
    let g = &mut *guard;
    let samples = rt.block_on(samples.lock_owned());
    for v in [
        &mut g.whereis,
        &mut g.scan_latency,
        &mut g.bursts,
        &mut g.hl7_acks,
        &mut g.pull_lists,
        &mut g.statistics,
    ] {
        v.sort();
    }
    let p = |v: &[Duration], q: f64| crate::pct(v, q);
    let cpu: Vec<f64> = samples.iter().map(|s| s.cpu).collect();
    let cpu_mean = cpu.iter().sum::<f64>() / cpu.len().max(1) as f64;
    let cpu_max = cpu.iter().cloned().fold(0.0, f64::max);
    let rss_max = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let anon_first = samples.first().map(|s| s.anon_kib).unwrap_or(0);
    let anon_last = samples.last().map(|s| s.anon_kib).unwrap_or(0);
    let anon_by_minute = by_minute(&samples, |s| s.anon_kib / 1024);
    let wal_by_minute = by_minute(&samples, |s| s.wal_kib / 1024);
    let wal_max = samples.iter().map(|s| s.wal_kib).max().unwrap_or(0) / 1024;
    let secs = elapsed.as_secs_f64();
    let report = format!(
        "## Mixed load: everything at once ({folders} folders, {movements_before} movements before the run)\n\n\
         Machine: {machine}\n\n\
         Command: `cargo run --release -p casenote-bench -- mixed --minutes {minutes}` \
         (bridges {eps} events/s in batches every 100 ms from {BRIDGES} bridges, a burst of {burst} every {be} s; \
         {users} web users with 1-5 s think time; HL7 {hl7} msg/s; pull lists for {clinics} clinics at once every minute; \
         the statistics page every 10 s). The load generator runs on the same two cores as the server.\n\n\
         | measure | result | target |\n|---|---|---|\n\
         | where-is page (HTML, signed-in clinicians, each lookup audited): lookups, p50 / p99 / max | {wn} ({wr:.0}/s), {w50:.2} / {w99:.2} / {wmax:.2} ms | p99 <= 20 ms |\n\
         | where-is pages not answered with the folder | {werr} | 0 |\n\
         | scans stored | {stored} ({sr:.0}/s) | |\n\
         | steady scans, read to stored (acknowledged): p50 / p99 / max | {s50:.1} / {s99:.1} / {smax:.1} ms | |\n\
         | bursts of {burst}: time to store, min / median / max | {bmin:.2} / {bmed:.2} / {bmax:.2} s ({bn} bursts) | |\n\
         | HL7 messages ACKed: count, not AA, ACK p50 / p99 / max | {hn}, {hbad}, {h50:.1} / {h99:.1} / {hmax:.1} ms | |\n\
         | pull list of one clinic, {clinics} built at once: p50 / max | {pl50:.0} / {plmax:.0} ms ({pln} lists) | |\n\
         | statistics page: p50 / max | {st50:.0} / {stmax:.0} ms ({stn} times) | |\n\
         | server CPU (of 2 cores = 200%): mean / max over 1 s | {cpu_mean:.0}% / {cpu_max:.0}% | |\n\
         | server RSS max; anonymous memory first / last; peak (VmHWM) | {rss} MB; {af} / {al} MB; {peak} MB | |\n\
         | anonymous memory at the end of each minute | {anon_by_minute} MB | |\n\
         | WAL file at the end of each minute; largest | {wal_by_minute}; {wal_max} MB | |\n\
         | changes waiting for the writer (each lookup's audit row is one): count, mean, p50 / p99 at most, max | {wj} ({wjr:.0}/s), {wmean:.2} ms, {wp50:.2} / {wp99:.2} ms, {wmx:.1} ms | |\n\
         | audit rows written during the run | {audit_rows} | |\n\
         | server start-up (spawn to listening) | {startup:.2} s | |\n",
        machine = crate::machine(),
        minutes = o.minutes,
        eps = o.events_per_sec,
        burst = o.burst,
        be = o.burst_every_secs,
        users = o.web_users,
        hl7 = o.hl7_per_sec,
        clinics = o.clinics,
        wn = g.whereis.len(),
        wr = g.whereis.len() as f64 / secs,
        w50 = p(&g.whereis, 0.5),
        w99 = p(&g.whereis, 0.99),
        wmax = p(&g.whereis, 1.0),
        werr = g.whereis_errors,
        stored = g.events_stored,
        sr = g.events_stored as f64 / secs,
        s50 = p(&g.scan_latency, 0.5),
        s99 = p(&g.scan_latency, 0.99),
        smax = p(&g.scan_latency, 1.0),
        bmin = p(&g.bursts, 0.0) / 1000.0,
        bmed = p(&g.bursts, 0.5) / 1000.0,
        bmax = p(&g.bursts, 1.0) / 1000.0,
        bn = g.bursts.len(),
        hn = g.hl7_acks.len(),
        hbad = g.hl7_not_aa,
        h50 = p(&g.hl7_acks, 0.5),
        h99 = p(&g.hl7_acks, 0.99),
        hmax = p(&g.hl7_acks, 1.0),
        pl50 = p(&g.pull_lists, 0.5),
        plmax = p(&g.pull_lists, 1.0),
        pln = g.pull_lists.len(),
        st50 = p(&g.statistics, 0.5),
        stmax = p(&g.statistics, 1.0),
        stn = g.statistics.len(),
        rss = rss_max / 1024,
        af = anon_first / 1024,
        anon_by_minute = anon_by_minute,
        wal_by_minute = wal_by_minute,
        wal_max = wal_max,
        al = anon_last / 1024,
        peak = peak / 1024,
        wj = stats.jobs,
        wjr = stats.jobs as f64 / secs,
        wmean = stats.mean_us() / 1000.0,
        wp50 = stats.quantile_upper_us(0.5) as f64 / 1000.0,
        wp99 = stats.quantile_upper_us(0.99) as f64 / 1000.0,
        wmx = stats.max_us as f64 / 1000.0,
        startup = startup.as_secs_f64(),
    );
    if g.whereis_errors > 0 || g.hl7_not_aa > 0 {
        eprintln!("{report}");
        bail!(
            "{} where-is pages failed and {} HL7 messages were not accepted",
            g.whereis_errors,
            g.hl7_not_aa
        );
    }
    Ok(report)
}

/// A page as a signed-in user opens it: whether it answered 2xx, its text, and how long it took.
async fn get_page(
    client: &reqwest::Client,
    url: &str,
    session: &str,
) -> Result<(bool, String, Duration)> {
    let t = Instant::now();
    let r = client
        .get(url)
        .header("cookie", format!("cn_session={session}"))
        .send()
        .await?;
    let ok = r.status().is_success();
    let body = r.text().await?;
    Ok((ok, body, t.elapsed()))
}

/// A scan from bridge `k` (each bridge has a device id of its own, bound to its token).
fn bridge_event(
    rng: &mut StdRng,
    folders: u64,
    scheme: &casenote_core::identifiers::FolderIdScheme,
    read_at: i64,
    k: usize,
) -> Value {
    let mut e = crate::make_event(rng, folders, &[], scheme, read_at);
    e["device_id"] = json!(format!("bench-mixed-{k}"));
    e
}

async fn post_events(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    evs: &[Value],
) -> Result<u64> {
    let body = serde_json::to_vec(&json!({ "events": evs }))?;
    crate::post_batch(client, base, token, body).await
}

/// The database's WAL file, next to it.
fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut p = db.as_os_str().to_os_string();
    p.push("-wal");
    p.into()
}

/// A figure of the server (memory, the WAL's size, in MB) at the last sample of each whole
/// minute, as "a, b, c": whether it levels off or keeps growing.
fn by_minute(samples: &[Sample], figure: impl Fn(&Sample) -> u64) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut minute = 1.0;
    for (i, s) in samples.iter().enumerate() {
        // the run's last sample counts for its minute if it is within 2 s of the minute's end
        let next_is_later = match samples.get(i + 1) {
            Some(n) => n.at >= minute * 60.0,
            None => s.at >= minute * 60.0 - 2.0,
        };
        if s.at < minute * 60.0 && next_is_later {
            out.push(figure(s).to_string());
            minute += 1.0;
        }
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn anonymous_memory_is_reported_per_minute() {
        let samples: Vec<super::Sample> = (1..=200)
            .map(|t| super::Sample {
                at: t as f64,
                anon_kib: 1024 * t as u64,
                ..Default::default()
            })
            .collect();
        let anon = |s: &super::Sample| s.anon_kib / 1024;
        // the last sample before 60 s and before 120 s; the half minute at the end is not one
        assert_eq!(super::by_minute(&samples[..150], anon), "59, 119");
        // a run that ends just before a whole minute reports that minute
        assert_eq!(super::by_minute(&samples[..178], anon), "59, 119, 178");
    }
}
