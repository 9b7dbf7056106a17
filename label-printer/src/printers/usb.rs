//! USB printer-class transport (interface class 0x07) through libusb (`rusb`).
//!
//! Data goes to the interface's bulk OUT endpoint; `~HS` answers are read from its bulk IN
//! endpoint when the printer has one (Zebra printers do: "bidirectional" mode). On Linux the
//! `usblp` kernel driver is detached while the interface is claimed.

use super::status::{complete_strings, parse_host_status, PrinterStatus};
use super::{PrintError, PrinterTransport, Timeouts};
use rusb::{Context, Direction, TransferType, UsbContext};
use std::time::Instant;

/// Zebra Technologies' USB vendor id.
pub const ZEBRA_VID: u16 = 0x0A5F;
/// USB interface class "printer".
pub const PRINTER_CLASS: u8 = 0x07;

fn usb_context() -> Result<Context, PrintError> {
    Context::new().map_err(|e| {
        PrintError::Usb(format!(
            "cannot start libusb ({e}); is USB available here (/dev/bus/usb) and readable?"
        ))
    })
}

/// A USB printer found on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbPrinterInfo {
    pub bus: u8,
    pub address: u8,
    pub vid: u16,
    pub pid: u16,
    pub interface: u8,
    pub endpoint_out: u8,
    pub endpoint_in: Option<u8>,
}

fn usb_err(e: rusb::Error) -> PrintError {
    PrintError::Usb(e.to_string())
}

fn printer_interface(dev: &rusb::Device<Context>) -> Option<(u8, u8, Option<u8>)> {
    let cfg = dev
        .active_config_descriptor()
        .or_else(|_| dev.config_descriptor(0))
        .ok()?;
    for iface in cfg.interfaces() {
        for alt in iface.descriptors() {
            if alt.class_code() != PRINTER_CLASS {
                continue;
            }
            let mut out = None;
            let mut inp = None;
            for ep in alt.endpoint_descriptors() {
                if ep.transfer_type() != TransferType::Bulk {
                    continue;
                }
                match ep.direction() {
                    Direction::Out if out.is_none() => out = Some(ep.address()),
                    Direction::In if inp.is_none() => inp = Some(ep.address()),
                    _ => {}
                }
            }
            if let Some(o) = out {
                return Some((alt.interface_number(), o, inp));
            }
        }
    }
    None
}

/// List USB printer-class devices, of vendor `vid` if given. Zero devices is `Ok(vec![])`.
pub fn list_usb_printers(vid: Option<u16>) -> Result<Vec<UsbPrinterInfo>, PrintError> {
    // A fresh context (not rusb's global one, which panics when libusb cannot start, e.g. in a
    // container without /dev/bus/usb).
    let devices = Context::new()
        .map_err(usb_err)?
        .devices()
        .map_err(usb_err)?;
    let mut found = Vec::new();
    for dev in devices.iter() {
        let Ok(desc) = dev.device_descriptor() else {
            continue;
        };
        if vid.is_some_and(|v| v != desc.vendor_id()) {
            continue;
        }
        if let Some((interface, endpoint_out, endpoint_in)) = printer_interface(&dev) {
            found.push(UsbPrinterInfo {
                bus: dev.bus_number(),
                address: dev.address(),
                vid: desc.vendor_id(),
                pid: desc.product_id(),
                interface,
                endpoint_out,
                endpoint_in,
            });
        }
    }
    Ok(found)
}

/// An opened USB printer.
pub struct UsbPrinter {
    handle: rusb::DeviceHandle<Context>,
    info: UsbPrinterInfo,
    timeouts: Timeouts,
}

impl std::fmt::Debug for UsbPrinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbPrinter")
            .field("info", &self.info)
            .finish()
    }
}

impl UsbPrinter {
    /// Open the first printer with vendor `vid` (and product `pid` if given).
    pub fn open(vid: u16, pid: Option<u16>, timeouts: Timeouts) -> Result<Self, PrintError> {
        let want = match pid {
            Some(p) => format!("{vid:04x}:{p:04x}"),
            None => format!("vendor {vid:04x}"),
        };
        let info = list_usb_printers(Some(vid))?
            .into_iter()
            .find(|i| pid.is_none_or(|p| p == i.pid))
            .ok_or(PrintError::NoUsbPrinter(want))?;
        let dev = usb_context()?
            .devices()
            .map_err(usb_err)?
            .iter()
            .find(|d| d.bus_number() == info.bus && d.address() == info.address)
            .ok_or_else(|| PrintError::Usb("printer disappeared while opening".into()))?;
        let handle = dev.open().map_err(usb_err)?;
        // Not supported on every platform; harmless where it is not.
        let _ = handle.set_auto_detach_kernel_driver(true);
        handle.claim_interface(info.interface).map_err(usb_err)?;
        tracing::debug!(?info, "opened USB printer");
        Ok(Self {
            handle,
            info,
            timeouts,
        })
    }

    pub fn info(&self) -> &UsbPrinterInfo {
        &self.info
    }
}

impl Drop for UsbPrinter {
    fn drop(&mut self) {
        let _ = self.handle.release_interface(self.info.interface);
    }
}

impl PrinterTransport for UsbPrinter {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
        for chunk in bytes.chunks(16 * 1024) {
            let mut sent = 0;
            while sent < chunk.len() {
                match self.handle.write_bulk(
                    self.info.endpoint_out,
                    &chunk[sent..],
                    self.timeouts.write,
                ) {
                    Ok(n) => sent += n,
                    Err(rusb::Error::Timeout) => {
                        return Err(PrintError::Timeout(self.timeouts.write))
                    }
                    Err(e) => return Err(usb_err(e)),
                }
            }
        }
        Ok(())
    }

    fn status(&mut self) -> Result<PrinterStatus, PrintError> {
        let ep_in = self.info.endpoint_in.ok_or(PrintError::StatusUnsupported(
            "this USB printer (no bulk IN endpoint)",
        ))?;
        self.send(b"~HS")?;
        let deadline = Instant::now() + self.timeouts.read;
        let mut buf = Vec::with_capacity(128);
        let mut chunk = [0u8; 512];
        while complete_strings(&buf) < 3 && buf.len() < 4096 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PrintError::Timeout(self.timeouts.read));
            }
            match self.handle.read_bulk(ep_in, &mut chunk, left) {
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(rusb::Error::Timeout) => return Err(PrintError::Timeout(self.timeouts.read)),
                Err(e) => return Err(usb_err(e)),
            }
        }
        Ok(parse_host_status(&buf)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Smoke test: enumerating works (or fails cleanly) with no printer attached.
    #[test]
    fn list_with_no_printers_attached() {
        match list_usb_printers(Some(ZEBRA_VID)) {
            Ok(list) => {
                for p in &list {
                    assert_eq!(p.vid, ZEBRA_VID);
                }
                eprintln!("USB printers found: {}", list.len());
            }
            // Containers without /dev/bus/usb: libusb cannot start; that must be an error value,
            // not a panic.
            Err(PrintError::Usb(e)) => eprintln!("USB not available here: {e}"),
            Err(e) => panic!("unexpected error {e}"),
        }
        match UsbPrinter::open(ZEBRA_VID, Some(0xFFFF), Timeouts::default()) {
            Err(PrintError::NoUsbPrinter(_)) | Err(PrintError::Usb(_)) => {}
            other => panic!("expected no printer, got {other:?}"),
        }
    }
}
