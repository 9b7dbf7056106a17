//! Serial and USB-CDC line scanners: `[prefix][AIM][data][suffix]`.
//!
//! Frames end on CR, LF, CRLF (or either), on a configured suffix string, or on an inter-byte
//! idle timeout. Noise bytes outside a frame (line glitches when a scanner is plugged in, NULs,
//! 0xFF) are trimmed; a frame with control characters inside it is refused, except GS (0x1D,
//! the GS1 FNC1 separator), RS (0x1E) and EOT (0x04) used by GS1/ISO 15434 formats.

use super::BarcodeRead;
use casenote_core::identifiers::scan::Symbology;
use serde::{Deserialize, Serialize};

/// How the end of a barcode is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Terminator {
    /// Carriage return (0x0D).
    Cr,
    /// Line feed (0x0A).
    Lf,
    /// CR followed by LF.
    CrLf,
    /// CR or LF, whichever comes; CRLF gives one frame.
    #[default]
    Any,
    /// No terminator: a frame ends when the line is idle for `idle_timeout_ms`.
    Idle,
}

/// Line framing settings (see `bridge.example.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LineConfig {
    /// Bytes the scanner sends before each barcode (stripped). Empty = none.
    pub prefix: String,
    /// Bytes the scanner sends after each barcode, before the terminator (stripped).
    pub suffix: String,
    pub terminator: Terminator,
    /// A line quiet for this long ends the frame in progress (0 = off; with
    /// `terminator = "idle"`, 0 means 50 ms). With a terminator, a frame cut off this way had
    /// none: it is dropped with a warning, so a line of noise cannot swallow the next scan.
    /// A scanner sends a whole barcode with a few ms between bytes; people do not scan twice
    /// within 200 ms.
    pub idle_timeout_ms: u64,
    /// Longest frame accepted; longer input is dropped as noise and the framer starts afresh at
    /// the next terminator or quiet gap.
    pub max_len: usize,
}

impl Default for LineConfig {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            suffix: String::new(),
            terminator: Terminator::Any,
            idle_timeout_ms: 200,
            max_len: 1024,
        }
    }
}

/// Why a frame was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("frame longer than {0} bytes discarded")]
    TooLong(usize),
    #[error("frame contains control byte 0x{0:02X}")]
    ControlByte(u8),
    #[error("frame does not start with the configured prefix")]
    MissingPrefix,
    #[error("{0} bytes without a terminator dropped after the line went quiet")]
    Unterminated(usize),
}

/// Incremental line framer.
#[derive(Debug)]
pub struct LineFramer {
    cfg: LineConfig,
    buf: Vec<u8>,
    last_byte_ms: Option<u64>,
    overflow: bool,
}

impl LineFramer {
    pub fn new(cfg: LineConfig) -> Self {
        Self {
            cfg,
            buf: Vec::new(),
            last_byte_ms: None,
            overflow: false,
        }
    }

    fn idle_ms(&self) -> u64 {
        match (self.cfg.terminator, self.cfg.idle_timeout_ms) {
            (Terminator::Idle, 0) => 50,
            (_, t) => t,
        }
    }

    /// Feed bytes received at `now_ms` (any monotonic millisecond clock).
    pub fn push(&mut self, bytes: &[u8], now_ms: u64) -> Vec<Result<BarcodeRead, LineError>> {
        let mut out = Vec::new();
        // A gap before these bytes may end the previous frame.
        out.extend(self.poll_idle(now_ms));
        for &b in bytes {
            let ends = match self.cfg.terminator {
                Terminator::Cr => b == b'\r',
                Terminator::Lf => b == b'\n',
                Terminator::CrLf => b == b'\n' && self.buf.last() == Some(&b'\r'),
                Terminator::Any => b == b'\r' || b == b'\n',
                Terminator::Idle => false,
            };
            if ends {
                if self.cfg.terminator == Terminator::CrLf {
                    self.buf.pop();
                }
                out.extend(self.finish());
                continue;
            }
            if self.buf.len() >= self.cfg.max_len {
                self.overflow = true;
                self.buf.clear();
            }
            self.buf.push(b);
        }
        if !bytes.is_empty() {
            self.last_byte_ms = Some(now_ms);
        }
        out
    }

    /// End a frame that has been idle long enough. Call periodically when no bytes arrive.
    pub fn poll_idle(&mut self, now_ms: u64) -> Option<Result<BarcodeRead, LineError>> {
        let idle = self.idle_ms();
        match self.last_byte_ms {
            Some(last) if idle > 0 && now_ms.saturating_sub(last) >= idle => {
                self.last_byte_ms = None;
                if self.cfg.terminator == Terminator::Idle {
                    return self.finish();
                }
                // A terminator was expected: what came is noise or half a read. Drop it.
                let n = std::mem::take(&mut self.buf).len();
                if std::mem::take(&mut self.overflow) {
                    return Some(Err(LineError::TooLong(self.cfg.max_len)));
                }
                (n > 0).then_some(Err(LineError::Unterminated(n)))
            }
            _ => None,
        }
    }

    fn finish(&mut self) -> Option<Result<BarcodeRead, LineError>> {
        let frame = std::mem::take(&mut self.buf);
        if std::mem::take(&mut self.overflow) {
            return Some(Err(LineError::TooLong(self.cfg.max_len)));
        }
        decode_frame(&frame, &self.cfg).transpose()
    }
}

fn allowed_control(b: u8) -> bool {
    matches!(b, 0x1D | 0x1E | 0x04)
}

fn is_noise(b: u8) -> bool {
    !(0x20..0x7F).contains(&b) && !allowed_control(b)
}

/// Turn one complete frame (terminator removed) into a read. `Ok(None)` for an empty frame.
pub fn decode_frame(frame: &[u8], cfg: &LineConfig) -> Result<Option<BarcodeRead>, LineError> {
    let mut f = frame;
    let prefix = cfg.prefix.as_bytes();
    if !prefix.is_empty() {
        // Garbage before the prefix is dropped.
        match f.windows(prefix.len()).position(|w| w == prefix) {
            Some(p) => f = &f[p + prefix.len()..],
            None => return Err(LineError::MissingPrefix),
        }
    }
    let suffix = cfg.suffix.as_bytes();
    if !suffix.is_empty() {
        if let Some(p) = f.windows(suffix.len()).rposition(|w| w == suffix) {
            f = &f[..p];
        }
    }
    // Trim noise at both edges.
    while let Some((&b, rest)) = f.split_first() {
        if is_noise(b) || b == b' ' {
            f = rest;
        } else {
            break;
        }
    }
    while let Some((&b, rest)) = f.split_last() {
        if is_noise(b) || b == b' ' {
            f = rest;
        } else {
            break;
        }
    }
    if let Some(&b) = f.iter().find(|&&b| is_noise(b)) {
        return Err(LineError::ControlByte(b));
    }
    if f.is_empty() {
        return Ok(None);
    }
    Ok(Some(BarcodeRead::from_bytes(f, Symbology::Unknown)))
}

/// The line protocol as a [`super::ProtocolSession`]: no handshake; a read ends at the
/// terminator, or when the line has been quiet for the configured time.
pub struct LineSession(LineFramer);

impl LineSession {
    pub fn new(cfg: LineConfig) -> Self {
        Self(LineFramer::new(cfg))
    }
}

impl super::ProtocolSession for LineSession {
    fn feed(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
        _idle_ms: u64,
        out: &mut Vec<super::Step>,
    ) -> Result<(), super::SessionFault> {
        let mut reads = self.0.push(bytes, now_ms);
        if bytes.is_empty() {
            reads.extend(self.0.poll_idle(now_ms));
        }
        for r in reads {
            out.push(match r {
                Ok(read) => super::Step::Barcode {
                    read,
                    ack: Vec::new(),
                },
                Err(e) => super::Step::Warn(format!("frame dropped: {e}")),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer(t: Terminator) -> LineFramer {
        LineFramer::new(LineConfig {
            terminator: t,
            ..Default::default()
        })
    }

    fn ok(v: Vec<Result<BarcodeRead, LineError>>) -> Vec<String> {
        v.into_iter().map(|r| r.unwrap().raw).collect()
    }

    #[test]
    fn cr_lf_crlf_and_any() {
        let mut f = framer(Terminator::Cr);
        let r = f.push(b"]C0F0000123457\r", 0);
        assert_eq!(r[0].as_ref().unwrap().symbology, Symbology::Code128);
        assert_eq!(ok(r), vec!["]C0F0000123457"]);
        let mut f = framer(Terminator::Lf);
        assert_eq!(ok(f.push(b"ABC\nDEF\n", 0)), vec!["ABC", "DEF"]);
        let mut f = framer(Terminator::CrLf);
        assert_eq!(ok(f.push(b"ABC\r\nDEF\r", 0)), vec!["ABC"]);
        assert_eq!(ok(f.push(b"\n", 1)), vec!["DEF"]);
        let mut f = framer(Terminator::Any);
        assert_eq!(
            ok(f.push(b"ABC\r\nDEF\rGHI\n", 0)),
            vec!["ABC", "DEF", "GHI"]
        );
    }

    #[test]
    fn split_anywhere_and_truncated() {
        let mut f = framer(Terminator::CrLf);
        let input = b"]C0LWARD5\r\n]A0NR\r\n";
        let mut got = Vec::new();
        for b in input.iter() {
            got.extend(ok(f.push(&[*b], 0)));
        }
        assert_eq!(got, vec!["]C0LWARD5", "]A0NR"]);
        // truncated: no terminator -> nothing yet; once the line is quiet, dropped
        assert!(f.push(b"]C0F00", 10).is_empty());
        assert!(f.poll_idle(100).is_none());
        assert_eq!(f.poll_idle(300), Some(Err(LineError::Unterminated(6))));
    }

    #[test]
    fn an_overlong_line_without_terminator_does_not_swallow_the_next_scan() {
        // the default settings: a glitch sends 2,000 bytes of noise with no terminator
        let mut f = LineFramer::new(LineConfig::default());
        let noise = vec![b'Z'; 2000];
        let r = f.push(&noise, 0);
        assert!(r.is_empty(), "{r:?}");
        // the porter scans a folder a second later: the noise is dropped, the scan is read
        let r = f.push(b"]C0F0000001U\r", 1000);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0], Err(LineError::TooLong(1024)));
        assert_eq!(r[1].as_ref().unwrap().raw, "]C0F0000001U");
        // a short unterminated fragment before a scan is dropped the same way
        let r = f.push(b"]C0LWA", 2000);
        assert!(r.is_empty());
        let r = f.push(b"]C0LWARD5\r", 2400);
        assert_eq!(r[0], Err(LineError::Unterminated(6)));
        assert_eq!(r[1].as_ref().unwrap().raw, "]C0LWARD5");
        // with the quiet gap switched off, the old behaviour: the fragment and the scan merge
        let mut f = LineFramer::new(LineConfig {
            idle_timeout_ms: 0,
            ..Default::default()
        });
        f.push(b"]C0LWA", 0);
        assert_eq!(ok(f.push(b"]C0LWARD5\r", 400)), vec!["]C0LWA]C0LWARD5"]);
    }

    #[test]
    fn garbage_between_frames() {
        let mut f = framer(Terminator::Cr);
        let r = ok(f.push(b"\x00\xff]C0F0000123457\r\x00\x00\xfe]C0LWARD5\r", 0));
        assert_eq!(r, vec!["]C0F0000123457", "]C0LWARD5"]);
        // a control byte inside a frame refuses the frame only
        let r = f.push(b"AB\x07CD\rEF\r", 0);
        assert_eq!(r[0], Err(LineError::ControlByte(0x07)));
        assert_eq!(r[1].as_ref().unwrap().raw, "EF");
    }

    #[test]
    fn gs1_with_group_separator() {
        let mut f = framer(Terminator::Cr);
        let r = f.push(b"]C18004061414112345\x1d41406141410000005\r", 0);
        let read = r[0].as_ref().unwrap();
        assert_eq!(read.symbology, Symbology::Gs1_128);
        assert!(read.raw.contains('\u{1d}'));
    }

    #[test]
    fn prefix_suffix() {
        let mut f = LineFramer::new(LineConfig {
            prefix: "\u{2}".into(),
            suffix: "\u{3}".into(),
            terminator: Terminator::Cr,
            ..Default::default()
        });
        assert_eq!(ok(f.push(b"\x00\x02]C0ABC\x03\r", 0)), vec!["]C0ABC"]);
        let mut f = LineFramer::new(LineConfig {
            prefix: "#".into(),
            suffix: "$".into(),
            terminator: Terminator::Cr,
            ..Default::default()
        });
        assert_eq!(ok(f.push(b"zz#]C0LWARD5$\r", 0)), vec!["]C0LWARD5"]);
        assert_eq!(
            f.push(b"NOPREFIX\r", 0),
            vec![Err(LineError::MissingPrefix)]
        );
    }

    #[test]
    fn idle_timeout_framing() {
        let mut f = LineFramer::new(LineConfig {
            terminator: Terminator::Idle,
            idle_timeout_ms: 50,
            ..Default::default()
        });
        assert!(f.push(b"]C0F00", 0).is_empty());
        assert!(f.push(b"00123457", 20).is_empty());
        assert!(f.poll_idle(60).is_none());
        let r = f.poll_idle(70).unwrap().unwrap();
        assert_eq!(r.raw, "]C0F0000123457");
        // bytes arriving after a gap end the previous frame first
        assert!(f.push(b"ONE", 100).is_empty());
        assert_eq!(ok(f.push(b"TWO", 200)), vec!["ONE"]);
    }

    #[test]
    fn too_long() {
        let mut f = LineFramer::new(LineConfig {
            max_len: 4,
            ..Default::default()
        });
        assert_eq!(f.push(b"ABCDEFGH\rOK\r", 0)[0], Err(LineError::TooLong(4)));
        assert_eq!(ok(f.push(b"OK\r", 0)), vec!["OK"]);
    }
}
