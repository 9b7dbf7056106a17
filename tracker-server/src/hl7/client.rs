//! A blocking MLLP client: sends one framed message and waits for its acknowledgement, as an
//! interface engine does. Used by the demo's simulated PAS and the HL7 benchmark.

use super::mllp;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One MLLP connection.
pub struct MllpClient {
    stream: TcpStream,
    dec: mllp::Decoder,
    buf: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("HL7 connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("the HL7 listener closed the connection before answering")]
    Closed,
    #[error("the HL7 listener sent a broken frame: {0}")]
    Frame(#[from] mllp::FrameError),
}

impl MllpClient {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Self, ClientError> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        Ok(Self {
            stream,
            dec: mllp::Decoder::new(1024 * 1024),
            buf: vec![0; 16 * 1024],
        })
    }

    /// Send one message (bytes as they go on the wire) and return its acknowledgement.
    pub fn send(&mut self, message: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.stream.write_all(&mllp::frame(message))?;
        loop {
            if let Some(frame) = self.dec.next_frame() {
                return Ok(frame?);
            }
            let n = self.stream.read(&mut self.buf)?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.dec.push(&self.buf[..n]);
        }
    }
}
