//! Parsing the answer to ZPL `~HS` (host status).
//!
//! The printer answers three strings, each framed by STX (0x02) and ETX (0x03), usually followed
//! by CR LF:
//!
//! 1. `aaa,b,c,dddd,eee,f,g,h,iii,j,k,l`: communication settings, **b paper out**,
//!    **c paused**, label length (dots), formats in the receive buffer, buffer full,
//!    communications diagnostic mode, partial format, unused, corrupt RAM, under temperature,
//!    over temperature.
//! 2. `mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www`: function settings, unused, **o head up (open)**,
//!    **p ribbon out**, thermal transfer mode, print mode, print width mode, label waiting,
//!    labels remaining in batch, format while printing, graphic images stored.
//! 3. `xxxx,y`: password, static RAM installed.
//!
//! A printer whose head is open may not answer at all: callers treat silence as a timeout.

use serde::Serialize;

const STX: u8 = 0x02;
const ETX: u8 = 0x03;

/// Why a `~HS` answer could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("host status answer incomplete: {0} of 3 STX..ETX strings")]
    Truncated(usize),
    #[error("host status string {string} has {got} fields, expected {expected}")]
    FieldCount {
        string: usize,
        got: usize,
        expected: usize,
    },
    #[error("host status string {string} field {field} is not a number: {value:?}")]
    BadField {
        string: usize,
        field: usize,
        value: String,
    },
}

/// A condition that stops the printer from printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrinterProblem {
    PaperOut,
    Paused,
    HeadOpen,
    RibbonOut,
    BufferFull,
    CorruptRam,
    UnderTemperature,
    OverTemperature,
}

impl std::fmt::Display for PrinterProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PaperOut => "paper out (no labels)",
            Self::Paused => "paused",
            Self::HeadOpen => "head open",
            Self::RibbonOut => "ribbon out",
            Self::BufferFull => "receive buffer full",
            Self::CorruptRam => "corrupt RAM (configuration lost)",
            Self::UnderTemperature => "head under temperature",
            Self::OverTemperature => "head over temperature",
        })
    }
}

/// The printer's state from `~HS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrinterStatus {
    pub paper_out: bool,
    pub paused: bool,
    pub head_open: bool,
    pub ribbon_out: bool,
    pub buffer_full: bool,
    pub corrupt_ram: bool,
    pub under_temperature: bool,
    pub over_temperature: bool,
    /// Label length the printer has set, in dots.
    pub label_length_dots: u32,
    /// Formats received but not yet printed.
    pub formats_in_buffer: u32,
    /// Labels still to print in the current batch.
    pub labels_remaining: u32,
    /// Thermal transfer (ribbon) mode rather than direct thermal.
    pub thermal_transfer: bool,
    /// A printed label is waiting to be taken (peel-off mode).
    pub label_waiting: bool,
}

impl PrinterStatus {
    /// Conditions that stop printing: a job must not be sent while any is present.
    pub fn blocking_problems(&self) -> Vec<PrinterProblem> {
        let mut v = Vec::new();
        if self.paper_out {
            v.push(PrinterProblem::PaperOut);
        }
        if self.head_open {
            v.push(PrinterProblem::HeadOpen);
        }
        if self.ribbon_out {
            v.push(PrinterProblem::RibbonOut);
        }
        if self.paused {
            v.push(PrinterProblem::Paused);
        }
        if self.over_temperature {
            v.push(PrinterProblem::OverTemperature);
        }
        if self.corrupt_ram {
            v.push(PrinterProblem::CorruptRam);
        }
        v
    }

    /// Conditions worth telling someone about that do not stop a job being sent.
    pub fn warnings(&self) -> Vec<PrinterProblem> {
        let mut v = Vec::new();
        if self.buffer_full {
            v.push(PrinterProblem::BufferFull);
        }
        if self.under_temperature {
            v.push(PrinterProblem::UnderTemperature);
        }
        v
    }

    pub fn is_ready(&self) -> bool {
        self.blocking_problems().is_empty()
    }
}

/// Count complete STX..ETX strings in `buf` (to know when a `~HS` answer has fully arrived).
pub fn complete_strings(buf: &[u8]) -> usize {
    frames(buf).len()
}

fn frames(buf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = buf;
    while let Some(s) = rest.iter().position(|&b| b == STX) {
        let after = &rest[s + 1..];
        match after.iter().position(|&b| b == ETX) {
            Some(e) => {
                out.push(&after[..e]);
                rest = &after[e + 1..];
            }
            None => break,
        }
    }
    out
}

fn fields(frame: &[u8], string: usize, expected: usize) -> Result<Vec<u32>, StatusError> {
    let text = String::from_utf8_lossy(frame);
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != expected {
        return Err(StatusError::FieldCount {
            string,
            got: parts.len(),
            expected,
        });
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 9 {
                Err(StatusError::BadField {
                    string,
                    field: i + 1,
                    value: p.to_string(),
                })
            } else {
                Ok(p.parse().expect("checked digits"))
            }
        })
        .collect()
}

/// Parse a complete `~HS` answer.
pub fn parse_host_status(buf: &[u8]) -> Result<PrinterStatus, StatusError> {
    let f = frames(buf);
    if f.len() < 3 {
        return Err(StatusError::Truncated(f.len()));
    }
    let a = fields(f[0], 1, 12)?;
    let b = fields(f[1], 2, 11)?;
    let flag = |v: u32| v != 0;
    Ok(PrinterStatus {
        paper_out: flag(a[1]),
        paused: flag(a[2]),
        label_length_dots: a[3],
        formats_in_buffer: a[4],
        buffer_full: flag(a[5]),
        corrupt_ram: flag(a[9]),
        under_temperature: flag(a[10]),
        over_temperature: flag(a[11]),
        head_open: flag(b[2]),
        ribbon_out: flag(b[3]),
        thermal_transfer: flag(b[4]),
        label_waiting: flag(b[7]),
        labels_remaining: b[8],
    })
}

/// A `~HS` answer as a printer would send it (for tests and the fake printer).
pub fn host_status_answer(
    paper_out: bool,
    paused: bool,
    head_open: bool,
    ribbon_out: bool,
) -> Vec<u8> {
    format!(
        "\x02030,{},{},0799,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,{},{},1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n",
        u8::from(paper_out),
        u8::from(paused),
        u8::from(head_open),
        u8::from(ribbon_out)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"\x02030,0,0,0799,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n";

    #[test]
    fn ready_printer() {
        let s = parse_host_status(OK).unwrap();
        assert!(s.is_ready());
        assert_eq!(s.label_length_dots, 799);
        assert!(s.thermal_transfer);
        assert_eq!(complete_strings(OK), 3);
    }

    #[test]
    fn flags_map_to_the_right_fields() {
        let paper = b"\x02030,1,0,0799,000,0,0,0,000,0,0,0\x03\x02001,0,0,0,0,2,6,0,00000000,1,000\x03\x021234,0\x03";
        let s = parse_host_status(paper).unwrap();
        assert!(s.paper_out && !s.paused && !s.head_open && !s.ribbon_out);
        assert_eq!(s.blocking_problems(), [PrinterProblem::PaperOut]);

        let paused_head = b"\x02030,0,1,0799,002,0,0,0,000,0,0,0\x03\x02001,0,1,0,0,2,6,0,00000005,1,000\x03\x021234,0\x03";
        let s = parse_host_status(paused_head).unwrap();
        assert_eq!(
            s.blocking_problems(),
            [PrinterProblem::HeadOpen, PrinterProblem::Paused]
        );
        assert_eq!((s.formats_in_buffer, s.labels_remaining), (2, 5));

        let ribbon = host_status_answer(false, false, false, true);
        assert_eq!(
            parse_host_status(&ribbon).unwrap().blocking_problems(),
            [PrinterProblem::RibbonOut]
        );

        let hot = b"\x02030,0,0,0799,000,1,0,0,000,0,1,1\x03\x02001,0,0,0,0,2,6,0,00000000,1,000\x03\x021234,0\x03";
        let s = parse_host_status(hot).unwrap();
        assert_eq!(s.blocking_problems(), [PrinterProblem::OverTemperature]);
        assert_eq!(
            s.warnings(),
            [PrinterProblem::BufferFull, PrinterProblem::UnderTemperature]
        );
    }

    #[test]
    fn truncated_answers() {
        assert_eq!(parse_host_status(b""), Err(StatusError::Truncated(0)));
        assert_eq!(parse_host_status(&OK[..40]), Err(StatusError::Truncated(1)));
        let two = &OK[..OK.len() - 4];
        assert_eq!(parse_host_status(two), Err(StatusError::Truncated(2)));
        assert_eq!(complete_strings(two), 2);
    }

    #[test]
    fn garbage() {
        assert_eq!(
            parse_host_status(b"HELLO WORLD\r\n"),
            Err(StatusError::Truncated(0))
        );
        let short = b"\x02030,0,0\x03\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\x021234,0\x03";
        assert!(matches!(
            parse_host_status(short),
            Err(StatusError::FieldCount {
                string: 1,
                got: 3,
                ..
            })
        ));
        let letters = b"\x02030,X,0,0799,000,0,0,0,000,0,0,0\x03\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\x021234,0\x03";
        assert!(matches!(
            parse_host_status(letters),
            Err(StatusError::BadField {
                string: 1,
                field: 2,
                ..
            })
        ));
        let bad2 = b"\x02030,0,0,0799,000,0,0,0,000,0,0,0\x03\x02001,0,,0,1,2,6,0,00000000,1,000\x03\x021234,0\x03";
        assert!(matches!(
            parse_host_status(bad2),
            Err(StatusError::BadField {
                string: 2,
                field: 3,
                ..
            })
        ));
        let binary: Vec<u8> = (0u8..=255).rev().collect();
        assert!(parse_host_status(&binary).is_err());
    }
}
