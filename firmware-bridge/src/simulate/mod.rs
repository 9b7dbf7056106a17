//! Simulated hardware on pseudo-terminals: a line scanner (porter with badge, location card
//! and folders), a Zebra SSI scanner that waits for the bridge's ACKs, and an R2000 portal
//! reader that answers the bridge's commands, with folders passing in and out of a ward. Used by `firmware-bridge simulate` for
//! demos and by the tests.

pub mod llrp_reader;
pub mod r2000_reader;

use crate::config::{Config, DeviceConfig, DeviceTransport, Protocol, Role, SerialConfig};
use crate::frames::ssi;
use casenote_core::identifiers::{FolderIdScheme, Giai96};
use r2000_reader::{R2000Reader, R2000ReaderThread};
use rand::Rng;
use serialport::{SerialPort, TTYPort};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A simulated device: the bridge opens `path`; the simulator writes to `master`.
pub struct SimPort {
    pub master: TTYPort,
    /// Kept open so the pty survives bridge restarts.
    pub slave: TTYPort,
    pub path: String,
    /// Largest DECODE_DATA chunk the simulated SSI scanner sends (smaller = more packets).
    pub ssi_chunk: usize,
}

impl SimPort {
    pub fn new() -> io::Result<Self> {
        let (master, mut slave) = TTYPort::pair().map_err(io::Error::from)?;
        slave.set_exclusive(false).map_err(io::Error::from)?;
        let path = slave
            .name()
            .ok_or_else(|| io::Error::other("pty has no name"))?;
        Ok(Self {
            master,
            slave,
            path,
            ssi_chunk: 200,
        })
    }

    /// Serial settings for a bridge device on this pty.
    pub fn serial(&self) -> SerialConfig {
        SerialConfig {
            path: self.path.clone(),
            baud: 9600,
            exclusive: false,
        }
    }

    /// A line scanner sending `]AIM payload CR LF`.
    pub fn scan_line(&mut self, payload: &str) -> io::Result<()> {
        self.master.write_all(format!("{payload}\r\n").as_bytes())
    }

    /// An SSI scanner sending DECODE_DATA and waiting up to `timeout` for the host ACK,
    /// resending (as a scanner does) up to 3 times. Returns whether it was ACKed.
    pub fn scan_ssi(
        &mut self,
        barcode_type: u8,
        payload: &[u8],
        timeout: Duration,
    ) -> io::Result<bool> {
        for packet in ssi::decode_data_packets(barcode_type, payload, self.ssi_chunk) {
            let mut acked = false;
            for _attempt in 0..3 {
                self.master.write_all(&packet)?;
                if self.wait_ack(timeout)? {
                    acked = true;
                    break;
                }
            }
            if !acked {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn wait_ack(&mut self, timeout: Duration) -> io::Result<bool> {
        let end = Instant::now() + timeout;
        let mut got = Vec::new();
        let ack = ssi::host_ack();
        let mut buf = [0u8; 64];
        while Instant::now() < end {
            match self.master.read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) => return Err(e),
            }
            if got.windows(ack.len()).any(|w| w == ack.as_slice()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Make this port an R2000 reader that answers the bridge's commands (see
    /// [`r2000_reader`]). The returned thread keeps the port open until dropped.
    pub fn into_r2000_reader(self, reader: R2000Reader) -> io::Result<SimReader> {
        let mut master = self.master;
        master
            .set_timeout(Duration::from_millis(20))
            .map_err(io::Error::from)?;
        Ok(SimReader {
            thread: R2000ReaderThread::spawn(master, reader, Duration::from_millis(3)),
            _slave: self.slave,
            path: self.path,
        })
    }

    /// Throw away whatever the bridge wrote (inventory commands, ACKs).
    pub fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        let _ = self.master.set_timeout(Duration::from_millis(1));
        while let Ok(n) = self.master.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = self.master.set_timeout(Duration::from_millis(100));
    }
}

/// A simulated R2000 reader on a pseudo-terminal; the bridge opens `path`.
pub struct SimReader {
    pub thread: R2000ReaderThread,
    _slave: TTYPort,
    pub path: String,
}

impl SimReader {
    /// Serial settings for a bridge device on this reader.
    pub fn serial(&self) -> SerialConfig {
        SerialConfig {
            path: self.path.clone(),
            baud: 115_200,
            exclusive: false,
        }
    }
}

/// A location card or staff badge as printed (code, '/', check character); empty if the code
/// cannot be a card.
pub fn card(code: &str) -> String {
    casenote_core::identifiers::card_payload(code).unwrap_or_default()
}

/// GIAI-96 EPC bytes for a folder serial.
pub fn folder_epc(company_prefix: &str, serial: u64) -> Vec<u8> {
    Giai96 {
        filter: 1,
        company_prefix: company_prefix.into(),
        asset_reference: serial,
    }
    .encode()
    .map(|b| b.to_vec())
    .unwrap_or_default()
}

/// Simulator settings.
pub struct SimOptions {
    pub server_url: String,
    pub token: String,
    pub queue_path: std::path::PathBuf,
    pub duration: Option<Duration>,
    /// Average seconds between simulated activities.
    pub pace_s: f64,
    pub company_prefix: String,
    /// Folder serials to scan (registered folders on the server). Empty: serials 1..500.
    pub folders: Vec<u64>,
}

impl SimOptions {
    fn pick_folder(&self, rng: &mut impl Rng) -> u64 {
        if self.folders.is_empty() {
            rng.gen_range(1..500)
        } else {
            self.folders[rng.gen_range(0..self.folders.len())]
        }
    }
}

/// The three simulated devices and a bridge configuration that uses them.
pub struct SimRig {
    pub line: SimPort,
    pub ssi: SimPort,
    pub portal: SimReader,
    pub config: Config,
}

impl SimRig {
    pub fn new(opts: &SimOptions) -> io::Result<Self> {
        let line = SimPort::new()?;
        let ssi_port = SimPort::new()?;
        let portal = SimPort::new()?.into_r2000_reader(R2000Reader::new(1, 4))?;
        let mut cfg = Config {
            bridge_id: "simulator".into(),
            server_url: opts.server_url.clone(),
            token: opts.token.clone(),
            queue_path: opts.queue_path.clone(),
            ..Default::default()
        };
        cfg.scan.gs1_company_prefix = Some(opts.company_prefix.clone());
        cfg.delivery.retry_base_ms = 200;
        cfg.delivery.retry_max_ms = 5000;
        let mut d = DeviceConfig::new(
            "ward5-porter-scanner",
            Role::Handheld,
            Protocol::Line,
            DeviceTransport::Serial(line.serial()),
        );
        d.description = "Simulated line scanner (porter)".into();

        cfg.devices.push(d);
        let mut d = DeviceConfig::new(
            "library-ssi",
            Role::Handheld,
            Protocol::Ssi,
            DeviceTransport::Serial(ssi_port.serial()),
        );
        d.description = "Simulated Zebra SSI scanner (records library)".into();

        d.handheld.default_location = Some("LLIBDESK".into());
        cfg.devices.push(d);
        let mut d = DeviceConfig::new(
            "ward5-portal",
            Role::Portal,
            Protocol::R2000,
            DeviceTransport::Serial(portal.serial()),
        );
        d.description = "Simulated R2000 portal, ward 5 door".into();

        d.portal.location = "LWARD5".into();
        d.portal.outside_location = Some("LCORRIDOR".into());
        d.portal.exit_gap_ms = 800;
        d.portal.dwell_ms = 3000;
        cfg.devices.push(d);
        Ok(Self {
            line,
            ssi: ssi_port,
            portal,
            config: cfg,
        })
    }

    /// Drive realistic traffic until `stop` (or `duration`). Prints what happens.
    pub fn drive(&mut self, opts: &SimOptions, stop: &AtomicBool) -> io::Result<()> {
        let scheme = FolderIdScheme::default();
        let mut rng = rand::thread_rng();
        let started = Instant::now();
        let mut step = 0u64;
        while !stop.load(Ordering::Relaxed) && opts.duration.is_none_or(|d| started.elapsed() < d) {
            step += 1;
            match step % 3 {
                0 => {
                    let n = rng.gen_range(2..5);
                    let folders: Vec<String> = (0..n)
                        .map(|_| scheme.format(opts.pick_folder(&mut rng)).text)
                        .collect();
                    println!(
                        "[line scanner] porter S00042 at LWARD5 receives {}",
                        folders.join(", ")
                    );
                    self.line.scan_line(&format!("]C0{}", card("S00042")))?;
                    self.line.scan_line(&format!("]C0{}", card("LWARD5")))?;
                    for f in &folders {
                        self.line.scan_line(&format!("]C0{f}"))?;
                    }
                }
                1 => {
                    let f = scheme.format(opts.pick_folder(&mut rng)).text;
                    let acked = self
                        .ssi
                        .scan_ssi(0x03, f.as_bytes(), Duration::from_secs(2))?;
                    println!(
                        "[SSI scanner] library desk LLIBDESK receives {f} (ACK from bridge: {acked})"
                    );
                }
                _ => {
                    let serial = opts.pick_folder(&mut rng);
                    let inward = rng.gen_bool(0.5);
                    let (a, b) = if inward { (1, 2) } else { (2, 1) };
                    println!(
                        "[R2000 portal] RFID tag of {} carried {}",
                        scheme.format(serial).text,
                        if inward {
                            "into ward 5"
                        } else {
                            "out of ward 5 to LCORRIDOR"
                        }
                    );
                    let epc = folder_epc(&opts.company_prefix, serial);
                    let each = Duration::from_millis(rng.gen_range(300..700));
                    self.portal.thread.passage(&epc, a, b, each);
                    // a stray tag from another organisation, read on the corridor side
                    let stray = hex::decode("341816E80000000000010015").unwrap_or_default();
                    self.portal.thread.tag_at(&stray, 1, 40);
                    std::thread::sleep(Duration::from_millis(100));
                    self.portal.thread.tag_gone(&stray);
                }
            }
            let pause = opts.pace_s * rng.gen_range(0.5..1.5);
            crate::delivery::sleep_unless(stop, Duration::from_secs_f64(pause.max(0.05)));
        }
        Ok(())
    }
}

/// Make the stop flag for a simulation.
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
