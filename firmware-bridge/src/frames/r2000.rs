//! Impinj R2000-based serial UHF readers ("0xA0" protocol, sold under many brands).
//!
//! Frame: `[A0][Len][Addr][Cmd][Data..][Check]`; `Len` counts the bytes after itself including
//! the check byte; `Check` is the two's complement of the byte sum of everything before it.
//!
//! Real-time inventory (0x89) inventories only the reader's *work antenna*: a two-antenna door
//! portal driven with 0x89 alone sees every pass on one antenna and loses direction. The
//! session therefore drives the configured antennas either with fast-switch antenna inventory
//! (0x8A: a list of antennas, each inventoried in turn) or by selecting each antenna with set
//! work antenna (0x74) before a real-time round. Replies: one frame per tag
//! (`[FreqAnt][PC u16][EPC..][RSSI]`), a round summary, a one-byte error code, or under 0x8A an
//! `[Antenna][ErrorCode]` pair for an antenna that is missing.

use super::{byte_sum, TagRead};

pub const HEAD: u8 = 0xA0;
pub const CMD_REAL_TIME_INVENTORY: u8 = 0x89;
pub const CMD_FAST_SWITCH_INVENTORY: u8 = 0x8A;
pub const CMD_SESSION_INVENTORY: u8 = 0x8B;
pub const CMD_SET_WORK_ANTENNA: u8 = 0x74;
/// The reader's "command succeeded" code, the answer to 0x74.
pub const SUCCESS: u8 = 0x10;
/// "Antenna is missing": the antenna port has nothing connected (or a broken cable).
pub const ANTENNA_MISSING: u8 = 0x22;
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

/// Set work antenna command (0x74); `antenna` is 1-based as printed on the reader.
pub fn set_work_antenna(addr: u8, antenna: u8) -> Vec<u8> {
    encode(addr, CMD_SET_WORK_ANTENNA, &[antenna.saturating_sub(1)])
}

/// Fast-switch antenna inventory (0x8A) for a 4-port reader: antennas A..D (1-based; unused
/// slots are sent as 0xFF, which the reader skips), each inventoried `stay` rounds, `interval`
/// ms rest between switches, the whole sequence repeated `repeat` times.
pub fn fast_switch_inventory(
    addr: u8,
    antennas: &[u8],
    stay: u8,
    interval: u8,
    repeat: u8,
) -> Vec<u8> {
    let mut d = Vec::with_capacity(10);
    for slot in 0..4 {
        match antennas.get(slot) {
            Some(&a) => d.extend_from_slice(&[a.saturating_sub(1), stay.max(1)]),
            None => d.extend_from_slice(&[0xFF, 0]),
        }
    }
    d.extend_from_slice(&[interval, repeat.max(1)]);
    encode(addr, CMD_FAST_SWITCH_INVENTORY, &d)
}

/// What a reader error code means, in the words of the reader's protocol description.
pub fn error_name(code: u8) -> &'static str {
    match code {
        0x10 => "command succeeded",
        0x11 => "command failed",
        0x20 => "CPU reset error",
        0x21 => "turn on CW error",
        0x22 => "antenna is missing",
        0x23 => "write flash error",
        0x24 => "read flash error",
        0x25 => "set output power error",
        0x31 => "error during inventory",
        0x32 => "error during read",
        0x33 => "error during write",
        0x34 => "error during lock",
        0x35 => "error during kill",
        0x36 => "no tag to be operated",
        0x37 => "tag inventoried but access failed",
        0x38 => "buffer is empty",
        0x40 => "access failed or wrong password",
        0x41 => "invalid parameter",
        0x42 => "word count too long",
        0x43 => "memory bank out of range",
        0x44 => "lock region out of range",
        0x45 => "lock type out of range",
        0x46 => "invalid reader address",
        0x47 => "antenna ID out of range",
        0x48 => "output power out of range",
        0x49 => "frequency region out of range",
        0x4A => "baud rate out of range",
        0x4B => "buzzer behaviour out of range",
        0x4C => "EPC match too long",
        0x4D => "EPC match length wrong",
        0x4E => "invalid EPC match mode",
        0x4F => "invalid frequency range",
        0x50 => "failed to receive RN16 from tag",
        0x51 => "invalid DRM mode",
        0x52 => "PLL cannot lock",
        0x53 => "RF chip does not respond",
        0x54 => "cannot reach the requested output power",
        0x55 => "copyright authentication failed",
        0x56 => "spectrum regulation wrong",
        0x57 => "output power too low",
        _ => "unknown error",
    }
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
    /// End of a fast-switch inventory (0x8A): reads in all and how long it took.
    FastSwitchEnd {
        total: u32,
        duration_ms: u32,
    },
    /// One-byte error code to an inventory (e.g. 0x36 no tag, 0x22 antenna missing).
    Error {
        cmd: u8,
        code: u8,
    },
    /// An antenna of a fast-switch inventory could not be used (`[Antenna][ErrorCode]`).
    AntennaError {
        /// 1-based, as printed on the reader.
        antenna: u8,
        code: u8,
    },
    /// The one-byte answer to a setting command such as set work antenna (0x10 = success).
    Reply {
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
        return match d {
            [code] => R2000Item::Reply { cmd, code: *code },
            _ => R2000Item::Other {
                cmd,
                data: d.to_vec(),
            },
        };
    }
    match d.len() {
        1 => R2000Item::Error { cmd, code: d[0] },
        2 if cmd == CMD_FAST_SWITCH_INVENTORY => R2000Item::AntennaError {
            antenna: d[0].saturating_add(1),
            code: d[1],
        },
        7 if cmd == CMD_FAST_SWITCH_INVENTORY => R2000Item::FastSwitchEnd {
            total: u32::from_be_bytes([0, d[0], d[1], d[2]]),
            duration_ms: u32::from_be_bytes([d[3], d[4], d[5], d[6]]),
        },
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
                    // The R2000 protocol carries no time: the bridge's clock is used.
                    seen_at_us: None,
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

/// How the session makes the reader inventory more than one antenna.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AntennaSwitching {
    /// Fast-switch antenna inventory (0x8A), antennas 1-4: one command inventories them all.
    #[default]
    FastSwitch,
    /// Set work antenna (0x74) before each real-time inventory (0x89), in turn: for firmware
    /// without 0x8A, and for 8-port readers.
    WorkAntenna,
}

/// What the session drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct R2000Params {
    pub address: u8,
    /// Repeat count in each inventory command.
    pub repeat: u8,
    /// Send the next command if the reader has not answered after this long.
    pub round_timeout_ms: u64,
    /// Antennas to inventory, 1-based.
    pub antennas: Vec<u8>,
    pub switching: AntennaSwitching,
}

/// What the session is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    /// The answer to set work antenna for `antennas[i]`.
    SelectAntenna(usize),
    /// The end of a real-time round on `antennas[i]`.
    Round(usize),
    /// The end of a fast-switch inventory.
    FastSwitch,
}

/// The R2000 reader as a [`super::ProtocolSession`]: drives every configured antenna round
/// after round and turns the reader's error replies into [`super::Step::ReaderError`].
pub struct R2000Session {
    dec: R2000Decoder,
    p: R2000Params,
    awaiting: Awaiting,
    /// The work antenna the reader confirmed, if any (a single antenna is selected once).
    selected: Option<u8>,
    last_cmd_ms: u64,
    items: Vec<R2000Item>,
}

/// How long a half-received frame may wait for its rest before it is dropped.
const PARTIAL_TIMEOUT_MS: u64 = 500;
/// "No tag in the field": the normal answer of an idle round.
const NO_TAG: u8 = 0x36;

impl R2000Session {
    pub fn new(mut p: R2000Params) -> Self {
        p.round_timeout_ms = p.round_timeout_ms.max(50);
        if p.antennas.is_empty() {
            p.antennas.push(1);
        }
        let awaiting = match p.switching {
            AntennaSwitching::FastSwitch => Awaiting::FastSwitch,
            AntennaSwitching::WorkAntenna => Awaiting::SelectAntenna(0),
        };
        Self {
            dec: R2000Decoder::new(),
            p,
            awaiting,
            selected: None,
            last_cmd_ms: 0,
            items: Vec::new(),
        }
    }

    fn antenna(&self, i: usize) -> u8 {
        self.p.antennas[i % self.p.antennas.len()]
    }

    /// The command for the current state.
    fn command(&self) -> Vec<u8> {
        let a = self.p.address;
        match self.awaiting {
            Awaiting::FastSwitch => fast_switch_inventory(a, &self.p.antennas, 1, 0, self.p.repeat),
            Awaiting::SelectAntenna(i) => set_work_antenna(a, self.antenna(i)),
            Awaiting::Round(_) => real_time_inventory(a, self.p.repeat),
        }
    }

    /// After a real-time round on antenna `i`: select the next antenna (or, with one antenna
    /// already selected, go straight to the next round).
    fn after_round(&mut self, i: usize) {
        let next = (i + 1) % self.p.antennas.len();
        self.awaiting = if self.selected == Some(self.antenna(next)) {
            Awaiting::Round(next)
        } else {
            Awaiting::SelectAntenna(next)
        };
    }
}

impl super::ProtocolSession for R2000Session {
    fn start(&mut self, now_ms: u64) -> Vec<u8> {
        self.last_cmd_ms = now_ms;
        self.command()
    }

    fn feed(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
        idle_ms: u64,
        out: &mut Vec<super::Step>,
    ) -> Result<(), super::SessionFault> {
        use super::Step;
        if bytes.is_empty() && self.dec.buffered() > 0 && idle_ms > PARTIAL_TIMEOUT_MS {
            self.dec.reset_partial();
        }
        self.items.clear();
        self.dec.push_into(bytes, &mut self.items);
        let mut next = false;
        let items = std::mem::take(&mut self.items);
        for item in &items {
            match item {
                R2000Item::Tag { read, .. } => out.push(Step::Tag(read.clone())),
                R2000Item::EndOfRound { .. } | R2000Item::FastSwitchEnd { .. } => {
                    if let Awaiting::Round(i) = self.awaiting {
                        self.after_round(i);
                    }
                    next = true;
                }
                R2000Item::Error { cmd, code } => {
                    if *code != NO_TAG {
                        let what = match self.awaiting {
                            Awaiting::Round(i) => format!("antenna {}: ", self.antenna(i)),
                            _ => String::new(),
                        };
                        out.push(Step::ReaderError(format!(
                            "{what}{} (reader error {code:#04x} to command {cmd:#04x})",
                            error_name(*code)
                        )));
                    }
                    if let Awaiting::Round(i) = self.awaiting {
                        self.after_round(i);
                    }
                    next = true;
                }
                R2000Item::AntennaError { antenna, code } => {
                    out.push(Step::ReaderError(format!(
                        "antenna {antenna}: {} (reader error {code:#04x})",
                        error_name(*code)
                    )));
                }
                R2000Item::Reply { cmd, code } if *cmd == CMD_SET_WORK_ANTENNA => {
                    if let Awaiting::SelectAntenna(i) = self.awaiting {
                        let a = self.antenna(i);
                        if *code == SUCCESS {
                            self.selected = Some(a);
                            self.awaiting = Awaiting::Round(i);
                        } else {
                            self.selected = None;
                            out.push(Step::ReaderError(format!(
                                "antenna {a}: cannot select it: {} (reader error {code:#04x})",
                                error_name(*code)
                            )));
                            self.awaiting =
                                Awaiting::SelectAntenna((i + 1) % self.p.antennas.len());
                        }
                        next = true;
                    }
                }
                R2000Item::Reply { cmd, code } => out.push(Step::Debug(format!(
                    "reader answered command {cmd:#04x} with {code:#04x}"
                ))),
                R2000Item::BadCheck => out.push(Step::Corrupt(
                    "frame with a bad check byte from the reader".into(),
                )),
                R2000Item::Other { cmd, data } => out.push(Step::Debug(format!(
                    "unexpected {}-byte answer to command {cmd:#04x}",
                    data.len()
                ))),
            }
        }
        self.items = items;
        if !next && now_ms.saturating_sub(self.last_cmd_ms) > self.p.round_timeout_ms {
            // No answer: a round overdue, or a lost reply. Start again from the selection.
            if let Awaiting::Round(i) = self.awaiting {
                self.selected = None;
                self.awaiting = Awaiting::SelectAntenna(i);
                if self.p.antennas.len() > 1 {
                    self.after_round(i);
                }
            }
            next = true;
        }
        if next {
            out.push(Step::Send(self.command()));
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
    fn antenna_commands_and_their_answers() {
        // set work antenna to antenna 2 (0-based 0x01): A0 04 01 74 01 E6
        assert_eq!(
            set_work_antenna(1, 2),
            vec![0xA0, 0x04, 0x01, 0x74, 0x01, 0xE6]
        );
        // fast switch on antennas 1 and 2, stay 1 each, C and D skipped, interval 0, repeat 1
        assert_eq!(
            fast_switch_inventory(1, &[1, 2], 1, 0, 1),
            vec![
                0xA0, 0x0D, 0x01, 0x8A, 0x00, 0x01, 0x01, 0x01, 0xFF, 0x00, 0xFF, 0x00, 0x00, 0x01,
                0xC6
            ]
        );
        let mut d = R2000Decoder::new();
        assert_eq!(
            d.push(&encode(1, 0x74, &[0x10])),
            vec![R2000Item::Reply {
                cmd: 0x74,
                code: 0x10
            }]
        );
        // under 0x8A: [antenna][error] is an antenna that could not be used
        assert_eq!(
            d.push(&encode(1, 0x8A, &[0x01, 0x22])),
            vec![R2000Item::AntennaError {
                antenna: 2,
                code: 0x22
            }]
        );
        // and the end is TotalRead (3 bytes) + CommandDuration (4 bytes), not 0x89's summary
        assert_eq!(
            d.push(&encode(
                1,
                0x8A,
                &[0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x2A]
            )),
            vec![R2000Item::FastSwitchEnd {
                total: 258,
                duration_ms: 42
            }]
        );
        // a one-byte error code to an inventory: the short error frame
        assert_eq!(
            d.push(&encode(1, 0x89, &[0x22])),
            vec![R2000Item::Error {
                cmd: 0x89,
                code: 0x22
            }]
        );
        assert_eq!(error_name(0x22), "antenna is missing");
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
