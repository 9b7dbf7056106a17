//! Character sets (MSH-18). A message is bytes; its characters depend on the set it declares:
//! `ASCII`, `8859/1` (Latin-1), `8859/15` (Latin-9, with the euro sign) or `UNICODE UTF-8`, or
//! the configured default (`[hl7] default_charset`) when MSH-18 is empty. A UTF-8 byte-order
//! mark before MSH is skipped. Bytes that are not valid in the declared set are refused, naming
//! the field they are in; nothing is ever replaced silently.

/// A character set the interface reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charset {
    Ascii,
    Latin1,
    Latin9,
    #[default]
    Utf8,
}

/// Why a message's bytes could not be read as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CharsetError {
    /// MSH-18 names a set this interface does not read.
    #[error("MSH-18: character set {0:?} is not supported (ASCII, 8859/1, 8859/15 and UNICODE UTF-8 are)")]
    Unsupported(String),
    /// A byte that the declared set does not allow, in field `segment`-`field`.
    #[error("{segment}-{field}: byte 0x{byte:02X} is not valid {charset}")]
    Invalid {
        segment: String,
        field: usize,
        byte: u8,
        charset: &'static str,
    },
}

impl Charset {
    /// The set named in MSH-18 (HL7 table 0211), case and spaces aside.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "ASCII" => Some(Self::Ascii),
            "8859/1" => Some(Self::Latin1),
            "8859/15" => Some(Self::Latin9),
            "UNICODE UTF-8" | "UTF-8" | "UTF8" => Some(Self::Utf8),
            _ => None,
        }
    }

    /// The name as HL7 writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ascii => "ASCII",
            Self::Latin1 => "8859/1",
            Self::Latin9 => "8859/15",
            Self::Utf8 => "UNICODE UTF-8",
        }
    }

    /// Decode bytes; `Err(offset)` is where the first byte invalid in this set is.
    pub fn decode(self, bytes: &[u8]) -> Result<String, usize> {
        match self {
            Self::Utf8 => std::str::from_utf8(bytes)
                .map(str::to_string)
                .map_err(|e| e.valid_up_to()),
            Self::Ascii => match bytes.iter().position(|b| *b > 0x7F) {
                Some(i) => Err(i),
                None => Ok(bytes.iter().map(|b| *b as char).collect()),
            },
            Self::Latin1 => Ok(bytes.iter().map(|b| *b as char).collect()),
            Self::Latin9 => Ok(bytes.iter().map(|b| latin9(*b)).collect()),
        }
    }
}

/// ISO 8859-15 differs from 8859-1 in eight places.
fn latin9(b: u8) -> char {
    match b {
        0xA4 => '€',
        0xA6 => 'Š',
        0xA8 => 'š',
        0xB4 => 'Ž',
        0xB8 => 'ž',
        0xBC => 'Œ',
        0xBD => 'œ',
        0xBE => 'Ÿ',
        b => b as char,
    }
}

/// MSH-18 read from the raw bytes (first repetition, first component), before decoding: the
/// MSH segment's delimiters are ASCII in every set this interface reads.
fn msh18(raw: &[u8]) -> String {
    let end = raw
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .unwrap_or(raw.len());
    let msh = &raw[..end];
    if msh.len() < 8 || !msh.starts_with(b"MSH") {
        return String::new();
    }
    let (sep, comp, rep) = (msh[3], msh[4], msh[5]);
    // parts[0] = "MSH", parts[n - 1] = MSH-n (MSH-1 is the separator itself)
    let field = msh.split(|b| *b == sep).nth(17).unwrap_or_default();
    let first = field
        .split(|b| *b == rep)
        .next()
        .unwrap_or_default()
        .split(|b| *b == comp)
        .next()
        .unwrap_or_default();
    String::from_utf8_lossy(first).into_owned()
}

/// The segment and field that byte `offset` of `raw` is in.
fn locate(raw: &[u8], offset: usize) -> (String, usize) {
    let start = raw[..offset]
        .iter()
        .rposition(|b| *b == b'\r' || *b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    let seg = &raw[start..offset];
    let name = String::from_utf8_lossy(&raw[start..(start + 3).min(raw.len())]).into_owned();
    let sep = raw.get(3).copied().unwrap_or(b'|');
    let seps = seg.iter().filter(|b| **b == sep).count();
    // in MSH the first separator is MSH-1 itself
    let field = if name == "MSH" { seps + 1 } else { seps };
    (name, field)
}

/// Decode a whole message: skip a UTF-8 byte-order mark, take the set from MSH-18 (or
/// `default` when it is empty), and refuse bytes that set does not allow.
pub fn decode_message(raw: &[u8], default: Charset) -> Result<(String, Charset), CharsetError> {
    let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let declared = msh18(raw);
    let set = if declared.trim().is_empty() {
        default
    } else {
        Charset::from_name(&declared).ok_or(CharsetError::Unsupported(declared))?
    };
    set.decode(raw).map(|t| (t, set)).map_err(|at| {
        let (segment, field) = locate(raw, at);
        CharsetError::Invalid {
            segment,
            field,
            byte: raw[at],
            charset: set.name(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(msh18: &str, pid5: &[u8]) -> Vec<u8> {
        let mut m = format!(
            "MSH|^~\\&|PAS|GGC|T|T|20261125090000||ADT^A08|1|P|2.5||||||{msh18}\rPID|||1904851231^^^CHI||"
        )
        .into_bytes();
        m.extend_from_slice(pid5);
        m.extend_from_slice(b"^MAIRI\r");
        m
    }

    #[test]
    fn each_declared_set_is_read_as_declared() {
        // NicLeòid: ò is 0xF2 in 8859/1 and 8859/15, C3 B2 in UTF-8
        let (t, set) = decode_message(&msg("8859/1", b"NicLe\xF2id"), Charset::Utf8).unwrap();
        assert_eq!(set, Charset::Latin1);
        assert!(t.contains("NicLeòid"), "{t}");
        let (t, _) = decode_message(&msg("8859/15", b"\xA4 \xBD"), Charset::Utf8).unwrap();
        assert!(t.contains("€ œ"), "{t}");
        let (t, _) = decode_message(
            &msg("UNICODE UTF-8", "NicLeòid".as_bytes()),
            Charset::Latin1,
        )
        .unwrap();
        assert!(t.contains("NicLeòid"), "{t}");
        // empty MSH-18: the configured default
        let (t, set) = decode_message(&msg("", b"NicLe\xF2id"), Charset::Latin1).unwrap();
        assert_eq!(set, Charset::Latin1);
        assert!(t.contains("NicLeòid"));
        // a byte-order mark before MSH is skipped
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(msg("UNICODE UTF-8", b"SMITH"));
        let (t, _) = decode_message(&bom, Charset::Utf8).unwrap();
        assert!(t.starts_with("MSH|"));
    }

    #[test]
    fn bytes_invalid_for_the_set_are_refused_naming_the_field() {
        let e = decode_message(&msg("UNICODE UTF-8", b"NicLe\xF2id"), Charset::Utf8).unwrap_err();
        assert_eq!(
            e,
            CharsetError::Invalid {
                segment: "PID".into(),
                field: 5,
                byte: 0xF2,
                charset: "UNICODE UTF-8"
            }
        );
        let e = decode_message(&msg("ASCII", b"NicLe\xF2id"), Charset::Utf8).unwrap_err();
        assert!(e.to_string().starts_with("PID-5: byte 0xF2"), "{e}");
        let e = decode_message(&msg("EBCDIC", b"X"), Charset::Utf8).unwrap_err();
        assert!(matches!(e, CharsetError::Unsupported(_)));
    }
}
