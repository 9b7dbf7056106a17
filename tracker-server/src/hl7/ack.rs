//! Acknowledgements: `MSH` + `MSA|AA|<MSH-10>|text`, and an `ERR` segment for AE and AR.
//!
//! AA: applied. AE: the content is wrong and the sender must fix it (nothing was applied).
//! AR: rejected: not a message we can read or not one we support (nothing was applied).

use super::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AckCode {
    AA,
    AE,
    AR,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
        }
    }
}

/// HL7 table 0357 codes used in ERR-3.
pub mod err {
    pub const SEGMENT_SEQUENCE: (&str, &str) = ("100", "Segment sequence error");
    pub const REQUIRED_FIELD_MISSING: (&str, &str) = ("101", "Required field missing");
    pub const DATA_TYPE: (&str, &str) = ("102", "Data type error");
    pub const TABLE_VALUE_NOT_FOUND: (&str, &str) = ("103", "Table value not found");
    pub const UNSUPPORTED_MESSAGE_TYPE: (&str, &str) = ("200", "Unsupported message type");
    pub const UNSUPPORTED_EVENT: (&str, &str) = ("201", "Unsupported event code");
    pub const UNKNOWN_KEY: (&str, &str) = ("204", "Unknown key identifier");
    pub const INTERNAL: (&str, &str) = ("207", "Application internal error");
}

/// What went wrong, for the ERR segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// Segment and field, e.g. ("PID", 3); None when not about one field.
    pub location: Option<(String, usize)>,
    /// (code, text) from table 0357.
    pub code: (&'static str, &'static str),
}

/// Who we are in MSH-3 / MSH-4 of our acknowledgements.
#[derive(Debug, Clone)]
pub struct Identity {
    pub application: String,
    pub facility: String,
}

/// Build an acknowledgement for `original` (None when it could not be parsed).
/// `text` goes in MSA-3 and, for errors, ERR-8. Segments end with CR.
pub fn build(
    original: Option<&Message>,
    me: &Identity,
    code: AckCode,
    text: &str,
    error: Option<&AckError>,
    now_ms: i64,
    ack_control_id: &str,
) -> String {
    let enc = original.map(|m| m.enc).unwrap_or_default();
    let f = enc.field;
    let get = |n: usize| {
        original
            .map(|m| m.msh().raw(n).to_string())
            .unwrap_or_default()
    };
    let trigger = original.map(|m| m.trigger()).unwrap_or_default();
    let version = original
        .map(|m| m.get("MSH", 12, 1))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "2.5".into());
    let control = original.map(|m| m.control_id()).unwrap_or_default();
    let c = enc.component;
    let msg_type = if trigger.is_empty() {
        "ACK".to_string()
    } else {
        format!("ACK{c}{}{c}ACK", enc.escape(&trigger))
    };
    let mut out = String::with_capacity(256);
    let fields = [
        "MSH".to_string(),
        enc.msh2(),
        enc.escape(&me.application),
        enc.escape(&me.facility),
        get(3),
        get(4),
        super::format_ts(now_ms),
        String::new(),
        msg_type,
        enc.escape(ack_control_id),
        // MSH-11: the processing id of the message acknowledged (P, T or D); P when unknown.
        original
            .map(|m| m.get("MSH", 11, 1))
            .filter(|p| !p.is_empty())
            .map(|p| enc.escape(&p))
            .unwrap_or_else(|| "P".into()),
        version,
    ];
    out.push_str(&fields.join(&f.to_string()));
    out.push('\r');
    let text = enc.escape(text);
    out.push_str(&format!(
        "MSA{f}{}{f}{}{f}{text}\r",
        code.as_str(),
        enc.escape(&control)
    ));
    if code != AckCode::AA {
        let (ecode, etext) = error.map(|e| e.code).unwrap_or(err::INTERNAL);
        let loc = error
            .and_then(|e| e.location.as_ref())
            .map(|(seg, n)| format!("{seg}{c}1{c}{n}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "ERR{f}{f}{loc}{f}{ecode}{c}{etext}{c}HL70357{f}E{f}{f}{f}{f}{text}\r"
        ));
    }
    out
}

/// Read the acknowledgement code and MSA-3 text from an ACK (used by tests and the bench).
pub fn read(ack: &str) -> Option<(String, String)> {
    let m = super::parse(ack).ok()?;
    Some((m.get("MSA", 1, 1), m.get("MSA", 3, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Identity {
        Identity {
            application: "CASENOTE".into(),
            facility: "TRACKER".into(),
        }
    }

    #[test]
    fn accept_ack_echoes_the_control_id() {
        let m = super::super::parse(super::super::tests::SAMPLE).unwrap();
        let a = build(Some(&m), &me(), AckCode::AA, "ok", None, 0, "A1");
        let lines: Vec<&str> = a.split('\r').collect();
        assert_eq!(
            lines[0],
            "MSH|^~\\&|CASENOTE|TRACKER|MegaReg|XYZHospC|19700101000000+0000||ACK^A01^ACK|A1|P|2.5"
        );
        assert_eq!(lines[1], "MSA|AA|01052901|ok");
        assert_eq!(lines.len(), 3);
        assert_eq!(read(&a), Some(("AA".into(), "ok".into())));
    }

    #[test]
    fn error_ack_has_err_with_location_and_escaped_text() {
        let m = super::super::parse(super::super::tests::SAMPLE).unwrap();
        let e = AckError {
            location: Some(("PID".into(), 3)),
            code: err::DATA_TYPE,
        };
        let a = build(
            Some(&m),
            &me(),
            AckCode::AE,
            "PID-3: not a CHI | bad",
            Some(&e),
            0,
            "A2",
        );
        let lines: Vec<&str> = a.split('\r').collect();
        assert_eq!(lines[1], "MSA|AE|01052901|PID-3: not a CHI \\F\\ bad");
        assert_eq!(
            lines[2],
            "ERR||PID^1^3|102^Data type error^HL70357|E||||PID-3: not a CHI \\F\\ bad"
        );
        assert_eq!(
            read(&a),
            Some(("AE".into(), "PID-3: not a CHI | bad".into()))
        );
        let r = build(None, &me(), AckCode::AR, "no MSH", None, 0, "A3");
        assert!(r.contains("MSA|AR||no MSH\r"), "{r}");
        assert!(r.contains("|ACK|A3|"), "{r}");
    }
}
