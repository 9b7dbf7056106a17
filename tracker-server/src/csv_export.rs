//! CSV for spreadsheets. Every CSV the tracker writes goes through [`Writer`], which
//! neutralises cells a spreadsheet would run as a formula ("CSV injection"): a cell that starts
//! with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading apostrophe, so a patient
//! registered as `=HYPERLINK(...)` is shown as that text, never as a live link. Plain numbers
//! (`-3`, `+44`, `-0.5`) and a lone `-` (no value) are left as they are.

use std::borrow::Cow;

/// The cell as it is safe to put in a CSV opened by a spreadsheet.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let risky = matches!(
        cell.chars().next(),
        Some('=' | '+' | '-' | '@' | '\t' | '\r')
    );
    // (only looked at when the first character is one of the ASCII ones above)
    let number = risky
        && cell.len() > 1
        && cell[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
        && cell[1..].parse::<f64>().is_ok();
    // (a lone "-", the usual "no value", is text to every spreadsheet)
    if risky && !number && cell != "-" {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A `csv::Writer` whose every cell is [`neutralise`]d.
pub struct Writer<W: std::io::Write = Vec<u8>>(csv::Writer<W>);

impl Writer<Vec<u8>> {
    /// A CSV written to memory.
    pub fn new() -> Self {
        Self(csv::Writer::from_writer(Vec::new()))
    }
}

impl Default for Writer<Vec<u8>> {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer<std::fs::File> {
    /// A CSV written to a new file.
    pub fn from_path(path: &std::path::Path) -> csv::Result<Self> {
        Ok(Self(csv::Writer::from_path(path)?))
    }
}

impl<W: std::io::Write> Writer<W> {
    pub fn write_record<I, T>(&mut self, record: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.0.write_record(
            record
                .into_iter()
                .map(|c| neutralise(c.as_ref()).into_owned()),
        )
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }

    pub fn into_inner(self) -> Result<W, Box<csv::IntoInnerError<csv::Writer<W>>>> {
        self.0.into_inner().map_err(Box::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        for risky in [
            "=HYPERLINK(\"http://evil\",\"x\")",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "=",
        ] {
            assert_eq!(neutralise(risky), format!("'{risky}"), "{risky:?}");
        }
        for safe in [
            "Kleinsample",
            "-",
            "-3",
            "+44",
            "-0.5",
            "12",
            "",
            "O'Brien",
            "a=b",
            "Ó Dochartaigh",
        ] {
            assert_eq!(neutralise(safe), safe, "{safe:?}");
        }
        let mut w = Writer::new();
        w.write_record(["=1+1", "Barry"]).unwrap();
        assert_eq!(
            String::from_utf8(w.into_inner().unwrap()).unwrap(),
            "'=1+1,Barry\n"
        );
    }
}
