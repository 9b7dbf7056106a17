//! `firmware-bridge`: the Casenote Tracker scanner/RFID bridge daemon.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use firmware_bridge::{bench, bridge::Bridge, config::Config, queue::Queue, simulate, transports};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "firmware-bridge",
    version,
    about = "Casenote Tracker: scanners and RFID readers to the tracking server"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the bridge (devices, durable queue, delivery, heartbeat).
    Run {
        #[arg(long, env = "BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Check a configuration file and print the devices it defines.
    CheckConfig {
        #[arg(long, env = "BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Show queue depth, oldest event age, held scans and dead letters (each explained).
    QueueStatus {
        #[arg(long, env = "BRIDGE_CONFIG")]
        config: PathBuf,
        /// Put every dead-lettered event that has a location back in the queue (same as
        /// `requeue --all`).
        #[arg(long)]
        requeue_dead_letters: bool,
    },
    /// Put dead-lettered events back in the queue, after fixing the cause on the server; with
    /// `--location`, send them with that location (for scans that had none, or a wrong one).
    /// Stop the bridge service first, or run it while the bridge runs: both are safe.
    Requeue {
        #[arg(long, env = "BRIDGE_CONFIG")]
        config: PathBuf,
        /// The event id of a dead letter (as `queue-status` shows it); repeat for several.
        #[arg(long = "event", required_unless_present = "all")]
        events: Vec<String>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "events")]
        all: bool,
        /// Location code (or GLN) to send the events with.
        #[arg(long)]
        location: Option<String>,
    },
    /// List USB barcode scanners (Honeywell, Zebra, Datalogic) on this machine.
    UsbList,
    /// Simulated scanners and a portal on pseudo-terminals, with a bridge delivering to a server.
    Simulate {
        #[arg(
            long,
            env = "BRIDGE_SERVER_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        server_url: String,
        #[arg(long, env = "BRIDGE_TOKEN", default_value = "")]
        token: String,
        #[arg(long, default_value = "simulate-queue.sqlite3")]
        queue: PathBuf,
        /// Stop after this many seconds (default: run until interrupted).
        #[arg(long)]
        seconds: Option<u64>,
        /// Average seconds between simulated activities.
        #[arg(long, default_value_t = 2.0)]
        pace: f64,
        #[arg(long, default_value = "0614141")]
        company_prefix: String,
        /// Only create the devices and print a config for `run`; do not start a bridge.
        #[arg(long)]
        print_config: bool,
    },
    /// Measure portal throughput (tag reads per second on one core) and the durable queue
    /// (events committed to disk per second: one fsync per event vs group commit).
    Bench {
        #[arg(long, default_value_t = 2_000_000)]
        reads: u64,
        #[arg(long, default_value_t = 2_000)]
        tags: u64,
        /// Events committed per queue run.
        #[arg(long, default_value_t = 2_000)]
        queue_events: usize,
        /// Devices pushing at once in the concurrent queue run.
        #[arg(long, default_value_t = 8)]
        queue_devices: usize,
        /// Events per portal burst (a trolley of folders through a door).
        #[arg(long, default_value_t = 50)]
        queue_burst: usize,
        /// Runs of each queue measurement (min/median/max are printed).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Folder in which a scratch folder for the queue files is made and removed again
        /// (default: the system's temporary folder; use the disk the bridge's queue lives on).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

fn print_requeued(r: &firmware_bridge::handheld_store::Requeued) {
    println!("requeued {} dead-lettered events", r.requeued);
    for id in &r.need_location {
        println!("left {id}: it has no location; give one with --location <code>");
    }
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run { config } => {
            let cfg = Config::load(&config)?;
            if cfg.token.is_empty() {
                tracing::warn!(
                    "no token configured (set BRIDGE_TOKEN): the server will refuse events"
                );
            }
            let bridge = Bridge::start(cfg).context("starting the bridge")?;
            bridge.wait();
        }
        Cmd::CheckConfig { config } => {
            let cfg = Config::load(&config)?;
            println!("server_url: {}", cfg.server_url);
            println!(
                "token: {}",
                if cfg.token.is_empty() {
                    "(none)"
                } else {
                    "(set)"
                }
            );
            println!("queue_path: {}", cfg.queue_path.display());
            for d in &cfg.devices {
                println!(
                    "device {}: {:?} {:?} {}",
                    d.id, d.role, d.protocol, d.description
                );
            }
            println!("configuration OK");
        }
        Cmd::QueueStatus {
            config,
            requeue_dead_letters,
        } => {
            let cfg = Config::load(&config)?;
            let q = Queue::open(&cfg.queue_path)?;
            if requeue_dead_letters {
                print_requeued(&q.requeue(None, None)?);
            }
            let s = q.stats()?;
            println!("queue depth: {}", s.depth);
            match s.oldest_event_age_s {
                Some(a) => println!("oldest event: {a} s"),
                None => println!("oldest event: -"),
            }
            for d in &cfg.devices {
                let held = q.held_count(&d.id)?;
                if held > 0 {
                    println!(
                        "{}: {held} folder scans held until a location card is scanned",
                        d.id
                    );
                }
            }
            println!("dead letters: {}", s.dead_letters);
            for d in q.dead_letters(50)? {
                println!("- {}", d.event_id);
                println!("  {}", d.sentence());
            }
        }
        Cmd::Requeue {
            config,
            events,
            all,
            location,
        } => {
            let cfg = Config::load(&config)?;
            let q = Queue::open(&cfg.queue_path)?;
            let ids = (!all).then_some(events.as_slice());
            if let Some(ids) = ids {
                let known: Vec<String> = q
                    .dead_letters(usize::MAX >> 1)?
                    .into_iter()
                    .map(|d| d.event_id)
                    .collect();
                if let Some(missing) = ids.iter().find(|i| !known.contains(i)) {
                    anyhow::bail!("--event {missing}: no dead letter has this event id (see `firmware-bridge queue-status`)");
                }
            }
            if let Some(l) = location.as_deref() {
                if l.trim().is_empty() || l.len() > 100 {
                    anyhow::bail!("--location: must be a location code or GLN of 1-100 characters");
                }
            }
            print_requeued(&q.requeue(ids, location.as_deref().map(str::trim))?);
        }
        Cmd::UsbList => {
            let found = transports::list_usb_scanners();
            if found.is_empty() {
                println!("no USB barcode scanners found");
            }
            for d in found {
                println!(
                    "{} {:04x}:{:04x} bus {} address {}",
                    d.vendor, d.vendor_id, d.product_id, d.bus, d.address
                );
            }
        }
        Cmd::Simulate {
            server_url,
            token,
            queue,
            seconds,
            pace,
            company_prefix,
            print_config,
        } => {
            let opts = simulate::SimOptions {
                server_url,
                token,
                queue_path: queue,
                duration: seconds.map(Duration::from_secs),
                pace_s: pace,
                company_prefix,
                folders: Vec::new(),
            };
            let mut rig = simulate::SimRig::new(&opts)?;
            let stop = simulate::stop_flag();
            if print_config {
                let mut c = rig.config.clone();
                c.token = String::new();
                println!("# run with: BRIDGE_TOKEN=... firmware-bridge run --config <this file>");
                println!("{}", toml::to_string_pretty(&c)?);
                rig.drive(&opts, &stop)?;
                return Ok(());
            }
            println!(
                "simulated devices: line scanner {}, SSI scanner {}, R2000 portal {}",
                rig.line.path, rig.ssi.path, rig.portal.path
            );
            let bridge = Bridge::start(rig.config.clone())?;
            rig.drive(&opts, &stop)?;
            std::thread::sleep(Duration::from_secs(3));
            let s = bridge.queue.stats()?;
            println!(
                "queue depth at end: {} (dead letters {})",
                s.depth, s.dead_letters
            );
            bridge.shutdown();
        }
        Cmd::Bench {
            reads,
            tags,
            queue_events,
            queue_devices,
            queue_burst,
            runs,
            dir,
        } => {
            let r = bench::run(reads, tags);
            println!(
                "tag reads: {} over {} folders, movements: {}",
                r.reads, tags, r.movements
            );
            println!(
                "R2000 decode + portal: {:.0} reads/s",
                r.decode_and_portal_reads_per_s
            );
            println!(
                "portal logic only:     {:.0} reads/s",
                r.portal_only_reads_per_s
            );
            // A fresh folder of our own inside the one given, removed afterwards.
            let dir = dir
                .unwrap_or_else(std::env::temp_dir)
                .join(format!("bridge-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let q = bench::queue(&dir, queue_events, queue_devices, queue_burst, runs);
            let _ = std::fs::remove_dir_all(&dir);
            let q = q?;
            let f = |v: [f64; 3]| format!("{:.0} / {:.0} / {:.0}", v[0], v[1], v[2]);
            println!(
                "durable queue, {} events x {} runs, events/s min / median / max:",
                q.events, q.runs
            );
            println!("  one fsync per event (baseline):   {}", f(q.unbatched));
            println!(
                "  {} devices at once (group commit): {}  ({:.1} events per fsync)",
                q.devices,
                f(q.concurrent),
                q.events_per_commit
            );
            println!(
                "  portal bursts of {}:              {}",
                q.burst,
                f(q.bursts)
            );
        }
    }
    Ok(())
}
