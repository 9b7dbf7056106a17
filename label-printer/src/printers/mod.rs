//! Printer transports and status.
//!
//! A [`PrinterTransport`] sends raw bytes (ZPL) and asks the printer for its [`PrinterStatus`]
//! (`~HS`). Transports, chosen by a [`PrinterUrl`]:
//!
//! | URL | transport | status |
//! |---|---|---|
//! | `tcp://host[:9100]` | raw TCP ("port 9100", JetDirect) with connect/read/write timeouts | yes |
//! | `usb://` or `usb://0a5f[:00d1]` | USB printer class (0x07), bulk OUT; first Zebra if no id | if a bulk IN endpoint exists |
//! | `lp://queue` | CUPS/lpd spooler: `lp -d queue -o raw` | no |
//! | `file:///path` | append to a file (tests, capture, a printer device node) | no |
//!
//! A printer that does not answer `~HS` in time gives [`PrintError::Timeout`] (Zebra printers
//! stay silent with the head open).

pub mod status;
pub mod tcp;
pub mod usb;

pub use status::{parse_host_status, PrinterProblem, PrinterStatus, StatusError};
pub use tcp::TcpPrinter;
pub use usb::{list_usb_printers, UsbPrinter, UsbPrinterInfo, ZEBRA_VID};

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Why printing or asking for status failed. The job stays with the caller for a retry.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("printer did not answer within {0:?} (switched off, head open, or wrong address?)")]
    Timeout(Duration),
    #[error("cannot connect to printer {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("printer connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("printer not ready: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    NotReady(Vec<PrinterProblem>),
    #[error("printer status answer not understood: {0}")]
    BadStatus(#[from] StatusError),
    #[error("{0} cannot report printer status")]
    StatusUnsupported(&'static str),
    #[error("USB: {0}")]
    Usb(String),
    #[error("no USB label printer found ({0})")]
    NoUsbPrinter(String),
    #[error("print spooler: {0}")]
    Spooler(String),
    #[error("printer address {0}")]
    BadUrl(String),
}

/// Something that can take ZPL and (maybe) report status.
pub trait PrinterTransport {
    /// Send raw bytes to the printer.
    fn send(&mut self, bytes: &[u8]) -> Result<(), PrintError>;
    /// Ask the printer for its status (`~HS`).
    fn status(&mut self) -> Result<PrinterStatus, PrintError>;
}

impl<T: PrinterTransport + ?Sized> PrinterTransport for Box<T> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
        (**self).send(bytes)
    }
    fn status(&mut self) -> Result<PrinterStatus, PrintError> {
        (**self).status()
    }
}

/// Timeouts for talking to a printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// How long to wait for a status answer.
    pub read: Duration,
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(3),
            write: Duration::from_secs(15),
        }
    }
}

/// Where a printer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterUrl {
    Tcp { host: String, port: u16 },
    File(PathBuf),
    Lp { queue: String },
    Usb { vid: u16, pid: Option<u16> },
}

impl std::str::FromStr for PrinterUrl {
    type Err = PrintError;
    fn from_str(s: &str) -> Result<Self, PrintError> {
        PrinterUrl::parse(s)
    }
}

impl std::fmt::Display for PrinterUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Self::File(p) => write!(f, "file://{}", p.display()),
            Self::Lp { queue } => write!(f, "lp://{queue}"),
            Self::Usb { vid, pid: Some(p) } => write!(f, "usb://{vid:04x}:{p:04x}"),
            Self::Usb { vid, pid: None } => write!(f, "usb://{vid:04x}"),
        }
    }
}

impl PrinterUrl {
    /// Parse `tcp://host:9100`, `file:///path`, `lp://queue`, `usb://0a5f:00d1` or `usb://`.
    pub fn parse(s: &str) -> Result<Self, PrintError> {
        let bad = |why: &str| PrintError::BadUrl(format!("{s:?}: {why}"));
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| bad("expected tcp://, usb://, lp:// or file://"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "tcp" => {
                let rest = rest.trim_end_matches('/');
                let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
                    let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
                    (h.to_string(), after.strip_prefix(':'))
                } else {
                    match rest.rsplit_once(':') {
                        Some((h, p)) => (h.to_string(), Some(p)),
                        None => (rest.to_string(), None),
                    }
                };
                if host.is_empty() {
                    return Err(bad("no host"));
                }
                let port = match port {
                    Some(p) => p
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| bad("bad port"))?,
                    None => 9100,
                };
                Ok(Self::Tcp { host, port })
            }
            "file" => {
                if rest.is_empty() {
                    return Err(bad("no path"));
                }
                let path = PathBuf::from(rest);
                // An absolute path that names its directory plainly: no `..` to climb out.
                if !path.is_absolute()
                    || path
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    return Err(bad("file printers need an absolute path without '..'"));
                }
                Ok(Self::File(path))
            }
            "lp" => {
                let q = rest.trim_end_matches('/');
                if q.is_empty()
                    || !q
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
                {
                    return Err(bad("queue name must be letters, digits, - _ . @"));
                }
                Ok(Self::Lp {
                    queue: q.to_string(),
                })
            }
            "usb" => {
                let rest = rest.trim_end_matches('/');
                if rest.is_empty() {
                    return Ok(Self::Usb {
                        vid: ZEBRA_VID,
                        pid: None,
                    });
                }
                let hex = |v: &str| {
                    u16::from_str_radix(v, 16).map_err(|_| bad("ids are hex, e.g. usb://0a5f:00d1"))
                };
                match rest.split_once(':') {
                    Some((v, p)) => Ok(Self::Usb {
                        vid: hex(v)?,
                        pid: Some(hex(p)?),
                    }),
                    None => Ok(Self::Usb {
                        vid: hex(rest)?,
                        pid: None,
                    }),
                }
            }
            _ => Err(bad("unknown scheme")),
        }
    }
}

/// Open a transport for a URL.
pub fn open_printer(
    url: &PrinterUrl,
    timeouts: Timeouts,
) -> Result<Box<dyn PrinterTransport>, PrintError> {
    Ok(match url {
        PrinterUrl::Tcp { host, port } => {
            let addr = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            Box::new(TcpPrinter::connect(&addr, timeouts)?)
        }
        PrinterUrl::File(p) => Box::new(FilePrinter { path: p.clone() }),
        PrinterUrl::Lp { queue } => Box::new(LpPrinter {
            queue: queue.clone(),
        }),
        PrinterUrl::Usb { vid, pid } => Box::new(UsbPrinter::open(*vid, *pid, timeouts)?),
    })
}

/// Appends the bytes to a file. No status.
#[derive(Debug, Clone)]
pub struct FilePrinter {
    pub path: PathBuf,
}

impl PrinterTransport for FilePrinter {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(bytes)?;
        f.flush()?;
        Ok(())
    }
    fn status(&mut self) -> Result<PrinterStatus, PrintError> {
        Err(PrintError::StatusUnsupported("a file"))
    }
}

/// Sends through the system spooler: `lp -d <queue> -o raw`. No status.
#[derive(Debug, Clone)]
pub struct LpPrinter {
    pub queue: String,
}

impl PrinterTransport for LpPrinter {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
        let mut child = Command::new("lp")
            .args(["-d", &self.queue, "-o", "raw"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| PrintError::Spooler(format!("cannot run lp: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(bytes)?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(PrintError::Spooler(format!(
                "lp -d {} failed ({}): {}",
                self.queue,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        tracing::info!(queue = %self.queue, answer = %String::from_utf8_lossy(&out.stdout).trim(), "spooled");
        Ok(())
    }
    fn status(&mut self) -> Result<PrinterStatus, PrintError> {
        Err(PrintError::StatusUnsupported("the lp spooler"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            PrinterUrl::parse("tcp://zebra-ward5:9100").unwrap(),
            PrinterUrl::Tcp {
                host: "zebra-ward5".into(),
                port: 9100
            }
        );
        assert_eq!(
            PrinterUrl::parse("tcp://10.1.2.3").unwrap(),
            PrinterUrl::Tcp {
                host: "10.1.2.3".into(),
                port: 9100
            }
        );
        assert_eq!(
            PrinterUrl::parse("tcp://[::1]:6101").unwrap(),
            PrinterUrl::Tcp {
                host: "::1".into(),
                port: 6101
            }
        );
        assert_eq!(
            PrinterUrl::parse("file:///tmp/out.zpl").unwrap(),
            PrinterUrl::File("/tmp/out.zpl".into())
        );
        assert_eq!(
            PrinterUrl::parse("lp://Zebra_ZD421").unwrap(),
            PrinterUrl::Lp {
                queue: "Zebra_ZD421".into()
            }
        );
        assert_eq!(
            PrinterUrl::parse("usb://").unwrap(),
            PrinterUrl::Usb {
                vid: 0x0A5F,
                pid: None
            }
        );
        assert_eq!(
            PrinterUrl::parse("usb://0a5f:00d1").unwrap(),
            PrinterUrl::Usb {
                vid: 0x0A5F,
                pid: Some(0x00D1)
            }
        );
        for bad in [
            "zebra:9100",
            "tcp://",
            "tcp://h:0",
            "tcp://h:99999",
            "lp://a b",
            "usb://zz",
            "ftp://x",
            "file://",
            "file://relative/out.zpl",
            "file://../../etc/cron.d/x",
            "file:///tmp/../etc/cron.d/x",
        ] {
            assert!(PrinterUrl::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PrinterUrl::parse("usb://0a5f:00d1").unwrap().to_string(),
            "usb://0a5f:00d1"
        );
        assert_eq!(
            PrinterUrl::parse("tcp://h").unwrap().to_string(),
            "tcp://h:9100"
        );
    }

    #[test]
    fn file_printer_appends_and_has_no_status() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.zpl");
        let mut p = open_printer(&PrinterUrl::File(path.clone()), Timeouts::default()).unwrap();
        p.send(b"^XA^XZ").unwrap();
        p.send(b"^XA^XZ").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"^XA^XZ^XA^XZ");
        assert!(matches!(p.status(), Err(PrintError::StatusUnsupported(_))));
    }

    #[test]
    fn not_ready_names_the_conditions() {
        let e = PrintError::NotReady(vec![PrinterProblem::PaperOut, PrinterProblem::HeadOpen]);
        assert_eq!(
            e.to_string(),
            "printer not ready: paper out (no labels), head open"
        );
    }
}
