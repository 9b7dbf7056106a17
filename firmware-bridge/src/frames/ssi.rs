//! Zebra (Symbol) Simple Serial Interface: `[Len][Opcode][Src][Status][Data..][CkHi][CkLo]`.
//!
//! `Len` counts every byte except the two checksum bytes; the checksum is the 16-bit two's
//! complement of the sum of those bytes. A decoded barcode arrives as DECODE_DATA (0xF3) with
//! data `[barcode type][bytes..]`; a long barcode is split over several packets, each with
//! status bit 1 (continuation) set except the last. The host must answer every packet with
//! CMD_ACK (0xD0), or CMD_NAK (0xD1) to have it sent again. The bridge ACKs the final packet
//! of a barcode only after the scan is durably queued.

use super::{byte_sum, BarcodeRead};
use casenote_core::identifiers::scan::{strip_aim, Symbology};

pub const CMD_ACK: u8 = 0xD0;
pub const CMD_NAK: u8 = 0xD1;
pub const DECODE_DATA: u8 = 0xF3;
pub const EVENT: u8 = 0xF6;
/// Source byte for packets sent by the host.
pub const SRC_HOST: u8 = 0x04;
/// Status bit: this packet is a retransmission (a doubled barcode is caught by the
/// handheld layer's repeat suppression).
pub const STATUS_RETRANSMIT: u8 = 0x01;
/// Status bit: more packets of the same message follow.
pub const STATUS_CONTINUATION: u8 = 0x02;
/// NAK cause: checksum failure, please resend.
pub const NAK_RESEND: u8 = 0x01;

/// 16-bit two's complement of the byte sum.
pub fn checksum(bytes: &[u8]) -> u16 {
    (0x1_0000u32 - (byte_sum(bytes) & 0xFFFF)) as u16
}

/// Encode a packet (length and checksum are computed).
pub fn encode(opcode: u8, source: u8, status: u8, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(data.len() + 6);
    p.push((data.len() + 4) as u8);
    p.extend_from_slice(&[opcode, source, status]);
    p.extend_from_slice(data);
    let ck = checksum(&p);
    p.extend_from_slice(&ck.to_be_bytes());
    p
}

/// Host acknowledgement: `04 D0 04 00 FF 28`.
pub fn host_ack() -> Vec<u8> {
    encode(CMD_ACK, SRC_HOST, 0, &[])
}

/// Host negative acknowledgement asking for a resend.
/// BEEP opcode: the host asks the scanner to sound a tone.
pub const BEEP: u8 = 0xE6;
/// Beep code "three short low" tones: this bridge's "not accepted" signal.
pub const BEEP_REFUSED: u8 = 0x07;

/// BEEP command (`beep_code` from the scanner's beep table).
pub fn beep(beep_code: u8) -> Vec<u8> {
    encode(BEEP, SRC_HOST, 0, &[beep_code])
}

pub fn host_nak() -> Vec<u8> {
    encode(CMD_NAK, SRC_HOST, 0, &[NAK_RESEND])
}

/// Build DECODE_DATA packets for a barcode as a scanner would (used by the simulator and
/// tests). Payloads longer than `max_chunk` are split into continuation packets.
pub fn decode_data_packets(barcode_type: u8, payload: &[u8], max_chunk: usize) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![&[][..]]
    } else {
        payload.chunks(max_chunk.clamp(1, 250)).collect()
    };
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let status = if i + 1 < n { STATUS_CONTINUATION } else { 0 };
            let mut d = vec![barcode_type];
            d.extend_from_slice(c);
            encode(DECODE_DATA, 0x00, status, &d)
        })
        .collect()
}

/// Symbology for an SSI barcode type byte.
pub fn symbology_for_type(t: u8) -> Symbology {
    match t {
        0x01 | 0x13 => Symbology::Code39,
        0x03 => Symbology::Code128,
        0x0B | 0x0C | 0x4B | 0x4C => Symbology::Ean13,
        0x0F => Symbology::Gs1_128,
        0x1B => Symbology::DataMatrix,
        0x1C => Symbology::Qr,
        0x30..=0x32 => Symbology::DataBar,
        _ => Symbology::Unknown,
    }
}

fn valid_at(b: &[u8]) -> bool {
    let Some(&l) = b.first() else { return false };
    let len = l as usize;
    len >= 4
        && b.len() >= len + 2
        && checksum(&b[..len]) == u16::from_be_bytes([b[len], b[len + 1]])
}

/// A well-formed packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub opcode: u8,
    pub source: u8,
    pub status: u8,
    pub data: Vec<u8>,
}

/// What the host has to do with the input so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsiItem {
    /// A complete barcode. Persist it, then send [`host_ack`].
    Barcode(BarcodeRead),
    /// A packet that needs only an ACK now (continuation, event, other scanner message).
    AckOnly(Packet),
    /// An ACK or NAK from the scanner (answers to our own commands): no reply.
    ScannerAck(Packet),
    /// Checksum failure: send [`host_nak`] once (repeats are suppressed until a good packet).
    BadChecksum,
}

/// Incremental SSI decoder.
#[derive(Debug, Default)]
pub struct SsiDecoder {
    buf: Vec<u8>,
    pending: Vec<u8>,
    pending_type: Option<u8>,
    nak_sent: bool,
}

impl SsiDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes waiting for the rest of a packet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Drop a partial packet (call after a long silence).
    pub fn reset_partial(&mut self) {
        self.buf.clear();
    }

    pub fn push(&mut self, bytes: &[u8]) -> Vec<SsiItem> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let b = &self.buf[start..];
            if b.is_empty() {
                break;
            }
            let len = b[0] as usize;
            if len < 4 {
                start += 1; // cannot be a length byte
                continue;
            }
            if b.len() < len + 2 {
                // Truncated, or a garbage byte taken for a length. If a complete valid packet
                // starts further on, this was garbage: skip to it.
                match (1..b.len()).find(|&i| valid_at(&b[i..])) {
                    Some(i) => {
                        start += i;
                        continue;
                    }
                    None => break, // wait for more
                }
            }
            let body = &b[..len];
            let ck = u16::from_be_bytes([b[len], b[len + 1]]);
            if checksum(body) != ck {
                if !self.nak_sent {
                    out.push(SsiItem::BadChecksum);
                    self.nak_sent = true;
                }
                start += 1; // resynchronise
                continue;
            }
            self.nak_sent = false;
            let p = Packet {
                opcode: body[1],
                source: body[2],
                status: body[3],
                data: body[4..].to_vec(),
            };
            start += len + 2;
            out.push(self.packet(p));
        }
        self.buf.drain(..start);
        out
    }

    fn packet(&mut self, p: Packet) -> SsiItem {
        match p.opcode {
            CMD_ACK | CMD_NAK => SsiItem::ScannerAck(p),
            DECODE_DATA => {
                if let Some((&t, data)) = p.data.split_first() {
                    self.pending_type.get_or_insert(t);
                    self.pending.extend_from_slice(data);
                }
                if p.status & STATUS_CONTINUATION != 0 {
                    return SsiItem::AckOnly(p);
                }
                let t = self.pending_type.take().unwrap_or(0);
                let payload = std::mem::take(&mut self.pending);
                let raw = String::from_utf8_lossy(&payload).into_owned();
                let symbology = strip_aim(&raw).0.unwrap_or(symbology_for_type(t));
                SsiItem::Barcode(BarcodeRead { raw, symbology })
            }
            _ => SsiItem::AckOnly(p),
        }
    }
}

/// How long a half-received SSI packet may wait for its rest before it is dropped (the
/// scanner sends it again after its own ACK timeout).
const PARTIAL_TIMEOUT_MS: u64 = 500;

impl super::ProtocolSession for SsiDecoder {
    fn feed(
        &mut self,
        bytes: &[u8],
        _now_ms: u64,
        idle_ms: u64,
        out: &mut Vec<super::Step>,
    ) -> Result<(), super::SessionFault> {
        if bytes.is_empty() && self.buffered() > 0 && idle_ms > PARTIAL_TIMEOUT_MS {
            self.reset_partial();
        }
        for item in self.push(bytes) {
            match item {
                // Durable first, then ACK (see [`super::Step::Barcode`]).
                SsiItem::Barcode(read) => out.push(super::Step::Barcode {
                    read,
                    ack: host_ack(),
                }),
                SsiItem::AckOnly(_) => out.push(super::Step::Send(host_ack())),
                SsiItem::BadChecksum => out.push(super::Step::Send(host_nak())),
                SsiItem::ScannerAck(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NR: [u8; 9] = [0x07, 0xF3, 0x00, 0x00, 0x01, 0x4E, 0x52, 0xFE, 0x65];

    #[test]
    fn design_vectors() {
        assert_eq!(host_ack(), vec![0x04, 0xD0, 0x04, 0x00, 0xFF, 0x28]);
        assert_eq!(encode(DECODE_DATA, 0, 0, &[0x01, b'N', b'R']), NR.to_vec());
        let mut d = SsiDecoder::new();
        assert_eq!(
            d.push(&NR),
            vec![SsiItem::Barcode(BarcodeRead {
                raw: "NR".into(),
                symbology: Symbology::Code39
            })]
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn truncated_then_completed() {
        let mut d = SsiDecoder::new();
        assert!(d.push(&NR[..5]).is_empty());
        assert_eq!(d.buffered(), 5);
        assert_eq!(d.push(&NR[5..]).len(), 1);
    }

    #[test]
    fn bad_checksum_naks_once_and_resyncs() {
        let mut bad = NR;
        bad[8] ^= 0x01;
        let mut d = SsiDecoder::new();
        let mut input = bad.to_vec();
        input.extend_from_slice(&NR);
        let items = d.push(&input);
        assert_eq!(items[0], SsiItem::BadChecksum);
        assert_eq!(
            items.iter().filter(|i| **i == SsiItem::BadChecksum).count(),
            1
        );
        assert!(matches!(items.last(), Some(SsiItem::Barcode(b)) if b.raw == "NR"));
        assert_eq!(host_nak(), vec![0x05, 0xD1, 0x04, 0x00, 0x01, 0xFF, 0x25]);
    }

    #[test]
    fn garbage_between_packets() {
        let mut d = SsiDecoder::new();
        let mut input = vec![0x00, 0x01, 0x02];
        input.extend_from_slice(&NR);
        input.extend_from_slice(&[0x00, 0x00]);
        input.extend_from_slice(&host_ack());
        input.extend_from_slice(&NR);
        let items = d.push(&input);
        let barcodes = items
            .iter()
            .filter(|i| matches!(i, SsiItem::Barcode(_)))
            .count();
        assert_eq!(barcodes, 2);
        assert!(items.iter().any(|i| matches!(i, SsiItem::ScannerAck(_))));
    }

    #[test]
    fn multi_packet() {
        let payload = b"]C1800406141410000001234567890\x1d414061414100000";
        let packets = decode_data_packets(0x0F, payload, 10);
        assert!(packets.len() > 3);
        assert_eq!(packets[0][3] & STATUS_CONTINUATION, STATUS_CONTINUATION);
        assert_eq!(packets.last().unwrap()[3] & STATUS_CONTINUATION, 0);
        let mut d = SsiDecoder::new();
        let mut items = Vec::new();
        for p in &packets {
            items.extend(d.push(p));
        }
        assert_eq!(items.len(), packets.len());
        assert!(items[..packets.len() - 1]
            .iter()
            .all(|i| matches!(i, SsiItem::AckOnly(_))));
        match items.last().unwrap() {
            SsiItem::Barcode(b) => {
                assert_eq!(b.raw.as_bytes(), payload);
                assert_eq!(b.symbology, Symbology::Gs1_128);
            }
            other => panic!("{other:?}"),
        }
    }
}
