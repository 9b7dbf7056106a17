//! Location cards and staff badges as barcodes: the code, a `/`, and an ISO/IEC 7064
//! MOD 37,36 check character over the code (`LWARD5` is printed as `LWARD5/` + check). The
//! structure and the check make a card unambiguous: a drug or lab label that happens to start
//! with `L` or `S` (`LOT2024A`, `SAMPLE12`) is not a card, so it can never replace the porter's
//! location or badge. GS1 cards (GLN in AI 414 for places, GSRN provider in AI 8017 for staff)
//! carry their own check digit and are read by [`super::scan::classify`] too.

use super::folder_id::mod37_36_check;
use super::IdError;

/// Separates the code from its check character.
pub const SEPARATOR: char = '/';
/// Longest code on a card.
pub const MAX_CODE: usize = 20;

/// The barcode payload for a card with `code` (upper-case A-Z, 0-9, 2-20 characters).
pub fn card_payload(code: &str) -> Result<String, IdError> {
    check_code(code)?;
    Ok(format!("{code}{SEPARATOR}{}", mod37_36_check(code)?))
}

fn check_code(code: &str) -> Result<(), IdError> {
    if code.len() < 2 || code.len() > MAX_CODE {
        return Err(IdError::Format(format!(
            "a card code must be 2 to {MAX_CODE} characters"
        )));
    }
    if !code
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(IdError::Format(
            "a card code may hold only A-Z and 0-9".into(),
        ));
    }
    Ok(())
}

/// What a payload is, as a card of the kind that starts with `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Card {
    /// A card of this kind with a correct check character: its code.
    Valid(String),
    /// Shaped like a card of this kind (prefix, code, separator, one character) but the check
    /// character is wrong: a misread or a hand-made card.
    BadCheck,
    /// Not a card of this kind.
    NotACard,
}

/// Read `data` (upper-case, AIM identifier removed) as a card whose code starts with
/// `prefix`.
pub fn parse_card(data: &str, prefix: &str) -> Card {
    let Some((code, check)) = data.rsplit_once(SEPARATOR) else {
        return Card::NotACard;
    };
    if !code.starts_with(prefix)
        || code.len() <= prefix.len()
        || check.len() != 1
        || check_code(code).is_err()
    {
        return Card::NotACard;
    }
    match mod37_36_check(code) {
        Ok(c) if check.starts_with(c) => Card::Valid(code.to_string()),
        _ => Card::BadCheck,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_checks_catch_errors() {
        let p = card_payload("LWARD5").unwrap();
        assert_eq!(p.len(), 8);
        assert!(p.starts_with("LWARD5/"));
        assert_eq!(parse_card(&p, "L"), Card::Valid("LWARD5".into()));
        // one character changed, or two swapped: caught by the check
        assert_eq!(
            parse_card(&p.replace("WARD5", "WARD6"), "L"),
            Card::BadCheck
        );
        assert_eq!(
            parse_card(&p.replace("WARD5", "WADR5"), "L"),
            Card::BadCheck
        );
        // a badge is not a location card, and the other way round
        let s = card_payload("S00042").unwrap();
        assert_eq!(parse_card(&s, "S"), Card::Valid("S00042".into()));
        assert_eq!(parse_card(&s, "L"), Card::NotACard);
    }

    #[test]
    fn labels_that_merely_start_with_the_prefix_are_not_cards() {
        for other in [
            "LOT2024A",
            "LWARD5",
            "L",
            "LOT-2024/A",
            "SAMPLE12",
            "L/",
            "LWARD5/",
            "lward5/x",
        ] {
            assert_eq!(parse_card(other, "L"), Card::NotACard, "{other}");
        }
        assert!(card_payload("lward5").is_err());
        assert!(card_payload("L").is_err());
        assert!(card_payload("LWARD-5").is_err());
        assert!(card_payload(&"L".repeat(21)).is_err());
    }

    #[test]
    fn the_check_character_is_iso_7064_mod_37_36() {
        // the same check the folder ids carry: "A1" gives W
        assert_eq!(card_payload("A1").unwrap(), "A1/W");
    }
}
