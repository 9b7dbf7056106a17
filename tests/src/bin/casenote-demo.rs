//! `casenote-demo`: the demo hospital with live, simulated devices.
//!
//! It creates (or reuses) the demo database, starts the real tracking server on
//! `127.0.0.1:8080`, and runs the firmware-bridge simulator in the same process: a porter's
//! line scanner at Ward 5, a Zebra SSI scanner at the library issue desk and an R2000 RFID
//! portal on the Ward 5 door, each on a pseudo-terminal, read by a real bridge that delivers to
//! the server. Every simulated scan is printed, and so is every movement the server stores.
//!
//! A simulated patient administration system (PAS) sends admissions, transfers, discharges and
//! clinic bookings over MLLP to the server's own HL7 listener (`--hl7-listen`, default
//! 127.0.0.1:2575), in the shapes real feeds use; each message and its ACK are printed, and the
//! notes requests they raise appear on the library desk.
//!
//! `cargo run --release -p casenote-e2e --bin casenote-demo` (add `--reset` to start again,
//! `--seconds N` to stop by itself). Ctrl-C stops it cleanly: the bridge delivers what it
//! has queued, then the server shuts down.

use anyhow::{Context, Result};
use clap::Parser;
use firmware_bridge::{bridge::Bridge, simulate};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracker_server::{
    app::AppState,
    audit,
    auth::{self, Principal, Role},
    config::Config,
    demo,
    hl7::{client::MllpClient, simulated_pas},
    storage::Db,
};

/// The GS1 company prefix of the demo board (RFID tags on folders are GIAI-96 under it).
const DEMO_GS1_PREFIX: &str = "0614141";

#[derive(Parser)]
#[command(
    name = "casenote-demo",
    about = "Casenote Tracker demo: the server with simulated scanners and an RFID portal"
)]
struct Cli {
    /// Start again with a fresh demo database (and an empty bridge queue).
    #[arg(long)]
    reset: bool,
    /// Address the server listens on (port 0: any free port).
    #[arg(long, env = "CASENOTE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The demo database.
    #[arg(
        long,
        env = "CASENOTE_DATABASE",
        default_value = "demo-data/casenote-demo.db"
    )]
    database: PathBuf,
    /// Patients to create in a fresh database.
    #[arg(long, default_value_t = 3000)]
    patients: usize,
    /// Stop after this many seconds of simulated activity (default: run until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
    /// Average seconds between simulated activities.
    #[arg(long, default_value_t = 2.0)]
    pace: f64,
    /// Address of the HL7 (MLLP) listener that the simulated PAS sends to (port 0: any free
    /// port). An interface engine or `mllp_send` can send to it too.
    #[arg(long, env = "CASENOTE_HL7_LISTEN", default_value = "127.0.0.1:2575")]
    hl7_listen: String,
}

/// Device ids the simulator uses (see `firmware_bridge::simulate::SimRig`).
const SIM_DEVICES: &str = "'ward5-porter-scanner','library-ssi','ward5-portal'";

fn main() -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CASENOTE_LOG")
        .unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut cfg = Config::load(None)?;
    cfg.database.path = cli.database.clone();
    cfg.server.listen = cli.listen.clone();
    cfg.hl7.listen = Some(cli.hl7_listen.clone());
    for (pas, loc) in simulated_pas::demo_locations() {
        cfg.hl7.locations.entry(pas).or_insert(loc);
    }
    if cfg.identifiers.gs1_company_prefix.is_none() {
        cfg.identifiers.gs1_company_prefix = Some(DEMO_GS1_PREFIX.into());
    }
    let db_path = cfg.database.path.clone();
    if let Some(dir) = db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let queue_path = queue_path_for(&db_path);
    if cli.reset {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db_path.display()));
            let _ = std::fs::remove_file(format!("{}{ext}", queue_path.display()));
        }
    }
    let fresh = !db_path.exists();
    let db = Db::open(&db_path, cfg.database.readers)
        .with_context(|| format!("opening database {}", db_path.display()))?;
    if fresh {
        eprintln!("creating demo data in {} ...", db_path.display());
        let s = demo::seed(&db, &cfg.identifiers, cli.patients, 2026)?;
        eprintln!(
            "demo data: {} patients, {} folders, {} movements over the last week",
            s.patients, s.folders, s.movements
        );
    }
    // The demo porters' badges (also for a demo database made by an earlier release).
    db.write_blocking(|c| {
        for (badge, name) in demo::DEMO_STAFF {
            tracker_server::ledger::staff::register(c, badge, name)?;
        }
        Ok(())
    })?;
    // A device token for the simulated bridge (shown nowhere; only its hash is stored).
    let token = auth::new_token("ct_");
    let name = format!("demo-simulator-{}", tracker_server::util::now_ms());
    let (t, n) = (token.clone(), name.clone());
    db.write_blocking(move |c| {
        auth::insert_api_token(c, &n, Role::Device, &t)?;
        audit::record(
            c,
            &Principal::system(),
            "token.create",
            None,
            None,
            &format!("token {n} as device"),
        )
    })?;
    // Scan folders that exist in the demo data.
    let folders: Vec<u64> = db.read_blocking(|c| {
        let mut st =
            c.prepare("SELECT id FROM folders WHERE status = 'active' ORDER BY id LIMIT 500")?;
        let ids = st
            .query_map([], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ids.into_iter().map(|i| i as u64).collect())
    })?;
    anyhow::ensure!(
        !folders.is_empty(),
        "the demo database has no active folders"
    );
    let start_movement: i64 = db.read_blocking(|c| {
        Ok(
            c.query_row("SELECT coalesce(max(id), 0) FROM movements", [], |r| {
                r.get(0)
            })?,
        )
    })?;

    let rt = tokio::runtime::Runtime::new()?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(&cfg.server.listen))
        .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    println!("Casenote Tracker demo listening on http://{addr}");
    println!("  sign in (password {:?}):", demo::DEMO_PASSWORD);
    for (u, name, role) in demo::DEMO_USERS {
        println!("    {u:<10} {:<16} {name}", role.as_str());
    }
    println!(
        "  where is a folder: http://{addr}/  (sign in, then look up e.g. a barcode printed below)"
    );
    println!("  simulated devices deliver through a real bridge; Ctrl-C stops");

    let stop = simulate::stop_flag();
    let opts = simulate::SimOptions {
        server_url: format!("http://{addr}"),
        token,
        queue_path,
        duration: cli.seconds.map(Duration::from_secs),
        pace_s: cli.pace,
        company_prefix: cfg
            .identifiers
            .gs1_company_prefix
            .clone()
            .unwrap_or_else(|| DEMO_GS1_PREFIX.into()),
        folders,
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let sim_stop = stop.clone();
    let sim =
        std::thread::Builder::new()
            .name("simulator".into())
            .spawn(move || -> Result<()> {
                let r = run_simulator(&opts, &sim_stop);
                let _ = done_tx.send(());
                r
            })?;
    let stored = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (db, finished, stored) = (db.clone(), finished.clone(), stored.clone());
        std::thread::Builder::new()
            .name("watcher".into())
            .spawn(move || watch_movements(&db, start_movement, &finished, &stored))?
    };
    let pas_patients = db.read_blocking(|c| simulated_pas::SimulatedPas::patients_from(c, 300))?;
    let state = AppState::new(db, cfg);
    let pas = {
        let (addr, stop, pace) = (state.hl7_addr.clone(), stop.clone(), cli.pace);
        std::thread::Builder::new()
            .name("simulated-pas".into())
            .spawn(move || run_pas(&addr, pas_patients, &stop, pace))?
    };
    let signal_stop = stop.clone();
    rt.block_on(async move {
        tokio::spawn(async move {
            shutdown_signal().await;
            eprintln!("stopping: delivering what the bridge has queued ...");
            signal_stop.store(true, Ordering::Relaxed);
        });
        tracker_server::serve(listener, state, async move {
            let _ = done_rx.await;
        })
        .await
    })?;
    stop.store(true, Ordering::Relaxed);
    let _ = pas.join();
    let sim_result = sim
        .join()
        .map_err(|_| anyhow::anyhow!("the simulator panicked"))?;
    finished.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    rt.shutdown_timeout(Duration::from_secs(2));
    println!(
        "movements stored from the simulated devices this run: {}",
        stored.load(Ordering::Relaxed)
    );
    sim_result
}

/// The simulated PAS: one MLLP connection to the server's listener, a message every few
/// seconds, each printed with its acknowledgement.
fn run_pas(
    addr: &std::sync::OnceLock<std::net::SocketAddr>,
    patients: Vec<simulated_pas::PasPatient>,
    stop: &AtomicBool,
    pace: f64,
) {
    let wait = |d: Duration| {
        let until = Instant::now() + d;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let addr = loop {
        if let Some(a) = addr.get() {
            break *a;
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("  simulated PAS sending HL7 (ADT, SIU) over MLLP to {addr}");
    let mut pas = simulated_pas::SimulatedPas::new(patients, 2026);
    let mut client = None;
    while !stop.load(Ordering::Relaxed) {
        if client.is_none() {
            match MllpClient::connect(addr, Duration::from_secs(5)) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    eprintln!("simulated PAS: {e}; retrying");
                    wait(Duration::from_secs(1));
                    continue;
                }
            }
        }
        let m = pas.next_message();
        let Some(c) = client.as_mut() else { continue };
        match c.send(&m.bytes) {
            Ok(ack) => {
                let ack = String::from_utf8_lossy(&ack);
                let (code, text) = tracker_server::hl7::ack::read(&ack).unwrap_or_default();
                println!("    [PAS] {} -> {code} {text}", m.summary);
            }
            Err(e) => {
                if !stop.load(Ordering::Relaxed) {
                    eprintln!("simulated PAS: {e}; reconnecting");
                }
                client = None;
            }
        }
        wait(Duration::from_secs_f64((pace * 2.0).max(0.2)));
    }
}

fn queue_path_for(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "casenote-demo".into());
    db.with_file_name(format!("{stem}-bridge-queue.sqlite3"))
}

/// Simulated devices and a bridge until stopped; then let the bridge deliver what it holds.
fn run_simulator(opts: &simulate::SimOptions, stop: &AtomicBool) -> Result<()> {
    let mut rig = simulate::SimRig::new(opts)?;
    rig.config.bridge_id = "demo-simulator".into();
    rig.config.heartbeat_interval_s = 10;
    let bridge = Bridge::start(rig.config.clone())?;
    let drive = rig.drive(opts, stop);
    // The portal decides a passage after its exit gap: give it time, then drain the queue.
    let until = Instant::now() + Duration::from_secs(10);
    std::thread::sleep(Duration::from_millis(1200));
    while Instant::now() < until && bridge.queue.depth().unwrap_or(0) > 0 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = bridge.queue.stats()?;
    if s.depth > 0 || s.dead_letters > 0 {
        eprintln!(
            "bridge queue at the end: {} waiting, {} dead letters",
            s.depth, s.dead_letters
        );
    }
    bridge.shutdown();
    drive?;
    Ok(())
}

/// Print each movement the server stores from the simulated devices, as it arrives.
fn watch_movements(db: &Db, mut last: i64, finished: &AtomicBool, stored: &AtomicU64) {
    let sql = format!(
        "SELECT m.id, m.device_id, m.raw, m.action, l.code, d.code
           FROM movements m JOIN locations l ON l.id = m.location_id
           LEFT JOIN locations d ON d.id = m.destination_id
          WHERE m.id > ?1 AND m.device_id IN ({SIM_DEVICES}) ORDER BY m.id"
    );
    type Row = (i64, String, String, String, String, Option<String>);
    let poll = |last: &mut i64| {
        let rows: Vec<Row> = db
            .read_blocking(|c| {
                let mut st = c.prepare_cached(&sql)?;
                let rows = st
                    .query_map([*last], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<Row>>>()?;
                Ok(rows)
            })
            .unwrap_or_default();
        for (id, device, raw, action, loc, dest) in rows {
            *last = id;
            stored.fetch_add(1, Ordering::Relaxed);
            let to = dest.map(|d| format!(" -> {d}")).unwrap_or_default();
            println!("    server stored: {raw} {action} at {loc}{to} (from {device})");
        }
    };
    while !finished.load(Ordering::Relaxed) {
        poll(&mut last);
        std::thread::sleep(Duration::from_millis(300));
    }
    poll(&mut last);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
