//! HL7 version 2: pure functions only (no I/O, no database). [`parse`] splits a message into
//! segments and fields using the encoding characters in MSH; [`mllp`] frames messages on a TCP
//! stream; [`ack`] builds acknowledgements. The MLLP TCP listener and the
//! meaning of each message live in [`crate::hl7::adt`].
//!
//! Field numbering follows the standard: `PID-3` is `segment.field(3)`; for MSH, MSH-1 is the
//! field separator and MSH-2 the encoding characters, so `MSH-9` is `segment.field(9)` too.

pub mod ack;
pub mod adt;
pub mod charset;
pub mod client;
pub mod listener;
pub mod mllp;
pub mod simulated_pas;

/// The delimiters a message declares in MSH-1 and MSH-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: char,
    pub subcomponent: char,
    /// The character set of the message (MSH-18), for `\Xhh\` escapes.
    pub charset: charset::Charset,
}

impl Default for Encoding {
    fn default() -> Self {
        Self {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
            charset: charset::Charset::Utf8,
        }
    }
}

impl Encoding {
    /// MSH-2 as written: `^~\&`.
    pub fn msh2(&self) -> String {
        [
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
        ]
        .iter()
        .collect()
    }

    /// Replace escape sequences (`\F\ \S\ \T\ \R\ \E\ \.br\ \Xhh..\`) with the text they stand
    /// for. Highlighting (`\H\ \N\`) and unknown sequences are dropped; a lone escape character
    /// with no closing one is kept as written.
    pub fn unescape(&self, s: &str) -> String {
        if !s.contains(self.escape) {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find(self.escape) {
            out.push_str(&rest[..i]);
            let after = &rest[i + self.escape.len_utf8()..];
            let Some(j) = after.find(self.escape) else {
                out.push_str(&rest[i..]);
                return out;
            };
            let seq = &after[..j];
            match seq {
                "F" => out.push(self.field),
                "S" => out.push(self.component),
                "T" => out.push(self.subcomponent),
                "R" => out.push(self.repetition),
                "E" => out.push(self.escape),
                ".br" => out.push('\n'),
                _ if seq.starts_with('X') => {
                    let hex = &seq[1..];
                    let bytes: Vec<u8> = (0..hex.len() / 2)
                        .filter_map(|k| u8::from_str_radix(hex.get(2 * k..2 * k + 2)?, 16).ok())
                        .collect();
                    // the bytes are in the message's character set
                    match self.charset.decode(&bytes) {
                        Ok(t) => out.push_str(&t),
                        Err(_) => out.push_str(&String::from_utf8_lossy(&bytes)),
                    }
                }
                _ => {}
            }
            rest = &after[j + self.escape.len_utf8()..];
        }
        out.push_str(rest);
        out
    }

    /// Escape text so it can be placed in a field (the reverse of [`Encoding::unescape`]).
    /// Carriage returns and line feeds become `\.br\` so they cannot end a segment.
    pub fn escape(&self, s: &str) -> String {
        let e = self.escape;
        let mut out = String::with_capacity(s.len() + 8);
        for ch in s.chars() {
            let code = if ch == self.field {
                Some("F")
            } else if ch == self.component {
                Some("S")
            } else if ch == self.subcomponent {
                Some("T")
            } else if ch == self.repetition {
                Some("R")
            } else if ch == e {
                Some("E")
            } else if ch == '\r' || ch == '\n' {
                Some(".br")
            } else {
                None
            };
            match code {
                Some(c) => {
                    out.push(e);
                    out.push_str(c);
                    out.push(e);
                }
                None if ch.is_control() => {}
                None => out.push(ch),
            }
        }
        out
    }
}

/// Why a message could not be parsed at all (answered with AR).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the message is empty")]
    Empty,
    #[error("the message does not start with an MSH segment")]
    NoMsh,
    #[error("MSH-2 does not declare the four encoding characters")]
    BadEncoding,
}

/// One segment; `fields[n]` is field n (fields[0] is the segment name). Values are raw
/// (still escaped); the accessors unescape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub fields: Vec<String>,
}

/// A parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub enc: Encoding,
    pub segments: Vec<Segment>,
}

/// Parse a message. Segments end with CR (LF and CRLF are accepted too); empty lines are skipped.
pub fn parse(text: &str) -> Result<Message, ParseError> {
    let text = text.trim_start_matches(['\r', '\n', ' ', '\t']);
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    if !text.starts_with("MSH") {
        return Err(ParseError::NoMsh);
    }
    let mut chars = text[3..].chars();
    let field = chars.next().ok_or(ParseError::BadEncoding)?;
    let enc_chars: Vec<char> = chars.take(4).collect();
    if enc_chars.len() < 4
        || field.is_alphanumeric()
        || field.is_control()
        || enc_chars
            .iter()
            .any(|c| *c == field || c.is_alphanumeric() || c.is_control())
    {
        return Err(ParseError::BadEncoding);
    }
    let enc = Encoding {
        field,
        component: enc_chars[0],
        repetition: enc_chars[1],
        escape: enc_chars[2],
        subcomponent: enc_chars[3],
        charset: charset::Charset::Utf8,
    };
    let mut segments = Vec::new();
    for line in text.split(['\r', '\n']) {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields: Vec<String> = line.split(field).map(str::to_string).collect();
        let name = fields[0].trim().to_string();
        if name == "MSH" {
            // MSH-1 is the separator itself: shift so that fields[n] is MSH-n.
            fields.insert(1, field.to_string());
        }
        segments.push(Segment { name, fields });
    }
    if segments.first().map(|s| s.name.as_str()) != Some("MSH") {
        return Err(ParseError::NoMsh);
    }
    Ok(Message { enc, segments })
}

impl Segment {
    /// Field n, raw.
    pub fn raw(&self, n: usize) -> &str {
        self.fields.get(n).map(String::as_str).unwrap_or("")
    }
}

impl Message {
    /// The first segment with this name.
    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    pub fn msh(&self) -> &Segment {
        &self.segments[0]
    }

    /// Repetitions of field `n` of the first `seg`, raw.
    pub fn repetitions(&self, seg: &str, n: usize) -> Vec<&str> {
        match self.segment(seg) {
            // MSH-2 contains the repetition character itself; never split it.
            Some(s) if seg == "MSH" && n <= 2 => vec![s.raw(n)],
            Some(s) => s.raw(n).split(self.enc.repetition).collect(),
            None => Vec::new(),
        }
    }

    /// Component `c` (1-based) of the first repetition of field `n` of segment `seg`,
    /// unescaped; empty when absent.
    pub fn get(&self, seg: &str, n: usize, c: usize) -> String {
        let reps = self.repetitions(seg, n);
        let Some(first) = reps.first() else {
            return String::new();
        };
        self.component(first, c)
    }

    /// Sub-component `sc` (1-based) of component `c` of the first repetition of field `n` of
    /// `seg`, unescaped. Versions 2.5 to 2.8 send some components as composites: a point of
    /// care as an HD (`WARD5&1.2.3&ISO`: the first sub-component is the code), a family name
    /// as an FN (`EVERYMAN&&&&Aniston`: the first is the surname).
    pub fn get_sub(&self, seg: &str, n: usize, c: usize, sc: usize) -> String {
        let reps = self.repetitions(seg, n);
        let Some(first) = reps.first() else {
            return String::new();
        };
        first
            .split(self.enc.component)
            .nth(c.saturating_sub(1))
            .and_then(|comp| comp.split(self.enc.subcomponent).nth(sc.saturating_sub(1)))
            .map(|v| self.enc.unescape(v))
            .unwrap_or_default()
    }

    /// Component `c` (1-based) of a raw field value, unescaped (sub-components kept whole).
    pub fn component(&self, raw: &str, c: usize) -> String {
        raw.split(self.enc.component)
            .nth(c.saturating_sub(1))
            .map(|v| self.enc.unescape(v))
            .unwrap_or_default()
    }

    /// Message type (MSH-9.1), e.g. `ADT`.
    pub fn message_type(&self) -> String {
        self.get("MSH", 9, 1)
    }

    /// Trigger event (MSH-9.2, or EVN-1 when MSH-9.2 is empty), e.g. `A01`.
    pub fn trigger(&self) -> String {
        let t = self.get("MSH", 9, 2);
        if t.is_empty() {
            self.get("EVN", 1, 1)
        } else {
            t
        }
    }

    /// Message control id (MSH-10).
    pub fn control_id(&self) -> String {
        self.get("MSH", 10, 1)
    }
}

/// Parse an HL7 timestamp `YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]` to UTC milliseconds.
/// Without an offset the time is taken as UTC.
pub fn parse_ts(s: &str) -> Option<i64> {
    parse_ts_in(s, chrono_tz::UTC)
}

/// Parse an HL7 timestamp; one written without an offset is local time in `tz` (the sender's
/// time zone, `[hl7] timezone`). Across a clock change: a time in the repeated autumn hour is
/// taken as the first of the two (summer time); a time in the missing spring hour is taken as
/// the same wall-clock time one hour on (01:30 on the spring day is 02:30 summer time).
pub fn parse_ts_in(s: &str, tz: chrono_tz::Tz) -> Option<i64> {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (body, offset_min) = match s.find(['+', '-']) {
        Some(i) => {
            let z = &s[i + 1..];
            if z.len() != 4 || !z.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let m: i64 = z[..2].parse::<i64>().ok()? * 60 + z[2..].parse::<i64>().ok()?;
            (&s[..i], if &s[i..=i] == "-" { -m } else { m })
        }
        None => (s, i64::MIN),
    };
    let body = body.split('.').next()?;
    if body.len() < 8 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |a: usize, b: usize| -> Option<u32> { body.get(a..b).map(|x| x.parse().ok())? };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(4, 6)?, num(6, 8)?)?;
    let time = NaiveTime::from_hms_opt(
        num(8, 10).unwrap_or(0),
        num(10, 12).unwrap_or(0),
        num(12, 14).unwrap_or(0),
    )?;
    let naive = NaiveDateTime::new(date, time);
    if offset_min != i64::MIN {
        return Some(naive.and_utc().timestamp_millis() - offset_min * 60_000);
    }
    // a local time: the hour skipped in spring reads an hour later, the repeated one the first
    Some(crate::util::local_ms_in(tz, naive))
}

/// Format UTC milliseconds as an HL7 timestamp `YYYYMMDDHHMMSS` (UTC, +0000).
pub fn format_ts(ms: i64) -> String {
    use chrono::{TimeZone, Utc};
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y%m%d%H%M%S+0000").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod subcomponent_tests {
    #[test]
    fn composite_components_give_their_first_part() {
        let m = super::parse(
            "MSH|^~\\&|A|B|C|D|2026||ADT^A02|1|P|2.8\rPID|||1904851231^^^CHI||EVERYMAN&&&&Aniston^ADAM\rPV1||I|WARD5&1.2.3&ISO^12^1",
        )
        .unwrap();
        assert_eq!(m.get_sub("PV1", 3, 1, 1), "WARD5");
        assert_eq!(m.get_sub("PV1", 3, 1, 3), "ISO");
        assert_eq!(m.get_sub("PID", 5, 1, 1), "EVERYMAN");
        assert_eq!(m.get_sub("PID", 5, 1, 5), "Aniston");
        assert_eq!(m.get_sub("PID", 5, 2, 1), "ADAM");
        // a plain component is its own first sub-component
        assert_eq!(m.get_sub("PV1", 3, 2, 1), "12");
        assert_eq!(m.get_sub("PV1", 9, 1, 1), "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const SAMPLE: &str = "MSH|^~\\&|MegaReg|XYZHospC|SuperOE|XYZImgCtr|20060529090131-0500||ADT^A01^ADT_A01|01052901|P|2.5\rEVN||200605290901||||200605290900\rPID|||56782445^^^UAReg^PI||KLEINSAMPLE^BARRY^Q^JR||19620910|M||||||||||0105I30001^^^99DEF^AN\rPV1||I|W^389^1^UABH^^^^3||||12345^MORGAN^REX^J^^^MD^0010^UAMC^L||6|||||A0\r";

    #[test]
    fn parses_the_design_sample() {
        let m = parse(SAMPLE).unwrap();
        assert_eq!(m.segments.len(), 4);
        assert_eq!(m.msh().raw(1), "|");
        assert_eq!(m.msh().raw(2), "^~\\&");
        assert_eq!(m.get("MSH", 3, 1), "MegaReg");
        assert_eq!(m.message_type(), "ADT");
        assert_eq!(m.trigger(), "A01");
        assert_eq!(m.get("MSH", 9, 3), "ADT_A01");
        assert_eq!(m.control_id(), "01052901");
        assert_eq!(m.get("MSH", 12, 1), "2.5");
        assert_eq!(m.get("PID", 3, 1), "56782445");
        assert_eq!(m.get("PID", 3, 4), "UAReg");
        assert_eq!(m.get("PID", 3, 5), "PI");
        assert_eq!(m.get("PID", 5, 1), "KLEINSAMPLE");
        assert_eq!(m.get("PID", 5, 2), "BARRY");
        assert_eq!(m.get("PID", 7, 1), "19620910");
        assert_eq!(m.get("PID", 8, 1), "M");
        assert_eq!(m.get("PID", 18, 1), "0105I30001");
        assert_eq!(m.get("PV1", 2, 1), "I");
        assert_eq!(m.get("PV1", 3, 1), "W");
        assert_eq!(m.get("PV1", 3, 2), "389");
        assert_eq!(m.get("PV1", 7, 2), "MORGAN");
        assert_eq!(m.get("EVN", 2, 1), "200605290901");
        // No such segment or field: empty.
        assert_eq!(m.get("MRG", 1, 1), "");
        assert_eq!(m.get("PID", 99, 1), "");
        assert_eq!(
            parse_ts("20060529090131-0500"),
            parse_ts("20060529140131+0000")
        );
        assert_eq!(
            crate::util::ms_to_rfc3339(parse_ts("20060529090131-0500").unwrap()),
            "2006-05-29T14:01:31.000Z"
        );
        assert_eq!(parse_ts("200605290901").map(|t| t % 60_000), Some(0));
        assert!(parse_ts("2006").is_none());
        // Local times in Europe/London: GMT in winter, BST in summer.
        let london = chrono_tz::Europe::London;
        let utc = |s: &str| crate::util::ms_to_rfc3339(parse_ts_in(s, london).unwrap());
        assert_eq!(utc("20260115093000"), "2026-01-15T09:30:00.000Z");
        assert_eq!(utc("20260715093000"), "2026-07-15T08:30:00.000Z");
        // an explicit offset wins over the zone
        assert_eq!(utc("20260715093000+0000"), "2026-07-15T09:30:00.000Z");
        // 25 October 2026: 01:30 happens twice; the first (BST) is taken
        assert_eq!(utc("20261025013000"), "2026-10-25T00:30:00.000Z");
        assert_eq!(utc("20261025023000"), "2026-10-25T02:30:00.000Z");
        // 29 March 2026: 01:30 does not exist; taken as 02:30 BST
        assert_eq!(utc("20260329013000"), "2026-03-29T01:30:00.000Z");
        assert_eq!(utc("20260329003000"), "2026-03-29T00:30:00.000Z");
        assert!(parse_ts("20061329").is_none());
    }

    #[test]
    fn segments_may_end_with_lf_or_crlf_and_the_last_has_no_terminator() {
        let m = parse("MSH|^~\\&|A|B|C|D|20260101||ADT^A08|9|P|2.5\r\nPID|||1\nPV1||I").unwrap();
        assert_eq!(m.segments.len(), 3);
        assert_eq!(m.get("PV1", 2, 1), "I");
    }

    #[test]
    fn repetitions_and_custom_encoding_characters() {
        let m =
            parse("MSH#$*@%#A#B#C#D#2026##ADT$A08#7#P#2.5\rPID###111$$$X$MR*1904851231$$$CHI$NH")
                .unwrap();
        assert_eq!(m.enc.component, '$');
        assert_eq!(m.enc.repetition, '*');
        assert_eq!(m.trigger(), "A08");
        let reps = m.repetitions("PID", 3);
        assert_eq!(reps.len(), 2);
        assert_eq!(m.component(reps[1], 1), "1904851231");
        assert_eq!(m.component(reps[1], 4), "CHI");
    }

    #[test]
    fn escape_sequences() {
        let e = Encoding::default();
        assert_eq!(
            e.unescape("A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F\\X41\\Z"),
            "A|B^C&D~E\\FAZ"
        );
        assert_eq!(e.unescape("line\\.br\\two"), "line\ntwo");
        assert_eq!(e.unescape("\\H\\bold\\N\\"), "bold");
        assert_eq!(e.unescape("trailing\\"), "trailing\\");
        let s = "a|b^c&d~e\\f\r";
        assert_eq!(e.escape(s), "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\");
        assert_eq!(e.unescape(&e.escape("x|y")), "x|y");
        let m = parse("MSH|^~\\&|A|B|C|D|2026||ADT^A08|7|P|2.5\rPID|||1||O\\S\\BRIEN^ANN").unwrap();
        assert_eq!(m.get("PID", 5, 1), "O^BRIEN");
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(""), Err(ParseError::Empty));
        assert_eq!(parse("PID|||1"), Err(ParseError::NoMsh));
        assert_eq!(parse("EVN||2026\rMSH|^~\\&|"), Err(ParseError::NoMsh));
        assert_eq!(parse("MSH|^~"), Err(ParseError::BadEncoding));
        assert_eq!(parse("MSHA^~\\&"), Err(ParseError::BadEncoding));
    }
}
