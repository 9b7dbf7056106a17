//! Pure decoders and encoders for every wire protocol the bridge speaks.
//!
//! Nothing in here does I/O or reads the clock: bytes go in, frames come out. Each decoder
//! accepts input split at any byte boundary, resynchronises after garbage and reports (rather
//! than panics on) bad checksums. Unit tests use the byte vectors from the design notes.

pub mod hid;
pub mod line;
pub mod llrp;
pub mod r2000;
pub mod ssi;

use casenote_core::identifiers::scan::{strip_aim, Symbology};

/// What a protocol session makes of the bytes a device sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A barcode. The caller stores it durably first and only then sends `ack` (if not empty)
    /// to the scanner, so a scanner that gets no ACK keeps the barcode and sends it again.
    Barcode { read: BarcodeRead, ack: Vec<u8> },
    /// An RFID tag read.
    Tag(TagRead),
    /// Bytes to send to the device now (a command, a keepalive answer, a NAK).
    Send(Vec<u8>),
    /// Something the device sent was dropped or reported an error: logged as a warning.
    Warn(String),
    /// A corrupt message from the device was dropped: logged as a warning and counted in the
    /// device's health (`corrupt`).
    Corrupt(String),
    /// The reader answered with an error (an antenna missing, a command refused): logged as a
    /// warning (rate-limited) and counted in the device's health (`reader_errors`).
    ReaderError(String),
    /// Worth a line in a debug log only (for example "no tag in the field").
    Debug(String),
}

/// A fault that ends the connection: the device is closed and opened again after a backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SessionFault(pub String);

/// One protocol spoken over one open connection to a device. An implementation sits next to
/// each decoder; it does no I/O and reads no clock: the caller passes the bytes read (none
/// after a quiet poll interval), a monotonic time and how long the line has been quiet.
pub trait ProtocolSession: Send {
    /// Bytes to send as soon as the connection is open, at `now_ms` (e.g. start an
    /// inventory).
    fn start(&mut self, _now_ms: u64) -> Vec<u8> {
        Vec::new()
    }

    /// Take `bytes` read at `now_ms`, with the line quiet for `idle_ms` before them, and push
    /// what they mean to `out`.
    fn feed(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
        idle_ms: u64,
        out: &mut Vec<Step>,
    ) -> Result<(), SessionFault>;
}

/// One barcode read, as the scanner sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarcodeRead {
    /// Payload including any AIM identifier (`]C0...`). GS (0x1D) separators are kept.
    pub raw: String,
    /// Symbology from the AIM identifier or the protocol's own barcode type.
    pub symbology: Symbology,
}

impl BarcodeRead {
    /// Build from payload bytes: the symbology comes from the AIM identifier, else `fallback`.
    pub fn from_bytes(bytes: &[u8], fallback: Symbology) -> Self {
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let symbology = strip_aim(&raw).0.unwrap_or(fallback);
        Self { raw, symbology }
    }
}

/// One RFID tag observation by one antenna.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRead {
    /// EPC bank contents (12 bytes for EPC-96).
    pub epc: Vec<u8>,
    /// Antenna number, 1-based as printed on the reader.
    pub antenna: u16,
    /// Signal strength in dBm, when the reader reports it.
    pub rssi_dbm: Option<i16>,
    /// When the reader first saw the tag, by the reader's clock (microseconds since the Unix
    /// epoch), when the protocol carries it (LLRP FirstSeenTimestampUTC).
    pub seen_at_us: Option<u64>,
}

/// Sum of bytes, wrapping, as used by several checksums.
pub(crate) fn byte_sum(bytes: &[u8]) -> u32 {
    bytes.iter().map(|&b| b as u32).sum()
}

#[cfg(test)]
mod session_tests {
    //! Each protocol session fed byte vectors: what it reads, what it answers, and when.
    use super::*;

    fn feed(s: &mut dyn ProtocolSession, bytes: &[u8], now: u64, idle: u64) -> Vec<Step> {
        let mut out = Vec::new();
        s.feed(bytes, now, idle, &mut out).expect("no fault");
        out
    }

    #[test]
    fn line_reads_end_at_the_terminator() {
        let mut s = line::LineSession::new(Default::default());
        assert!(s.start(0).is_empty());
        let out = feed(&mut s, b"]C0F0000001U\r", 10, 0);
        let [Step::Barcode { read, ack }] = &out[..] else {
            panic!("{out:?}")
        };
        assert_eq!(read.raw, "]C0F0000001U");
        assert_eq!(read.symbology, Symbology::Code128);
        assert!(ack.is_empty(), "a line scanner takes no ACK");
    }

    #[test]
    fn ssi_acks_a_barcode_only_through_the_barcode_step_and_naks_a_bad_packet() {
        let mut s = ssi::SsiDecoder::new();
        let mut bytes = Vec::new();
        for p in ssi::decode_data_packets(0x03, b"F0000001U", 250) {
            bytes.extend(p);
        }
        let out = feed(&mut s, &bytes, 0, 0);
        assert_eq!(out.len(), 1, "{out:?}");
        let Step::Barcode { read, ack } = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(read.raw, "F0000001U");
        // CMD_ACK: length 4, opcode 0xD0, source host (4), status 0, 2-byte checksum
        assert_eq!(ack, &vec![0x04, 0xD0, 0x04, 0x00, 0xFF, 0x28]);
        let mut bad = ssi::decode_data_packets(0x03, b"F0000001U", 250).remove(0);
        let last = bad.len() - 1;
        bad[last] ^= 0xFF;
        assert_eq!(feed(&mut s, &bad, 1, 0), vec![Step::Send(ssi::host_nak())]);
    }

    #[test]
    fn r2000_starts_a_round_and_the_next_when_one_ends_or_is_overdue() {
        let mut s = r2000::R2000Session::new(r2000::R2000Params {
            address: 0x01,
            repeat: 1,
            round_timeout_ms: 1000,
            antennas: vec![1],
            switching: r2000::AntennaSwitching::WorkAntenna,
        });
        // cmd_set_work_antenna (0x74), antenna 0x00, check byte
        let select = vec![0xA0, 0x04, 0x01, 0x74, 0x00, 0xE7];
        // cmd_real_time_inventory (0x89), address 1, repeat 1, check byte
        let inventory = vec![0xA0, 0x04, 0x01, 0x89, 0x01, 0xD1];
        assert_eq!(s.start(5_000), select);
        // the reader answers 0x10 "command succeeded": the round starts
        assert_eq!(
            feed(&mut s, &r2000::encode(0x01, 0x74, &[0x10]), 5_050, 0),
            vec![Step::Send(inventory.clone())]
        );
        let epc = [0x33u8; 12];
        let mut bytes = r2000::tag_frame(0x01, 0x02, 0x05, &epc, 0x45);
        let out = feed(&mut s, &bytes, 5_100, 0);
        let [Step::Tag(t)] = &out[..] else {
            panic!("{out:?}")
        };
        assert_eq!(t.epc, epc.to_vec());
        bytes = r2000::end_of_round_frame(0x01, 0x02, 40, 1);
        assert_eq!(
            feed(&mut s, &bytes, 5_200, 0),
            vec![Step::Send(inventory.clone())]
        );
        // nothing heard for longer than the round timeout: select the antenna again
        assert!(feed(&mut s, &[], 5_900, 700).is_empty());
        assert_eq!(feed(&mut s, &[], 6_300, 1100), vec![Step::Send(select)]);
    }

    #[test]
    fn llrp_sets_up_answers_keepalives_and_faults_on_a_refusal() {
        let p = llrp::RoSpecParams {
            rospec_id: 7,
            antennas: vec![1, 2],
            report_every_n_tags: 1,
        };
        let mut s = llrp::LlrpSession::new(p, 60);
        let hello = s.start(0);
        // DELETE_ROSPEC (21), ADD_ROSPEC (20), ENABLE_ROSPEC (24), START_ROSPEC (22),
        // ENABLE_EVENTS_AND_REPORTS (64): the message types of LLRP 1.1
        let mut types = Vec::new();
        let mut rest = &hello[..];
        while rest.len() >= 10 {
            types.push(u16::from_be_bytes([rest[0], rest[1]]) & 0x3FF);
            let len = u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]) as usize;
            rest = &rest[len..];
        }
        assert_eq!(types, vec![21, 20, 24, 22, 64]);
        assert_eq!(
            feed(&mut s, &llrp::keepalive(9), 1, 0),
            vec![Step::Send(llrp::keepalive_ack(9))]
        );
        let mut out = Vec::new();
        let refused = llrp::response(llrp::ADD_ROSPEC_RESPONSE, 2, 101, "bad antenna");
        let e = s.feed(&refused, 2, 0, &mut out).unwrap_err();
        assert!(e.0.contains("status 101 M_FieldError bad antenna"), "{e}");
        let mut out = Vec::new();
        assert!(
            s.feed(&[], 70_000, 61_000, &mut out).is_err(),
            "a silent reader"
        );
    }
}
