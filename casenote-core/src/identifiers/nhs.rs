//! NHS numbers (England, Wales, Isle of Man): ten digits, Mod-11 check digit, no date part.

use super::{digits, mod11_check, IdError};

/// Validate an NHS number (spaces and dashes ignored); returns the ten digits.
pub fn validate_nhs_number(input: &str) -> Result<String, IdError> {
    let s: String = input.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if s.len() != 10 {
        return Err(IdError::Length {
            expected: 10,
            got: input.to_string(),
        });
    }
    let d = digits(&s)?;
    if mod11_check(&d) != Some(d[9]) {
        return Err(IdError::CheckDigit);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors() {
        assert_eq!(validate_nhs_number("943 476 5919").unwrap(), "9434765919");
        assert_eq!(validate_nhs_number("9434765918"), Err(IdError::CheckDigit));
        assert!(validate_nhs_number("1234567890").is_err());
        assert!(validate_nhs_number("94347659").is_err());
    }
}
