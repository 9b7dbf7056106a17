//! Batches: many folder labels from a CSV file.
//!
//! Header names (any order, extra columns ignored): `name, chi, dob, folder_id` (required),
//! `volume` and `of` (default 1), `type` (default `Main`), `filing` (default: the last six
//! digits of the folder id), `giai` (GIAI value for AI 8004; the Data Matrix becomes a GS1
//! DataMatrix), `epc` (hex, written to the RFID inlay), `reprint` (default 0).

use crate::labels::{FolderLabel, LabelError};
use casenote_core::identifiers::gs1::encode_element_string;
use casenote_core::identifiers::{ElementString, FilingNumber};
use serde::Deserialize;

/// Why a batch row was refused.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("row {row}: {source}")]
    Row {
        row: usize,
        #[source]
        source: LabelError,
    },
}

/// An optional number where an empty cell means "not given" (and anything else must parse).
fn opt_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// One CSV row.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct FolderRecord {
    pub name: String,
    pub chi: String,
    pub dob: String,
    #[serde(default, deserialize_with = "opt_u32")]
    pub volume: Option<u32>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub of: Option<u32>,
    #[serde(rename = "type", default)]
    pub folder_type: Option<String>,
    pub folder_id: String,
    #[serde(default)]
    pub filing: Option<String>,
    #[serde(default)]
    pub giai: Option<String>,
    #[serde(default)]
    pub epc: Option<String>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub reprint: Option<u32>,
}

/// Build the AI 8004 element string for a GIAI value (`0614141000123` -> `80040614141000123`).
pub fn giai_element_string(giai: &str) -> String {
    encode_element_string(&[ElementString {
        ai: "8004".into(),
        value: giai.trim().to_string(),
    }])
}

/// The filing number: parsed if given, else the last six digits of the folder id.
pub fn filing_number(filing: Option<&str>, folder_id: &str) -> Result<FilingNumber, LabelError> {
    match filing.map(str::trim).filter(|s| !s.is_empty()) {
        Some(f) => FilingNumber::parse(f).map_err(|e| LabelError::Field {
            field: "filing number",
            reason: e.to_string(),
        }),
        None => {
            let digits: String = folder_id.chars().filter(char::is_ascii_digit).collect();
            let tail = &digits[digits.len().saturating_sub(12)..];
            let serial = tail.parse::<u64>().map_err(|_| LabelError::Field {
                field: "filing number",
                reason: "not given and the folder id has no digits".into(),
            })?;
            Ok(FilingNumber::from_serial(serial))
        }
    }
}

impl FolderRecord {
    /// The validated label for this row.
    pub fn to_label(&self) -> Result<FolderLabel, LabelError> {
        let opt = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let label = FolderLabel {
            patient_name: self.name.trim().to_string(),
            chi: self.chi.trim().to_string(),
            number_kind: crate::labels::PatientNumber::Chi,
            dob: self.dob.trim().to_string(),
            volume: self.volume.unwrap_or(1),
            volume_count: self.of.unwrap_or(1),
            folder_type: opt(&self.folder_type).unwrap_or_else(|| "Main".into()),
            filing_number: filing_number(self.filing.as_deref(), &self.folder_id)?,
            folder_id: self.folder_id.trim().to_string(),
            gs1_giai: opt(&self.giai).map(|g| giai_element_string(&g)),
            epc_hex: opt(&self.epc).map(|e| e.to_ascii_uppercase()),
            reprint: self.reprint.unwrap_or(0),
        };
        label.validate()?;
        Ok(label)
    }
}

/// Read and validate every row; the first bad row stops the batch (row numbers count the header
/// as row 1).
pub fn read_folder_csv<R: std::io::Read>(reader: R) -> Result<Vec<FolderLabel>, BatchError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut out = Vec::new();
    for (i, rec) in rdr.deserialize::<FolderRecord>().enumerate() {
        let rec = rec?;
        out.push(
            rec.to_label()
                .map_err(|source| BatchError::Row { row: i + 2, source })?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_with_defaults() {
        let csv = "name,chi,dob,folder_id,volume,of,type,filing,giai,epc,reprint\n\
                   \"MACDONALD, Morag\",1904851231,19-Apr-1985,F000012345X,2,3,Main,34-63-71,0614141000123,3434257bf400000000003039,1\n\
                   SMITH John,0101011237,01-Jan-1901,F000346371Q,,,,,,,\n";
        let v = read_folder_csv(csv.as_bytes()).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].gs1_giai.as_deref(), Some("80040614141000123"));
        assert_eq!(v[0].epc_hex.as_deref(), Some("3434257BF400000000003039"));
        assert_eq!(v[0].filing_number.blocks(), "34-63-71");
        assert_eq!(
            (v[1].volume, v[1].volume_count, v[1].folder_type.as_str()),
            (1, 1, "Main")
        );
        assert_eq!(v[1].filing_number.blocks(), "34-63-71");
        assert_eq!(v[1].gs1_giai, None);
    }

    #[test]
    fn bad_row_is_named() {
        let csv = "name,chi,dob,folder_id\nA,1904851231,x,F1\nB,1904851232,x,F2\n";
        let e = read_folder_csv(csv.as_bytes()).unwrap_err().to_string();
        assert!(e.starts_with("row 3: CHI"), "{e}");
        let csv = "name,chi,dob,folder_id,volume\nA,1904851231,x,F1,two\n";
        assert!(read_folder_csv(csv.as_bytes()).is_err());
    }
}
