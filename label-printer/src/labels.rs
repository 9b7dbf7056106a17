//! Label templates: what goes on a folder label, a location card, a staff badge and a
//! container (trolley, bag, crate) label, and the label stock they are printed on.
//!
//! The machine-readable parts of a folder label are opaque (folder id, GS1 GIAI, EPC); the
//! patient's name, CHI and date of birth are printed as text only. [`FolderLabel::validate`]
//! refuses a label whose barcode or EPC would carry the CHI.

use casenote_core::identifiers::{
    card_payload, parse_element_string, validate_chi, validate_gln, validate_grai,
    validate_nhs_number, FilingNumber,
};
use serde::{Deserialize, Serialize};

/// Why a label's content was refused before layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("{field}: {reason}")]
    Field { field: &'static str, reason: String },
    #[error("label stock {0}")]
    Stock(String),
}

fn field(field: &'static str, reason: impl Into<String>) -> LabelError {
    LabelError::Field {
        field,
        reason: reason.into(),
    }
}

/// Which national number a folder label prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatientNumber {
    /// The CHI number (NHS Scotland), printed `CHI 1904851231`.
    #[default]
    Chi,
    /// The NHS number (England, Wales, Isle of Man), printed `NHS 943 476 5919`, for a
    /// patient known only by it.
    NhsNumber,
}

/// The label of one case-note folder (one volume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FolderLabel {
    pub patient_name: String,
    /// The patient's number, printed as text only: the CHI number, or the NHS number when
    /// `number_kind` says so.
    pub chi: String,
    /// Which number `chi` holds.
    pub number_kind: PatientNumber,
    /// Date of birth as printed, e.g. `19-Apr-1985`.
    pub dob: String,
    /// This volume (1-based) ...
    pub volume: u32,
    /// ... of this many.
    pub volume_count: u32,
    /// Folder type as printed, e.g. `Main`, `Temporary`, `Maternity`.
    pub folder_type: String,
    pub filing_number: FilingNumber,
    /// Opaque folder id, the Code 128 payload (e.g. `F000012345X`).
    pub folder_id: String,
    /// Raw GS1 element string for a GS1 DataMatrix, AI 8004 (GIAI), e.g. `80040614141000123`.
    /// Without it the Data Matrix carries the folder id.
    pub gs1_giai: Option<String>,
    /// EPC to write to the RFID inlay (hex, e.g. GIAI-96 `3434257BF400000000003039`).
    pub epc_hex: Option<String>,
    /// How many times this label was printed before (0 = first print).
    pub reprint: u32,
}

/// A card fixed at a place (ward door, shelf bay, trolley park) that handhelds scan first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationCard {
    pub name: String,
    /// Local code (`LWARD5`, printed as `LWARD5/` + check character) or a 13-digit GLN,
    /// which is printed as GS1-128 `(414)GLN`.
    pub code: String,
}

/// A staff badge label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffBadge {
    pub name: String,
    pub role: String,
    /// Badge number (A-Z, 0-9); the Code 128 payload is this, `/` and a check character.
    pub badge: String,
}

/// The label of a container (trolley, bag, crate): its name large, its GRAI as GS1-128
/// `(8003)...`, and (on an RFID printer) its GRAI-96 EPC written to the tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerLabel {
    /// As people say it, e.g. `Trolley T3`.
    pub name: String,
    /// What it is for, printed under the name, e.g. `Case notes - return to Records Library`.
    pub note: Option<String>,
    /// The GRAI: the value of AI 8003 (`0`, prefix, asset type, check digit, serial).
    pub grai: String,
    /// EPC GRAI-96 to write to the RFID inlay (hex).
    pub epc_hex: Option<String>,
}

impl ContainerLabel {
    pub fn validate(&self) -> Result<(), LabelError> {
        non_empty("container name", &self.name)?;
        validate_grai(&self.grai).map_err(|e| field("GRAI", e.to_string()))?;
        if let Some(e) = &self.epc_hex {
            validate_epc_hex(e)?;
        }
        Ok(())
    }

    /// The GS1 element string in the barcode: AI 8003 and the GRAI.
    pub fn element_string(&self) -> String {
        format!("8003{}", self.grai)
    }
}

/// Any of the templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    Folder(FolderLabel),
    Location(LocationCard),
    Badge(StaffBadge),
    Container(ContainerLabel),
}

/// Label stock: size in millimetres and printer resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelStock {
    pub width_mm: u32,
    pub height_mm: u32,
    /// 203 or 300 dots per inch.
    pub dpi: u32,
}

impl Default for LabelStock {
    /// 100 x 50 mm at 203 dpi, a common folder-label size.
    fn default() -> Self {
        Self {
            width_mm: 100,
            height_mm: 50,
            dpi: 203,
        }
    }
}

impl LabelStock {
    /// A stock of `width_mm` x `height_mm` at 203 or 300 dpi.
    pub fn new(width_mm: u32, height_mm: u32, dpi: u32) -> Result<Self, LabelError> {
        let s = Self {
            width_mm,
            height_mm,
            dpi,
        };
        s.validate()?;
        Ok(s)
    }

    /// Parse `100x50` (millimetres).
    pub fn parse(size: &str, dpi: u32) -> Result<Self, LabelError> {
        let (w, h) = size
            .split_once(['x', 'X'])
            .ok_or_else(|| LabelError::Stock(format!("{size:?} is not WIDTHxHEIGHT in mm")))?;
        let p = |v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| LabelError::Stock(format!("{size:?} is not WIDTHxHEIGHT in mm")))
        };
        Self::new(p(w)?, p(h)?, dpi)
    }

    pub fn validate(&self) -> Result<(), LabelError> {
        if self.dpi != 203 && self.dpi != 300 {
            return Err(LabelError::Stock(format!(
                "dpi must be 203 or 300, got {}",
                self.dpi
            )));
        }
        if !(20..=220).contains(&self.width_mm) || !(10..=300).contains(&self.height_mm) {
            return Err(LabelError::Stock(format!(
                "{}x{} mm is outside 20..220 x 10..300 mm",
                self.width_mm, self.height_mm
            )));
        }
        Ok(())
    }

    /// Dots per millimetre (8 at 203 dpi, 11.8 at 300 dpi).
    pub fn dots_per_mm(&self) -> f32 {
        self.dpi as f32 / 25.4
    }

    /// Millimetres to dots, rounded.
    pub fn dots(&self, mm: f32) -> u32 {
        (mm * self.dots_per_mm()).round() as u32
    }

    pub fn width_dots(&self) -> u32 {
        self.dots(self.width_mm as f32)
    }

    pub fn height_dots(&self) -> u32 {
        self.dots(self.height_mm as f32)
    }
}

fn non_empty(name: &'static str, v: &str) -> Result<(), LabelError> {
    if v.trim().is_empty() {
        return Err(field(name, "must not be empty"));
    }
    if v.chars().any(char::is_control) {
        return Err(field(name, "must not contain control characters"));
    }
    Ok(())
}

/// Check an EPC to be written by `^RFW,H`: hex, whole 16-bit words, at most 496 bits.
pub fn validate_epc_hex(epc: &str) -> Result<(), LabelError> {
    if epc.is_empty() || epc.len() & 3 != 0 || epc.len() > 124 {
        return Err(field(
            "epc",
            "must be whole 16-bit words of hex (e.g. 24 hex digits for EPC-96)",
        ));
    }
    if !epc.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(field("epc", "must be hexadecimal"));
    }
    Ok(())
}

impl FolderLabel {
    /// Check the content: CHI valid, volume numbers sane, barcode data opaque.
    pub fn validate(&self) -> Result<(), LabelError> {
        non_empty("patient name", &self.patient_name)?;
        non_empty("date of birth", &self.dob)?;
        non_empty("folder type", &self.folder_type)?;
        non_empty("folder id", &self.folder_id)?;
        match self.number_kind {
            PatientNumber::Chi => {
                validate_chi(&self.chi).map_err(|e| field("CHI", e.to_string()))?;
            }
            PatientNumber::NhsNumber => {
                validate_nhs_number(&self.chi).map_err(|e| field("NHS number", e.to_string()))?;
            }
        }
        if self.volume == 0 || self.volume_count == 0 || self.volume > self.volume_count {
            return Err(field(
                "volume",
                format!(
                    "volume {} of {} is impossible",
                    self.volume, self.volume_count
                ),
            ));
        }
        let chi = self.chi.trim();
        if self.folder_id.contains(chi) {
            return Err(field(
                "folder id",
                "must be opaque: it contains the patient's number",
            ));
        }
        if let Some(g) = &self.gs1_giai {
            let el = parse_element_string(g).map_err(|e| field("GS1 GIAI", e.to_string()))?;
            if el.len() != 1 || el[0].ai != "8004" {
                return Err(field(
                    "GS1 GIAI",
                    "must be exactly one AI (8004) element string",
                ));
            }
            if g.contains(chi) {
                return Err(field(
                    "GS1 GIAI",
                    "must be opaque: it contains the patient's number",
                ));
            }
        }
        if let Some(e) = &self.epc_hex {
            validate_epc_hex(e)?;
        }
        Ok(())
    }
}

impl LocationCard {
    pub fn validate(&self) -> Result<(), LabelError> {
        non_empty("location name", &self.name)?;
        non_empty("location code", &self.code)?;
        if self.is_gln() {
            validate_gln(&self.code).map_err(|e| field("location code (GLN)", e.to_string()))?;
        } else {
            card_payload(&self.code).map_err(|e| field("location code", e.to_string()))?;
        }
        Ok(())
    }

    /// The barcode payload of a local code: the code, `/` and its check character.
    pub fn payload(&self) -> String {
        card_payload(&self.code).unwrap_or_else(|_| self.code.clone())
    }

    /// A 13-digit code is a GLN and is printed as GS1-128 `(414)`.
    pub fn is_gln(&self) -> bool {
        self.code.len() == 13 && self.code.bytes().all(|b| b.is_ascii_digit())
    }
}

impl StaffBadge {
    pub fn validate(&self) -> Result<(), LabelError> {
        non_empty("staff name", &self.name)?;
        non_empty("role", &self.role)?;
        non_empty("badge", &self.badge)?;
        card_payload(&self.badge).map_err(|e| field("badge", e.to_string()))?;
        Ok(())
    }

    /// The barcode payload: the badge number, `/` and its check character.
    pub fn payload(&self) -> String {
        card_payload(&self.badge).unwrap_or_else(|_| self.badge.clone())
    }
}

impl Label {
    pub fn validate(&self) -> Result<(), LabelError> {
        match self {
            Label::Folder(f) => f.validate(),
            Label::Location(l) => l.validate(),
            Label::Badge(b) => b.validate(),
            Label::Container(k) => k.validate(),
        }
    }
}

/// A valid folder label with the design's vectors, for tests, examples and the bench.
pub fn sample_folder_label() -> FolderLabel {
    FolderLabel {
        patient_name: "MACDONALD, Morag Elizabeth".into(),
        chi: "1904851231".into(),
        number_kind: PatientNumber::Chi,
        dob: "19-Apr-1985".into(),
        volume: 2,
        volume_count: 3,
        folder_type: "Main".into(),
        filing_number: FilingNumber::parse("34-63-71").expect("valid filing number"),
        folder_id: "F000012345X".into(),
        gs1_giai: Some("80040614141000123".into()),
        epc_hex: Some("3434257BF400000000003039".into()),
        reprint: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_parse() {
        let s = LabelStock::parse("100x50", 203).unwrap();
        assert_eq!((s.width_dots(), s.height_dots()), (799, 400));
        assert_eq!(LabelStock::parse("100x50", 300).unwrap().width_dots(), 1181);
        assert!(LabelStock::parse("100x50", 600).is_err());
        assert!(LabelStock::parse("100by50", 203).is_err());
        assert!(LabelStock::parse("5x5", 203).is_err());
    }

    #[test]
    fn folder_validation() {
        let ok = sample_folder_label();
        ok.validate().unwrap();
        let mut bad = ok.clone();
        bad.chi = "1904851232".into();
        assert!(bad.validate().is_err());
        let mut bad = ok.clone();
        bad.volume = 4;
        assert!(bad.validate().is_err());
        let mut bad = ok.clone();
        bad.folder_id = "F1904851231".into();
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("opaque"), "{e}");
        let mut bad = ok.clone();
        bad.epc_hex = Some("3434257BF40000000000303".into());
        assert!(bad.validate().is_err());
        let mut bad = ok.clone();
        bad.gs1_giai = Some("4140614141000005".into());
        assert!(bad.validate().is_err());
        // A patient known only by an NHS number: its Mod-11 check digit is checked.
        let mut nhs = ok;
        nhs.number_kind = PatientNumber::NhsNumber;
        nhs.chi = "9434765919".into();
        nhs.validate().unwrap();
        nhs.chi = "9434765918".into();
        let e = nhs.validate().unwrap_err().to_string();
        assert!(e.starts_with("NHS number"), "{e}");
    }

    #[test]
    fn location_gln() {
        let l = LocationCard {
            name: "Ward 5".into(),
            code: "0614141000005".into(),
        };
        assert!(l.is_gln());
        l.validate().unwrap();
        let bad = LocationCard {
            name: "Ward 5".into(),
            code: "0614141000006".into(),
        };
        assert!(bad.validate().is_err());
        assert!(!LocationCard {
            name: "x".into(),
            code: "LWARD5".into()
        }
        .is_gln());
    }
}
