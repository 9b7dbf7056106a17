//! Identifiers used on case-note folders, patients, places and tags.
//!
//! Every function here is pure and unit-tested with the vectors from the design notes.
//! Nothing in this module ever puts a patient identifier (CHI, NHS number, name) into a
//! machine-readable payload: folder barcodes and RFID EPCs are opaque serial numbers.

pub mod card;
pub mod chi;
pub mod epc;
pub mod folder_id;
pub mod grai;
pub mod gs1;
pub mod nhs;
pub mod scan;
pub mod terminal_digit;

pub use card::{card_payload, parse_card, Card};
pub use chi::{validate_chi, CheckScheme, Chi, Sex};
pub use epc::{EpcError, Giai96};
pub use folder_id::{FolderId, FolderIdScheme};
pub use grai::{validate_grai, Grai, Grai96};
pub use gs1::{gs1_check_digit, parse_element_string, validate_gln, ElementString};
pub use nhs::validate_nhs_number;
pub use scan::{classify, strip_aim, ScanTarget, Symbology};
pub use terminal_digit::{FilingNumber, ShelfRange};

/// Why an identifier was refused. The message names the reason in plain words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be exactly {expected} digits, got {got:?}")]
    Length { expected: usize, got: String },
    #[error("must contain digits only")]
    NotDigits,
    #[error("the date part {0} is not a real date")]
    BadDate(String),
    #[error("the check digit does not match")]
    CheckDigit,
    #[error("the check character does not match")]
    CheckCharacter,
    #[error("{0}")]
    Format(String),
}

/// Parse a string of ASCII digits into their values, or fail with [`IdError::NotDigits`].
pub(crate) fn digits(s: &str) -> Result<Vec<u32>, IdError> {
    s.chars()
        .map(|c| c.to_digit(10).ok_or(IdError::NotDigits))
        .collect()
}

/// Mod-11 check digit with weights 10..2 over the first nine digits (CHI and NHS numbers).
/// Returns `None` when the remainder makes the number unusable (check value 10).
pub(crate) fn mod11_check(d: &[u32]) -> Option<u32> {
    let sum: u32 = d
        .iter()
        .take(9)
        .zip((2..=10).rev())
        .map(|(a, w)| a * w)
        .sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        c => Some(c),
    }
}
