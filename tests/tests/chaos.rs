//! Chaos: the tracking server and three firmware bridges as separate processes, scripted
//! scanners on pseudo-terminals, a scan storm, and every process killed and restarted. At the
//! end every scan the devices produced is in the server exactly once.
//!
//! The processes are the `casenote-e2e-node` helper of this crate, which runs the same library
//! entry points as `tracker-server serve` and `firmware-bridge run` (a test can only locate
//! its own package's binaries). Each bridge reads a line scanner (porter: badge, ward door
//! label, folders) and a Zebra SSI scanner (library desk; the bridge ACKs after the queue
//! write) and delivers in small batches to the server over HTTP. Every scan is of a different
//! registered folder, so "exactly once" is checked per folder and device, by content (not by
//! event id, which the server de-duplicates by construction).
//!
//! What happens, in order:
//! 1. storm while the server is SIGKILLed and restarted;
//! 2. the server hangs (SIGSTOP) through a storm; it resumes and every bridge is SIGKILLed
//!    while delivering the backlog, and restarted (lost answers are replayed as duplicates);
//! 3. the server stopped (the network cut) during a storm, restarted seconds later;
//! 4. storm with the server SIGKILLed; the bridges SIGKILLed and restarted while the server is
//!    still down; then the server restarted.
//!
//! Honesty about the known gaps: a line scanner has no ACK, so a barcode the bridge has read
//! but not yet committed to its queue is lost if the bridge is SIGKILLed at that instant; an
//! SSI scanner whose ACK is lost in a bridge kill resends, which makes a second event with a
//! new id. Neither is what this test is about, so bridges are only killed between device
//! bursts, once every scan of the burst is committed (in the bridge queue or already on the
//! server). The server is killed at any moment, mid-storm and mid-request.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use casenote_core::identifiers::FolderIdScheme;
use firmware_bridge::config::{
    Config as BridgeConfig, DeviceConfig, DeviceTransport, Protocol, Role,
};
use firmware_bridge::simulate::{card, SimPort};

const NODE: &str = env!("CARGO_BIN_EXE_casenote-e2e-node");
const BRIDGES: usize = 3;
const LINE_PER_BURST: usize = 48;
const SSI_PER_BURST: usize = 12;
const WARDS: [&str; BRIDGES] = ["LWARD1", "LWARD2", "LWARD5"];
const DESKS: [&str; BRIDGES] = ["LLIBDESK", "LCLINA", "LCLINB"];

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

fn sigterm(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn sigkill(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

struct Server {
    dir: PathBuf,
    db: PathBuf,
    port: u16,
    child: Option<Child>,
    starts: u32,
}

impl Server {
    fn start(&mut self) {
        for _attempt in 0..20 {
            self.starts += 1;
            let log = std::fs::File::create(self.dir.join(format!("server-{}.log", self.starts)))
                .unwrap();
            let mut child = Command::new(NODE)
                .arg("server")
                .env("CASENOTE_DATABASE", &self.db)
                .env("CASENOTE_LISTEN", format!("127.0.0.1:{}", self.port))
                .env("CASENOTE_LOG", "warn")
                .env_remove("CASENOTE_CONFIG")
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            if line.starts_with("listening on") {
                self.child = Some(child);
                return;
            }
            // the port may not be free yet after a kill
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("the server did not start; see {}", self.dir.display());
    }

    fn sigkill(&mut self) {
        sigkill(self.child.as_mut().unwrap());
        self.child = None;
    }

    fn stop(&mut self) {
        sigterm(self.child.as_mut().unwrap());
        self.child = None;
    }
}

struct Rig {
    cfg_path: PathBuf,
    queue: PathBuf,
    log_dir: PathBuf,
    index: usize,
    child: Option<Child>,
    starts: u32,
    line: SimPort,
    ssi: SimPort,
    /// (folder serial, device id, location) of every scan produced.
    produced: Vec<(u64, String, String)>,
}

impl Rig {
    fn new(index: usize, dir: &Path, server_url: &str, token: &str) -> Self {
        let line = SimPort::new().unwrap();
        let ssi = SimPort::new().unwrap();
        let queue = dir.join(format!("queue-{index}.sqlite3"));
        let mut cfg = BridgeConfig {
            bridge_id: format!("chaos-bridge-{index}"),
            server_url: server_url.into(),
            token: token.into(),
            queue_path: queue.clone(),
            heartbeat_interval_s: 0,
            ..Default::default()
        };
        cfg.delivery.batch_size = 5;
        cfg.delivery.retry_base_ms = 100;
        cfg.delivery.retry_max_ms = 800;
        cfg.delivery.request_timeout_s = 5;
        cfg.delivery.idle_poll_ms = 100;
        let mut d = DeviceConfig::new(
            &format!("b{index}-line"),
            Role::Handheld,
            Protocol::Line,
            DeviceTransport::Serial(line.serial()),
        );

        d.reopen_min_ms = 100;
        cfg.devices.push(d);
        let mut d = DeviceConfig::new(
            &format!("b{index}-ssi"),
            Role::Handheld,
            Protocol::Ssi,
            DeviceTransport::Serial(ssi.serial()),
        );

        d.handheld.default_location = Some(DESKS[index].into());
        d.reopen_min_ms = 100;
        cfg.devices.push(d);
        let cfg_path = dir.join(format!("bridge-{index}.toml"));
        std::fs::write(&cfg_path, toml::to_string(&cfg).unwrap()).unwrap();
        Self {
            cfg_path,
            queue,
            log_dir: dir.into(),
            index,
            child: None,
            starts: 0,
            line,
            ssi,
            produced: Vec::new(),
        }
    }

    fn log(&self, n: u32) -> PathBuf {
        self.log_dir
            .join(format!("bridge-{}-{}.log", self.index, n))
    }

    /// Start the bridge and wait until both its devices are open.
    fn start(&mut self) {
        self.starts += 1;
        let log_path = self.log(self.starts);
        let log = std::fs::File::create(&log_path).unwrap();
        self.child = Some(
            Command::new(NODE)
                .args(["bridge", "--config"])
                .arg(&self.cfg_path)
                .env("CASENOTE_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        assert!(
            wait_until(Duration::from_secs(15), || {
                std::fs::read_to_string(&log_path)
                    .unwrap_or_default()
                    .matches("device online")
                    .count()
                    >= 2
            }),
            "bridge {} did not open its devices",
            self.index
        );
    }

    fn sigkill(&mut self) {
        sigkill(self.child.as_mut().unwrap());
        self.child = None;
    }

    fn devices(&self) -> [String; 2] {
        [
            format!("b{}-line", self.index),
            format!("b{}-ssi", self.index),
        ]
    }

    /// One burst: the porter's line scanner (badge, ward label, folders) and the desk's SSI
    /// scanner at the same time.
    fn burst(&mut self, folders: &mut impl Iterator<Item = u64>) {
        let scheme = FolderIdScheme::default();
        let line: Vec<u64> = folders.by_ref().take(LINE_PER_BURST).collect();
        let ssi: Vec<u64> = folders.by_ref().take(SSI_PER_BURST).collect();
        assert_eq!(line.len() + ssi.len(), LINE_PER_BURST + SSI_PER_BURST);
        let [line_dev, ssi_dev] = self.devices();
        let ward = WARDS[self.index];
        for &f in &line {
            self.produced.push((f, line_dev.clone(), ward.into()));
        }
        for &f in &ssi {
            self.produced
                .push((f, ssi_dev.clone(), DESKS[self.index].into()));
        }
        let idx = self.index;
        let (lp, sp) = (&mut self.line, &mut self.ssi);
        std::thread::scope(|s| {
            s.spawn(|| {
                lp.scan_line(&format!("]C0{}", card(&format!("S0010{idx}"))))
                    .unwrap();
                lp.scan_line(&format!("]C0{}", card(ward))).unwrap();
                for &f in &line {
                    lp.scan_line(&format!("]C0{}", scheme.format(f).text))
                        .unwrap();
                    std::thread::sleep(Duration::from_millis(3));
                }
            });
            s.spawn(|| {
                for &f in &ssi {
                    let acked = sp
                        .scan_ssi(
                            0x03,
                            scheme.format(f).text.as_bytes(),
                            Duration::from_secs(3),
                        )
                        .unwrap();
                    assert!(acked, "the bridge did not ACK an SSI scan");
                }
            });
        });
    }

    /// Folder barcodes of this bridge's devices that are committed somewhere: in its queue
    /// (waiting or dead-lettered) or stored on the server.
    fn committed(&self, server_db: &Path) -> usize {
        let mut raws: HashSet<String> = HashSet::new();
        if let Ok(q) = rusqlite::Connection::open_with_flags(
            &self.queue,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) {
            for table in ["events", "dead_letter"] {
                if let Ok(mut st) = q.prepare(&format!("SELECT body FROM {table}")) {
                    let bodies: Vec<String> = st
                        .query_map([], |r| r.get(0))
                        .unwrap()
                        .collect::<Result<_, _>>()
                        .unwrap_or_default();
                    for b in bodies {
                        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
                        raws.insert(v["raw"].as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
        let s = rusqlite::Connection::open_with_flags(
            server_db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let [a, b] = self.devices();
        let mut st = s
            .prepare("SELECT raw FROM movements WHERE device_id IN (?1, ?2)")
            .unwrap();
        for r in st.query_map([&a, &b], |r| r.get::<_, String>(0)).unwrap() {
            raws.insert(r.unwrap());
        }
        raws.len()
    }

    fn wait_committed(&self, server_db: &Path) {
        let want = self.produced.len();
        assert!(
            wait_until(Duration::from_secs(20), || self.committed(server_db)
                >= want),
            "bridge {}: only {} of {want} scans committed",
            self.index,
            self.committed(server_db)
        );
    }

    fn queue_depth(&self) -> (i64, i64) {
        let q = rusqlite::Connection::open_with_flags(
            &self.queue,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        q.query_row(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letter)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    /// Sum of `duplicates=N` over the bridge's "batch delivered" log lines.
    fn duplicates_answered(&self) -> u64 {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.log(n))
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains("batch delivered"))
                    .filter_map(|l| {
                        l.split_whitespace()
                            .find_map(|w| w.strip_prefix("duplicates="))
                            .and_then(|n| n.parse::<u64>().ok())
                    })
                    .sum::<u64>()
            })
            .sum()
    }
}

fn storm(rigs: &mut [Rig], folders: &mut impl Iterator<Item = u64>) {
    // Hand each bridge its folders up front, then run all bursts at once.
    let per = LINE_PER_BURST + SSI_PER_BURST;
    let mut lots: Vec<Vec<u64>> = rigs
        .iter()
        .map(|_| folders.by_ref().take(per).collect())
        .collect();
    std::thread::scope(|s| {
        for (rig, lot) in rigs.iter_mut().zip(lots.iter_mut()) {
            s.spawn(move || rig.burst(&mut lot.drain(..)));
        }
    });
}

#[test]
fn every_scan_arrives_exactly_once_through_kills_and_outages() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("server.db");

    // The hospital: demo locations and registered folders, and a device token.
    let token = "ct_chaos-test-device-token";
    let folder_ids: Vec<u64> = {
        let db = tracker_server::storage::Db::open(&db_path, 2).unwrap();
        let cfg = tracker_server::config::Config::default();
        tracker_server::demo::seed(&db, &cfg.identifiers, 800, 8).unwrap();
        db.write_blocking(move |c| {
            tracker_server::auth::insert_api_token(
                c,
                "chaos-bridges",
                tracker_server::auth::Role::Device,
                token,
            )?;
            // the porters' badges the line scanners scan (S0010<n>)
            for i in 0..10 {
                tracker_server::ledger::staff::register(c, &format!("S0010{i}"), "Chaos Porter")?;
            }
            Ok(())
        })
        .unwrap();
        db.read_blocking(|c| {
            let mut st = c.prepare("SELECT id FROM folders WHERE status = 'active' ORDER BY id")?;
            let ids = st
                .query_map([], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ids.into_iter().map(|i| i as u64).collect())
        })
        .unwrap()
    };
    let needed = 4 * BRIDGES * (LINE_PER_BURST + SSI_PER_BURST);
    assert!(folder_ids.len() >= needed, "{} folders", folder_ids.len());
    let mut folders = folder_ids.into_iter();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Server {
        dir: dir.path().into(),
        db: db_path.clone(),
        port,
        child: None,
        starts: 0,
    };
    server.start();
    let url = format!("http://127.0.0.1:{port}");
    let mut rigs: Vec<Rig> = (0..BRIDGES)
        .map(|i| Rig::new(i, dir.path(), &url, token))
        .collect();
    for r in &mut rigs {
        r.start();
    }
    let (mut server_kills, mut server_stops, mut bridge_kills) = (0, 0, 0);

    // 1. A storm; the server is SIGKILLed in the middle of it and restarted.
    std::thread::scope(|s| {
        s.spawn(|| storm(&mut rigs, &mut folders));
        std::thread::sleep(Duration::from_millis(150));
        server.sigkill();
        server_kills += 1;
        std::thread::sleep(Duration::from_millis(800));
        server.start();
    });
    for r in &rigs {
        r.wait_committed(&db_path);
    }

    // 2. The server hangs (SIGSTOP) through a storm, so the queues fill and requests wait;
    //    it resumes, and every bridge is SIGKILLed while it delivers (answers lost after the
    //    server stored the batch), then restarted: the replays are answered "duplicate".
    signal(server.child.as_ref().unwrap(), "-STOP");
    storm(&mut rigs, &mut folders);
    for r in &rigs {
        r.wait_committed(&db_path);
    }
    signal(server.child.as_ref().unwrap(), "-CONT");
    std::thread::sleep(Duration::from_millis(40));
    for r in &mut rigs {
        r.sigkill();
        bridge_kills += 1;
    }
    for r in &mut rigs {
        r.start();
    }

    // 3. The network is cut (the server stops) during a storm; it comes back seconds later.
    server.stop();
    server_stops += 1;
    storm(&mut rigs, &mut folders);
    std::thread::sleep(Duration::from_secs(2));
    server.start();
    for r in &rigs {
        r.wait_committed(&db_path);
    }

    // 4. A storm with the server SIGKILLed; the bridges are SIGKILLed and restarted while the
    //    server is still down; then the server comes back.
    std::thread::scope(|s| {
        s.spawn(|| storm(&mut rigs, &mut folders));
        std::thread::sleep(Duration::from_millis(100));
        server.sigkill();
        server_kills += 1;
    });
    for r in &rigs {
        r.wait_committed(&db_path);
    }
    for r in &mut rigs {
        r.sigkill();
        bridge_kills += 1;
        r.start();
    }
    std::thread::sleep(Duration::from_millis(500));
    server.start();

    // Everything drains.
    let produced: usize = rigs.iter().map(|r| r.produced.len()).sum();
    let sim_devices: Vec<String> = rigs.iter().flat_map(|r| r.devices()).collect();
    let in_list = sim_devices
        .iter()
        .map(|d| format!("'{d}'"))
        .collect::<Vec<_>>()
        .join(",");
    let server_conn = || {
        rusqlite::Connection::open_with_flags(&db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap()
    };
    let delivered = || -> i64 {
        server_conn()
            .query_row(
                &format!("SELECT count(*) FROM movements WHERE device_id IN ({in_list})"),
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let drained = wait_until(Duration::from_secs(60), || {
        delivered() >= produced as i64 && rigs.iter().all(|r| r.queue_depth().0 == 0)
    });
    let elapsed = started.elapsed();
    let duplicates_answered: u64 = rigs.iter().map(Rig::duplicates_answered).sum();
    let dead: i64 = rigs.iter().map(|r| r.queue_depth().1).sum();
    let delivered_n = delivered();
    println!(
        "chaos: produced {produced} scans on {} devices; delivered {delivered_n} movements; \
         duplicates answered by the server {duplicates_answered}; dead letters {dead}; \
         server SIGKILLs {server_kills}, server stops {server_stops}, bridge SIGKILLs \
         {bridge_kills}; elapsed {:.1} s",
        sim_devices.len(),
        elapsed.as_secs_f64()
    );
    assert!(
        drained,
        "not drained: delivered {delivered_n} of {produced}"
    );
    assert_eq!(dead, 0, "no scan was refused");

    // Exactly once, by content: one movement per (folder, device, location) produced, and no
    // other movement from these devices.
    let c = server_conn();
    let mut st = c
        .prepare(
            "SELECT count(*) FROM movements m JOIN locations l ON l.id = m.location_id
              WHERE m.folder_id = ?1 AND m.device_id = ?2 AND l.code = ?3 AND m.action = 'receive'",
        )
        .unwrap();
    let mut wrong = Vec::new();
    for r in &rigs {
        for (f, dev, loc) in &r.produced {
            let n: i64 = st
                .query_row(rusqlite::params![*f as i64, dev, loc], |r| r.get(0))
                .unwrap();
            if n != 1 {
                wrong.push(format!("folder {f} from {dev} at {loc}: {n} movement(s)"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong: {:?}", wrong.len(), wrong);
    assert_eq!(
        delivered_n, produced as i64,
        "no stray or doubled movements"
    );
    let dup_content: i64 = c
        .query_row(
            &format!(
                "SELECT count(*) FROM (SELECT raw, device_id FROM movements
                  WHERE device_id IN ({in_list}) GROUP BY raw, device_id HAVING count(*) > 1)"
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dup_content, 0);

    for r in &mut rigs {
        r.sigkill();
    }
    server.stop();
    assert!(
        elapsed < Duration::from_secs(120),
        "chaos run took {elapsed:?}"
    );
}
