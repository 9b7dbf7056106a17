//! EPC GIAI-96 encoding for RFID folder tags (header 0x34). The asset reference is the folder's
//! opaque serial, never a patient identifier. Containers' GRAI-96 tags are in [`super::grai`].

use serde::Serialize;

/// Errors from EPC encoding and decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpcError {
    #[error("EPC must be 24 hexadecimal characters (96 bits)")]
    Length,
    #[error("EPC is not hexadecimal")]
    Hex,
    #[error("EPC header 0x{0:02X} is not GIAI-96 (0x34)")]
    Header(u8),
    #[error("partition value {0} is not valid")]
    Partition(u8),
    #[error("company prefix must be 6 to 12 digits")]
    CompanyPrefix,
    #[error("filter value must be 0..=7")]
    Filter,
    #[error("asset reference does not fit in {0} bits")]
    AssetTooLarge(u32),
    #[error("not a GIAI-96 tag URI")]
    Uri,
    #[error("EPC header 0x{0:02X} is not GRAI-96 (0x33)")]
    NotGrai96(u8),
    #[error("asset type must be the digits that make the company prefix up to 12")]
    AssetType,
    #[error("serial must be a number without leading zeros, below 2^38")]
    Serial,
}

/// A decoded GIAI-96 EPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Giai96 {
    pub filter: u8,
    pub company_prefix: String,
    pub asset_reference: u64,
}

/// (company prefix bits, digits, asset bits) per partition value.
const PARTITIONS: [(u32, usize, u32); 7] = [
    (40, 12, 42),
    (37, 11, 45),
    (34, 10, 48),
    (30, 9, 52),
    (27, 8, 55),
    (24, 7, 58),
    (20, 6, 62),
];

pub const GIAI96_HEADER: u8 = 0x34;

impl Giai96 {
    /// Encode to 12 bytes.
    pub fn encode(&self) -> Result<[u8; 12], EpcError> {
        if self.filter > 7 {
            return Err(EpcError::Filter);
        }
        let digits = self.company_prefix.len();
        if !self.company_prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EpcError::CompanyPrefix);
        }
        let (p, &(cp_bits, _, asset_bits)) = PARTITIONS
            .iter()
            .enumerate()
            .find(|(_, (_, d, _))| *d == digits)
            .ok_or(EpcError::CompanyPrefix)?;
        if asset_bits < 64 && self.asset_reference >= (1u64 << asset_bits) {
            return Err(EpcError::AssetTooLarge(asset_bits));
        }
        let cp: u128 = self
            .company_prefix
            .parse()
            .map_err(|_| EpcError::CompanyPrefix)?;
        let mut v: u128 = GIAI96_HEADER as u128;
        v = (v << 3) | self.filter as u128;
        v = (v << 3) | p as u128;
        v = (v << cp_bits) | cp;
        v = (v << asset_bits) | self.asset_reference as u128;
        Ok(bytes96(v))
    }

    /// Encode to 24 upper-case hex characters (as written by `^RFW,H`).
    pub fn to_hex(&self) -> Result<String, EpcError> {
        Ok(hex_upper(&self.encode()?))
    }

    /// Decode 12 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, EpcError> {
        let (v, filter, p) = open96(bytes, GIAI96_HEADER, EpcError::Header)?;
        let &(cp_bits, digits, asset_bits) =
            PARTITIONS.get(p as usize).ok_or(EpcError::Partition(p))?;
        let cp = (v >> asset_bits) & ((1u128 << cp_bits) - 1);
        let asset = (v & ((1u128 << asset_bits) - 1)) as u64;
        let company_prefix = format!("{cp:0digits$}");
        if company_prefix.len() != digits {
            return Err(EpcError::CompanyPrefix);
        }
        Ok(Self {
            filter,
            company_prefix,
            asset_reference: asset,
        })
    }

    /// Decode from 24 hex characters.
    pub fn from_hex(s: &str) -> Result<Self, EpcError> {
        Self::decode(&hex96(s)?)
    }

    /// Parse `urn:epc:tag:giai-96:<filter>.<company prefix>.<asset reference>`.
    pub fn from_tag_uri(uri: &str) -> Result<Self, EpcError> {
        let rest = uri
            .strip_prefix("urn:epc:tag:giai-96:")
            .or_else(|| uri.strip_prefix("giai-96:"))
            .ok_or(EpcError::Uri)?;
        let mut parts = rest.split('.');
        let (Some(f), Some(cp), Some(a), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(EpcError::Uri);
        };
        Ok(Self {
            filter: f.parse().map_err(|_| EpcError::Filter)?,
            company_prefix: cp.to_string(),
            asset_reference: a.parse().map_err(|_| EpcError::Uri)?,
        })
    }

    /// The tag URI form.
    pub fn tag_uri(&self) -> String {
        format!(
            "urn:epc:tag:giai-96:{}.{}.{}",
            self.filter, self.company_prefix, self.asset_reference
        )
    }
}

/// The 96 bits of an EPC after `header`, filter and partition: the value (in the low 96 bits),
/// the filter and the partition. `wrong_header` names a tag of another scheme.
pub(crate) fn open96(
    bytes: &[u8],
    header: u8,
    wrong_header: impl FnOnce(u8) -> EpcError,
) -> Result<(u128, u8, u8), EpcError> {
    if bytes.len() != 12 {
        return Err(EpcError::Length);
    }
    if bytes[0] != header {
        return Err(wrong_header(bytes[0]));
    }
    let mut b = [0u8; 16];
    b[4..].copy_from_slice(bytes);
    let v = u128::from_be_bytes(b);
    Ok((v, ((v >> 85) & 7) as u8, ((v >> 82) & 7) as u8))
}

/// The low 96 bits of `v` as the 12 bytes of a tag.
pub(crate) fn bytes96(v: u128) -> [u8; 12] {
    let mut out = [0u8; 12];
    out.copy_from_slice(&v.to_be_bytes()[4..]);
    out
}

/// 24 hex characters as the 12 bytes of a tag.
pub(crate) fn hex96(s: &str) -> Result<[u8; 12], EpcError> {
    let s = s.trim();
    if s.len() != 24 {
        return Err(EpcError::Length);
    }
    let mut bytes = [0u8; 12];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let h = std::str::from_utf8(chunk).map_err(|_| EpcError::Hex)?;
        bytes[i] = u8::from_str_radix(h, 16).map_err(|_| EpcError::Hex)?;
    }
    Ok(bytes)
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_vectors() {
        let a = Giai96::from_tag_uri("urn:epc:tag:giai-96:0.023456.65557").unwrap();
        assert_eq!(a.to_hex().unwrap(), "341816E80000000000010015");
        let b = Giai96::from_tag_uri("giai-96:1.0614141.12345").unwrap();
        assert_eq!(b.to_hex().unwrap(), "3434257BF400000000003039");
        assert_eq!(Giai96::from_hex("3434257BF400000000003039").unwrap(), b);
        assert_eq!(Giai96::from_hex("341816E80000000000010015").unwrap(), a);
        assert_eq!(b.tag_uri(), "urn:epc:tag:giai-96:1.0614141.12345");
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Giai96::from_hex("3034257BF400000000003039"),
            Err(EpcError::Header(0x30))
        );
        assert_eq!(Giai96::from_hex("3434"), Err(EpcError::Length));
        assert_eq!(
            Giai96::from_hex("3434257BF40000000000303Z"),
            Err(EpcError::Hex)
        );
        // partition 7 does not exist
        assert_eq!(
            Giai96::from_hex("341C00000000000000000000"),
            Err(EpcError::Partition(7))
        );
        let big = Giai96 {
            filter: 0,
            company_prefix: "061414100000".into(),
            asset_reference: 1 << 42,
        };
        assert_eq!(big.encode(), Err(EpcError::AssetTooLarge(42)));
    }

    #[test]
    fn round_trip_all_partitions() {
        for digits in 6..=12 {
            let cp: String = "0614141234567".chars().take(digits).collect();
            let g = Giai96 {
                filter: 3,
                company_prefix: cp,
                asset_reference: 987_654_321,
            };
            assert_eq!(Giai96::decode(&g.encode().unwrap()).unwrap(), g);
        }
    }
}
