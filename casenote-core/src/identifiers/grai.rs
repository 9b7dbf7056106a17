//! Containers (trolleys, bags, crates) are returnable assets, identified as GS1 defines them:
//!
//! - on their barcode label, the **GRAI** (Global Returnable Asset Identifier, AI 8003): a zero
//!   digit, the GS1 company prefix and the asset type (12 digits together), a GS1 check digit
//!   over those 13 digits, then the asset's serial (up to 16 characters);
//! - on their RFID tag, the **EPC GRAI-96** (EPC Tag Data Standard): header 0x33, filter (3
//!   bits), partition (3 bits), company prefix and asset type (44 bits together, split as the
//!   partition says) and a numeric serial of 38 bits without leading zeros.
//!
//! A container's identifier says nothing about what is on it: no patient identifier is ever
//! in a GRAI or its tag.

use super::epc::{bytes96, hex96, hex_upper, open96, EpcError};
use super::{gs1::gs1_check_digit, IdError};
use serde::Serialize;

/// Header of an EPC GRAI-96.
pub const GRAI96_HEADER: u8 = 0x33;

/// Longest serial in a GRAI (AI 8003 is N14 + X..16).
pub const MAX_SERIAL: usize = 16;

/// Largest serial a GRAI-96 tag can carry (38 bits).
pub const MAX_SERIAL_96: u64 = (1 << 38) - 1;

/// A GRAI with its company prefix known (so it can be written to a GRAI-96 tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grai {
    /// GS1 company prefix, 6 to 12 digits.
    pub company_prefix: String,
    /// Asset type: the digits that make the prefix up to 12 (none for a 12-digit prefix).
    pub asset_type: String,
    /// The asset's serial (for containers made here: digits, no leading zero).
    pub serial: String,
}

/// Characters GS1 allows in an alphanumeric field (the "file-safe" set 82).
fn gs1_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"%&'()*+,-./:;<=>?_".contains(c)
}

fn format(s: impl Into<String>) -> IdError {
    IdError::Format(s.into())
}

impl Grai {
    /// A GRAI from its parts; refused naming the part that is wrong.
    pub fn new(company_prefix: &str, asset_type: &str, serial: &str) -> Result<Self, IdError> {
        if !(6..=12).contains(&company_prefix.len())
            || !company_prefix.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format("the GS1 company prefix must be 6 to 12 digits"));
        }
        let at_digits = 12 - company_prefix.len();
        if asset_type.len() != at_digits || !asset_type.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format(format!(
                "the asset type must be {at_digits} digits with a {}-digit company prefix",
                company_prefix.len()
            )));
        }
        if serial.len() > MAX_SERIAL || !serial.chars().all(gs1_char) {
            return Err(format(format!(
                "the serial must be at most {MAX_SERIAL} letters, digits or GS1 punctuation"
            )));
        }
        Ok(Self {
            company_prefix: company_prefix.into(),
            asset_type: asset_type.into(),
            serial: serial.into(),
        })
    }

    /// The GS1 check digit of the GRAI (over the zero, the prefix and the asset type).
    pub fn check_digit(&self) -> u32 {
        gs1_check_digit(&format!("0{}{}", self.company_prefix, self.asset_type)).unwrap_or(0)
    }

    /// The value of AI 8003: `0`, prefix, asset type, check digit, serial.
    pub fn ai_value(&self) -> String {
        format!(
            "0{}{}{}{}",
            self.company_prefix,
            self.asset_type,
            self.check_digit(),
            self.serial
        )
    }

    /// The human-readable element string, `(8003)` and the value.
    pub fn hri(&self) -> String {
        format!("(8003){}", self.ai_value())
    }

    /// Read an AI 8003 value whose company prefix is `company_prefix`.
    pub fn from_ai_value(value: &str, company_prefix: &str) -> Result<Self, IdError> {
        validate_grai(value)?;
        let body = &value[1..13];
        let Some(asset_type) = body.strip_prefix(company_prefix) else {
            return Err(format(format!(
                "the GRAI's company prefix is not {company_prefix}"
            )));
        };
        Self::new(company_prefix, asset_type, &value[14..])
    }

    /// The GRAI-96 EPC for this GRAI; the serial must be digits without a leading zero.
    pub fn to_epc(&self, filter: u8) -> Result<Grai96, EpcError> {
        let serial = if self.serial.starts_with('0') && self.serial != "0" {
            None
        } else {
            self.serial.parse::<u64>().ok()
        };
        let serial = serial.ok_or(EpcError::Serial)?;
        let e = Grai96 {
            filter,
            company_prefix: self.company_prefix.clone(),
            asset_type: self.asset_type.clone(),
            serial,
        };
        e.encode()?;
        Ok(e)
    }
}

/// Check an AI 8003 value: 14 digits starting with `0`, a right check digit, then a serial of
/// up to 16 GS1 characters. Messages never quote the value.
pub fn validate_grai(value: &str) -> Result<(), IdError> {
    let b = value.as_bytes();
    if b.len() < 14 || !b[..14].iter().all(u8::is_ascii_digit) {
        return Err(format("a GRAI starts with 14 digits"));
    }
    if b[0] != b'0' {
        return Err(format("a GRAI's first digit is 0"));
    }
    let check = gs1_check_digit(&value[..13])?;
    if u32::from(b[13] - b'0') != check {
        return Err(IdError::CheckDigit);
    }
    let serial = &value[14..];
    if serial.len() > MAX_SERIAL || !serial.chars().all(gs1_char) {
        return Err(format(format!(
            "a GRAI's serial is at most {MAX_SERIAL} letters, digits or GS1 punctuation"
        )));
    }
    Ok(())
}

/// (company prefix bits, company prefix digits, asset type bits) per partition value; the
/// asset type has 12 minus the prefix's digits.
const PARTITIONS: [(u32, usize, u32); 7] = [
    (40, 12, 4),
    (37, 11, 7),
    (34, 10, 10),
    (30, 9, 14),
    (27, 8, 17),
    (24, 7, 20),
    (20, 6, 24),
];

/// A decoded EPC GRAI-96.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grai96 {
    pub filter: u8,
    pub company_prefix: String,
    pub asset_type: String,
    pub serial: u64,
}

impl Grai96 {
    /// Encode to 12 bytes.
    pub fn encode(&self) -> Result<[u8; 12], EpcError> {
        if self.filter > 7 {
            return Err(EpcError::Filter);
        }
        if !self.company_prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EpcError::CompanyPrefix);
        }
        let (p, &(cp_bits, digits, at_bits)) = PARTITIONS
            .iter()
            .enumerate()
            .find(|(_, (_, d, _))| *d == self.company_prefix.len())
            .ok_or(EpcError::CompanyPrefix)?;
        if self.asset_type.len() != 12 - digits
            || !self.asset_type.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(EpcError::AssetType);
        }
        if self.serial > MAX_SERIAL_96 {
            return Err(EpcError::Serial);
        }
        let cp: u128 = self
            .company_prefix
            .parse()
            .map_err(|_| EpcError::CompanyPrefix)?;
        let at: u128 = if self.asset_type.is_empty() {
            0
        } else {
            self.asset_type.parse().map_err(|_| EpcError::AssetType)?
        };
        let mut v: u128 = GRAI96_HEADER as u128;
        v = (v << 3) | self.filter as u128;
        v = (v << 3) | p as u128;
        v = (v << cp_bits) | cp;
        v = (v << at_bits) | at;
        v = (v << 38) | self.serial as u128;
        Ok(bytes96(v))
    }

    /// Encode to 24 upper-case hex characters.
    pub fn to_hex(&self) -> Result<String, EpcError> {
        Ok(hex_upper(&self.encode()?))
    }

    /// Decode 12 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, EpcError> {
        let (v, filter, p) = open96(bytes, GRAI96_HEADER, EpcError::NotGrai96)?;
        let &(cp_bits, digits, at_bits) =
            PARTITIONS.get(p as usize).ok_or(EpcError::Partition(p))?;
        let serial = (v & ((1u128 << 38) - 1)) as u64;
        let at = (v >> 38) & ((1u128 << at_bits) - 1);
        let cp = (v >> (38 + at_bits)) & ((1u128 << cp_bits) - 1);
        let company_prefix = format!("{cp:0digits$}");
        let at_digits = 12 - digits;
        let asset_type = if at_digits == 0 {
            if at != 0 {
                return Err(EpcError::AssetType);
            }
            String::new()
        } else {
            format!("{at:0at_digits$}")
        };
        if company_prefix.len() != digits || asset_type.len() != at_digits {
            return Err(if company_prefix.len() != digits {
                EpcError::CompanyPrefix
            } else {
                EpcError::AssetType
            });
        }
        Ok(Self {
            filter,
            company_prefix,
            asset_type,
            serial,
        })
    }

    /// Decode from 24 hex characters.
    pub fn from_hex(s: &str) -> Result<Self, EpcError> {
        Self::decode(&hex96(s)?)
    }

    /// Parse `urn:epc:tag:grai-96:<filter>.<company prefix>.<asset type>.<serial>`.
    pub fn from_tag_uri(uri: &str) -> Result<Self, EpcError> {
        let rest = uri
            .strip_prefix("urn:epc:tag:grai-96:")
            .ok_or(EpcError::Uri)?;
        let parts: Vec<&str> = rest.split('.').collect();
        let &[f, cp, at, serial] = parts.as_slice() else {
            return Err(EpcError::Uri);
        };
        if serial.len() > 1 && serial.starts_with('0') {
            return Err(EpcError::Serial);
        }
        Ok(Self {
            filter: f.parse().map_err(|_| EpcError::Filter)?,
            company_prefix: cp.into(),
            asset_type: at.into(),
            serial: serial.parse().map_err(|_| EpcError::Serial)?,
        })
    }

    /// The tag URI form.
    pub fn tag_uri(&self) -> String {
        format!(
            "urn:epc:tag:grai-96:{}.{}.{}.{}",
            self.filter, self.company_prefix, self.asset_type, self.serial
        )
    }

    /// The GRAI this tag carries.
    pub fn grai(&self) -> Grai {
        Grai {
            company_prefix: self.company_prefix.clone(),
            asset_type: self.asset_type.clone(),
            serial: self.serial.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GS1 General Specifications' GRAI example: company prefix 0614141, asset type 12345,
    /// check digit 2.
    #[test]
    fn check_digit_of_the_gs1_example() {
        let g = Grai::new("0614141", "12345", "400").unwrap();
        assert_eq!(g.check_digit(), 2);
        assert_eq!(g.ai_value(), "00614141123452400");
        assert_eq!(g.hri(), "(8003)00614141123452400");
        assert_eq!(validate_grai("00614141123452400"), Ok(()));
        assert_eq!(validate_grai("00614141123452"), Ok(()), "serial optional");
        assert_eq!(validate_grai("00614141123453400"), Err(IdError::CheckDigit));
        assert!(validate_grai("10614141123452").is_err(), "first digit 0");
        assert!(validate_grai("0061414112345").is_err(), "13 digits");
        assert!(validate_grai(&format!("00614141123452{}", "1".repeat(17))).is_err());
        assert_eq!(
            Grai::from_ai_value("00614141123452400", "0614141").unwrap(),
            g
        );
        assert!(Grai::from_ai_value("00614141123452400", "0614142").is_err());
        // Another check digit by hand: 0 + 950110153100 -> 0 (the GS1 example body).
        assert_eq!(Grai::new("950110", "153100", "1").unwrap().check_digit(), 0);
    }

    #[test]
    fn refusals_name_the_part() {
        assert!(Grai::new("06141", "1234567", "1").is_err());
        assert!(Grai::new("0614141", "1234", "1").is_err());
        assert!(Grai::new("0614141", "12345", &"9".repeat(17)).is_err());
        assert!(Grai::new("0614141", "12345", "A B").is_err());
        let e = Grai::new("0614141", "1234", "1").unwrap_err().to_string();
        assert!(e.contains("asset type") && e.contains("5 digits"), "{e}");
    }

    /// Vectors built bit by bit from the EPC Tag Data Standard's GRAI-96 layout: header 0x33,
    /// filter, partition, prefix, asset type, 38-bit serial.
    #[test]
    fn grai96_vectors_from_the_tds_layout() {
        // The TDS example GRAI urn:epc:id:grai:0614141.12345.400 with filter 5: partition 5
        // (7-digit prefix: 24 bits prefix, 20 bits asset type).
        let mut v: u128 = 0x33;
        v = (v << 3) | 5;
        v = (v << 3) | 5;
        v = (v << 24) | 614141;
        v = (v << 20) | 12345;
        v = (v << 38) | 400;
        let bytes: [u8; 12] = v.to_be_bytes()[4..].try_into().unwrap();
        assert_eq!(hex_upper(&bytes), "33B4257BF40C0E4000000190");
        let e = Grai96::from_hex("33B4257BF40C0E4000000190").unwrap();
        assert_eq!(
            e,
            Grai96 {
                filter: 5,
                company_prefix: "0614141".into(),
                asset_type: "12345".into(),
                serial: 400
            }
        );
        assert_eq!(e.tag_uri(), "urn:epc:tag:grai-96:5.0614141.12345.400");
        assert_eq!(e.grai().ai_value(), "00614141123452400");
        assert_eq!(e.encode().unwrap(), bytes);
        // Other partitions, against published encodings.
        for (uri, hex) in [
            (
                "urn:epc:tag:grai-96:3.0614141.00008.1234",
                "3374257BF4000200000004D2",
            ),
            (
                "urn:epc:tag:grai-96:0.0234567.89012.1",
                "33140E511C56ED0000000001",
            ),
            (
                "urn:epc:tag:grai-96:0.123456789.012.1",
                "330C75BCD150030000000001",
            ),
            (
                "urn:epc:tag:grai-96:0.000001.000001.1",
                "331800004000004000000001",
            ),
        ] {
            let e = Grai96::from_tag_uri(uri).unwrap();
            assert_eq!(e.to_hex().unwrap(), hex, "{uri}");
            assert_eq!(Grai96::from_hex(hex).unwrap(), e, "{hex}");
            assert_eq!(e.tag_uri(), uri);
        }
    }

    #[test]
    fn grai96_refusals_and_round_trips() {
        // a GIAI-96 is not a GRAI-96
        assert_eq!(
            Grai96::from_hex("3434257BF400000000003039"),
            Err(EpcError::NotGrai96(0x34))
        );
        assert_eq!(
            Grai96::from_hex("331C00000000000000000000"),
            Err(EpcError::Partition(7))
        );
        let too_big = Grai96 {
            filter: 0,
            company_prefix: "0614141".into(),
            asset_type: "00001".into(),
            serial: MAX_SERIAL_96 + 1,
        };
        assert_eq!(too_big.encode(), Err(EpcError::Serial));
        // a serial with a leading zero or letters has no GRAI-96 form
        let g = Grai::new("0614141", "00001", "007").unwrap();
        assert_eq!(g.to_epc(0), Err(EpcError::Serial));
        let g = Grai::new("0614141", "00001", "T3").unwrap();
        assert_eq!(g.to_epc(0), Err(EpcError::Serial));
        for digits in 6..=12 {
            let cp: String = "061414123456".chars().take(digits).collect();
            let at: String = "987654".chars().take(12 - digits).collect();
            let g = Grai::new(&cp, &at, "274877906943").unwrap();
            let e = g.to_epc(1).unwrap();
            let back = Grai96::decode(&e.encode().unwrap()).unwrap();
            assert_eq!(back, e);
            assert_eq!(back.grai(), g);
        }
    }
}
