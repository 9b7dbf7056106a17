//! USB HID scanners read directly (hidraw or libusb): HID POS barcode reports and
//! keyboard-wedge boot reports.
//!
//! HID POS (usage page 0x8C), 64-byte input report id 2:
//! `[0]=0x02 [1]=n [2..2+n]=AIM ']cm' + data ... [62]=more-reports flag [63]=reserved`.
//! `n` counts the AIM identifier and data bytes in this report (at most 60). A barcode longer
//! than one report continues in the next report(s) while byte 62 is non-zero; only the first
//! report carries the AIM identifier.
//!
//! Keyboard wedge: 8-byte boot reports `[modifiers][0][k1..k6]`. A character is produced on a
//! key-down edge (a usage present now that was not in the previous report). Enter ends the
//! barcode. Ctrl+] (usage 0x30 with Ctrl) is GS, as scanners send FNC1 in keyboard mode.

use super::BarcodeRead;
use casenote_core::identifiers::scan::Symbology;
use serde::{Deserialize, Serialize};

pub const POS_REPORT_ID: u8 = 0x02;
pub const POS_REPORT_LEN: usize = 64;
pub const POS_MORE_FLAG_INDEX: usize = 62;
pub const POS_MAX_DATA: usize = 60;
pub const BOOT_REPORT_LEN: usize = 8;

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HidError {
    #[error("report is {0} bytes, expected {1}")]
    Length(usize, usize),
    #[error("report id {0} is not a HID POS barcode report")]
    ReportId(u8),
    #[error("length byte {0} exceeds the report")]
    DataLength(u8),
}

/// Build HID POS reports for a payload (for tests and the simulator).
pub fn pos_reports(payload: &[u8]) -> Vec<[u8; POS_REPORT_LEN]> {
    let chunks: Vec<&[u8]> = payload.chunks(POS_MAX_DATA).collect();
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut r = [0u8; POS_REPORT_LEN];
            r[0] = POS_REPORT_ID;
            r[1] = c.len() as u8;
            r[2..2 + c.len()].copy_from_slice(c);
            r[POS_MORE_FLAG_INDEX] = u8::from(i + 1 < n);
            r
        })
        .collect()
}

/// Reassembles HID POS reports into barcodes.
#[derive(Debug, Default)]
pub struct PosDecoder {
    pending: Vec<u8>,
    buf: Vec<u8>,
}

impl PosDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode one whole report.
    pub fn push_report(&mut self, r: &[u8]) -> Result<Option<BarcodeRead>, HidError> {
        if r.len() != POS_REPORT_LEN {
            return Err(HidError::Length(r.len(), POS_REPORT_LEN));
        }
        if r[0] != POS_REPORT_ID {
            return Err(HidError::ReportId(r[0]));
        }
        let n = r[1] as usize;
        if n > POS_MAX_DATA {
            self.pending.clear();
            return Err(HidError::DataLength(r[1]));
        }
        self.pending.extend_from_slice(&r[2..2 + n]);
        if r[POS_MORE_FLAG_INDEX] != 0 {
            return Ok(None);
        }
        let data = std::mem::take(&mut self.pending);
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(BarcodeRead::from_bytes(&data, Symbology::Unknown)))
    }

    /// Byte-stream form: bytes are cut into 64-byte reports (a USB interrupt read or a hidraw
    /// read returns exactly one report).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<BarcodeRead, HidError>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while self.buf.len() >= POS_REPORT_LEN {
            let r: Vec<u8> = self.buf.drain(..POS_REPORT_LEN).collect();
            if let Some(x) = self.push_report(&r).transpose() {
                out.push(x);
            }
        }
        out
    }
}

/// Keyboard layout the wedge scanner is set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KeyboardLayout {
    #[default]
    Uk,
    Us,
}

const MOD_CTRL: u8 = 0x01 | 0x10;
const MOD_SHIFT: u8 = 0x02 | 0x20;
pub const KEY_ENTER: u8 = 0x28;
const KEY_KP_ENTER: u8 = 0x58;

/// Character for a usage under a layout, or `None` for keys we do not translate.
pub fn key_char(usage: u8, shift: bool, ctrl: bool, layout: KeyboardLayout) -> Option<char> {
    if ctrl {
        return match usage {
            0x30 => Some('\u{1d}'), // Ctrl+] = GS
            0x2F => Some('\u{1b}'),
            _ => None,
        };
    }
    let uk = layout == KeyboardLayout::Uk;
    let c = match usage {
        0x04..=0x1D => {
            let c = (b'a' + (usage - 0x04)) as char;
            if shift {
                c.to_ascii_uppercase()
            } else {
                c
            }
        }
        0x1E..=0x27 => {
            let i = (usage - 0x1E) as usize;
            if shift {
                let us = ['!', '@', '#', '$', '%', '^', '&', '*', '(', ')'];
                let gb = ['!', '"', '£', '$', '%', '^', '&', '*', '(', ')'];
                if uk {
                    gb[i]
                } else {
                    us[i]
                }
            } else {
                ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0'][i]
            }
        }
        0x2C => ' ',
        0x2D => pick(shift, '-', '_'),
        0x2E => pick(shift, '=', '+'),
        0x2F => pick(shift, '[', '{'),
        0x30 => pick(shift, ']', '}'),
        0x31 if uk => pick(shift, '#', '~'),
        0x31 => pick(shift, '\\', '|'),
        0x32 => pick(shift, '#', '~'),
        0x33 => pick(shift, ';', ':'),
        0x34 if uk => pick(shift, '\'', '@'),
        0x34 => pick(shift, '\'', '"'),
        0x35 if uk => pick(shift, '`', '¬'),
        0x35 => pick(shift, '`', '~'),
        0x36 => pick(shift, ',', '<'),
        0x37 => pick(shift, '.', '>'),
        0x38 => pick(shift, '/', '?'),
        0x64 if uk => pick(shift, '\\', '|'),
        0x64 => pick(shift, '\\', '|'),
        0x2B => '\t',
        0x59..=0x61 => (b'1' + (usage - 0x59)) as char, // keypad 1-9
        0x62 => '0',
        _ => return None,
    };
    Some(c)
}

fn pick(shift: bool, a: char, b: char) -> char {
    if shift {
        b
    } else {
        a
    }
}

/// Build boot reports typing `text` then Enter (for tests and the simulator): a key-down
/// report and an all-keys-up report per character.
pub fn wedge_reports(text: &str, layout: KeyboardLayout) -> Vec<[u8; BOOT_REPORT_LEN]> {
    let mut out = Vec::new();
    for ch in text.chars() {
        let found = (0u8..=0x64).find_map(|u| {
            [false, true]
                .into_iter()
                .find(|&s| key_char(u, s, false, layout) == Some(ch))
                .map(|s| (u, s, false))
        });
        let found = found.or(if ch == '\u{1d}' {
            Some((0x30, false, true))
        } else {
            None
        });
        if let Some((u, s, c)) = found {
            let m = if s { 0x02 } else { 0 } | if c { 0x01 } else { 0 };
            out.push([m, 0, u, 0, 0, 0, 0, 0]);
            out.push([0; 8]);
        }
    }
    out.push([0, 0, KEY_ENTER, 0, 0, 0, 0, 0]);
    out.push([0; 8]);
    out
}

/// Decodes keyboard boot reports into barcodes.
#[derive(Debug)]
pub struct WedgeDecoder {
    layout: KeyboardLayout,
    prev: [u8; 6],
    text: String,
    buf: Vec<u8>,
}

impl WedgeDecoder {
    pub fn new(layout: KeyboardLayout) -> Self {
        Self {
            layout,
            prev: [0; 6],
            text: String::new(),
            buf: Vec::new(),
        }
    }

    /// Decode one 8-byte report; a barcode is returned when Enter goes down.
    pub fn push_report(&mut self, r: &[u8]) -> Result<Option<BarcodeRead>, HidError> {
        if r.len() != BOOT_REPORT_LEN {
            return Err(HidError::Length(r.len(), BOOT_REPORT_LEN));
        }
        let keys: [u8; 6] = r[2..8].try_into().expect("6 bytes");
        if keys.iter().all(|&k| k == 0x01) {
            return Ok(None); // phantom / rollover error: ignore, keep previous state
        }
        let shift = r[0] & MOD_SHIFT != 0;
        let ctrl = r[0] & MOD_CTRL != 0;
        let mut done = None;
        for &k in keys.iter().filter(|&&k| k != 0) {
            if self.prev.contains(&k) {
                continue; // still held: not a new key-down
            }
            if k == KEY_ENTER || k == KEY_KP_ENTER {
                let text = std::mem::take(&mut self.text);
                if !text.is_empty() {
                    done = Some(BarcodeRead::from_bytes(text.as_bytes(), Symbology::Unknown));
                }
            } else if let Some(c) = key_char(k, shift, ctrl, self.layout) {
                if self.text.len() < 4096 {
                    self.text.push(c);
                }
            }
        }
        self.prev = keys;
        Ok(done)
    }

    /// Byte-stream form: bytes are cut into 8-byte reports.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<BarcodeRead, HidError>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while self.buf.len() >= BOOT_REPORT_LEN {
            let r: Vec<u8> = self.buf.drain(..BOOT_REPORT_LEN).collect();
            if let Some(x) = self.push_report(&r).transpose() {
                out.push(x);
            }
        }
        out
    }
}

/// Both HID decoders (POS and keyboard wedge) as [`super::ProtocolSession`]s: no handshake;
/// each complete report sequence is a barcode, a bad one is dropped with a warning.
macro_rules! hid_session {
    ($t:ty) => {
        impl super::ProtocolSession for $t {
            fn feed(
                &mut self,
                bytes: &[u8],
                _now_ms: u64,
                _idle_ms: u64,
                out: &mut Vec<super::Step>,
            ) -> Result<(), super::SessionFault> {
                for r in self.push(bytes) {
                    out.push(match r {
                        Ok(read) => super::Step::Barcode {
                            read,
                            ack: Vec::new(),
                        },
                        Err(e) => super::Step::Warn(format!("report dropped: {e}")),
                    });
                }
                Ok(())
            }
        }
    };
}

hid_session!(PosDecoder);
hid_session!(WedgeDecoder);

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded Honeywell-style report: `]C0F0000123457`, single report.
    fn recorded_pos() -> [u8; 64] {
        let mut r = [0u8; 64];
        r[0] = 0x02;
        r[1] = 14;
        r[2..16].copy_from_slice(b"]C0F0000123457");
        r
    }

    #[test]
    fn pos_single_report() {
        let mut d = PosDecoder::new();
        let b = d.push_report(&recorded_pos()).unwrap().unwrap();
        assert_eq!(b.raw, "]C0F0000123457");
        assert_eq!(b.symbology, Symbology::Code128);
    }

    #[test]
    fn pos_multi_report_and_stream() {
        let payload: Vec<u8> = b"]d2"
            .iter()
            .copied()
            .chain((0..100).map(|i| b'0' + (i % 10) as u8))
            .collect();
        let reports = pos_reports(&payload);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0][62], 1);
        let mut d = PosDecoder::new();
        let mut bytes = Vec::new();
        for r in &reports {
            bytes.extend_from_slice(r);
        }
        // split at an awkward place
        let mut got = d.push(&bytes[..70]);
        assert!(got.is_empty());
        got = d.push(&bytes[70..]);
        let b = got.pop().unwrap().unwrap();
        assert_eq!(b.raw.as_bytes(), &payload[..]);
        assert_eq!(b.symbology, Symbology::Gs1DataMatrix);
    }

    #[test]
    fn pos_bad_reports() {
        let mut d = PosDecoder::new();
        assert_eq!(d.push_report(&[2, 1, 0]), Err(HidError::Length(3, 64)));
        let mut r = recorded_pos();
        r[0] = 0x01;
        assert_eq!(d.push_report(&r), Err(HidError::ReportId(1)));
        r[0] = 0x02;
        r[1] = 61;
        assert_eq!(d.push_report(&r), Err(HidError::DataLength(61)));
        // decoder recovers for the next good report
        assert!(d.push_report(&recorded_pos()).unwrap().is_some());
    }

    #[test]
    fn wedge_recorded_uk() {
        // "]C0F1\r" typed by a UK-layout wedge scanner: ']' is 0x30, 'F' is Shift+0x09
        let reports: [[u8; 8]; 12] = [
            [0, 0, 0x30, 0, 0, 0, 0, 0],
            [0; 8],
            [0x02, 0, 0x06, 0, 0, 0, 0, 0],
            [0; 8],
            [0, 0, 0x27, 0, 0, 0, 0, 0],
            [0; 8],
            [0x02, 0, 0x09, 0, 0, 0, 0, 0],
            [0; 8],
            [0, 0, 0x1E, 0, 0, 0, 0, 0],
            [0, 0, 0x1E, 0, 0, 0, 0, 0], // held: no second '1'
            [0, 0, 0x28, 0, 0, 0, 0, 0],
            [0; 8],
        ];
        let mut d = WedgeDecoder::new(KeyboardLayout::Uk);
        let mut out = Vec::new();
        for r in &reports {
            if let Some(b) = d.push_report(r).unwrap() {
                out.push(b);
            }
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].raw, "]C0F1");
        assert_eq!(out[0].symbology, Symbology::Code128);
    }

    #[test]
    fn wedge_layouts_differ() {
        let shift2 = [
            [0x02, 0, 0x1F, 0, 0, 0, 0, 0],
            [0; 8],
            [0, 0, 0x28, 0, 0, 0, 0, 0],
        ];
        let shift_quote = [
            [0x20, 0, 0x34, 0, 0, 0, 0, 0],
            [0; 8],
            [0, 0, 0x28, 0, 0, 0, 0, 0],
        ];
        let run = |layout, rs: &[[u8; 8]]| {
            let mut d = WedgeDecoder::new(layout);
            rs.iter()
                .filter_map(|r| d.push_report(r).unwrap())
                .map(|b| b.raw)
                .collect::<String>()
        };
        assert_eq!(run(KeyboardLayout::Uk, &shift2), "\"");
        assert_eq!(run(KeyboardLayout::Us, &shift2), "@");
        assert_eq!(run(KeyboardLayout::Uk, &shift_quote), "@");
        assert_eq!(run(KeyboardLayout::Us, &shift_quote), "\"");
        assert_eq!(key_char(0x20, true, false, KeyboardLayout::Uk), Some('£'));
        assert_eq!(key_char(0x32, false, false, KeyboardLayout::Uk), Some('#'));
        assert_eq!(key_char(0x31, false, false, KeyboardLayout::Uk), Some('#'));
        assert_eq!(key_char(0x64, false, false, KeyboardLayout::Uk), Some('\\'));
    }

    #[test]
    fn wedge_roundtrip_with_gs_and_garbage() {
        let text = "]C1800406141411234\u{1d}4140614141000005";
        let mut d = WedgeDecoder::new(KeyboardLayout::Us);
        let mut bytes = vec![0u8; 8]; // an idle report first
        bytes.extend_from_slice(&[0, 0, 1, 1, 1, 1, 1, 1]); // rollover error: ignored
        for r in wedge_reports(text, KeyboardLayout::Us) {
            bytes.extend_from_slice(&r);
        }
        let got: Vec<_> = d.push(&bytes).into_iter().map(|r| r.unwrap().raw).collect();
        assert_eq!(got, vec![text.to_string()]);
        assert_eq!(d.push_report(&[0; 3]), Err(HidError::Length(3, 8)));
    }
}
