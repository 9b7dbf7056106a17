//! Impinj R2000-based serial UHF readers ("0xA0" protocol, sold under many brands).
//!
//! Frame: `[A0][Len][Addr][Cmd][Data..][Check]`; `Len` counts the bytes after itself including
//! the check byte; `Check` is the two's complement of the byte sum of everything before it.
//! The host sends real-time inventory (0x89) repeatedly; the reader answers with one frame per
//! tag (`[FreqAnt][PC u16][EPC..][RSSI]`) and a round summary, or a one-byte error code.

use super::{byte_sum, TagRead};

pub const HEAD: u8 = 0xA0;
pub const CMD_REAL_TIME_INVENTORY: u8 = 0x89;
pub const CMD_FAST_SWITCH_INVENTORY: u8 = 0x8A;
pub const CMD_SESSION_INVENTORY: u8 = 0x8B;
pub const CMD_SET_WORK_ANTENNA: u8 = 0x74;
/// Longest `Len` accepted. Larger values are taken as noise so that a stray 0xA0 cannot stall
/// the decoder (a GIAI-96 tag frame has Len 0x13; an EPC of 496 bits gives 0x43).
pub const MAX_LEN: usize = 0x50;

/// Two's complement of the byte sum.
pub fn check(bytes: &[u8]) -> u8 {
    (byte_sum(bytes) as u8).wrapping_neg()
}

/// Encode a host command.
pub fn encode(addr: u8, cmd: u8, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(data.len() + 5);
    f.extend_from_slice(&[HEAD, (data.len() + 3) as u8, addr, cmd]);
    f.extend_from_slice(data);
    f.push(check(&f));
    f
}

/// Real-time inventory command: `A0 04 01 89 01 D1` for address 1, repeat 1.
pub fn real_time_inventory(addr: u8, repeat: u8) -> Vec<u8> {
    encode(addr, CMD_REAL_TIME_INVENTORY, &[repeat])
}

/// A tag reply frame as a reader would send it (tests and simulator). `antenna` is 1..=8.
pub fn tag_frame(addr: u8, antenna: u8, freq: u8, epc: &[u8], rssi_raw: u8) -> Vec<u8> {
    let a = antenna.saturating_sub(1);
    let freq_ant = (freq << 2) | (a & 3);
    let rssi = (rssi_raw & 0x7F) | if a >= 4 { 0x80 } else { 0 };
    let pc = ((epc.len() / 2) as u16) << 11;
    let mut d = vec![freq_ant];
    d.extend_from_slice(&pc.to_be_bytes());
    d.extend_from_slice(epc);
    d.push(rssi);
    encode(addr, CMD_REAL_TIME_INVENTORY, &d)
}

/// End-of-round frame (antenna, read rate, total reads).
pub fn end_of_round_frame(addr: u8, antenna: u8, rate: u16, total: u32) -> Vec<u8> {
    let mut d = vec![antenna.saturating_sub(1)];
    d.extend_from_slice(&rate.to_be_bytes());
    d.extend_from_slice(&total.to_be_bytes());
    encode(addr, CMD_REAL_TIME_INVENTORY, &d)
}

/// RSSI byte to an approximate dBm value (the R2000 scale is the value minus 129).
pub fn rssi_dbm(raw: u8) -> i16 {
    (raw & 0x7F) as i16 - 129
}

/// One decoded reader frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum R2000Item {
    Tag {
        read: TagRead,
        pc: u16,
        freq: u8,
        rssi_raw: u8,
    },
    EndOfRound {
        cmd: u8,
        antenna: u8,
        rate: u16,
        total: u32,
    },
    /// One-byte error code (e.g. 0x36 no tag, 0x22 antenna missing).
    Error {
        cmd: u8,
        code: u8,
    },
    Other {
        cmd: u8,
        data: Vec<u8>,
    },
    /// A frame failed its check byte; the decoder resynchronised on the next 0xA0.
    BadCheck,
}

/// Incremental decoder.
#[derive(Debug, Default)]
pub struct R2000Decoder {
    buf: Vec<u8>,
    bad_reported: bool,
}

impl R2000Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn reset_partial(&mut self) {
        self.buf.clear();
    }

    /// Feed bytes; `out` receives decoded items (reuse it to avoid allocation).
    pub fn push_into(&mut self, bytes: &[u8], out: &mut Vec<R2000Item>) {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        loop {
            let b = &self.buf[start..];
            let Some(p) = b.iter().position(|&x| x == HEAD) else {
                start = self.buf.len();
                break;
            };
            let b = &b[p..];
            start += p;
            if b.len() < 2 {
                break;
            }
            let len = b[1] as usize;
            if !(3..=MAX_LEN).contains(&len) {
                start += 1;
                continue;
            }
            if b.len() < len + 2 {
                break; // truncated
            }
            let frame = &b[..len + 2];
            if check(&frame[..len + 1]) != frame[len + 1] {
                if !self.bad_reported {
                    out.push(R2000Item::BadCheck);
                    self.bad_reported = true;
                }
                start += 1;
                continue;
            }
            self.bad_reported = false;
            out.push(parse(frame[3], &frame[4..len + 1]));
            start += len + 2;
        }
        self.buf.drain(..start);
    }

    pub fn push(&mut self, bytes: &[u8]) -> Vec<R2000Item> {
        let mut out = Vec::new();
        self.push_into(bytes, &mut out);
        out
    }
}

fn parse(cmd: u8, d: &[u8]) -> R2000Item {
    let inventory = matches!(
        cmd,
        CMD_REAL_TIME_INVENTORY | CMD_FAST_SWITCH_INVENTORY | CMD_SESSION_INVENTORY
    );
    if !inventory {
        return R2000Item::Other {
            cmd,
            data: d.to_vec(),
        };
    }
    match d.len() {
        1 => R2000Item::Error { cmd, code: d[0] },
        7 => R2000Item::EndOfRound {
            cmd,
            antenna: d[0].saturating_add(1), // 255 overflowed (found by fuzzing)
            rate: u16::from_be_bytes([d[1], d[2]]),
            total: u32::from_be_bytes([d[3], d[4], d[5], d[6]]),
        },
        n if n >= 4 && n % 2 == 0 => {
            let freq_ant = d[0];
            let pc = u16::from_be_bytes([d[1], d[2]]);
            let rssi_raw = d[n - 1];
            let antenna = (freq_ant & 3) as u16 + 1 + if rssi_raw & 0x80 != 0 { 4 } else { 0 };
            R2000Item::Tag {
                read: TagRead {
                    epc: d[3..n - 1].to_vec(),
                    antenna,
                    rssi_dbm: Some(rssi_dbm(rssi_raw)),
                },
                pc,
                freq: freq_ant >> 2,
                rssi_raw,
            }
        }
        _ => R2000Item::Other {
            cmd,
            data: d.to_vec(),
        },
    }
}

/// The R2000 reader as a [`super::ProtocolSession`]: starts a real-time inventory round and
/// starts the next one when a round ends (or its answer is overdue).
pub struct R2000Session {
    dec: R2000Decoder,
    address: u8,
    repeat: u8,
    round_timeout_ms: u64,
    last_cmd_ms: u64,
    items: Vec<R2000Item>,
}

/// How long a half-received frame may wait for its rest before it is dropped.
const PARTIAL_TIMEOUT_MS: u64 = 500;
/// "No tag in the field": the normal answer of an idle round.
const NO_TAG: u8 = 0x36;

impl R2000Session {
    pub fn new(address: u8, repeat: u8, round_timeout_ms: u64) -> Self {
        Self {
            dec: R2000Decoder::new(),
            address,
            repeat,
            round_timeout_ms: round_timeout_ms.max(50),
            last_cmd_ms: 0,
            items: Vec::new(),
        }
    }
}

impl super::ProtocolSession for R2000Session {
    fn start(&mut self, now_ms: u64) -> Vec<u8> {
        self.last_cmd_ms = now_ms;
        real_time_inventory(self.address, self.repeat)
    }

    fn feed(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
        idle_ms: u64,
        out: &mut Vec<super::Step>,
    ) -> Result<(), super::SessionFault> {
        if bytes.is_empty() && self.dec.buffered() > 0 && idle_ms > PARTIAL_TIMEOUT_MS {
            self.dec.reset_partial();
        }
        self.items.clear();
        self.dec.push_into(bytes, &mut self.items);
        let mut round_done = false;
        for item in self.items.drain(..) {
            match item {
                R2000Item::Tag { read, .. } => out.push(super::Step::Tag(read)),
                R2000Item::EndOfRound { .. } => round_done = true,
                R2000Item::Error { code, .. } => {
                    if code != NO_TAG {
                        out.push(super::Step::Debug(format!("reader error code {code:#04x}")));
                    }
                    round_done = true;
                }
                R2000Item::BadCheck => {
                    out.push(super::Step::Debug("bad check byte from reader".into()))
                }
                R2000Item::Other { .. } => {}
            }
        }
        if round_done || now_ms.saturating_sub(self.last_cmd_ms) > self.round_timeout_ms {
            out.push(super::Step::Send(real_time_inventory(
                self.address,
                self.repeat,
            )));
            self.last_cmd_ms = now_ms;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: [u8; 21] = [
        0xA0, 0x13, 0x01, 0x89, 0x04, 0x30, 0x00, 0xE2, 0x00, 0x30, 0x16, 0x66, 0x13, 0x01, 0x21,
        0x15, 0x50, 0x74, 0xEF, 0x45, 0xBF,
    ];
    const END: [u8; 12] = [
        0xA0, 0x0A, 0x01, 0x8B, 0x00, 0x00, 0x19, 0x00, 0x00, 0x00, 0x01, 0xB0,
    ];

    #[test]
    fn design_vectors() {
        assert_eq!(
            real_time_inventory(1, 1),
            vec![0xA0, 0x04, 0x01, 0x89, 0x01, 0xD1]
        );
        let mut d = R2000Decoder::new();
        let items = d.push(&TAG);
        match &items[..] {
            [R2000Item::Tag {
                read,
                pc,
                freq,
                rssi_raw,
            }] => {
                assert_eq!(*pc, 0x3000);
                assert_eq!(*freq, 1);
                assert_eq!(read.antenna, 1);
                assert_eq!(hex::encode_upper(&read.epc), "E200301666130121155074EF");
                // The check byte (0xBF) confirms the RSSI byte is 0x45; 0x74 is an EPC byte.
                assert_eq!(*rssi_raw, 0x45);
                assert_eq!(read.rssi_dbm, Some(0x45 - 129));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            d.push(&END),
            vec![R2000Item::EndOfRound {
                cmd: 0x8B,
                antenna: 1,
                rate: 25,
                total: 1
            }]
        );
    }

    #[test]
    fn encoders_roundtrip() {
        let epc = hex::decode("3434257BF400000000003039").unwrap();
        let f = tag_frame(1, 6, 3, &epc, 0x50);
        let items = R2000Decoder::new().push(&f);
        match &items[..] {
            [R2000Item::Tag { read, freq, .. }] => {
                assert_eq!(read.epc, epc);
                assert_eq!(read.antenna, 6);
                assert_eq!(*freq, 3);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            R2000Decoder::new()
                .push(&end_of_round_frame(1, 1, 25, 1))
                .len(),
            1
        );
        assert_eq!(
            R2000Decoder::new().push(&encode(1, 0x89, &[0x36])),
            vec![R2000Item::Error {
                cmd: 0x89,
                code: 0x36
            }]
        );
    }

    #[test]
    fn truncated_split_and_garbage() {
        let mut d = R2000Decoder::new();
        assert!(d.push(&TAG[..10]).is_empty());
        assert_eq!(d.buffered(), 10);
        assert_eq!(d.push(&TAG[10..]).len(), 1);
        let mut input = vec![0x00, 0xFF, 0x13, 0x89];
        input.extend_from_slice(&TAG);
        input.extend_from_slice(&[0xA0]); // a stray head byte followed by a real frame
        input.extend_from_slice(&END);
        let items = d.push(&input);
        let tags = items
            .iter()
            .filter(|i| matches!(i, R2000Item::Tag { .. }))
            .count();
        let ends = items
            .iter()
            .filter(|i| matches!(i, R2000Item::EndOfRound { .. }))
            .count();
        assert_eq!((tags, ends), (1, 1), "{items:?}");
    }

    #[test]
    fn end_of_round_antenna_255() {
        // Found by fuzzing: antenna byte 255 overflowed when made 1-based.
        match &R2000Decoder::new().push(&encode(1, 0x8B, &[0xFF, 0, 25, 0, 0, 0, 1]))[..] {
            [R2000Item::EndOfRound { antenna, .. }] => assert_eq!(*antenna, 255),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_check() {
        let mut bad = TAG;
        bad[20] = 0x00;
        let mut input = bad.to_vec();
        input.extend_from_slice(&TAG);
        let items = R2000Decoder::new().push(&input);
        assert_eq!(items[0], R2000Item::BadCheck);
        assert!(matches!(items.last(), Some(R2000Item::Tag { .. })));
        assert_eq!(items.len(), 2);
    }
}
