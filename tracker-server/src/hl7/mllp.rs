//! MLLP (Minimal Lower Layer Protocol) framing: `0x0B` message `0x1C 0x0D`.
//!
//! [`Decoder`] is fed bytes as they arrive and yields whole frames, or a [`FrameError`] for
//! bytes that are not a frame (then it resynchronises on the next start block) and for frames
//! larger than the limit (the rest of that frame is skipped). It never buffers more than the
//! limit plus one read.

pub const START: u8 = 0x0B;
pub const END: u8 = 0x1C;
pub const CR: u8 = 0x0D;

/// Wrap a message in an MLLP frame.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(message.len() + 3);
    v.push(START);
    v.extend_from_slice(message);
    v.push(END);
    v.push(CR);
    v
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Bytes outside a frame (no start block), or a new start block before the end block.
    #[error("broken MLLP frame: {0}")]
    Broken(&'static str),
    /// The frame is larger than the limit.
    #[error("message larger than {limit} bytes")]
    TooLarge { limit: usize },
}

/// Incremental frame decoder.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    limit: usize,
    /// Discarding the rest of an oversized frame until its end block.
    skipping: bool,
    /// Where to resume the search for the end block.
    scanned: usize,
}

impl Decoder {
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit,
            skipping: false,
            scanned: 1,
        }
    }

    /// Bytes waiting for the rest of their frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Add bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame's payload, an error, or None when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        loop {
            if self.skipping {
                match find_end(&self.buf, 0) {
                    Some(i) => {
                        self.buf.drain(..i + 2);
                        self.skipping = false;
                        self.scanned = 1;
                        continue;
                    }
                    None => {
                        // Keep a trailing END that may pair with a CR in the next read.
                        let keep = usize::from(self.buf.last() == Some(&END));
                        let n = self.buf.len() - keep;
                        self.buf.drain(..n);
                        return None;
                    }
                }
            }
            // Whitespace between frames is tolerated.
            let ws = self
                .buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
                .count();
            if ws > 0 {
                self.buf.drain(..ws);
                self.scanned = 1;
            }
            let first = *self.buf.first()?;
            if first != START {
                // Garbage: drop up to the next start block and report it once.
                let next = self.buf.iter().position(|b| *b == START);
                let n = next.unwrap_or(self.buf.len());
                self.buf.drain(..n);
                self.scanned = 1;
                return Some(Err(FrameError::Broken(
                    "data outside a frame (no 0x0B start block)",
                )));
            }
            let from = self.scanned.max(1);
            let end = find_end(&self.buf, from);
            // A second start block before the end block: the first frame was never closed.
            let limit_to = end.unwrap_or(self.buf.len());
            if let Some(j) = self.buf[from..limit_to].iter().position(|b| *b == START) {
                self.buf.drain(..from + j);
                self.scanned = 1;
                return Some(Err(FrameError::Broken(
                    "a new 0x0B start block before the 0x1C 0x0D end of the previous frame",
                )));
            }
            match end {
                Some(i) => {
                    if i - 1 > self.limit {
                        self.buf.drain(..i + 2);
                        self.scanned = 1;
                        return Some(Err(FrameError::TooLarge { limit: self.limit }));
                    }
                    let payload = self.buf[1..i].to_vec();
                    self.buf.drain(..i + 2);
                    self.scanned = 1;
                    return Some(Ok(payload));
                }
                None => {
                    if self.buf.len() > self.limit + 1 {
                        self.buf.clear();
                        self.skipping = true;
                        self.scanned = 1;
                        return Some(Err(FrameError::TooLarge { limit: self.limit }));
                    }
                    self.scanned = self.buf.len().saturating_sub(1).max(1);
                    return None;
                }
            }
        }
    }
}

fn find_end(buf: &[u8], from: usize) -> Option<usize> {
    if buf.len() < 2 || from >= buf.len() - 1 {
        return None;
    }
    buf[from..]
        .windows(2)
        .position(|w| w == [END, CR])
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_pieces() {
        let mut d = Decoder::new(1024);
        let mut bytes = frame(b"MSH|one");
        bytes.extend(frame(b"MSH|two"));
        for chunk in bytes.chunks(3) {
            d.push(chunk);
        }
        assert_eq!(d.next_frame(), Some(Ok(b"MSH|one".to_vec())));
        assert_eq!(d.next_frame(), Some(Ok(b"MSH|two".to_vec())));
        assert_eq!(d.next_frame(), None);
        // Split exactly between 0x1C and 0x0D.
        let f = frame(b"MSH|three");
        d.push(&f[..f.len() - 1]);
        assert_eq!(d.next_frame(), None);
        d.push(&f[f.len() - 1..]);
        assert_eq!(d.next_frame(), Some(Ok(b"MSH|three".to_vec())));
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn garbage_and_unclosed_frames_resynchronise() {
        let mut d = Decoder::new(1024);
        d.push(b"hello");
        d.push(&frame(b"MSH|ok"));
        assert!(matches!(d.next_frame(), Some(Err(FrameError::Broken(_)))));
        assert_eq!(d.next_frame(), Some(Ok(b"MSH|ok".to_vec())));
        d.push(&[START]);
        d.push(b"MSH|never closed");
        d.push(&frame(b"MSH|next"));
        assert!(matches!(d.next_frame(), Some(Err(FrameError::Broken(_)))));
        assert_eq!(d.next_frame(), Some(Ok(b"MSH|next".to_vec())));
        d.push(b"\r\n");
        assert_eq!(d.next_frame(), None);
    }

    #[test]
    fn oversized_frames_are_refused_and_skipped() {
        let mut d = Decoder::new(10);
        d.push(&frame(b"01234567890123"));
        assert_eq!(
            d.next_frame(),
            Some(Err(FrameError::TooLarge { limit: 10 }))
        );
        // Streaming oversize: refused before the end arrives, the rest is skipped.
        d.push(&[START]);
        d.push(&[b'x'; 30]);
        assert_eq!(
            d.next_frame(),
            Some(Err(FrameError::TooLarge { limit: 10 }))
        );
        d.push(&[b'x'; 30]);
        assert_eq!(d.next_frame(), None);
        assert!(d.pending() <= 1);
        d.push(&[END]);
        assert_eq!(d.next_frame(), None);
        d.push(&[CR]);
        d.push(&frame(b"MSH|small"));
        assert_eq!(d.next_frame(), Some(Ok(b"MSH|small".to_vec())));
    }
}
