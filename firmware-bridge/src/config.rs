//! Bridge configuration: a TOML file plus environment overrides (`BRIDGE_SERVER_URL`,
//! `BRIDGE_TOKEN`, `BRIDGE_QUEUE_PATH`). Every option is documented in
//! `firmware-bridge/bridge.example.toml`.

use crate::frames::hid::KeyboardLayout;
use crate::frames::line::LineConfig;
pub use crate::frames::r2000::AntennaSwitching;
use casenote_core::identifiers::scan::ScanConfig;
use casenote_core::wire::Action;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Name of this bridge in heartbeats (defaults to the host name).
    pub bridge_id: String,
    /// Base URL of the tracking server, e.g. `https://tracker.nhs.scot`.
    pub server_url: String,
    /// Bearer token for the server. Prefer `BRIDGE_TOKEN` in the environment.
    pub token: String,
    /// SQLite queue file.
    pub queue_path: PathBuf,
    /// Seconds between heartbeats (0 = off).
    pub heartbeat_interval_s: u64,
    pub delivery: DeliveryConfig,
    /// How payloads are recognised (folder id scheme, location/staff prefixes, GS1 prefix).
    pub scan: ScanConfig,
    pub devices: Vec<DeviceConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bridge_id: default_bridge_id(),
            server_url: "http://127.0.0.1:8080".into(),
            token: String::new(),
            queue_path: PathBuf::from("/var/lib/casenote-bridge/queue.sqlite3"),
            heartbeat_interval_s: 30,
            delivery: DeliveryConfig::default(),
            scan: ScanConfig::default(),
            devices: Vec::new(),
        }
    }
}

fn default_bridge_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "bridge".into())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Events per request (the server accepts up to 5000).
    pub batch_size: usize,
    /// First retry delay; doubles per failure up to `retry_max_ms`, with full jitter.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// HTTP request timeout.
    pub request_timeout_s: u64,
    /// How long to wait for new events when the queue is empty.
    pub idle_poll_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            retry_base_ms: 500,
            retry_max_ms: 60_000,
            request_timeout_s: 30,
            idle_poll_ms: 1000,
        }
    }
}

/// What the device does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A barcode scanner used by a person: location card, badge, then folders.
    Handheld,
    /// An RFID doorway portal: one movement per folder passage.
    Portal,
}

/// Wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Serial / USB-CDC line scanner.
    Line,
    /// Zebra SSI.
    Ssi,
    /// USB HID POS barcode reports.
    HidPos,
    /// USB keyboard-wedge boot reports.
    Wedge,
    /// Impinj R2000 serial UHF reader.
    R2000,
    /// LLRP reader over TCP.
    Llrp,
}

impl Protocol {
    pub fn is_rfid(self) -> bool {
        matches!(self, Self::R2000 | Self::Llrp)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    pub path: String,
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Lock the port against other programs (turn off only for tests and the simulator).
    #[serde(default = "yes")]
    pub exclusive: bool,
}

fn default_baud() -> u32 {
    9600
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpConfig {
    /// `host:port`, e.g. `10.20.30.40:5084`.
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbConfig {
    pub vendor_id: u16,
    pub product_id: u16,
    /// Serial number, to pick one of several identical scanners.
    #[serde(default)]
    pub serial: Option<String>,
    /// Interface number with the HID interrupt IN endpoint.
    #[serde(default)]
    pub interface: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HidrawConfig {
    /// `/dev/hidrawN` or a stable udev symlink such as `/dev/casenote-scanner-desk1`.
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandheldConfig {
    /// Location and staff badge are forgotten after this many seconds without a scan.
    pub session_timeout_s: u64,
    /// Location used before any location card is scanned (a fixed desk scanner).
    pub default_location: Option<String>,
    /// Action for folder scans.
    pub action: Action,
    /// The same payload again within this window is a double read and is ignored.
    pub repeat_suppress_ms: u64,
    /// A folder scanned before any location card: `hold` it (stored durably) until the next
    /// location card of the session, or `refuse` it (not stored; the porter scans it again).
    pub without_location: WithoutLocation,
    /// A stock-take scanner: folder scans are sent as shelf audit scans (method `audit`,
    /// action `seen`) at the last shelf or bay card scanned. The server adds them to the
    /// audit open at that shelf (opening one with the first folder); the audit is closed on
    /// the Shelf audits page. `action` is then not used.
    pub audit: bool,
}

/// What happens to a folder scanned before any location card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WithoutLocation {
    /// Stored and sent with the next location card's location; a dead letter (that says so)
    /// if the session ends first.
    #[default]
    Hold,
    /// Not stored: the porter is told (warning, scanner beep where the scanner can) and scans
    /// it again after the location card.
    Refuse,
}

impl Default for HandheldConfig {
    fn default() -> Self {
        Self {
            session_timeout_s: 300,
            default_location: None,
            action: Action::Receive,
            repeat_suppress_ms: 1500,
            without_location: WithoutLocation::Hold,
            audit: false,
        }
    }
}

/// How a portal decides direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DirectionMethod {
    /// Zone of the first read vs zone of the last read.
    #[default]
    AntennaOrder,
    /// Which zone's RSSI peaked first.
    RssiPeak,
}

/// What to send when a passage's direction cannot be told (only one zone read it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Undetermined {
    /// A `seen` event at the portal's location.
    #[default]
    Seen,
    /// Nothing.
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// The room the door leads into (events carry this as `location`).
    pub location: String,
    /// Where an outgoing folder goes (the corridor), sent as `destination`; optional.
    pub outside_location: Option<String>,
    /// Antennas on the corridor side.
    pub outside_antennas: Vec<u16>,
    /// Antennas on the room side.
    pub inside_antennas: Vec<u16>,
    pub direction: DirectionMethod,
    /// A passage ends when the tag has not been read for this long.
    pub exit_gap_ms: u64,
    /// After a movement, further reads of that tag within this time (and for as long as
    /// they keep coming) are the same visit: no second movement (stops ping-pong).
    pub dwell_ms: u64,
    /// A passage longer than this is closed (a folder left in the doorway).
    pub max_passage_ms: u64,
    /// Reads needed before a passage counts (filters stray reflections).
    pub min_reads: u32,
    /// Reads weaker than this (dBm) are ignored.
    pub min_rssi_dbm: Option<i16>,
    pub undetermined: Undetermined,
    /// Use the reader's own time stamp of a read (LLRP FirstSeenTimestampUTC) when it is
    /// within this many ms of the bridge's clock; otherwise, or with 0, the bridge's clock.
    pub reader_clock_max_skew_ms: u64,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            location: String::new(),
            outside_location: None,
            outside_antennas: vec![1],
            inside_antennas: vec![2],
            direction: DirectionMethod::AntennaOrder,
            exit_gap_ms: 2000,
            dwell_ms: 10_000,
            max_passage_ms: 30_000,
            min_reads: 2,
            min_rssi_dbm: None,
            undetermined: Undetermined::Seen,
            reader_clock_max_skew_ms: 2000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct R2000Config {
    /// Reader address byte (0xFF = broadcast).
    pub address: u8,
    /// Repeat count in each real-time inventory command.
    pub repeat: u8,
    /// Send the next inventory command if a round has not ended after this long.
    pub round_timeout_ms: u64,
    /// Antenna ports to inventory, 1-based (empty = the portal's outside and inside antennas).
    pub antennas: Vec<u8>,
    /// `fast_switch` (command 0x8A, antennas 1-4) or `work_antenna` (0x74 then 0x89 per
    /// antenna, for older firmware and 8-port readers).
    pub antenna_switching: AntennaSwitching,
}

impl Default for R2000Config {
    fn default() -> Self {
        Self {
            address: 0x01,
            repeat: 1,
            round_timeout_ms: 1000,
            antennas: Vec::new(),
            antenna_switching: AntennaSwitching::FastSwitch,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlrpConfig {
    pub rospec_id: u32,
    /// Antenna ports to inventory (empty = all).
    pub antennas: Vec<u16>,
    pub report_every_n_tags: u16,
    /// Reconnect when nothing (not even a KEEPALIVE) has arrived for this long (0 = never).
    pub silence_timeout_s: u64,
}

impl Default for LlrpConfig {
    fn default() -> Self {
        Self {
            rospec_id: 1,
            antennas: Vec::new(),
            report_every_n_tags: 1,
            silence_timeout_s: 60,
        }
    }
}

/// How a device is reached: exactly one, fixed when the configuration is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceTransport {
    /// A serial port (RS-232 or a USB virtual COM port).
    Serial(SerialConfig),
    /// A network reader (LLRP).
    Tcp(TcpConfig),
    /// A USB HID device read with libusb.
    Usb(UsbConfig),
    /// A USB HID device read through the kernel's hidraw node.
    Hidraw(HidrawConfig),
}

impl DeviceTransport {
    /// The configuration table's name: `serial`, `tcp`, `usb` or `hidraw`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Serial(_) => "serial",
            Self::Tcp(_) => "tcp",
            Self::Usb(_) => "usb",
            Self::Hidraw(_) => "hidraw",
        }
    }
}

/// One device. In the TOML file the transport is one of the tables `serial`, `tcp`, `usb` or
/// `hidraw`; a device with none or several is refused when the file is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DeviceTable", into = "DeviceTable")]
pub struct DeviceConfig {
    /// Sent as `device_id` on every event, e.g. `ward5-portal`.
    pub id: String,
    pub description: String,
    pub role: Role,
    pub protocol: Protocol,
    pub transport: DeviceTransport,
    pub line: LineConfig,
    pub keyboard_layout: KeyboardLayout,
    pub handheld: HandheldConfig,
    pub portal: PortalConfig,
    pub r2000: R2000Config,
    pub llrp: LlrpConfig,
    /// Reopen delay after a failure: starts here, doubles up to `reopen_max_ms`.
    pub reopen_min_ms: u64,
    pub reopen_max_ms: u64,
}

/// A device as written in the TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceTable {
    /// Sent as `device_id` on every event, e.g. `ward5-portal`.
    id: String,
    #[serde(default)]
    description: String,
    role: Role,
    protocol: Protocol,
    #[serde(default)]
    serial: Option<SerialConfig>,
    #[serde(default)]
    tcp: Option<TcpConfig>,
    #[serde(default)]
    usb: Option<UsbConfig>,
    #[serde(default)]
    hidraw: Option<HidrawConfig>,
    #[serde(default)]
    line: LineConfig,
    #[serde(default)]
    keyboard_layout: KeyboardLayout,
    #[serde(default)]
    handheld: HandheldConfig,
    #[serde(default)]
    portal: PortalConfig,
    #[serde(default)]
    r2000: R2000Config,
    #[serde(default)]
    llrp: LlrpConfig,
    /// Reopen delay after a failure: starts here, doubles up to `reopen_max_ms`.
    #[serde(default = "reopen_min")]
    reopen_min_ms: u64,
    #[serde(default = "reopen_max")]
    reopen_max_ms: u64,
}

impl TryFrom<DeviceTable> for DeviceConfig {
    type Error = String;

    fn try_from(t: DeviceTable) -> Result<Self, String> {
        let transport = match (t.serial, t.tcp, t.usb, t.hidraw) {
            (Some(s), None, None, None) => DeviceTransport::Serial(s),
            (None, Some(x), None, None) => DeviceTransport::Tcp(x),
            (None, None, Some(u), None) => DeviceTransport::Usb(u),
            (None, None, None, Some(h)) => DeviceTransport::Hidraw(h),
            _ => {
                return Err(format!(
                    "device {}: give exactly one of serial, tcp, usb, hidraw",
                    t.id
                ))
            }
        };
        Ok(Self {
            id: t.id,
            description: t.description,
            role: t.role,
            protocol: t.protocol,
            transport,
            line: t.line,
            keyboard_layout: t.keyboard_layout,
            handheld: t.handheld,
            portal: t.portal,
            r2000: t.r2000,
            llrp: t.llrp,
            reopen_min_ms: t.reopen_min_ms,
            reopen_max_ms: t.reopen_max_ms,
        })
    }
}

impl From<DeviceConfig> for DeviceTable {
    fn from(d: DeviceConfig) -> Self {
        let (mut serial, mut tcp, mut usb, mut hidraw) = (None, None, None, None);
        match d.transport {
            DeviceTransport::Serial(s) => serial = Some(s),
            DeviceTransport::Tcp(x) => tcp = Some(x),
            DeviceTransport::Usb(u) => usb = Some(u),
            DeviceTransport::Hidraw(h) => hidraw = Some(h),
        }
        Self {
            id: d.id,
            description: d.description,
            role: d.role,
            protocol: d.protocol,
            serial,
            tcp,
            usb,
            hidraw,
            line: d.line,
            keyboard_layout: d.keyboard_layout,
            handheld: d.handheld,
            portal: d.portal,
            r2000: d.r2000,
            llrp: d.llrp,
            reopen_min_ms: d.reopen_min_ms,
            reopen_max_ms: d.reopen_max_ms,
        }
    }
}

fn reopen_min() -> u64 {
    500
}
fn reopen_max() -> u64 {
    30_000
}

impl DeviceConfig {
    /// A device with defaults for everything but identity, role, protocol and transport.
    pub fn new(id: &str, role: Role, protocol: Protocol, transport: DeviceTransport) -> Self {
        Self {
            id: id.into(),
            description: String::new(),
            role,
            protocol,
            transport,
            line: LineConfig::default(),
            keyboard_layout: KeyboardLayout::Uk,
            handheld: HandheldConfig::default(),
            portal: PortalConfig::default(),
            r2000: R2000Config::default(),
            llrp: LlrpConfig::default(),
            reopen_min_ms: reopen_min(),
            reopen_max_ms: reopen_max(),
        }
    }

    /// The antennas an R2000 reader is driven on: `r2000.antennas`, else the portal's outside
    /// and inside antennas, else antenna 1.
    pub fn r2000_antennas(&self) -> Vec<u8> {
        let mut v: Vec<u8> = if self.r2000.antennas.is_empty() {
            self.portal
                .outside_antennas
                .iter()
                .chain(&self.portal.inside_antennas)
                .map(|&a| u8::try_from(a).unwrap_or(0))
                .collect()
        } else {
            self.r2000.antennas.clone()
        };
        v.sort_unstable();
        v.dedup();
        if v.is_empty() {
            v.push(1);
        }
        v
    }

    fn validate(&self) -> Result<(), String> {
        let ok = matches!(
            (self.protocol, &self.transport),
            (
                Protocol::Line | Protocol::Ssi | Protocol::R2000,
                DeviceTransport::Serial(_)
            ) | (Protocol::Llrp, DeviceTransport::Tcp(_))
                | (
                    Protocol::HidPos | Protocol::Wedge,
                    DeviceTransport::Usb(_) | DeviceTransport::Hidraw(_)
                )
        );
        if !ok {
            return Err(format!(
                "device {}: protocol {:?} needs transport {}",
                self.id,
                self.protocol,
                match self.protocol {
                    Protocol::Llrp => "tcp",
                    Protocol::HidPos | Protocol::Wedge => "usb or hidraw",
                    _ => "serial",
                }
            ));
        }
        match (self.role, self.protocol.is_rfid()) {
            (Role::Portal, false) => {
                return Err(format!(
                    "device {}: a portal needs an RFID protocol",
                    self.id
                ))
            }
            (Role::Handheld, true) => {
                return Err(format!(
                    "device {}: RFID readers use role = \"portal\"",
                    self.id
                ))
            }
            _ => {}
        }
        if self.role == Role::Portal && self.portal.location.is_empty() {
            return Err(format!("device {}: portal.location is required", self.id));
        }
        if self.protocol == Protocol::R2000 {
            let (max, why) = match self.r2000.antenna_switching {
                AntennaSwitching::FastSwitch => (4, "fast_switch drives antennas 1-4; use antenna_switching = \"work_antenna\" for an 8-port reader"),
                AntennaSwitching::WorkAntenna => (8, "the reader has antennas 1-8"),
            };
            if let Some(a) = self.r2000_antennas().iter().find(|&&a| a == 0 || a > max) {
                return Err(format!(
                    "device {}: r2000.antennas: antenna {a} is out of range: {why}",
                    self.id
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Read a file, apply environment overrides and validate.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let mut c = Self::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source: Box::new(source),
        })?;
        c.apply_env(|k| std::env::var(k).ok());
        c.validate()?;
        Ok(c)
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Apply `BRIDGE_SERVER_URL`, `BRIDGE_TOKEN`, `BRIDGE_QUEUE_PATH`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(v) = get("BRIDGE_SERVER_URL").filter(|v| !v.is_empty()) {
            self.server_url = v;
        }
        if let Some(v) = get("BRIDGE_TOKEN").filter(|v| !v.is_empty()) {
            self.token = v;
        }
        if let Some(v) = get("BRIDGE_QUEUE_PATH").filter(|v| !v.is_empty()) {
            self.queue_path = v.into();
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if !(self.server_url.starts_with("http://") || self.server_url.starts_with("https://")) {
            return bad(format!(
                "server_url {:?} must start with http:// or https://",
                self.server_url
            ));
        }
        if self.delivery.batch_size == 0 || self.delivery.batch_size > 5000 {
            return bad("delivery.batch_size must be 1..=5000".into());
        }
        self.scan
            .folder
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("scan.folder: {e}")))?;
        let mut ids = std::collections::HashSet::new();
        for d in &self.devices {
            if !ids.insert(d.id.as_str()) {
                return bad(format!("device id {} is used twice", d.id));
            }
            d.validate().map_err(ConfigError::Invalid)?;
        }
        Ok(())
    }

    /// The server URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.server_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses_and_validates() {
        let text = include_str!("../bridge.example.toml");
        let c = Config::parse(text).unwrap();
        c.validate().unwrap();
        assert!(c.devices.len() >= 4);
        assert_eq!(c.scan.gs1_company_prefix.as_deref(), Some("0614141"));
    }

    #[test]
    fn env_overrides() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "BRIDGE_SERVER_URL" => Some("https://tracker.example".into()),
            "BRIDGE_TOKEN" => Some("secret".into()),
            _ => None,
        });
        assert_eq!(c.server_url, "https://tracker.example");
        assert_eq!(c.token, "secret");
    }

    #[test]
    fn a_device_has_exactly_one_transport() {
        let device = |tables: &str| {
            Config::parse(&format!(
                "server_url = \"http://x\"\n[[devices]]\nid = \"d\"\nrole = \"handheld\"\nprotocol = \"line\"\n{tables}"
            ))
        };
        let none = device("").unwrap_err().to_string();
        assert!(
            none.contains("give exactly one of serial, tcp, usb, hidraw"),
            "{none}"
        );
        let two =
            device("serial = { path = \"/dev/ttyUSB0\" }\ntcp = { address = \"10.0.0.1:5084\" }")
                .unwrap_err()
                .to_string();
        assert!(two.contains("device d: give exactly one"), "{two}");
        let one = device("serial = { path = \"/dev/ttyUSB0\" }").unwrap();
        let d = &one.devices[0];
        assert!(matches!(&d.transport, DeviceTransport::Serial(s) if s.path == "/dev/ttyUSB0"));
        assert_eq!(d.transport.kind(), "serial");
        // written back, it reads the same
        let again: DeviceConfig = toml::from_str(&toml::to_string(d).unwrap()).unwrap();
        assert_eq!(&again, d);
    }

    #[test]
    fn rejects_mistakes() {
        assert!(Config::parse("servr_url = \"x\"").is_err()); // typo
        let c = Config::parse(
            r#"
            server_url = "http://x"
            [[devices]]
            id = "p"
            role = "portal"
            protocol = "line"
            serial = { path = "/dev/ttyUSB0" }
            "#,
        )
        .unwrap();
        assert!(c.validate().is_err());
        let c = Config::parse(
            r#"
            server_url = "http://x"
            [[devices]]
            id = "p"
            role = "portal"
            protocol = "llrp"
            serial = { path = "/dev/ttyUSB0" }
            "#,
        )
        .unwrap();
        assert!(c.validate().is_err());
    }
}
