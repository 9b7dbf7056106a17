//! `casenote-bench`: measures the tracking server at hospital scale and prints the figures.
//!
//! `casenote-bench server --folders 1000000 --movements 10000000` builds (once, cached) a
//! database with that many folders and movements, starts the real server in a child process,
//! then measures over HTTP: batched ingest (events/s), where-is latency (p50/p99), and the
//! server's peak RSS. In the same run it measures a raw rusqlite batched-insert baseline of the
//! same ledger work without HTTP, so the two can be compared.

mod footprint;
mod mixed;

/// The memory allocator: mimalloc rather than the C library's. Under load the benchmark (whose child processes run the server)
/// allocates and frees on many threads at once (page buffers, HTTP bodies, JSON); the C
/// library's allocator spent a fifth of the processor time of a where-is lookup in its own
/// bookkeeping and kept freed memory per thread (docs/benchmarks.md, "Many readers").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use casenote_bench::support::*;
use casenote_bench::{hl7, soak};

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tracker_server::auth;

#[derive(Parser)]
#[command(name = "casenote-bench", about = "Benchmarks that print figures")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ingest and where-is over HTTP against a large database.
    Server {
        #[arg(long, default_value_t = 1_000_000)]
        folders: u64,
        #[arg(long, default_value_t = 10_000_000)]
        movements: u64,
        /// Database file (built once and reused; delete it to rebuild).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Events to ingest over HTTP.
        #[arg(long, default_value_t = 200_000)]
        ingest_events: u64,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Parallel HTTP clients for ingest.
        #[arg(long, default_value_t = 2)]
        clients: usize,
        /// Where-is lookups.
        #[arg(long, default_value_t = 20_000)]
        lookups: u64,
        /// Scans go to this many randomly chosen folders (the day's moving folders); 0 spreads
        /// them uniformly over every folder (the worst case for the database's caches).
        #[arg(long, default_value_t = 0)]
        active_folders: u64,
        /// Rounds of HTTP ingest then the raw ceiling, each with a fresh server; the figures
        /// are min / median / max over the rounds, the share of the ceiling taken per round.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Append the figures as a Markdown section to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// Only the raw rusqlite baseline (for tuning SQLite settings; extra PRAGMAs from
    /// CASENOTE_BENCH_PRAGMAS, e.g. "PRAGMA wal_autocheckpoint=10000;").
    Baseline {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// Only the many-readers measure, on an existing benchmark database: audited where-is
    /// lookups from `--clients` concurrent clients (for profiling the lookup path).
    Readers {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 20_000)]
        lookups: u64,
        /// Measure this many times, one after another, on the same server.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Everything, as one command: server at scale, bridge latency, RFID and label throughput.
    /// Writes the figures to `--markdown` (default docs/benchmarks.md).
    All {
        #[arg(long, default_value_t = 5_000_000)]
        folders: u64,
        #[arg(long, default_value_t = 50_000_000)]
        movements: u64,
        #[arg(long, default_value = "docs/benchmarks.md")]
        markdown: PathBuf,
    },
    /// HL7 over MLLP: messages a second on one connection, each ACKed and applied, beside the
    /// parse-only rate of the same messages.
    Hl7 {
        /// Messages per run.
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Runs (the report gives min / median / max).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Patients in the seeded demo hospital.
        #[arg(long, default_value_t = 2_000)]
        patients: usize,
        /// Append the figures as a Markdown section to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// Everything at once against the large database: bridges with bursts, web users doing
    /// where-is, an HL7 feed, pull lists for many clinics, the statistics page (see
    /// docs/benchmarks.md, "Mixed load").
    Mixed {
        #[arg(long, default_value_t = 5_000_000)]
        folders: u64,
        #[arg(long, default_value_t = 50_000_000)]
        movements: u64,
        /// How long the load runs.
        #[arg(long, default_value_t = 5.0)]
        minutes: f64,
        /// Steady scans a second from all bridges together.
        #[arg(long, default_value_t = 500)]
        events_per_sec: u32,
        /// Scans in one burst (a bridge emptying its offline queue); 0 for none.
        #[arg(long, default_value_t = 5_000)]
        burst: u32,
        /// Seconds between bursts.
        #[arg(long, default_value_t = 60)]
        burst_every_secs: u64,
        /// Signed-in web users looking folders up, each with 1-5 s think time.
        #[arg(long, default_value_t = 200)]
        web_users: u32,
        /// HL7 messages a second on one MLLP connection.
        #[arg(long, default_value_t = 50)]
        hl7_per_sec: u32,
        /// Clinics whose pull lists are built at the same moment, once a minute.
        #[arg(long, default_value_t = 60)]
        clinics: u32,
        /// Append the figures as a Markdown section to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// Bytes on disk per movement and per folder, and the server's start-up time. A database
    /// at an older schema is measured, upgraded (the first start of this build migrates it;
    /// that start is timed) and measured again: use a copy.
    Footprint {
        /// The database; built like the server benchmark's if it does not exist.
        #[arg(long)]
        db: PathBuf,
        /// Folders and movements of a database built here.
        #[arg(long, default_value_t = 300_000)]
        folders: u64,
        #[arg(long, default_value_t = 3_000_000)]
        movements: u64,
        /// Starts timed (the report gives min / median / max).
        #[arg(long, default_value_t = 3)]
        starts: usize,
        /// A `casenote-bench` built from the release that wrote the database, to time the
        /// server's starts before the upgrade.
        #[arg(long)]
        before_exe: Option<PathBuf>,
        /// Append the figures as a Markdown section to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// Soak: scans at a steady rate for a long time while the server is SIGKILLed and restarted
    /// at intervals; then checks that nothing was lost or doubled and that the server's memory
    /// stayed flat. Exits non-zero if not.
    ///
    /// Simulated bridges send the scans as firmware-bridge does (UUIDv7 event ids, a queue that
    /// keeps each event until the server answers for it, retries with backoff, answers dropped
    /// now and then so that batches are sent again). The server is a child process on the same
    /// database throughout, killed mid-request. After the run the database must hold every
    /// event sent exactly once, as sent, and no other movement of the run's devices; every
    /// scanned folder must be where its last scan put it; the audit chain must verify; the
    /// server must not have exited unless killed. Memory (VmRSS every second) is flat if, in
    /// every life of at least three windows (a window: a minute, or a quarter of the kill
    /// interval if shorter), the median over the last window is within --max-growth-pct or
    /// --max-growth-mb of the median over the window after the warm-up, and no life ends more
    /// than that above the first.
    Soak {
        /// How long scans are sent, in minutes.
        #[arg(long, default_value_t = 30.0)]
        minutes: f64,
        /// Scans a second, over all bridges.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// SIGKILL the server this often, in seconds (0: never), and start it again.
        #[arg(long, default_value_t = 300)]
        kill_every_secs: u64,
        /// Seconds the server stays dead before it is started again (a service manager's
        /// restart delay).
        #[arg(long, default_value_t = 2.0)]
        down_secs: f64,
        /// Database (built with `--folders` folders if it does not exist). Default: a fresh one
        /// in a temporary directory, removed afterwards.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Folders in a database the soak builds (ten movements each).
        #[arg(long, default_value_t = 5_000)]
        folders: u64,
        /// Simulated bridges sharing the rate, each with its own token and device.
        #[arg(long, default_value_t = 5)]
        bridges: usize,
        /// Every this many answered batches of a bridge, drop the answer as if lost, so the
        /// batch is sent again (0: never).
        #[arg(long, default_value_t = 25)]
        lost_ack_every: u32,
        /// Memory is flat if it grows by at most this many per cent ...
        #[arg(long, default_value_t = 10.0)]
        max_growth_pct: f64,
        /// ... or this many MB, whichever is larger.
        #[arg(long, default_value_t = 8.0)]
        max_growth_mb: f64,
        /// Append the report as a Markdown section to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// (internal) run the server on a database; used as the measured child process.
    ServeChild {
        #[arg(long)]
        db: PathBuf,
        /// Address to listen on (default: a free port on 127.0.0.1).
        #[arg(long)]
        listen: Option<String>,
        /// Write the port here once listening.
        #[arg(long)]
        port_file: Option<PathBuf>,
        /// Also listen for HL7 (the simulated PAS's locations); its port goes to
        /// `<port-file>.hl7`.
        #[arg(long)]
        hl7: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::ServeChild {
            db,
            listen,
            port_file,
            hl7,
        } => serve_child(&db, listen.as_deref(), port_file.as_deref(), hl7),
        Cmd::Soak {
            minutes,
            rate,
            kill_every_secs,
            down_secs,
            db,
            folders,
            bridges,
            lost_ack_every,
            max_growth_pct,
            max_growth_mb,
            markdown,
        } => {
            let tmp = tempfile::tempdir()?;
            let db_path = db.clone().unwrap_or_else(|| tmp.path().join("soak.db"));
            let mut o = soak::Options::new(db_path, Box::new(serve_child_command));
            o.duration = Duration::from_secs_f64(minutes * 60.0);
            o.rate = rate;
            o.kill_every = Duration::from_secs(kill_every_secs);
            o.down = Duration::from_secs_f64(down_secs);
            o.folders = folders;
            o.bridges = bridges;
            o.lost_ack_every = lost_ack_every;
            o.max_growth_pct = max_growth_pct;
            o.max_growth_mb = max_growth_mb;
            o.command = format!(
                "cargo run --release -p casenote-bench -- soak --minutes {minutes} --rate {rate} --kill-every-secs {kill_every_secs} --down-secs {down_secs}{}{} --bridges {bridges} --lost-ack-every {lost_ack_every}",
                db.as_ref()
                    .map(|d| format!(" --db {}", d.display()))
                    .unwrap_or_default(),
                if db.is_none() {
                    format!(" --folders {folders}")
                } else {
                    String::new()
                }
            );
            let report = soak::run(&o)?;
            println!("{}", report.markdown());
            append_markdown(markdown.as_deref(), report.markdown())?;
            report.verdict()
        }
        Cmd::Mixed {
            folders,
            movements,
            minutes,
            events_per_sec,
            burst,
            burst_every_secs,
            web_users,
            hl7_per_sec,
            clinics,
            markdown,
        } => {
            let opts = Opts {
                active_folders: 0,
                folders,
                movements,
                db: cache_dir().join(format!("bench-{folders}-{movements}.db")),
                ingest_events: 0,
                batch: 1000,
                clients: 1,
                lookups: 0,
                rounds: 1,
            };
            ensure_built(&opts)?;
            let report = mixed::run(
                &opts.db,
                &mixed::MixedOpts {
                    minutes,
                    events_per_sec,
                    burst,
                    burst_every_secs,
                    web_users,
                    hl7_per_sec,
                    clinics,
                },
            )?;
            println!("{report}");
            append_markdown(markdown.as_deref(), &report)
        }
        Cmd::All {
            folders,
            movements,
            markdown,
        } => {
            let db = cache_dir().join(format!("bench-{folders}-{movements}.db"));
            let mut opts = Opts {
                active_folders: 0,
                folders,
                movements,
                db: db.clone(),
                ingest_events: 200_000,
                batch: 1000,
                clients: 2,
                lookups: 20_000,
                rounds: 3,
            };
            let mut server = run_server_bench(&opts)?;
            // the same with scans going to a day's worth of moving folders
            opts.active_folders = 20_000;
            server += &run_server_bench(&opts)?;
            println!("{server}");
            let e2e = e2e_latency(&db, 200, 30)?;
            println!("{e2e}");
            let parts = component_benches()?;
            println!("{parts}");
            let hl7 = hl7::run(10_000, 3, 2_000)?;
            println!("{hl7}");
            // everything at once on the same database, its footprint, then the soak
            let mixed = mixed::run(
                &db,
                &mixed::MixedOpts {
                    minutes: 5.0,
                    events_per_sec: 500,
                    burst: 5_000,
                    burst_every_secs: 60,
                    web_users: 200,
                    hl7_per_sec: 50,
                    clinics: 60,
                },
            )?;
            println!("{mixed}");
            let footprint = footprint::run(&db, 3, None)?;
            println!("{footprint}");
            let tmp = tempfile::tempdir()?;
            let mut so =
                soak::Options::new(tmp.path().join("soak.db"), Box::new(serve_child_command));
            so.command = "cargo run --release -p casenote-bench -- soak --minutes 30 --rate 500 --kill-every-secs 300".into();
            let soaked = soak::run(&so)?;
            println!("{}", soaked.markdown());
            let generated = format!(
                "Measured {} on {}. Command (this part of the page): `cargo run --release -p casenote-bench -- all --folders {folders} --movements {movements}`\n\n{server}\n{e2e}\n{parts}\n{hl7}\n{mixed}\n{footprint}\n{}",
                chrono::Utc::now().format("%Y-%m-%d"),
                machine(),
                soaked.markdown()
            );
            write_generated(&markdown, &generated)?;
            eprintln!("written to {}", markdown.display());
            soaked.verdict()
        }
        Cmd::Footprint {
            db,
            folders,
            movements,
            starts,
            before_exe,
            markdown,
        } => {
            if !db.exists() {
                eprintln!(
                    "building {} ({folders} folders, {movements} movements)",
                    db.display()
                );
                populate(&db, folders, movements)?;
            }
            let report = footprint::run(&db, starts.max(1), before_exe.as_deref())?;
            println!("{report}");
            append_markdown(markdown.as_deref(), &report)
        }
        Cmd::Hl7 {
            messages,
            runs,
            patients,
            markdown,
        } => {
            let report = hl7::run(messages, runs.max(1), patients)?;
            println!("{report}");
            append_markdown(markdown.as_deref(), &report)
        }
        Cmd::Readers {
            db,
            clients,
            lookups,
            runs,
        } => {
            let (folders, _) = counts(&db)?;
            let library = auth::new_token("ct_");
            {
                let c = Connection::open(&db)?;
                c.execute("DELETE FROM api_tokens WHERE name = 'bench-readers'", [])?;
                auth::insert_api_token(&c, "bench-readers", auth::Role::Library, &library)?;
            }
            let (mut child, port) = start_server_child(&db)?;
            let pid = child.id();
            let base = format!("http://127.0.0.1:{port}");
            let rt = tokio::runtime::Runtime::new()?;
            let result = rt.block_on(async {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(clients)
                    .build()?;
                for _ in 0..runs {
                    let r =
                        many_readers(&client, &base, &library, folders, clients, lookups, pid)
                            .await?;
                    println!(
                        "{} client(s): {:.0} lookups/s, p50 {:.2} / p99 {:.2} ms; CPU per lookup: server {:.0} µs, load generator {:.0} µs",
                        r.clients, r.rate, r.p50, r.p99, r.server_us, r.client_us
                    );
                }
                anyhow::Ok(())
            });
            let _ = child.kill();
            let _ = child.wait();
            result
        }
        Cmd::Baseline { db, events, batch } => {
            let (folders, _) = counts(&db)?;
            let (n, s) = raw_baseline(&db, folders, &[], events, batch)?;
            println!(
                "raw baseline: {n} events in {s:.2} s = {:.0} events/s",
                n as f64 / s
            );
            Ok(())
        }
        Cmd::Server {
            folders,
            movements,
            db,
            ingest_events,
            batch,
            clients,
            lookups,
            active_folders,
            rounds,
            markdown,
        } => {
            let db =
                db.unwrap_or_else(|| cache_dir().join(format!("bench-{folders}-{movements}.db")));
            let opts = Opts {
                active_folders,
                folders,
                movements,
                db,
                ingest_events,
                batch,
                clients,
                lookups,
                rounds,
            };
            let report = run_server_bench(&opts)?;
            println!("{report}");
            append_markdown(markdown.as_deref(), &report)
        }
    }
}

struct Opts {
    active_folders: u64,
    folders: u64,
    movements: u64,
    db: PathBuf,
    ingest_events: u64,
    batch: usize,
    clients: usize,
    lookups: u64,
    /// Rounds of HTTP ingest then the ceiling.
    rounds: usize,
}

/// Read-to-server-visible latency through a real bridge: a line scanner on a pseudo-terminal
/// sends `rate` folder scans a second for `seconds`; each scan's latency is the server's
/// `received_at` (stamped in the committing write transaction) minus the moment the scanner
/// wrote the line. Returns a Markdown section.
fn e2e_latency(db: &Path, rate: u32, seconds: u32) -> Result<String> {
    use firmware_bridge::config::{
        Config as BridgeConfig, DeviceConfig, DeviceTransport, Protocol, Role as DevRole,
    };
    let (folders, _) = counts(db)?;
    let device = auth::new_token("ct_");
    {
        let c = Connection::open(db)?;
        c.execute("DELETE FROM api_tokens WHERE name = 'bench-e2e'", [])?;
        auth::insert_api_token(&c, "bench-e2e", auth::Role::Device, &device)?;
    }
    let (mut child, port) = start_server_child(db)?;
    let dir = tempfile::tempdir()?;
    let mut port_sim = firmware_bridge::simulate::SimPort::new()?;
    let mut cfg = BridgeConfig {
        bridge_id: "bench-e2e".into(),
        server_url: format!("http://127.0.0.1:{port}"),
        token: device,
        queue_path: dir.path().join("queue.sqlite3"),
        heartbeat_interval_s: 0,
        ..Default::default()
    };
    let mut d = DeviceConfig::new(
        "bench-e2e-scanner",
        DevRole::Handheld,
        Protocol::Line,
        DeviceTransport::Serial(port_sim.serial()),
    );

    d.handheld.default_location = Some("LWARD1".into());
    d.handheld.repeat_suppress_ms = 0;
    cfg.devices.push(d);
    let bridge = firmware_bridge::bridge::Bridge::start(cfg)?;
    std::thread::sleep(Duration::from_millis(500)); // the bridge opens the device
    let scheme = casenote_core::identifiers::FolderIdScheme::default();
    let n = (rate * seconds) as u64;
    let offset = chrono::Utc::now().timestamp_millis() as u64 % (folders / 2).max(1);
    let mut sent: std::collections::HashMap<String, i64> = Default::default();
    let t0 = Instant::now();
    for i in 0..n {
        let due = Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
        let barcode = scheme.format((offset + i) % folders + 1).text;
        sent.insert(
            format!("]C0{barcode}"),
            chrono::Utc::now().timestamp_millis(),
        );
        port_sim.scan_line(&format!("]C0{barcode}"))?;
    }
    let c = Connection::open(db)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lat: Vec<i64> = Vec::new();
    while Instant::now() < deadline {
        let mut st = c.prepare("SELECT raw, received_at FROM movements WHERE device_id = 'bench-e2e-scanner' AND received_at >= ?1")?;
        let start_ms = sent.values().min().copied().unwrap_or(0);
        lat = st
            .query_map([start_ms], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .filter_map(|r| r.ok())
            .filter_map(|(raw, at)| sent.get(&raw).map(|s| at - s))
            .collect();
        if lat.len() as u64 >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bridge.shutdown();
    let _ = child.kill();
    let _ = child.wait();
    lat.sort();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(-1)
    };
    Ok(dedent(format!(
        "## Bridge to server: read-to-visible latency\n\n         A line scanner on a pseudo-terminal, read by a real firmware bridge (durable queue, fsync per scan), delivering over HTTP to the real server.\n\n         | measure | result | target |\n|---|---|---|\n         | scans sent / stored | {n} / {} at {rate} scans/s for {seconds} s | all |\n         | latency p50 / p99 / max | {} / {} / {} ms | p99 <= 250 ms at 200 events/s |\n",
        lat.len(), q(0.5), q(0.99), lat.last().copied().unwrap_or(-1)
    )))
}

/// RFID portal read handling and label rendering, one core each.
fn component_benches() -> Result<String> {
    let r = firmware_bridge::bench::run(2_000_000, 2_000);
    let stock =
        label_printer::LabelStock::parse("100x50", 203).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rows = String::new();
    for (format, n) in [
        (label_printer::Format::Zpl, 50_000usize),
        (label_printer::Format::Png, 2_000),
        (label_printer::Format::Svg, 10_000),
        (label_printer::Format::Pdf, 2_000),
    ] {
        let labels = label_printer::bench::bench_labels(n);
        let b = label_printer::bench::bench_format(format, &labels, &stock)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let target = match format {
            label_printer::Format::Zpl => ">= 50,000 labels/s",
            label_printer::Format::Png => ">= 1,000 labels/s",
            _ => "",
        };
        rows += &format!("| {format:?} folder labels, 100x50 mm at 203 dpi ({n}) | {:.0} labels/s | {target} |\n", b.labels_per_second());
    }
    Ok(dedent(format!(
        "## Bridge RFID handling and label rendering (one core)\n\n         | measure | result | target |\n|---|---|---|\n         | R2000 frame decoding + portal logic ({} reads, {} passages) | {:.0} reads/s | >= 100,000 reads/s |\n         | portal logic only | {:.0} reads/s | |\n{rows}",
        r.reads, r.movements, r.decode_and_portal_reads_per_s, r.portal_only_reads_per_s
    )))
}

/// Where `all` writes in the benchmarks page: between these two lines, so that the written
/// analysis around them stays.
const GENERATED_BEGIN: &str = "<!-- casenote-bench all: begin -->";
const GENERATED_END: &str = "<!-- casenote-bench all: end -->";

/// Put `generated` between the markers in `page` (at its end, with the markers, if it has none).
fn write_generated(page: &Path, generated: &str) -> Result<()> {
    let old = std::fs::read_to_string(page).unwrap_or_else(|_| "# Benchmarks\n".into());
    let block = format!("{GENERATED_BEGIN}\n{generated}\n{GENERATED_END}");
    let new = match (old.find(GENERATED_BEGIN), old.find(GENERATED_END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{block}{}", &old[..b], &old[e + GENERATED_END.len()..])
        }
        _ => format!("{}\n{block}\n", old.trim_end()),
    };
    std::fs::write(page, new)?;
    Ok(())
}

/// Build the benchmark database if it is missing, smaller than asked for, or of an older page
/// size.
fn ensure_built(o: &Opts) -> Result<()> {
    let (f, m) = if o.db.exists() {
        counts(&o.db)?
    } else {
        (0, 0)
    };
    // A database built by an older version with another page size is built again.
    let page_size_ok = o.db.exists() && page_size(&o.db)? == tracker_server::storage::PAGE_SIZE;
    if f != o.folders || m < o.movements || !page_size_ok {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", o.db.display()));
        }
        eprintln!(
            "building {} ({} folders, {} movements); cached for later runs",
            o.db.display(),
            o.folders,
            o.movements
        );
        populate(&o.db, o.folders, o.movements)?;
    }
    drop_statistics(&Connection::open(&o.db)?)?;
    Ok(())
}

fn run_server_bench(o: &Opts) -> Result<String> {
    ensure_built(o)?;
    let (folders, movements_before) = counts(&o.db)?;
    // tokens straight into the database: a device token for ingest, a library token for where-is
    let device = auth::new_token("ct_");
    let library = auth::new_token("ct_");
    {
        let c = Connection::open(&o.db)?;
        c.execute("DELETE FROM api_tokens WHERE name LIKE 'bench-%'", [])?;
        auth::insert_api_token(&c, "bench-device", auth::Role::Device, &device)?;
        // the badge the benchmark's scans carry, and a fresh device binding for the new token
        tracker_server::ledger::staff::register(&c, "S00042", "Bench Porter")?;
        c.execute(
            "DELETE FROM device_bindings WHERE token_name LIKE 'bench-%'",
            [],
        )?;
        auth::insert_api_token(&c, "bench-library", auth::Role::Library, &library)?;
    }
    let rounds = o.rounds.max(1);
    let active = active_set(folders, o.active_folders);
    // fresh event ids and folders every round (the same ids again would all be "duplicate")
    let mut rng =
        StdRng::seed_from_u64(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(11) as u64);
    // Rounds of HTTP ingest then the ceiling, one after the other on the same database: the
    // ratio is taken within each round, and the rounds show how much a measure varies.
    let mut http_rates = Vec::new();
    let mut raw_rates = Vec::new();
    let mut last = None;
    for round in 1..=rounds {
        let (mut child, port) = start_server_child(&o.db)?;
        let pid = child.id();
        let base = format!("http://127.0.0.1:{port}");
        let rss_idle = rss_kb(pid, "VmRSS:");
        let rt = tokio::runtime::Runtime::new()?;
        let result = rt.block_on(async {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()?;
            let (stored, ingest_s) =
                http_ingest(&client, &base, &device, o, folders, &active, &mut rng).await?;
            let rss_after_ingest = rss_kb(pid, "VmRSS:");
            if round < rounds {
                return anyhow::Ok((stored, ingest_s, None));
            }
            // ---- where-is, in the last round ----
            let scheme = casenote_core::identifiers::FolderIdScheme::default();
            let mut lat = Vec::with_capacity(o.lookups as usize);
            let t1 = Instant::now();
            for _ in 0..o.lookups {
                let fid = rng.gen_range(1..=folders);
                lat.push(look_up(&client, &base, &library, &scheme, fid).await?);
            }
            let lookup_s = t1.elapsed().as_secs_f64();
            lat.sort();
            // ---- many readers: the same lookups from 1, 8 and 64 clients at once ----
            let mut readers = Vec::new();
            for n in READER_CLIENTS {
                let r = many_readers(&client, &base, &library, folders, n, o.lookups, pid).await?;
                readers.push(r);
            }
            anyhow::Ok((
                stored,
                ingest_s,
                Some((lat, lookup_s, rss_idle, rss_after_ingest, readers)),
            ))
        });
        let peak = rss_kb(pid, "VmHWM:");
        let _ = child.kill();
        let _ = child.wait();
        let (stored, ingest_s, rest) = result?;
        // ---- raw rusqlite ceiling: the same ledger work, no HTTP, no JSON ----
        let (base_n, base_s) = raw_baseline(
            &o.db,
            folders,
            &active,
            o.ingest_events.min(200_000),
            o.batch,
        )?;
        let (http, raw) = (stored as f64 / ingest_s, base_n as f64 / base_s);
        eprintln!(
            "round {round} of {rounds}: HTTP {http:.0} events/s, ceiling {raw:.0} events/s ({:.0}%)",
            100.0 * http / raw
        );
        http_rates.push(http);
        raw_rates.push(raw);
        if let Some(rest) = rest {
            last = Some((rest, peak));
        }
    }
    let Some(((lat, lookup_s, rss_idle, rss_after_ingest, readers), peak)) = last else {
        bail!("no round measured the lookups");
    };
    let readers_rows: String = readers
        .iter()
        .map(|r| {
            format!(
                "| where-is from {} concurrent client(s), each lookup audited: rate, p50 / p99; CPU per lookup: server / load generator | {:.0} lookups/s, {:.2} / {:.2} ms; {:.0} / {:.0} µs | >= 5,000 lookups/s |\n",
                r.clients, r.rate, r.p50, r.p99, r.server_us, r.client_us
            )
        })
        .collect();
    let ratios: Vec<f64> = http_rates
        .iter()
        .zip(&raw_rates)
        .map(|(h, r)| 100.0 * h / r)
        .collect();
    let (h, r, q) = (spread(&http_rates), spread(&raw_rates), spread(&ratios));
    let machine = machine();
    Ok(format!(
        "## Server: ingest and where-is ({} folders, {} movements before the run)\n\n\
         Machine: {machine}\n\n\
         Command: `cargo run --release -p casenote-bench -- server --folders {} --movements {} --ingest-events {} --batch {} --clients {} --lookups {} --active-folders {} --rounds {rounds}`\n\n\
         Scans go to {}. {rounds} rounds, each HTTP ingest (a fresh server) then the ceiling on the same database; min / median / max over the rounds. The lookups are measured in the last round.\n\n\
         | measure | result | target |\n|---|---|---|\n\
         | ingest over HTTP ({} events in batches of {}, {} clients) | {:.0} / {:.0} / {:.0} events/s | >= 20,000 events/s |\n\
         | raw rusqlite ceiling: the same ledger work (movement, folder, open requests, the batch's audit row), the writer's pragmas and cache, background checkpoints, prepared statements, same batch size; no HTTP, JSON or checks | {:.0} / {:.0} / {:.0} events/s | (ceiling) |\n\
         | HTTP ingest as a share of the ceiling, same round | {:.0}% / {:.0}% / {:.0}% | >= 70% |\n\
         | where-is p50 / p95 / p99 ({} lookups, each audited) | {:.2} / {:.2} / {:.2} ms | p99 <= 5 ms |\n\
         | where-is throughput, one client | {:.0} lookups/s | |\n\
         | server RSS idle / after ingest / peak (VmHWM) | {} / {} / {} MB | <= 200 MB |\n{readers_rows}",
        folders, movements_before, o.folders, o.movements, o.ingest_events, o.batch, o.clients, o.lookups, o.active_folders,
        if o.active_folders == 0 { "any of the folders, uniformly at random (the worst case for caches)".to_string() } else { format!("{} randomly chosen folders, a day's worth of moving folders", o.active_folders) },
        o.ingest_events, o.batch, o.clients, h.0, h.1, h.2, r.0, r.1, r.2, q.0, q.1, q.2,
        o.lookups, pct(&lat, 0.50), pct(&lat, 0.95), pct(&lat, 0.99), o.lookups as f64 / lookup_s,
        rss_idle / 1024, rss_after_ingest / 1024, peak / 1024
    ))
}

/// One round of HTTP ingest: `o.ingest_events` scans in batches of `o.batch` from `o.clients`
/// clients, after a fifth as many again, untimed. Returns the events stored and the seconds.
async fn http_ingest(
    client: &reqwest::Client,
    base: &str,
    device: &str,
    o: &Opts,
    folders: u64,
    active: &[u64],
    rng: &mut StdRng,
) -> Result<(u64, f64)> {
    let scheme = casenote_core::identifiers::FolderIdScheme::default();
    let now = chrono::Utc::now().timestamp_millis();
    let n_batches = (o.ingest_events as usize).div_ceil(o.batch);
    // A fifth as many again first, untimed, as the ceiling warms up before it is timed:
    // both then start with the database's pages as warm (after another benchmark on a
    // bigger database the first timed batches otherwise read this one from disk).
    let warm_batches = n_batches / 5;
    let total = ((n_batches + warm_batches) * o.batch).max(1) as i64;
    let mut bodies: Vec<Vec<u8>> = (0..n_batches + warm_batches)
        .map(|b| {
            let evs: Vec<Value> = (0..o.batch)
                .map(|i| {
                    make_event(
                        rng,
                        folders,
                        active,
                        &scheme,
                        // Read times in the last 5 s, in sending order, as scans arrive from
                        // the wards: after every earlier run's events, so none is a late
                        // event (a replay that makes the server rebuild the folder's "since"
                        // from its trail).
                        now - 5_000 + ((b * o.batch + i) as i64 * 5_000) / total,
                    )
                })
                .collect();
            serde_json::to_vec(&json!({ "events": evs })).unwrap_or_default()
        })
        .collect();
    let timed = bodies.split_off(warm_batches);
    for body in bodies {
        post_batch(client, base, device, body).await?;
    }
    let t0 = Instant::now();
    // first batch first, as a bridge sends them
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(std::collections::VecDeque::from(
        timed,
    )));
    let mut tasks = Vec::new();
    for _ in 0..o.clients {
        let (client, base, device, queue) = (
            client.clone(),
            base.to_string(),
            device.to_string(),
            queue.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut stored = 0u64;
            loop {
                let Some(body) = queue.lock().await.pop_front() else {
                    break;
                };
                stored += post_batch(&client, &base, &device, body).await?;
            }
            anyhow::Ok(stored)
        }));
    }
    let mut stored = 0;
    for t in tasks {
        stored += t.await??;
    }
    Ok((stored, t0.elapsed().as_secs_f64()))
}

/// One many-readers measurement.
struct Readers {
    clients: usize,
    rate: f64,
    p50: f64,
    p99: f64,
    /// The server's CPU time per lookup (all its threads), in µs.
    server_us: f64,
    /// The load generator's CPU time per lookup, in µs.
    client_us: f64,
}

/// One audited where-is lookup of folder `fid` over the API: how long it took to answer.
async fn look_up(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    scheme: &casenote_core::identifiers::FolderIdScheme,
    fid: u64,
) -> Result<Duration> {
    let url = format!("{base}/api/v1/whereis/folder/{}", scheme.format(fid).text);
    let t = Instant::now();
    let r = client.get(&url).bearer_auth(token).send().await?;
    let ok = r.status().is_success();
    let _ = r.bytes().await?;
    if !ok {
        bail!("where-is failed for folder {fid}");
    }
    Ok(t.elapsed())
}

/// `lookups` where-is lookups of random folders from `clients` concurrent clients, each lookup
/// audited by the server (process `pid`): the rate, latency and CPU per lookup on both sides.
async fn many_readers(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    folders: u64,
    clients: usize,
    lookups: u64,
    pid: u32,
) -> Result<Readers> {
    let scheme = casenote_core::identifiers::FolderIdScheme::default();
    let left = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(lookups));
    let (server_cpu0, own_cpu0) = (cpu_ms(pid), cpu_ms(std::process::id()));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (client, base, token, left) = (
            client.clone(),
            base.to_string(),
            token.to_string(),
            left.clone(),
        );
        let scheme = scheme.clone();
        let mut rng = StdRng::seed_from_u64(k as u64 + 7);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while left
                .fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |v| v.checked_sub(1),
                )
                .is_ok()
            {
                let fid = rng.gen_range(1..=folders);
                lat.push(look_up(&client, &base, &token, &scheme, fid).await?);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::with_capacity(lookups as usize);
    for task in tasks {
        all.extend(task.await??);
    }
    let secs = t.elapsed().as_secs_f64();
    let per = |ms: f64| 1000.0 * ms / all.len().max(1) as f64;
    let server_us = per(cpu_ms(pid) - server_cpu0);
    let client_us = per(cpu_ms(std::process::id()) - own_cpu0);
    all.sort();
    Ok(Readers {
        clients,
        rate: all.len() as f64 / secs,
        p50: pct(&all, 0.50),
        p99: pct(&all, 0.99),
        server_us,
        client_us,
    })
}

/// How many clients look folders up at once in the many-readers measure.
const READER_CLIENTS: [usize; 3] = [1, 8, 64];

/// The ledger work of one event (insert-or-ignore, find the folder, advance its current state),
/// done with prepared statements in transactions of `batch` events.
fn raw_baseline(
    db: &Path,
    folders: u64,
    active: &[u64],
    n: u64,
    batch: usize,
) -> Result<(u64, f64)> {
    let mut c = Connection::open(db)?;
    // The server writer's page size and pragmas, cache and background checkpointing: the
    // ceiling pays for the same I/O as the server, no more and no less.
    tracker_server::storage::configure_writer(&c)?;
    tracker_server::storage::size_writer_cache(&c)?;
    let _checkpointer = tracker_server::storage::Checkpointer::start(db)?;
    if let Ok(extra) = std::env::var("CASENOTE_BENCH_PRAGMAS") {
        c.execute_batch(&extra)?;
    }
    let mut rng =
        StdRng::seed_from_u64(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(99) as u64);
    let now = chrono::Utc::now().timestamp_millis();
    let scheme = casenote_core::identifiers::FolderIdScheme::default();
    // A fifth more first, untimed, so that the ceiling starts with the page cache as warm as the
    // server's writer after its run (it would otherwise pay for cold pages the server did not).
    let warm = (n / 5) as usize;
    let events: Vec<(uuid::Uuid, i64, i64, String)> = (0..n + warm as u64)
        .map(|_| {
            let fid = pick_folder(&mut rng, folders, active) as i64;
            (
                uuid::Uuid::now_v7(),
                fid,
                rng.gen_range(2..=(WARDS as i64 + 1)),
                format!("]C0{}", scheme.format(fid as u64).text),
            )
        })
        .collect();
    let bench_principal = tracker_server::auth::Principal {
        actor: "token:bench-baseline".into(),
        role: tracker_server::auth::Role::Device,
    };
    let mut t0 = Instant::now();
    for (k, chunk) in events.chunks(batch).enumerate() {
        if k * batch == warm.next_multiple_of(batch) {
            t0 = Instant::now();
        }
        let tx = c.transaction()?;
        {
            // the words' numbers, looked up once per batch as the server does
            let mut words = tracker_server::ledger::movements::Words::new();
            let mut sel = tx.prepare_cached("SELECT cur_read_at FROM folders WHERE id=?1")?;
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO movement_log(event_id, folder_id, location_id, action_word, device_word, staff_word, read_at, received_at, raw, symbology_word, method_word, sent_by_word)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?7,?8,?9,?10,?11)",
            )?;
            let mut upd = tx.prepare_cached("UPDATE folders SET cur_movement_id=?1, cur_location_id=?2, cur_read_at=?3, cur_since=?3, cur_action='seen' WHERE id=?4")?;
            for (i, (id, fid, loc, raw)) in chunk.iter().enumerate() {
                // a minute back, so that a server run that follows sees none of its scans late
                let t = now - 60_000 + i as i64;
                let _cur: Option<i64> = sel.query_row([fid], |r| r.get(0))?;
                let inserted = ins.execute(params![
                    &id.as_bytes()[..],
                    fid,
                    loc,
                    words.id(&tx, "seen")?,
                    words.id(&tx, "baseline")?,
                    words.id(&tx, "S00042")?,
                    t,
                    raw,
                    words.id(&tx, "code128")?,
                    words.id(&tx, "barcode")?,
                    words.id(&tx, &bench_principal.actor)?
                ])?;
                if inserted == 1 {
                    upd.execute(params![tx.last_insert_rowid(), loc, t, fid])?;
                    // the requests a scan may move on, as the server looks them up
                    tracker_server::workflow::requests::open_count_for_folder(&tx, *fid)?;
                }
            }
            // and the batch's audit row, as the server writes one per batch
            tracker_server::audit::record(
                &tx,
                &bench_principal,
                "events.ingest",
                None,
                None,
                &format!("{} events", chunk.len()),
            )?;
        }
        tx.commit()?;
    }
    let timed = events.len() - warm.next_multiple_of(batch).min(events.len());
    Ok((timed as u64, t0.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_writes_only_between_its_markers() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let page = dir.path().join("benchmarks.md");
        // no page yet: the block is added, markers and all
        write_generated(&page, "first figures")?;
        let one = std::fs::read_to_string(&page)?;
        assert!(one.contains(GENERATED_BEGIN) && one.contains("first figures"));
        // the written reading around the markers stays; only the block changes
        let page_text = format!("# Benchmarks\n\nReading before.\n\n{one}\nReading after.\n");
        std::fs::write(&page, page_text)?;
        write_generated(&page, "second figures")?;
        let two = std::fs::read_to_string(&page)?;
        assert!(two.contains("Reading before.") && two.contains("Reading after."));
        assert!(two.contains("second figures") && !two.contains("first figures"));
        assert_eq!(two.matches(GENERATED_BEGIN).count(), 1);
        Ok(())
    }
}
