//! Byte-stream transports: serial ports (RS-232, USB-CDC, pseudo-terminals), TCP (LLRP),
//! hidraw device files and USB interrupt endpoints through libusb.
//!
//! `read` returns `Ok(0)` when nothing arrived within the transport's short read timeout, and
//! an error when the device is gone (unplugged, connection closed), so the device loop can
//! reopen it.

use crate::config::{
    DeviceConfig, DeviceTransport, HidrawConfig, SerialConfig, TcpConfig, UsbConfig,
};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Read timeout used by every transport so device loops can run timers.
pub const POLL: Duration = Duration::from_millis(50);

pub trait Transport: Send {
    /// Read what is available; `Ok(0)` = nothing within the poll interval.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_all(&mut self, data: &[u8]) -> io::Result<()>;
    /// Human description for logs (no secrets, no payloads).
    fn describe(&self) -> String;
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// A serial port (or pty).
pub struct SerialTransport {
    port: serialport::TTYPort,
    path: String,
}

impl SerialTransport {
    pub fn open(cfg: &SerialConfig) -> io::Result<Self> {
        let port = serialport::new(&cfg.path, cfg.baud)
            .timeout(POLL)
            .exclusive(cfg.exclusive)
            .open_native()
            .map_err(io::Error::from)?;
        Ok(Self {
            port,
            path: cfg.path.clone(),
        })
    }
}

impl Transport for SerialTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.port.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if is_timeout(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        Write::write_all(&mut self.port, data)?;
        self.port.flush()
    }
    fn describe(&self) -> String {
        format!("serial {}", self.path)
    }
}

/// A TCP connection (LLRP readers).
pub struct TcpTransport {
    stream: TcpStream,
    address: String,
}

impl TcpTransport {
    pub fn connect(cfg: &TcpConfig) -> io::Result<Self> {
        let addr =
            cfg.address.to_socket_addrs()?.next().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "address did not resolve")
            })?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(POLL))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            address: cfg.address.clone(),
        })
    }
}

impl Transport for TcpTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.stream.read(buf) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            )),
            Ok(n) => Ok(n),
            Err(e) if is_timeout(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data)
    }
    fn describe(&self) -> String {
        format!("tcp {}", self.address)
    }
}

/// `/dev/hidrawN`: each read returns one report. Reads block until a report arrives.
pub struct HidrawTransport {
    file: std::fs::File,
    path: String,
}

impl HidrawTransport {
    pub fn open(cfg: &HidrawConfig) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&cfg.path)?;
        Ok(Self {
            file,
            path: cfg.path.display().to_string(),
        })
    }
}

impl Transport for HidrawTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.file.read(buf) {
            Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "device gone")),
            r => r,
        }
    }
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)
    }
    fn describe(&self) -> String {
        format!("hidraw {}", self.path)
    }
}

/// The part of libusb the bridge needs, behind a trait so decoding can be tested without a
/// device (USB devices cannot be attached on the build machines).
pub trait UsbInterrupt: Send {
    /// One interrupt IN transfer (one report); `Ok(0)` on timeout.
    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
}

/// A scanner's HID interface claimed through libusb.
pub struct RusbInterrupt {
    handle: rusb::DeviceHandle<rusb::Context>,
    endpoint: u8,
}

fn usb_err(e: rusb::Error) -> io::Error {
    let kind = match e {
        rusb::Error::Timeout => io::ErrorKind::TimedOut,
        rusb::Error::NoDevice | rusb::Error::NotFound => io::ErrorKind::NotFound,
        rusb::Error::Access => io::ErrorKind::PermissionDenied,
        rusb::Error::Busy => io::ErrorKind::ResourceBusy,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl RusbInterrupt {
    pub fn open(cfg: &UsbConfig) -> io::Result<Self> {
        use rusb::UsbContext;
        let ctx = rusb::Context::new().map_err(usb_err)?;
        for dev in ctx.devices().map_err(usb_err)?.iter() {
            let d = dev.device_descriptor().map_err(usb_err)?;
            if d.vendor_id() != cfg.vendor_id || d.product_id() != cfg.product_id {
                continue;
            }
            let handle = dev.open().map_err(usb_err)?;
            if let Some(want) = &cfg.serial {
                let got = handle
                    .read_serial_number_string_ascii(&d)
                    .unwrap_or_default();
                if &got != want {
                    continue;
                }
            }
            let _ = handle.set_auto_detach_kernel_driver(true);
            handle.claim_interface(cfg.interface).map_err(usb_err)?;
            let conf = dev.active_config_descriptor().map_err(usb_err)?;
            let endpoint = conf
                .interfaces()
                .filter(|i| i.number() == cfg.interface)
                .flat_map(|i| i.descriptors())
                .flat_map(|alt| alt.endpoint_descriptors().collect::<Vec<_>>())
                .find(|e| {
                    e.direction() == rusb::Direction::In
                        && e.transfer_type() == rusb::TransferType::Interrupt
                })
                .map(|e| e.address())
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "no interrupt IN endpoint")
                })?;
            return Ok(Self { handle, endpoint });
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "USB device {:04x}:{:04x} not present",
                cfg.vendor_id, cfg.product_id
            ),
        ))
    }
}

impl UsbInterrupt for RusbInterrupt {
    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        match self.handle.read_interrupt(self.endpoint, buf, timeout) {
            Ok(n) => Ok(n),
            Err(rusb::Error::Timeout) => Ok(0),
            Err(e) => Err(usb_err(e)),
        }
    }
}

/// Adapts a [`UsbInterrupt`] to a [`Transport`]. Reports shorter than `report_len` (some
/// devices drop the report id, or send short boot reports) are padded / realigned so that the
/// decoder always sees whole reports.
pub struct UsbTransport<U: UsbInterrupt> {
    dev: U,
    report_len: usize,
    name: String,
}

impl<U: UsbInterrupt> UsbTransport<U> {
    pub fn new(dev: U, report_len: usize, name: String) -> Self {
        Self {
            dev,
            report_len,
            name,
        }
    }
}

impl<U: UsbInterrupt> Transport for UsbTransport<U> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut report = vec![0u8; self.report_len.max(64)];
        let n = self.dev.read_report(&mut report, POLL)?;
        if n == 0 {
            return Ok(0);
        }
        // Always hand over exactly one report of the expected size.
        let len = self.report_len.min(buf.len());
        buf[..len].fill(0);
        buf[..n.min(len)].copy_from_slice(&report[..n.min(len)]);
        Ok(len)
    }
    fn write_all(&mut self, _data: &[u8]) -> io::Result<()> {
        Ok(()) // HID scanners need no answers
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// A USB device found by [`list_usb_scanners`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDeviceInfo {
    pub vendor_id: u16,
    pub product_id: u16,
    pub bus: u8,
    pub address: u8,
    pub vendor: &'static str,
}

/// Known scanner vendors.
pub const SCANNER_VENDORS: [(u16, &str); 3] = [
    (0x0C2E, "Honeywell"),
    (0x05E0, "Zebra"),
    (0x05F9, "Datalogic"),
];

/// Scanners (by vendor id) on the USB bus. No USB subsystem (a container, a CI runner) is
/// reported as an empty list, not an error.
pub fn list_usb_scanners() -> Vec<UsbDeviceInfo> {
    use rusb::UsbContext;
    // Not the global context: rusb panics if that cannot be initialised.
    let Ok(ctx) = rusb::Context::new() else {
        return Vec::new();
    };
    let Ok(list) = ctx.devices() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|d| {
            let desc = d.device_descriptor().ok()?;
            let vendor = SCANNER_VENDORS
                .iter()
                .find(|(v, _)| *v == desc.vendor_id())?
                .1;
            Some(UsbDeviceInfo {
                vendor_id: desc.vendor_id(),
                product_id: desc.product_id(),
                bus: d.bus_number(),
                address: d.address(),
                vendor,
            })
        })
        .collect()
}

/// Open the transport a device is configured with.
pub fn open(cfg: &DeviceConfig) -> io::Result<Box<dyn Transport>> {
    Ok(match &cfg.transport {
        DeviceTransport::Serial(s) => Box::new(SerialTransport::open(s)?),
        DeviceTransport::Tcp(t) => Box::new(TcpTransport::connect(t)?),
        DeviceTransport::Hidraw(h) => Box::new(HidrawTransport::open(h)?),
        DeviceTransport::Usb(u) => {
            let report_len = match cfg.protocol {
                crate::config::Protocol::Wedge => crate::frames::hid::BOOT_REPORT_LEN,
                _ => crate::frames::hid::POS_REPORT_LEN,
            };
            let dev = RusbInterrupt::open(u)?;
            Box::new(UsbTransport::new(
                dev,
                report_len,
                format!("usb {:04x}:{:04x}", u.vendor_id, u.product_id),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::hid::{pos_reports, PosDecoder};
    use std::collections::VecDeque;

    /// Recorded interrupt transfers replayed through the USB transport.
    struct Recorded(VecDeque<Vec<u8>>);

    impl UsbInterrupt for Recorded {
        fn read_report(&mut self, buf: &mut [u8], _t: Duration) -> io::Result<usize> {
            match self.0.pop_front() {
                Some(r) => {
                    buf[..r.len()].copy_from_slice(&r);
                    Ok(r.len())
                }
                None => Err(io::Error::new(io::ErrorKind::NotFound, "unplugged")),
            }
        }
    }

    #[test]
    fn usb_reports_through_transport() {
        let mut reports: VecDeque<Vec<u8>> = pos_reports(b"]C0LWARD5")
            .into_iter()
            .map(|r| r.to_vec())
            .collect();
        reports.extend(pos_reports(&[b'7'; 100]).into_iter().map(|r| r.to_vec()));
        let mut t = UsbTransport::new(Recorded(reports), 64, "test".into());
        let mut d = PosDecoder::new();
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        loop {
            match t.read(&mut buf) {
                Ok(n) => got.extend(d.push(&buf[..n]).into_iter().map(|r| r.unwrap().raw)),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::NotFound);
                    break;
                }
            }
        }
        assert_eq!(got, vec!["]C0LWARD5".to_string(), "7".repeat(100)]);
    }

    /// libusb smoke test: enumerating the bus works (and finds nothing on a build machine).
    #[test]
    fn rusb_smoke() {
        let found = list_usb_scanners();
        for d in &found {
            assert!(SCANNER_VENDORS.iter().any(|(v, _)| *v == d.vendor_id));
        }
        // opening an absent device is a clean NotFound (or no USB subsystem at all)
        let err = RusbInterrupt::open(&UsbConfig {
            vendor_id: 0xFFFF,
            product_id: 0xFFFF,
            serial: None,
            interface: 0,
        })
        .err()
        .expect("no such device");
        assert!(
            matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::Other),
            "{err}"
        );
    }

    #[test]
    fn pty_serial_transport() {
        let (mut master, slave) = serialport::TTYPort::pair().unwrap();
        let path = serialport::SerialPort::name(&slave).unwrap();
        let mut t = SerialTransport::open(&SerialConfig {
            path,
            baud: 9600,
            exclusive: false,
        })
        .unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(t.read(&mut buf).unwrap(), 0, "timeout is Ok(0)");
        Write::write_all(&mut master, b"]C0LWARD5\r").unwrap();
        let mut got = Vec::new();
        for _ in 0..40 {
            let n = t.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            if got.ends_with(b"\r") {
                break;
            }
        }
        assert_eq!(got, b"]C0LWARD5\r");
        t.write_all(b"ACK").unwrap();
        let mut back = [0u8; 3];
        master.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ACK");
    }
}
