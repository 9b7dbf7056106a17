//! Raw TCP ("port 9100") transport.

use super::status::{complete_strings, parse_host_status, PrinterStatus};
use super::{PrintError, PrinterTransport, Timeouts};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

/// A connection to a network printer. Zebra printers serve one connection at a time, so keep it
/// only as long as needed.
#[derive(Debug)]
pub struct TcpPrinter {
    stream: TcpStream,
    addr: String,
    timeouts: Timeouts,
}

impl TcpPrinter {
    /// Connect to `host:port`, trying each resolved address within the connect timeout.
    pub fn connect(addr: &str, timeouts: Timeouts) -> Result<Self, PrintError> {
        let conn_err = |source| PrintError::Connect {
            addr: addr.to_string(),
            source,
        };
        let mut last = None;
        for sa in addr.to_socket_addrs().map_err(conn_err)? {
            match TcpStream::connect_timeout(&sa, timeouts.connect) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(timeouts.read))?;
                    stream.set_write_timeout(Some(timeouts.write))?;
                    stream.set_nodelay(true)?;
                    tracing::debug!(%addr, "connected to printer");
                    return Ok(Self {
                        stream,
                        addr: addr.to_string(),
                        timeouts,
                    });
                }
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    last = Some(PrintError::Timeout(timeouts.connect))
                }
                Err(e) => last = Some(conn_err(e)),
            }
        }
        Err(last
            .unwrap_or_else(|| conn_err(std::io::Error::new(ErrorKind::NotFound, "no address"))))
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

impl PrinterTransport for TcpPrinter {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
        self.stream.write_all(bytes).map_err(|e| {
            if is_timeout(&e) {
                PrintError::Timeout(self.timeouts.write)
            } else {
                PrintError::Io(e)
            }
        })?;
        self.stream.flush()?;
        Ok(())
    }

    fn status(&mut self) -> Result<PrinterStatus, PrintError> {
        self.send(b"~HS")?;
        let deadline = Instant::now() + self.timeouts.read;
        let mut buf = Vec::with_capacity(128);
        let mut chunk = [0u8; 256];
        while complete_strings(&buf) < 3 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PrintError::Timeout(self.timeouts.read));
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(PrintError::Io(std::io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "printer closed the connection during ~HS",
                    )))
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => return Err(PrintError::Timeout(self.timeouts.read)),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(PrintError::Io(e)),
            }
            if buf.len() > 4096 {
                break;
            }
        }
        self.stream.set_read_timeout(Some(self.timeouts.read))?;
        Ok(parse_host_status(&buf)?)
    }
}
