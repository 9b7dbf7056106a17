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
}

/// Sum of bytes, wrapping, as used by several checksums.
pub(crate) fn byte_sum(bytes: &[u8]) -> u32 {
    bytes.iter().map(|&b| b as u32).sum()
}
