//! What the benchmarks share: building a database of a given size, running the real server in
//! a child process, reading a process's memory, percentiles, the machine's description, and the
//! wire format of a scan event.

use anyhow::{bail, Context, Result};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tracker_server::{app::AppState, config::Config, storage::Db};

/// Append a report to a Markdown file, when one is given.
pub fn append_markdown(md: Option<&Path>, report: &str) -> Result<()> {
    if let Some(md) = md {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(md)?;
        writeln!(f, "{report}")?;
        eprintln!("appended to {}", md.display());
    }
    Ok(())
}

pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("CASENOTE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
                .join(".cache/casenote-bench")
        });
    let _ = std::fs::create_dir_all(&base);
    base
}

pub const WARDS: usize = 40;
pub const DAY: i64 = 86_400_000;

/// Build the database directly (same schema, same invariants as the server maintains).
pub fn populate(db: &Path, folders: u64, movements: u64) -> Result<()> {
    let t0 = Instant::now();
    {
        let _ = Db::open(db, 1)?; // creates and migrates the schema
    }
    let mut c = Connection::open(db)?;
    c.pragma_update(None, "synchronous", "OFF")?;
    // movements are written before their folder row within the same transaction
    c.pragma_update(None, "foreign_keys", "OFF")?;
    c.pragma_update(None, "cache_size", -1_000_000)?;
    let scheme = casenote_core::identifiers::FolderIdScheme::default();
    let tx = c.transaction()?;
    let now = chrono::Utc::now().to_rfc3339();
    tx.execute("INSERT INTO locations(id, code, name, kind, created_at) VALUES (1, 'LLIB', 'Library', 'library', ?1)", [&now])?;
    for i in 1..=WARDS {
        tx.execute(
            "INSERT INTO locations(id, code, name, kind, created_at) VALUES (?1, ?2, ?3, 'ward', ?4)",
            params![i as i64 + 1, format!("LWARD{i}"), format!("Ward {i}"), now],
        )?;
    }
    // the numbers of the words every movement repeats (movement_words)
    let word = {
        let mut words = tracker_server::ledger::movements::Words::new();
        let mut ids = std::collections::HashMap::new();
        for w in [
            "receive",
            "seen",
            "bench-loader",
            "S00042",
            "code128",
            "barcode",
        ] {
            ids.insert(w, words.id(&tx, w)?);
        }
        ids
    };
    tx.commit()?;
    let mut rng = StdRng::seed_from_u64(7);
    let n_patients = (folders * 10 / 13).max(1);
    let per_folder = (movements / folders.max(1)).max(1);
    let start = chrono::Utc::now().timestamp_millis() - 365 * DAY;
    let chunk = 100_000u64;
    let mut next_movement: i64 = 1;
    let mut f = 1u64;
    while f <= folders {
        let tx = c.transaction()?;
        {
            let mut ins_p = tx.prepare_cached(
                "INSERT OR IGNORE INTO patients(id, chi, family_name, given_name, family_key, dob, sex, created_at, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8)",
            )?;
            let mut ins_f = tx.prepare_cached(
                "INSERT INTO folders(id, barcode, patient_id, folder_type, volume, volume_count, status, filing_number, home_location_id, cur_movement_id, cur_location_id, cur_read_at, cur_since, cur_action, created_at)
                 VALUES (?1,?2,?3,'main',1,1,'active',?4,1,?5,?6,?7,?7,?8,?9)",
            )?;
            let mut ins_m = tx.prepare_cached(
                "INSERT INTO movement_log(id, event_id, folder_id, location_id, action_word, device_word, staff_word, read_at, received_at, raw, symbology_word, method_word)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8,?9,?10,?11)",
            )?;
            let end = (f + chunk).min(folders + 1);
            for fid in f..end {
                let pid = (fid - 1) % n_patients + 1;
                // a synthetic unique 10-digit identifier stands in for the CHI at this scale
                ins_p.execute(params![
                    pid as i64,
                    format!("{:010}", 1_000_000_000 + pid),
                    format!("FAM{}", pid % 5000),
                    "Given",
                    format!("FAM{}", pid % 5000),
                    "1970-01-01",
                    "female",
                    now
                ])?;
                let barcode = scheme.format(fid).text;
                let raw = format!("]C0{barcode}");
                let mut t = start + rng.gen_range(0..DAY);
                let mut loc = 1i64;
                let mut action = "seen";
                for k in 0..per_folder {
                    loc = if k % 2 == 0 {
                        rng.gen_range(2..=(WARDS as i64 + 1))
                    } else {
                        1
                    };
                    action = if k % 2 == 0 { "receive" } else { "seen" };
                    let mut id = [0u8; 16];
                    id[..8].copy_from_slice(&next_movement.to_be_bytes());
                    rng.fill(&mut id[8..]);
                    ins_m.execute(params![
                        next_movement,
                        &id[..],
                        fid as i64,
                        loc,
                        word[action],
                        word["bench-loader"],
                        word["S00042"],
                        t,
                        raw,
                        word["code128"],
                        word["barcode"]
                    ])?;
                    next_movement += 1;
                    t += rng.gen_range(1..(300 / per_folder as i64).max(2)) * DAY / 10 + 1;
                }
                ins_f.execute(params![
                    fid as i64,
                    barcode,
                    pid as i64,
                    "00-00-00",
                    next_movement - 1,
                    loc,
                    t,
                    action,
                    now
                ])?;
            }
            f = end;
        }
        tx.commit()?;
        eprint!(
            "\rpopulating: {} / {} folders, {} movements ({:.0}s)",
            f - 1,
            folders,
            next_movement - 1,
            t0.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    // (no ANALYZE: a hospital's database has no planner statistics, see `drop_statistics`)
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

pub fn page_size(db: &Path) -> Result<i64> {
    let c = Connection::open(db)?;
    Ok(c.query_row("PRAGMA page_size", [], |r| r.get(0))?)
}

pub fn counts(db: &Path) -> Result<(u64, u64)> {
    let c = Connection::open(db)?;
    let f: i64 = c.query_row("SELECT count(*) FROM folders", [], |r| r.get(0))?;
    let m: i64 = c
        .query_row("SELECT max(id) FROM movements", [], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .unwrap_or(0);
    Ok((f as u64, m as u64))
}

pub fn serve_child(
    db: &Path,
    listen: Option<&str>,
    port_file: Option<&Path>,
    hl7: bool,
) -> Result<()> {
    let mut cfg = Config::default();
    cfg.database.path = db.to_path_buf();
    if hl7 {
        cfg.hl7.listen = Some("127.0.0.1:0".into());
        cfg.hl7.locations = tracker_server::hl7::simulated_pas::demo_locations();
    }
    let dbh = Db::open(db, cfg.database.readers)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let at = listen.unwrap_or("127.0.0.1:0");
        let listener = tokio::net::TcpListener::bind(at)
            .await
            .with_context(|| format!("cannot listen on {at}"))?;
        let state = AppState::new(dbh, cfg);
        if hl7 {
            let addr = state.hl7_addr.clone();
            let file = port_file.map(hl7_port_file);
            tokio::spawn(async move {
                loop {
                    if let Some(a) = addr.get() {
                        if let Some(file) = &file {
                            let _ = std::fs::write(file, a.port().to_string());
                        }
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }
        if let Some(port_file) = port_file {
            std::fs::write(port_file, listener.local_addr()?.port().to_string())?;
        }
        tracker_server::serve(listener, state, std::future::pending()).await?;
        anyhow::Ok(())
    })
}

/// The command that runs the real server (this binary's `serve-child`) on `db`, listening on
/// `listen`.
pub fn serve_child_command(
    db: &Path,
    listen: std::net::SocketAddr,
) -> Result<std::process::Command> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(["serve-child", "--db"])
        .arg(db)
        .arg("--listen")
        .arg(listen.to_string())
        .env("CASENOTE_LOG", "warn");
    Ok(cmd)
}

/// Start the real server (this binary's `serve-child`) on `db`; returns the child and its port.
pub fn start_server_child(db: &Path) -> Result<(std::process::Child, u16)> {
    let (child, port, _) = spawn_server(
        &std::env::current_exe()?,
        db,
        Duration::from_secs(60),
        &mut |_| {},
    )?;
    Ok((child, port))
}

/// Markdown built from continued string lines keeps their indentation; strip it.
pub fn dedent(s: String) -> String {
    s.lines()
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

pub fn rss_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// A folder for the next scan: from the active set if there is one, else any folder.
pub fn pick_folder(rng: &mut StdRng, folders: u64, active: &[u64]) -> u64 {
    if active.is_empty() {
        rng.gen_range(1..=folders)
    } else {
        active[rng.gen_range(0..active.len())]
    }
}

pub fn active_set(folders: u64, n: u64) -> Vec<u64> {
    let mut rng = StdRng::seed_from_u64(5);
    (0..n.min(folders))
        .map(|_| rng.gen_range(1..=folders))
        .collect()
}

pub fn make_event(
    rng: &mut StdRng,
    folders: u64,
    active: &[u64],
    scheme: &casenote_core::identifiers::FolderIdScheme,
    t: i64,
) -> Value {
    let fid = pick_folder(rng, folders, active);
    json!({
        // bridges make time-ordered UUIDv7 ids (firmware-bridge events.rs)
        "event_id": uuid::Uuid::now_v7().to_string(),
        "device_id": "bench-bridge",
        "staff_id": "S00042",
        "read_at": chrono::DateTime::from_timestamp_millis(t).unwrap_or_default().to_rfc3339(),
        "raw": format!("]C0{}", scheme.format(fid).text),
        "method": "barcode",
        "location": format!("LWARD{}", rng.gen_range(1..=WARDS)),
        "action": "seen",
    })
}

/// A folder seen at a place, as a bridge sends it: scanned by `device` (carried by the bench's
/// registered badge) at `read_ms` (milliseconds since the epoch).
pub fn scan_event(
    event_id: &uuid::Uuid,
    device: &str,
    read_ms: i64,
    barcode: &str,
    location: &str,
) -> Value {
    json!({
        "event_id": event_id.to_string(),
        "device_id": device,
        "staff_id": BADGE,
        "read_at": chrono::DateTime::from_timestamp_millis(read_ms).unwrap_or_default().to_rfc3339(),
        "raw": format!("]C0{barcode}"),
        "method": "barcode",
        "location": location,
        "action": "seen",
    })
}

/// The staff badge the benchmarks' scans carry (registered with [`register_badge`]).
pub const BADGE: &str = "S00042";

/// Register the benchmarks' badge, so that the server accepts their scans.
pub fn register_badge(c: &Connection) -> Result<()> {
    tracker_server::ledger::staff::register(c, BADGE, "Bench Porter")?;
    Ok(())
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    format!("{cpu}, {cores} cores, {} GiB RAM", mem / 1024 / 1024)
}

/// Drop the planner statistics that ANALYZE leaves (`sqlite_stat1`, `sqlite_stat4`): the
/// server never runs ANALYZE, so a hospital's database has none, and the benchmark must plan
/// its queries as the hospital's does. (Databases built by older versions of this benchmark
/// had them, taken when every folder was in the library: with them SQLite scanned all folders
/// for the out-of-library figures and all patients for an HL7 admission, and re-prepared
/// statements for every new bound value.)
pub fn drop_statistics(c: &Connection) -> Result<()> {
    for t in ["sqlite_stat1", "sqlite_stat4"] {
        let has: bool = c.query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_schema WHERE name = ?1)",
            [t],
            |r| r.get(0),
        )?;
        if has {
            c.execute_batch(&format!("DROP TABLE {t}"))?;
        }
    }
    Ok(())
}

pub fn hl7_port_file(port_file: &Path) -> PathBuf {
    port_file.with_extension("port.hl7")
}

/// Wait until the server child `child`, spawned at `spawned`, has written its port to `file`;
/// at most `timeout`, calling `waiting` with its process id while it waits.
pub fn wait_for_port(
    child: &mut std::process::Child,
    file: &Path,
    spawned: Instant,
    timeout: Duration,
    waiting: &mut dyn FnMut(u32),
) -> Result<u16> {
    loop {
        if let Ok(p) = std::fs::read_to_string(file) {
            if let Ok(p) = p.trim().parse::<u16>() {
                return Ok(p);
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("the server exited while starting: {status}");
        }
        if spawned.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the server did not start");
        }
        waiting(child.id());
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Start the real server with its HL7 listener; returns the child, its HTTP and HL7 ports.
pub fn start_server_child_with_hl7(db: &Path) -> Result<(std::process::Child, u16, u16)> {
    let port_file = db.with_extension("port");
    let _ = std::fs::remove_file(&port_file);
    let _ = std::fs::remove_file(hl7_port_file(&port_file));
    let spawned = Instant::now();
    let mut child = spawn_serve_child(&std::env::current_exe()?, db, &port_file, &["--hl7"])?;
    // (a first start may upgrade a large database: minutes)
    let timeout = Duration::from_secs(600);
    let port = wait_for_port(&mut child, &port_file, spawned, timeout, &mut |_| {})?;
    let hl7 = wait_for_port(
        &mut child,
        &hl7_port_file(&port_file),
        spawned,
        timeout,
        &mut |_| {},
    )?;
    Ok((child, port, hl7))
}

/// Spawn `exe serve-child` (with `extra` arguments) on `db`, writing its port to `port_file`
/// once it listens; quiet but for warnings.
fn spawn_serve_child(
    exe: &Path,
    db: &Path,
    port_file: &Path,
    extra: &[&str],
) -> Result<std::process::Child> {
    std::process::Command::new(exe)
        .arg("serve-child")
        .args(extra)
        .arg("--db")
        .arg(db)
        .arg("--port-file")
        .arg(port_file)
        .env("CASENOTE_LOG", "warn")
        .spawn()
        .context("starting the server child")
}

/// Start `exe serve-child` on `db` and wait until it listens (it writes its port then), at most
/// `timeout`, calling `waiting` with its process id while it waits; returns the child, its port
/// and how long it took from the spawn.
pub fn spawn_server(
    exe: &Path,
    db: &Path,
    timeout: Duration,
    waiting: &mut dyn FnMut(u32),
) -> Result<(std::process::Child, u16, Duration)> {
    let port_file = db.with_extension("port");
    let _ = std::fs::remove_file(&port_file);
    let t_start = Instant::now();
    let mut child = spawn_serve_child(exe, db, &port_file, &[])?;
    let port = wait_for_port(&mut child, &port_file, t_start, timeout, waiting)?;
    Ok((child, port, t_start.elapsed()))
}

/// CPU time (user + system) a process has used so far, in milliseconds, from `/proc/PID/stat`
/// (`utime` and `stime`, in the kernel's fixed user-visible 100 Hz ticks).
pub fn cpu_ms(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // the command name in parentheses may hold spaces: count fields after it
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(ticks as f64 * 10.0)
        })
        .unwrap_or(0.0)
}

/// Post one batch of scan events (a JSON body) as a bridge does: how many were stored.
pub async fn post_batch(
    client: &reqwest::Client,
    base: &str,
    device: &str,
    body: Vec<u8>,
) -> Result<u64> {
    let r = client
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(device)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("ingest failed: {}", r.text().await?);
    }
    let v: Value = r.json().await?;
    Ok(v["stored"].as_u64().unwrap_or(0))
}

/// min / median / max of a list of figures.
pub fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => (f64::NAN, f64::NAN, f64::NAN),
        n => (v[0], v[n / 2], v[n - 1]),
    }
}
