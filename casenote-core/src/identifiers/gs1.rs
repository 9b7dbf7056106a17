//! GS1 check digits, GLNs and element strings (the data carried by GS1-128 and GS1 DataMatrix).

use super::{digits, IdError};

/// ASCII group separator, used as FNC1 between variable-length element strings.
pub const GS: char = '\u{1d}';

/// GS1 check digit over the digits given (without the check digit): weights 3,1,3,1... from the right.
pub fn gs1_check_digit(body: &str) -> Result<u32, IdError> {
    let d = digits(body)?;
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, v)| if i % 2 == 0 { v * 3 } else { *v })
        .sum();
    Ok((10 - sum % 10) % 10)
}

/// Validate a 13-digit Global Location Number.
pub fn validate_gln(s: &str) -> Result<(), IdError> {
    if s.len() != 13 {
        return Err(IdError::Length {
            expected: 13,
            got: s.to_string(),
        });
    }
    // Before slicing by byte: 13 bytes may hold fewer characters (found by fuzzing).
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::NotDigits);
    }
    let check = gs1_check_digit(&s[..12])?;
    if s[12..].parse::<u32>().ok() != Some(check) {
        return Err(IdError::CheckDigit);
    }
    Ok(())
}

/// One Application Identifier and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementString {
    pub ai: String,
    pub value: String,
}

/// AIs this system understands, with their fixed length (None = variable, ends at GS or the end).
fn ai_length(ai: &str) -> Option<Option<usize>> {
    Some(match ai {
        "00" => Some(18),
        "01" | "02" => Some(14),
        "11" | "12" | "13" | "15" | "16" | "17" => Some(6),
        "20" => Some(2),
        "410" | "411" | "412" | "413" | "414" | "415" | "416" | "417" => Some(13),
        "10" | "21" | "240" | "8003" | "8004" | "8017" | "8018" => None,
        _ => return None,
    })
}

const KNOWN_AIS: [&str; 4] = ["8003", "8004", "8017", "8018"];

fn take_ai(s: &str) -> Option<&str> {
    for len in [2, 3, 4] {
        if s.len() >= len && s.is_char_boundary(len) && ai_length(&s[..len]).is_some() {
            // Prefer a 4-digit AI when one matches (8004 vs 80..).
            if let Some(four) = s.get(..4).filter(|f| len == 2 && KNOWN_AIS.contains(f)) {
                return Some(four);
            }
            return Some(&s[..len]);
        }
    }
    None
}

/// Parse a GS1 element string, either raw (`4140614141000005`, GS between variable fields) or
/// in human-readable form (`(414)0614141000005(8004)...`).
pub fn parse_element_string(input: &str) -> Result<Vec<ElementString>, IdError> {
    if input.starts_with('(') {
        return parse_hri(input);
    }
    let mut out = Vec::new();
    let mut rest = input.trim_start_matches(GS);
    while !rest.is_empty() {
        let ai = take_ai(rest)
            .ok_or_else(|| {
                IdError::Format(format!("unknown GS1 application identifier at {rest:?}"))
            })?
            .to_string();
        rest = &rest[ai.len()..];
        let value = match ai_length(&ai).flatten() {
            Some(n) => {
                if rest.len() < n || !rest.is_char_boundary(n) {
                    return Err(IdError::Format(format!("AI ({ai}) needs {n} characters")));
                }
                let (v, r) = rest.split_at(n);
                rest = r;
                v.to_string()
            }
            None => {
                let end = rest.find(GS).unwrap_or(rest.len());
                let (v, r) = rest.split_at(end);
                rest = r;
                v.to_string()
            }
        };
        rest = rest.trim_start_matches(GS);
        check_value(&ai, &value)?;
        out.push(ElementString { ai, value });
    }
    if out.is_empty() {
        return Err(IdError::Format("empty GS1 element string".into()));
    }
    Ok(out)
}

fn parse_hri(input: &str) -> Result<Vec<ElementString>, IdError> {
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let close = rest
            .find(')')
            .filter(|_| rest.starts_with('('))
            .ok_or_else(|| IdError::Format("bracketed AI expected".into()))?;
        let ai = rest[1..close].to_string();
        if ai_length(&ai).is_none() {
            return Err(IdError::Format(format!(
                "unknown GS1 application identifier ({ai})"
            )));
        }
        rest = &rest[close + 1..];
        let end = rest.find('(').unwrap_or(rest.len());
        let value = rest[..end].to_string();
        rest = &rest[end..];
        if let Some(Some(n)) = ai_length(&ai) {
            if value.len() != n {
                return Err(IdError::Format(format!("AI ({ai}) needs {n} characters")));
            }
        }
        check_value(&ai, &value)?;
        out.push(ElementString { ai, value });
    }
    Ok(out)
}

fn check_value(ai: &str, v: &str) -> Result<(), IdError> {
    // GS1 values are printable ASCII; a GS or anything else inside one (possible in the
    // bracketed form) could not be carried in a barcode (found by fuzzing).
    if !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IdError::Format(format!(
            "AI ({ai}) holds a character GS1 does not allow"
        )));
    }
    let all_digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    match ai {
        "414" | "410" | "411" | "412" | "413" | "415" | "416" | "417" => validate_gln(v),
        "00" | "01" | "02" | "8017" | "8018" => {
            if !all_digits {
                return Err(IdError::NotDigits);
            }
            let n = v.len();
            if gs1_check_digit(&v[..n - 1])? != v[n - 1..].parse::<u32>().unwrap_or(99) {
                return Err(IdError::CheckDigit);
            }
            Ok(())
        }
        "8004" if v.is_empty() || v.len() > 30 => Err(IdError::Format(
            "GIAI (8004) must be 1 to 30 characters".into(),
        )),
        _ => Ok(()),
    }
}

/// Encode element strings as raw data (GS after each variable-length field but the last).
pub fn encode_element_string(elements: &[ElementString]) -> String {
    let mut s = String::new();
    for (i, e) in elements.iter().enumerate() {
        s.push_str(&e.ai);
        s.push_str(&e.value);
        let variable = ai_length(&e.ai).flatten().is_none();
        if variable && i + 1 < elements.len() {
            s.push(GS);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_vector() {
        assert_eq!(gs1_check_digit("950110153100").unwrap(), 0);
        assert!(validate_gln("0614141000005").is_ok());
        assert_eq!(validate_gln("0614141000006"), Err(IdError::CheckDigit));
        // Found by fuzzing: 13 bytes with a multi-byte character used to panic on slicing.
        assert_eq!(validate_gln("0614410001\u{FFFD}"), Err(IdError::NotDigits));
        assert_eq!(
            validate_gln("(\u{FFFD}010951\u{FFFD}"),
            Err(IdError::NotDigits)
        );
    }

    #[test]
    fn raw_and_hri() {
        let raw = format!("80040614141123456{GS}4140614141000005");
        let e = parse_element_string(&raw).unwrap();
        assert_eq!(e[0].ai, "8004");
        assert_eq!(e[0].value, "0614141123456");
        assert_eq!(e[1].ai, "414");
        let hri = parse_element_string("(414)0614141000005(8018)061414100000000014").unwrap();
        assert_eq!(hri[1].value, "061414100000000014");
        assert_eq!(encode_element_string(&e), raw);
    }

    #[test]
    fn errors() {
        assert!(parse_element_string("4140614141000006").is_err());
        assert!(parse_element_string("99xyz").is_err());
        // Found by fuzzing: a multi-byte character right after a 2-digit AI used to panic.
        assert!(parse_element_string("01\u{20AC}").is_err());
        assert!(parse_element_string("(01)\u{20AC}").is_err());
        assert!(parse_element_string("(413)0614141000005(8004)0\u{1d}\u{FFFD}112345").is_err());
        assert!(parse_element_string("414061414").is_err());
        assert!(parse_element_string("(8018)061414100000000015").is_err());
    }
}
