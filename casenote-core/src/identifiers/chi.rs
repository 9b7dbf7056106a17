//! Community Health Index (CHI) numbers, Scotland: `DDMMYY` + 2 digits + sex digit + check digit.
//!
//! The check digit is Mod-11 (weights 10..2) or, for numbers issued since late 2025 when no
//! Mod-11 number is left for a date, Mod-10 (Luhn). A valid CHI passes either and carries a real
//! date of birth.

use super::{digits, mod11_check, IdError};
use serde::Serialize;

/// Which check-digit scheme a CHI number satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckScheme {
    Mod11,
    Mod10,
}

/// Sex encoded in the ninth digit (odd male, even female).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

/// A validated CHI number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chi {
    pub number: String,
    pub day: u32,
    pub month: u32,
    /// Two-digit year; the century is not encoded in the CHI.
    pub yy: u32,
    pub sex: Sex,
    pub scheme: CheckScheme,
}

/// Luhn (Mod-10) check digit over nine digits: digits 1,3,5,7,9 doubled.
fn mod10_check(d: &[u32]) -> u32 {
    let sum: u32 = d
        .iter()
        .take(9)
        .enumerate()
        .map(|(i, &v)| {
            if i % 2 == 0 {
                let x = v * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                v
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

pub(crate) fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

pub(crate) fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Validate a CHI number (spaces and dashes are ignored).
pub fn validate_chi(input: &str) -> Result<Chi, IdError> {
    let s: String = input.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if s.len() != 10 {
        return Err(IdError::Length {
            expected: 10,
            got: input.to_string(),
        });
    }
    let d = digits(&s)?;
    let day = d[0] * 10 + d[1];
    let month = d[2] * 10 + d[3];
    let yy = d[4] * 10 + d[5];
    // The century is not in the number: the date is real if it exists in 19yy or 20yy.
    let real = (1..=12).contains(&month)
        && day >= 1
        && (day <= days_in_month(1900 + yy, month) || day <= days_in_month(2000 + yy, month));
    if !real {
        return Err(IdError::BadDate(s[0..6].to_string()));
    }
    let scheme = if mod11_check(&d) == Some(d[9]) {
        CheckScheme::Mod11
    } else if mod10_check(&d) == d[9] {
        CheckScheme::Mod10
    } else {
        return Err(IdError::CheckDigit);
    };
    Ok(Chi {
        number: s,
        day,
        month,
        yy,
        sex: if d[8] % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        },
        scheme,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_vectors_valid() {
        assert_eq!(
            validate_chi("1904851231").unwrap().scheme,
            CheckScheme::Mod11
        );
        assert_eq!(
            validate_chi("2902201230").unwrap().scheme,
            CheckScheme::Mod11
        );
        assert_eq!(
            validate_chi("0101011237").unwrap().scheme,
            CheckScheme::Mod11
        );
        assert_eq!(
            validate_chi("0101201234").unwrap().scheme,
            CheckScheme::Mod10
        );
    }

    #[test]
    fn both_schemes_agree_on_0101011237() {
        let d = digits("0101011237").unwrap();
        assert_eq!(mod11_check(&d), Some(7));
        assert_eq!(mod10_check(&d), 7);
    }

    #[test]
    fn design_vectors_invalid() {
        assert_eq!(validate_chi("1904851232"), Err(IdError::CheckDigit));
        assert!(matches!(
            validate_chi("2902191230"),
            Err(IdError::BadDate(_))
        ));
        for bad in ["3201201234", "0113209999", "0011201234"] {
            assert!(
                matches!(validate_chi(bad), Err(IdError::BadDate(_))),
                "{bad}"
            );
        }
        assert!(validate_chi("1234567890").is_err());
    }

    #[test]
    fn shape_errors() {
        assert!(matches!(validate_chi("12345"), Err(IdError::Length { .. })));
        assert_eq!(validate_chi("19048512a1"), Err(IdError::NotDigits));
        assert_eq!(validate_chi("1904 8512 31").unwrap().number, "1904851231");
    }

    #[test]
    fn sex_digit() {
        assert_eq!(validate_chi("1904851231").unwrap().sex, Sex::Male);
        assert_eq!(validate_chi("2902201230").unwrap().sex, Sex::Male);
    }
}
