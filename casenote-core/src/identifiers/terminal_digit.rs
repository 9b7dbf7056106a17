//! Terminal-digit filing numbers: `34-63-71` is tertiary 34, secondary 63, primary 71.
//! Shelves are ordered by primary, then secondary, then tertiary.

use super::IdError;
use serde::Serialize;

/// A six-digit filing number split into its terminal-digit blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct FilingNumber {
    pub tertiary: u8,
    pub secondary: u8,
    pub primary: u8,
}

impl FilingNumber {
    /// Parse `346371`, `34-63-71` or `34 63 71`.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s: String = input.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if s.len() != 6 {
            return Err(IdError::Length {
                expected: 6,
                got: input.to_string(),
            });
        }
        let d = super::digits(&s)?;
        let pair = |i: usize| (d[i] * 10 + d[i + 1]) as u8;
        Ok(Self {
            tertiary: pair(0),
            secondary: pair(2),
            primary: pair(4),
        })
    }

    /// Derive a filing number from any serial (its last six digits).
    pub fn from_serial(serial: u64) -> Self {
        let n = serial % 1_000_000;
        Self {
            tertiary: (n / 10_000) as u8,
            secondary: ((n / 100) % 100) as u8,
            primary: (n % 100) as u8,
        }
    }

    /// The key shelves are sorted by: (primary, secondary, tertiary).
    pub fn shelf_key(&self) -> (u8, u8, u8) {
        (self.primary, self.secondary, self.tertiary)
    }

    /// Blocks as printed on a folder: `34-63-71`.
    pub fn blocks(&self) -> String {
        format!(
            "{:02}-{:02}-{:02}",
            self.tertiary, self.secondary, self.primary
        )
    }
}

impl std::fmt::Display for FilingNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.blocks())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_example() {
        let f = FilingNumber::parse("34-63-71").unwrap();
        assert_eq!((f.tertiary, f.secondary, f.primary), (34, 63, 71));
        assert_eq!(f.blocks(), "34-63-71");
        assert_eq!(FilingNumber::from_serial(12_346_371), f);
    }

    #[test]
    fn shelf_order() {
        let mut v: Vec<FilingNumber> = ["99-00-01", "00-01-02", "00-00-02", "50-99-01"]
            .iter()
            .map(|s| FilingNumber::parse(s).unwrap())
            .collect();
        v.sort_by_key(|f| f.shelf_key());
        let s: Vec<String> = v.iter().map(|f| f.blocks()).collect();
        assert_eq!(s, ["99-00-01", "50-99-01", "00-00-02", "00-01-02"]);
    }

    #[test]
    fn bad_input() {
        assert!(FilingNumber::parse("34-63").is_err());
        assert!(FilingNumber::parse("34-6x-71").is_err());
    }
}
