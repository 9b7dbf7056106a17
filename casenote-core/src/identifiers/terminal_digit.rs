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

/// The stretch of terminal-digit filing a shelf or bay holds, in shelf order (primary, then
/// secondary): `00-09` (primary 00 to 09), `71` (primary 71 only) or `71/00-71/49` (primary 71,
/// secondary 00 to 49). Written back in the same notation by [`ShelfRange::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ShelfRange {
    /// First (primary, secondary) on the shelf.
    pub from: (u8, u8),
    /// Last (primary, secondary) on the shelf, inclusive.
    pub to: (u8, u8),
}

impl ShelfRange {
    /// Parse `00-09`, `71` or `71/00-71/49` (spaces ignored).
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        let bad = || {
            IdError::Format(
                "write a terminal-digit range as primary digits 00-09, one primary 71, or primary/secondary 71/00-71/49".into(),
            )
        };
        let pair = |t: &str| -> Result<u8, IdError> {
            if t.len() != 2 {
                return Err(bad());
            }
            let d = super::digits(t).map_err(|_| bad())?;
            Ok((d[0] * 10 + d[1]) as u8)
        };
        let end = |t: &str, last: bool| -> Result<(u8, u8), IdError> {
            match t.split_once('/') {
                Some((p, sec)) => Ok((pair(p)?, pair(sec)?)),
                None => Ok((pair(t)?, if last { 99 } else { 0 })),
            }
        };
        let (a, b) = match s.split_once('-') {
            Some((a, b)) => (a, b),
            None => (s.as_str(), s.as_str()),
        };
        if a.contains('/') != b.contains('/') {
            return Err(bad());
        }
        let r = Self {
            from: end(a, false)?,
            to: end(b, true)?,
        };
        if r.from > r.to {
            return Err(IdError::Format(format!(
                "the range {input:?} runs backwards: its first shelf position comes after its last"
            )));
        }
        Ok(r)
    }

    /// Whether a folder with this filing number is filed in the range.
    pub fn contains(&self, f: &FilingNumber) -> bool {
        let k = (f.primary, f.secondary);
        self.from <= k && k <= self.to
    }

    /// The range as a number pair for queries: primary * 100 + secondary, first and last.
    pub fn keys(&self) -> (u16, u16) {
        let k = |(p, s): (u8, u8)| u16::from(p) * 100 + u16::from(s);
        (k(self.from), k(self.to))
    }

    /// The range in the notation it is written in.
    pub fn text(&self) -> String {
        if self.from.1 == 0 && self.to.1 == 99 {
            if self.from.0 == self.to.0 {
                format!("{:02}", self.from.0)
            } else {
                format!("{:02}-{:02}", self.from.0, self.to.0)
            }
        } else {
            format!(
                "{:02}/{:02}-{:02}/{:02}",
                self.from.0, self.from.1, self.to.0, self.to.1
            )
        }
    }
}

impl std::fmt::Display for ShelfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
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

    #[test]
    fn shelf_ranges() {
        let r = ShelfRange::parse("00-09").unwrap();
        assert!(r.contains(&FilingNumber::parse("34-63-09").unwrap()));
        assert!(r.contains(&FilingNumber::parse("99-99-00").unwrap()));
        assert!(!r.contains(&FilingNumber::parse("00-00-10").unwrap()));
        assert_eq!(r.keys(), (0, 999));
        assert_eq!(r.text(), "00-09");
        let r = ShelfRange::parse("71/00-71/49").unwrap();
        assert!(r.contains(&FilingNumber::parse("34-49-71").unwrap()));
        assert!(!r.contains(&FilingNumber::parse("34-50-71").unwrap()));
        assert_eq!(r.text(), "71/00-71/49");
        assert_eq!(ShelfRange::parse(" 71 ").unwrap().text(), "71");
        for bad in ["", "7", "09-00", "00-0x", "71/00-72", "abc"] {
            assert!(ShelfRange::parse(bad).is_err(), "{bad}");
        }
    }
}
