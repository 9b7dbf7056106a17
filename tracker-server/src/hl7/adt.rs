//! Admissions, transfers, discharges (HL7 ADT) and clinic bookings (HL7 SIU): what each message
//! means for the notes, and the MLLP listener that receives them.
//!
//! One message = one database transaction: it is applied completely (AA) or not at all (AE for
//! content the sender must fix, AR for messages we cannot read or do not support). Messages
//! are remembered by (MSH-3, MSH-10): a resend gets the same ACK and is not applied again.

use crate::config::PatientNumberKind;
use crate::{
    audit,
    auth::{Principal, Role},
    config::Config,
    hl7::{
        self,
        ack::{self, err, AckCode, AckError, Identity},
        mllp, Message,
    },
    ledger::locations,
    ledger::patients,
    storage::Db,
    util::{now_ms, now_rfc3339},
    workflow::appointments,
    workflow::requests::{self, DeskEvent, Spec},
    Error, Result,
};
use casenote_core::identifiers::{validate_chi, validate_nhs_number};
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const ADT_EVENTS: &[&str] = &[
    "A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13", "A40",
];

/// Messages whose control id had been used before by the same sender for a different message
/// (some engines restart their numbering; test feeds reuse ids). Each was applied.
pub static CONTROL_ID_REUSED: AtomicU64 = AtomicU64::new(0);

/// What makes a message the same message again: SHA-256 (hex) of its segments, joined by CR
/// whatever the sender used, with MSH-7 (the time it was sent) left out. A resend matches;
/// another message that reuses a control id does not.
pub fn content_hash(m: &Message) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut buf = [0u8; 4];
    let sep = m.enc.field.encode_utf8(&mut buf).as_bytes();
    for (i, seg) in m.segments.iter().enumerate() {
        if i > 0 {
            h.update(b"\r");
        }
        for (n, f) in seg.fields.iter().enumerate() {
            // In MSH, fields[n] is MSH-n: fields[1] is the separator itself (not repeated),
            // and MSH-7 is left out.
            match (i, n) {
                (0, 1) => continue,
                (0, 7) => h.update(sep),
                (_, 0) => h.update(f.as_bytes()),
                _ => {
                    h.update(sep);
                    h.update(f.as_bytes());
                }
            }
        }
    }
    hex::encode(h.finalize())
}

pub const SIU_EVENTS: &[&str] = &["S12", "S13", "S14", "S15", "S26"];

/// The result of one message.
#[derive(Debug, Clone)]
pub struct Processed {
    pub code: AckCode,
    pub ack: String,
    /// True when this control id had been processed before (nothing applied now).
    pub duplicate: bool,
    /// New and re-routed requests, for the desk view.
    pub events: Vec<DeskEvent>,
}

static ACK_SEQ: AtomicU64 = AtomicU64::new(0);

fn ack_id() -> String {
    format!(
        "CT{}{:04}",
        now_ms(),
        ACK_SEQ.fetch_add(1, Ordering::Relaxed) % 10_000
    )
}

fn identity(cfg: &Config) -> Identity {
    Identity {
        application: cfg.hl7.sending_application.clone(),
        facility: cfg.hl7.sending_facility.clone(),
    }
}

fn refuse(
    cfg: &Config,
    msg: Option<&Message>,
    code: AckCode,
    text: &str,
    e: AckError,
) -> Processed {
    // The reason text can quote an identifier (a CHI that failed its check), so the log
    // names only the field and the error code; the sender has the full text in its ACK.
    let field = e
        .location
        .as_ref()
        .map(|(seg, n)| format!("{seg}-{n}"))
        .unwrap_or_default();
    tracing::warn!(
        ack = code.as_str(),
        control_id = %msg.map(|m| m.control_id()).unwrap_or_default(),
        field = %field,
        error_code = e.code.0,
        "HL7 message not applied (the reason is in the ACK sent back)"
    );
    Processed {
        code,
        ack: ack::build(
            msg,
            &identity(cfg),
            code,
            text,
            Some(&e),
            now_ms(),
            &ack_id(),
        ),
        duplicate: false,
        events: Vec::new(),
    }
}

/// Acknowledgement for bytes that were not a whole frame (broken or too large).
pub fn frame_refusal(cfg: &Config, e: &mllp::FrameError) -> String {
    refuse(
        cfg,
        None,
        AckCode::AR,
        &e.to_string(),
        AckError {
            location: None,
            code: err::SEGMENT_SEQUENCE,
        },
    )
    .ack
}

/// Map a domain error to (code, ERR details, text).
fn error_ack(e: &Error) -> (AckCode, AckError, String) {
    match e {
        Error::Invalid { field, message } => {
            let location = field.split_once('-').and_then(|(seg, n)| {
                let n: usize = n.parse().ok()?;
                (seg.len() == 3).then(|| (seg.to_string(), n))
            });
            let code = if message.contains("required") {
                err::REQUIRED_FIELD_MISSING
            } else if message.contains("not mapped") {
                err::TABLE_VALUE_NOT_FOUND
            } else if message.contains("no patient") || message.contains("no appointment") {
                err::UNKNOWN_KEY
            } else {
                err::DATA_TYPE
            };
            (
                AckCode::AE,
                AckError { location, code },
                format!("{field}: {message}"),
            )
        }
        Error::NotFound { .. } | Error::Conflict { .. } => (
            AckCode::AE,
            AckError {
                location: None,
                code: err::UNKNOWN_KEY,
            },
            e.to_string(),
        ),
        _ => (
            AckCode::AR,
            AckError {
                location: None,
                code: err::INTERNAL,
            },
            "the tracker could not store the message; nothing was applied; resend later".into(),
        ),
    }
}

/// Parse, check, apply in one transaction, and acknowledge one HL7 message.
pub async fn process(db: &Db, cfg: &Arc<Config>, raw: &[u8], who: Option<Principal>) -> Processed {
    let default = hl7::charset::Charset::from_name(&cfg.hl7.default_charset).unwrap_or_default();
    let (text, charset) = match hl7::charset::decode_message(raw, default) {
        Ok(t) => t,
        Err(e) => {
            // Answer with the control id (read leniently), but apply nothing.
            let lenient = hl7::parse(&String::from_utf8_lossy(raw)).ok();
            let (location, code) = match &e {
                hl7::charset::CharsetError::Unsupported(_) => {
                    (Some(("MSH".to_string(), 18)), err::TABLE_VALUE_NOT_FOUND)
                }
                hl7::charset::CharsetError::Invalid { segment, field, .. } => {
                    (Some((segment.clone(), *field)), err::DATA_TYPE)
                }
            };
            return refuse(
                cfg,
                lenient.as_ref(),
                AckCode::AE,
                &e.to_string(),
                AckError { location, code },
            );
        }
    };
    let msg = match hl7::parse(&text) {
        Ok(mut m) => {
            m.enc.charset = charset;
            m
        }
        Err(e) => {
            return refuse(
                cfg,
                None,
                AckCode::AR,
                &e.to_string(),
                AckError {
                    location: Some(("MSH".into(), 1)),
                    code: err::SEGMENT_SEQUENCE,
                },
            )
        }
    };
    let (mtype, trigger) = (msg.message_type(), msg.trigger());
    let supported = match mtype.as_str() {
        "ADT" => ADT_EVENTS.contains(&trigger.as_str()),
        "SIU" => SIU_EVENTS.contains(&trigger.as_str()),
        _ => {
            return refuse(
                cfg,
                Some(&msg),
                AckCode::AR,
                &format!("MSH-9: message type {mtype:?} is not supported (ADT and SIU are)"),
                AckError {
                    location: Some(("MSH".into(), 9)),
                    code: err::UNSUPPORTED_MESSAGE_TYPE,
                },
            )
        }
    };
    if !supported {
        return refuse(
            cfg,
            Some(&msg),
            AckCode::AR,
            &format!("MSH-9: event {mtype}^{trigger} is not supported"),
            AckError {
                location: Some(("MSH".into(), 9)),
                code: err::UNSUPPORTED_EVENT,
            },
        );
    }
    let control = msg.control_id();
    if control.is_empty() || control.len() > 199 {
        return refuse(
            cfg,
            Some(&msg),
            AckCode::AR,
            "MSH-10: the message control id is required",
            AckError {
                location: Some(("MSH".into(), 10)),
                code: err::REQUIRED_FIELD_MISSING,
            },
        );
    }
    let sender = msg.get("MSH", 3, 1);
    let facility = msg.get("MSH", 4, 1);
    let hash = content_hash(&msg);
    let who = who.unwrap_or_else(|| Principal {
        actor: format!(
            "hl7:{}",
            if sender.is_empty() {
                "unknown"
            } else {
                &sender
            }
        ),
        role: Role::Device,
    });
    let cfg2 = cfg.clone();
    let msg2 = msg.clone();
    let event = format!("{mtype}^{trigger}");
    let out = db
        .write(move |c| {
            // A resend: same sender, facility, control id and content (MSH-7 aside). Messages
            // stored by an earlier version have no hash and match on sender and control id.
            let prior: Option<String> = c
                .prepare_cached(
                    "SELECT ack FROM hl7_messages WHERE sending_app=?1 AND control_id=?2
                       AND ((sending_facility=?3 AND content_sha256=?4) OR content_sha256 IS NULL)
                     ORDER BY id DESC LIMIT 1",
                )?
                .query_row(params![sender, control, facility, hash], |r| r.get(0))
                .optional()?;
            if let Some(ack) = prior {
                return Ok((ack, true, Vec::new()));
            }
            let reused: bool = c
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM hl7_messages WHERE sending_app=?1 AND control_id=?2)",
                )?
                .query_row(params![sender, control], |r| r.get(0))?;
            if reused {
                CONTROL_ID_REUSED.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    sending_app = %sender,
                    control_id = %control,
                    "HL7 control id reused for a different message; applying it"
                );
            }
            let applied = apply(c, &cfg2, &who, &msg2)?;
            let ack = ack::build(
                Some(&msg2),
                &identity(&cfg2),
                AckCode::AA,
                &applied.text,
                None,
                now_ms(),
                &ack_id(),
            );
            c.prepare_cached(
                "INSERT INTO hl7_messages(sending_app, sending_facility, control_id, content_sha256, event, ack, received_at)
                 VALUES (?1,?2,?3,?4,?5,?6,?7)",
            )?
            .execute(params![sender, facility, control, hash, event, ack, now_rfc3339()])?;
            Ok((ack, false, applied.events))
        })
        .await;
    match out {
        Ok((ack, duplicate, events)) => Processed {
            code: AckCode::AA,
            ack,
            duplicate,
            events,
        },
        Err(e) => {
            let (code, ae, text) = error_ack(&e);
            if e.kind() == crate::error::ErrorKind::Internal {
                tracing::error!(error = %e, "HL7 message could not be stored");
            }
            refuse(cfg, Some(&msg), code, &text, ae)
        }
    }
}

struct Applied {
    text: String,
    events: Vec<DeskEvent>,
}

fn applied(text: impl Into<String>) -> Applied {
    Applied {
        text: text.into(),
        events: Vec::new(),
    }
}

/// Assigning authorities (PID-3.4, first sub-component) and identifier type codes (PID-3.5)
/// that mark a CHI number when `[hl7] chi_authorities` is not set.
pub const DEFAULT_CHI_AUTHORITIES: &[&str] = &["CHI", "NNSCO"];

/// Assigning authorities / type codes that mark an NHS number when `[hl7] nhs_authorities` is
/// not set (the last is the NHS number's OID, as given in an HD's universal id).
pub const DEFAULT_NHS_AUTHORITIES: &[&str] = &["NHS", "NHSNBR", "2.16.840.1.113883.2.1.4.1"];

/// A patient's national number as a message gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientNumber {
    Chi(String),
    Nhs(String),
}

impl PatientNumber {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Chi(n) | Self::Nhs(n) => n,
        }
    }

    fn chi(&self) -> Option<String> {
        match self {
            Self::Chi(n) => Some(n.clone()),
            Self::Nhs(_) => None,
        }
    }

    fn nhs(&self) -> Option<String> {
        match self {
            Self::Nhs(n) => Some(n.clone()),
            Self::Chi(_) => None,
        }
    }
}

/// One kind of national number: how it is marked in PID-3 and how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberKind {
    Chi,
    Nhs,
}

impl NumberKind {
    fn name(self) -> &'static str {
        match self {
            Self::Chi => "CHI number",
            Self::Nhs => "NHS number",
        }
    }

    fn check(self, id: &str) -> std::result::Result<PatientNumber, String> {
        match self {
            Self::Chi => validate_chi(id)
                .map(|c| PatientNumber::Chi(c.number))
                .map_err(|e| e.to_string()),
            Self::Nhs => validate_nhs_number(id)
                .map(PatientNumber::Nhs)
                .map_err(|e| e.to_string()),
        }
    }
}

/// Which national numbers a feed identifies patients by, and how they are marked
/// (`[hl7] patient_number`, `chi_authorities`, `nhs_authorities`).
#[derive(Debug, Clone)]
pub struct NumberRules {
    kinds: Vec<(NumberKind, Vec<String>)>,
}

impl NumberRules {
    /// CHI only, marked by `authorities`.
    pub fn chi(authorities: &[String]) -> Self {
        Self {
            kinds: vec![(NumberKind::Chi, authorities.to_vec())],
        }
    }

    pub fn from_config(h: &crate::config::Hl7Config) -> Self {
        let or_default = |v: &Vec<String>, d: &[&str]| {
            if v.is_empty() {
                d.iter().map(|a| a.to_string()).collect()
            } else {
                v.clone()
            }
        };
        let chi = (
            NumberKind::Chi,
            or_default(&h.chi_authorities, DEFAULT_CHI_AUTHORITIES),
        );
        let nhs = (
            NumberKind::Nhs,
            or_default(&h.nhs_authorities, DEFAULT_NHS_AUTHORITIES),
        );
        let kinds = match h.patient_number {
            PatientNumberKind::Chi => vec![chi],
            PatientNumberKind::NhsNumber => vec![nhs],
            PatientNumberKind::ChiOrNhsNumber => vec![chi, nhs],
        };
        Self { kinds }
    }
}

/// The CHI number of field `seg`-`n` with the default authorities (see [`pid_chi_with`]).
pub fn pid_chi(m: &Message, seg: &str, n: usize) -> Result<String> {
    let auths: Vec<String> = DEFAULT_CHI_AUTHORITIES
        .iter()
        .map(|a| a.to_string())
        .collect();
    pid_chi_with(m, seg, n, &auths)
}

/// The CHI number in field `seg`-`n`, marked by `authorities` (see [`pid_number`]).
pub fn pid_chi_with(m: &Message, seg: &str, n: usize, authorities: &[String]) -> Result<String> {
    pid_number(m, seg, n, &NumberRules::chi(authorities)).map(|p| p.as_str().to_string())
}

/// The patient's national number in field `seg`-`n` (PID-3 or MRG-1), validated. Every
/// repetition is looked at (and, for PID-3, PID-2 too, which v2.3 feeds use; for MRG-1, MRG-4): first those
/// whose assigning authority (component 4, any sub-component when given as an HD such as
/// `CHI&<oid>&ISO`) or identifier type code (component 5) is one of a kind's authorities, kind
/// by kind in the configured order; then any repetition not marked as another kind that is a
/// valid number of the kind. The local hospital number, usually first, is skipped. A refusal
/// names the field and says what was looked for and where.
pub fn pid_number(m: &Message, seg: &str, n: usize, rules: &NumberRules) -> Result<PatientNumber> {
    let field = format!("{seg}-{n}");
    let mut reps: Vec<&str> = m.repetitions(seg, n);
    // v2.3 feeds carry the CHI as the external id (PID-2), and a merge's retired one in its
    // counterpart, MRG-4 (prior patient ID - external).
    let searched = match (seg, n) {
        ("PID", 3) => {
            reps.extend(m.repetitions("PID", 2));
            "PID-3 and PID-2"
        }
        ("MRG", 1) => {
            reps.extend(m.repetitions("MRG", 4));
            "MRG-1 and MRG-4"
        }
        _ => field.as_str(),
    };
    let sub = m.enc.subcomponent;
    let marked = |r: &str, authorities: &[String]| {
        let auth = m.component(r, 4);
        let kind = m.component(r, 5);
        authorities.iter().any(|a| {
            auth.split(sub).any(|s| a.eq_ignore_ascii_case(s.trim()))
                || a.eq_ignore_ascii_case(kind.trim())
        })
    };
    let id_of = |r: &str| m.component(r, 1).trim().to_string();
    // 1. marked as one of the kinds, in the configured order
    for (kind, auths) in &rules.kinds {
        if let Some(r) = reps
            .iter()
            .find(|r| marked(r, auths) && !id_of(r).is_empty())
        {
            let id = id_of(r);
            return kind.check(&id).map_err(|e| {
                Error::invalid(
                    &field,
                    format!("{id:?} is not a valid {}: {e}", kind.name()),
                )
            });
        }
    }
    // 2. not marked as another kind, but a valid number of this kind
    for (kind, _) in &rules.kinds {
        let other_kind = |r: &str| rules.kinds.iter().any(|(k, a)| k != kind && marked(r, a));
        if let Some(p) = reps
            .iter()
            .filter(|r| !id_of(r).is_empty() && !other_kind(r))
            .find_map(|r| kind.check(&id_of(r)).ok())
        {
            return Ok(p);
        }
    }
    // Nothing found: say what was looked for and where (built only for a refusal).
    let names: Vec<&str> = rules.kinds.iter().map(|(k, _)| k.name()).collect();
    let names = names.join(" or ");
    let looked_for = rules
        .kinds
        .iter()
        .map(|(k, a)| {
            format!(
                "a {} (assigning authority or type {}, or unmarked)",
                k.name(),
                a.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", then ");
    let looked_for = format!("looked in {searched} for {looked_for}");
    match reps.iter().map(|r| id_of(r)).find(|id| !id.is_empty()) {
        None => Err(Error::invalid(
            field,
            format!("is required: the patient's {names}"),
        )),
        Some(first) => {
            let why = rules
                .kinds
                .first()
                .and_then(|(k, _)| k.check(&first).err())
                .unwrap_or_default();
            Err(Error::invalid(
                field,
                format!("{first:?} is not a valid {names}: {why}; {looked_for}"),
            ))
        }
    }
}

/// Demographics from PID. `known_dob` is the registered date of birth of a patient already
/// known: it is used when PID-7 is empty (only a new patient needs PID-7).
fn pid_demographics(
    m: &Message,
    chi: Option<String>,
    nhs_number: Option<String>,
    known_dob: Option<&str>,
) -> Result<patients::NewPatient> {
    let dob_raw = m.get("PID", 7, 1);
    let dob = if dob_raw.len() >= 8 && dob_raw.is_char_boundary(8) {
        format!("{}-{}-{}", &dob_raw[..4], &dob_raw[4..6], &dob_raw[6..8])
    } else if let (true, Some(d)) = (dob_raw.is_empty(), known_dob) {
        d.to_string()
    } else {
        return Err(Error::invalid(
            "PID-7",
            "is required: date of birth YYYYMMDD",
        ));
    };
    let sex = match m.get("PID", 8, 1).to_ascii_uppercase().as_str() {
        "M" => "male",
        "F" => "female",
        "O" => "other",
        _ => "unknown",
    };
    let n = patients::NewPatient {
        chi,
        nhs_number,
        family_name: m.get_sub("PID", 5, 1, 1),
        given_name: m.get_sub("PID", 5, 2, 1),
        dob,
        sex: sex.into(),
    };
    patients::validate(&n).map_err(|e| match e {
        Error::Invalid { field, message } => {
            let f = match field.as_str() {
                "chi" | "nhs_number" => "PID-3",
                "family_name" | "given_name" => "PID-5",
                "dob" => "PID-7",
                "sex" => "PID-8",
                _ => "PID",
            };
            Error::invalid(f, format!("{field} {message}"))
        }
        e => e,
    })
}

/// The patient in PID: found by CHI (following merges), created if `create`, demographics
/// updated if `update`.
/// The senders' time zone (`[hl7] timezone`), for times written without an offset.
fn hl7_timezone(cfg: &Config) -> chrono_tz::Tz {
    cfg.hl7
        .timezone
        .parse()
        .unwrap_or(chrono_tz::Europe::London)
}

/// "CHI 1904851231" or "NHS number 9434765919".
fn describe(n: &PatientNumber) -> String {
    match n {
        PatientNumber::Chi(x) => format!("CHI {x}"),
        PatientNumber::Nhs(x) => format!("NHS number {x}"),
    }
}

/// The national numbers this feed identifies patients by.
fn number_rules(cfg: &Config) -> NumberRules {
    NumberRules::from_config(&cfg.hl7)
}

/// The registered patient with this number, if any (not following merges).
fn find_patient(c: &Connection, n: &PatientNumber) -> Result<Option<patients::Patient>> {
    match n {
        PatientNumber::Chi(chi) => patients::find_by_chi(c, chi),
        PatientNumber::Nhs(nhs) => patients::find_by_nhs_number(c, nhs),
    }
}

fn patient(
    c: &Connection,
    cfg: &Config,
    who: &Principal,
    m: &Message,
    create: bool,
    update: bool,
) -> Result<patients::Patient> {
    let number = pid_number(m, "PID", 3, &number_rules(cfg))?;
    if let Some(mut p) = find_patient(c, &number)? {
        if let Some(s) = p.merged_into {
            p = patients::get(c, s)?;
        }
        if update && !m.get_sub("PID", 5, 1, 1).is_empty() {
            // A known patient: an empty PID-7 keeps the registered date of birth.
            let n = pid_demographics(m, p.chi.clone(), p.nhs_number.clone(), Some(&p.dob))?;
            c.prepare_cached("UPDATE patients SET family_name=?2, given_name=?3, family_key=?4, dob=?5, sex=?6, updated_at=?7 WHERE id=?1")?.execute(
                params![p.id, n.family_name, n.given_name, n.family_name.to_uppercase(), n.dob, n.sex, now_rfc3339()],
            )?;
            audit::record(
                c,
                who,
                "patient.update",
                Some(p.id),
                None,
                "demographics from HL7",
            )?;
            p = patients::get(c, p.id)?;
        }
        return Ok(p);
    }
    if !create {
        return Err(Error::invalid(
            "PID-3",
            format!("no patient with {} is registered", describe(&number)),
        ));
    }
    let n = pid_demographics(m, number.chi(), number.nhs(), None)?;
    // One person, one record: the number already registered as the other kind is refused.
    let p = patients::insert(c, &n).map_err(|e| match e {
        Error::Conflict { message, .. } => Error::invalid("PID-3", message),
        e => e,
    })?;
    audit::record(
        c,
        who,
        "patient.create",
        Some(p.id),
        None,
        "registered from HL7",
    )?;
    Ok(p)
}

/// A tracker location for an HL7 point-of-care code (PV1-3.1, AIL-3.1).
fn location(c: &Connection, cfg: &Config, field: &str, code: &str) -> Result<i64> {
    let code = code.trim();
    if code.is_empty() {
        return Err(Error::invalid(
            field,
            "is required: the ward or clinic code",
        ));
    }
    let target = cfg
        .hl7
        .locations
        .get(code)
        .or_else(|| cfg.hl7.locations.get(&code.to_ascii_uppercase()))
        .map(String::as_str)
        .unwrap_or(code);
    if let Some(id) = locations::resolve_id(c, target)? {
        return Ok(id);
    }
    let prefixed = format!("{}{target}", cfg.identifiers.location_prefix);
    locations::resolve_id(c, &prefixed)?.ok_or_else(|| {
        Error::invalid(
            field,
            format!("{code:?} is not mapped to a tracker location; add it to [hl7.locations]"),
        )
    })
}

fn open_adt_requests(c: &Connection, patient_id: i64, source: &str) -> Result<Vec<i64>> {
    let v = c
        .prepare_cached(
            "SELECT id FROM requests WHERE patient_id=?1 AND source=?2 AND closed_at IS NULL AND state != 'cancelled' ORDER BY id",
        )?
        .query_map(params![patient_id, source], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

fn visit(m: &Message) -> Option<String> {
    Some(m.get("PV1", 19, 1)).filter(|v| !v.is_empty())
}

#[allow(clippy::too_many_arguments)]
fn admit(
    c: &Connection,
    cfg: &Config,
    who: &Principal,
    m: &Message,
    ward: i64,
    p: &patients::Patient,
    urgency: &str,
    needed_by: Option<i64>,
    what: &str,
) -> Result<Applied> {
    let ward_code = locations::get(c, ward)?.code;
    if let Some(&id) = open_adt_requests(c, p.id, "adt")?.first() {
        requests::reroute(c, who, id, ward, what)?;
        return Ok(Applied {
            text: format!("{what}: request {id} re-routed to {ward_code}"),
            events: vec![requests::desk_event(c, "request.rerouted", id)?],
        });
    }
    let id = requests::create(
        c,
        who,
        &cfg.requests,
        &Spec {
            patient_id: p.id,
            folder_id: None,
            destination_id: ward,
            urgency: urgency.into(),
            reason: format!("{what} to {ward_code}"),
            needed_by,
            source: "adt",
            encounter: visit(m),
            appointment_id: None,
        },
    )?;
    Ok(Applied {
        text: format!("{what}: request {id} for the notes to {ward_code}"),
        events: vec![requests::desk_event(c, "request.new", id)?],
    })
}

fn apply(c: &Connection, cfg: &Config, who: &Principal, m: &Message) -> Result<Applied> {
    match (m.message_type().as_str(), m.trigger().as_str()) {
        ("ADT", "A01") => {
            let p = patient(c, cfg, who, m, true, true)?;
            let ward = location(c, cfg, "PV1-3", &m.get_sub("PV1", 3, 1, 1))?;
            let urgency = match (m.get("PV1", 2, 1).as_str(), m.get("PV1", 4, 1).as_str()) {
                ("E", _) | (_, "E") | (_, "A") => "emergency",
                _ => "urgent",
            };
            admit(c, cfg, who, m, ward, &p, urgency, None, "admission")
        }
        ("ADT", "A02") => {
            let p = patient(c, cfg, who, m, false, false)?;
            let ward = location(c, cfg, "PV1-3", &m.get_sub("PV1", 3, 1, 1))?;
            admit(c, cfg, who, m, ward, &p, "urgent", None, "transfer")
        }
        // A06 (outpatient to inpatient) and A07 (inpatient to outpatient) carry a move to the
        // location in PV1-3: applied as a transfer.
        ("ADT", t @ ("A06" | "A07")) => {
            let p = patient(c, cfg, who, m, false, false)?;
            let ward = location(c, cfg, "PV1-3", &m.get_sub("PV1", 3, 1, 1))?;
            let what = if t == "A06" {
                "change to inpatient"
            } else {
                "change to outpatient"
            };
            admit(c, cfg, who, m, ward, &p, "urgent", None, what)
        }
        ("ADT", "A03") => {
            let p = patient(c, cfg, who, m, false, false)?;
            let coding =
                locations::resolve_id(c, &cfg.requests.coding_location)?.ok_or_else(|| {
                    Error::conflict(
                        "coding_location",
                        format!(
                            "the coding location {:?} ([requests] coding_location) does not exist",
                            cfg.requests.coding_location
                        ),
                    )
                })?;
            // A second A03 for the same stay (PV1-19) opens no second coding request.
            if let Some(v) = visit(m) {
                let earlier: Option<i64> = c
                    .query_row(
                        "SELECT id FROM requests WHERE patient_id=?1 AND source='adt_discharge' AND encounter=?2 AND state != 'cancelled' ORDER BY id LIMIT 1",
                        params![p.id, v],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(id) = earlier {
                    return Ok(applied(format!(
                        "discharge of visit {v} already recorded: request {id} for the notes to coding"
                    )));
                }
            }
            for id in open_adt_requests(c, p.id, "adt")? {
                requests::close(c, who, id, "discharged")?;
            }
            let id = requests::create(
                c,
                who,
                &cfg.requests,
                &Spec {
                    patient_id: p.id,
                    folder_id: None,
                    destination_id: coding,
                    urgency: "routine".into(),
                    reason: "discharge: clinical coding, then back to the library".into(),
                    needed_by: None,
                    source: "adt_discharge",
                    encounter: visit(m),
                    appointment_id: None,
                },
            )?;
            Ok(Applied {
                text: format!("discharge: request {id} for the notes to coding"),
                events: vec![requests::desk_event(c, "request.new", id)?],
            })
        }
        ("ADT", "A04") => {
            let p = patient(c, cfg, who, m, true, true)?;
            Ok(applied(format!("registered patient {}", p.id)))
        }
        ("ADT", "A05") => {
            let p = patient(c, cfg, who, m, true, true)?;
            let ward_code = m.get_sub("PV1", 3, 1, 1);
            if ward_code.is_empty() {
                return Ok(applied("pre-admission recorded (no ward yet)"));
            }
            let ward = location(c, cfg, "PV1-3", &ward_code)?;
            let needed = hl7::parse_ts_in(&m.get("PV2", 8, 1), hl7_timezone(cfg));
            admit(c, cfg, who, m, ward, &p, "routine", needed, "pre-admission")
        }
        ("ADT", "A08") => {
            let p = patient(c, cfg, who, m, true, true)?;
            Ok(applied(format!("patient {} updated", p.id)))
        }
        ("ADT", "A11") => {
            let p = patient(c, cfg, who, m, false, false)?;
            let ids = open_adt_requests(c, p.id, "adt")?;
            for &id in &ids {
                requests::set_state(c, who, id, "cancelled", None, "admission cancelled (A11)")?;
            }
            Ok(applied(format!(
                "admission cancelled; {} request(s) cancelled",
                ids.len()
            )))
        }
        ("ADT", "A12") => {
            let p = patient(c, cfg, who, m, false, false)?;
            // HL7 v2 chapter 3 (A12): PV1-3 is where the patient was before the cancelled
            // transfer, which is where the notes go back to; PV1-6 is the cancelled ward.
            let back = location(c, cfg, "PV1-3", &m.get_sub("PV1", 3, 1, 1))?;
            admit(
                c,
                cfg,
                who,
                m,
                back,
                &p,
                "urgent",
                None,
                "transfer cancelled",
            )
        }
        ("ADT", "A13") => {
            let p = patient(c, cfg, who, m, false, false)?;
            for id in open_adt_requests(c, p.id, "adt_discharge")? {
                requests::set_state(c, who, id, "cancelled", None, "discharge cancelled (A13)")?;
            }
            let last: Option<i64> = c
                .query_row(
                    "SELECT id FROM requests WHERE patient_id=?1 AND source='adt' AND close_reason='discharged' ORDER BY closed_at DESC, id DESC LIMIT 1",
                    [p.id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = last {
                requests::reopen(c, who, id, "discharge cancelled (A13)")?;
            }
            Ok(applied("discharge cancelled"))
        }
        ("ADT", "A40") => {
            let survivor = pid_number(m, "PID", 3, &number_rules(cfg))?;
            let retired = pid_number(m, "MRG", 1, &number_rules(cfg))?;
            // An unknown retired record is MRG-1's fault, not PID-3's.
            if find_patient(c, &retired)?.is_none() {
                return Err(Error::invalid(
                    "MRG-1",
                    format!("no patient with {} is registered", describe(&retired)),
                ));
            }
            let (retired, survivor) = (retired.as_str(), survivor.as_str());
            let reason = format!("HL7 A40 merge, message {}", m.control_id());
            let out = crate::workflow::requests::merge_patients(c, who, retired, survivor, &reason)
                .map_err(|e| match e {
                    Error::Invalid { field, message } => Error::invalid(
                        match field.as_str() {
                            "retired" => "MRG-1",
                            _ => "PID-3",
                        },
                        message,
                    ),
                    Error::NotFound { what } => {
                        Error::invalid("PID-3", format!("no patient: {what} not found"))
                    }
                    e => e,
                })?;
            Ok(applied(format!(
                "merged patient {} into {}; {} folder(s) moved",
                out.retired.id,
                out.survivor.id,
                out.folders_moved.len()
            )))
        }
        ("SIU", t) => siu(c, cfg, who, m, t),
        (mt, t) => Err(Error::invalid(
            "MSH-9",
            format!("{mt}^{t} is not supported"),
        )),
    }
}

fn siu(c: &Connection, cfg: &Config, who: &Principal, m: &Message, t: &str) -> Result<Applied> {
    let ext = [m.get("SCH", 2, 1), m.get("SCH", 1, 1)]
        .into_iter()
        .find(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid("SCH-1", "is required: the appointment id"))?;
    let existing = appointments::by_external_id(c, &ext)?;
    let slot = || -> Result<(i64, i64, i64)> {
        let start = [m.get("AIS", 4, 1), m.get("AIL", 6, 1), m.get("SCH", 11, 4)]
            .iter()
            .find_map(|s| hl7::parse_ts_in(s, hl7_timezone(cfg)))
            .ok_or_else(|| {
                Error::invalid("SCH-11", "is required: the appointment start (or AIS-4)")
            })?;
        let minutes = [m.get("AIS", 7, 1), m.get("SCH", 9, 1)]
            .iter()
            .find_map(|s| s.parse::<i64>().ok())
            .unwrap_or(15);
        let clinic = location(c, cfg, "AIL-3", &m.get_sub("AIL", 3, 1, 1))?;
        let session = appointments::session_for(c, clinic, start, minutes)?;
        Ok((session, start, minutes))
    };
    // An existing booking changes only for the patient it was made for (or the survivor of a
    // merge of that patient): a message naming someone else must not touch it.
    let known = |e: Option<i64>| -> Result<i64> {
        let id =
            e.ok_or_else(|| Error::invalid("SCH-2", format!("no appointment {ext:?} is known")))?;
        let booked = patients::get(c, appointments::get(c, id)?.patient_id)?;
        let booked = match booked.merged_into {
            Some(s) => s,
            None => booked.id,
        };
        let named = patient(c, cfg, who, m, false, false)?;
        if named.id != booked {
            return Err(Error::invalid(
                "PID-3",
                format!("appointment {ext:?} is booked for another patient"),
            ));
        }
        Ok(id)
    };
    match t {
        "S12" => {
            let p = patient(c, cfg, who, m, true, true)?;
            let (session, start, minutes) = slot()?;
            let id = match existing {
                Some(id) => {
                    appointments::move_to(c, who, id, session, start, Some(minutes), "S12 resent")?;
                    id
                }
                None => appointments::insert(c, who, p.id, session, start, minutes, Some(&ext))?,
            };
            Ok(applied(format!("appointment {id} booked")))
        }
        "S13" | "S14" => {
            let id = known(existing)?;
            let (session, start, minutes) = slot()?;
            let why = if t == "S13" {
                "rescheduled"
            } else {
                "modified"
            };
            appointments::move_to(c, who, id, session, start, Some(minutes), why)?;
            Ok(applied(format!("appointment {id} {why}")))
        }
        "S15" => {
            let id = known(existing)?;
            appointments::set_status(c, who, id, "cancelled", "cancelled (S15)")?;
            Ok(applied(format!("appointment {id} cancelled")))
        }
        "S26" => {
            let id = known(existing)?;
            appointments::set_status(c, who, id, "no_show", "no-show (S26)")?;
            Ok(applied(format!("appointment {id} marked no-show")))
        }
        _ => Err(Error::invalid("MSH-9", format!("SIU^{t} is not supported"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resend_has_the_same_content_hash_and_another_message_does_not() {
        let m = |t: &str| hl7::parse(t).unwrap();
        let a = "MSH|^~\\&|PAS|GGC|T|T|20261125090000||ADT^A01|7|P|2.5\rPID|||1904851231^^^CHI\rPV1||I|W5";
        let h = content_hash(&m(a));
        // sent again later, with LF or CRLF segment ends: the same message
        assert_eq!(
            content_hash(&m(&a.replace("20261125090000", "20261125093000"))),
            h
        );
        assert_eq!(content_hash(&m(&a.replace('\r', "\n"))), h);
        assert_eq!(content_hash(&m(&a.replace('\r', "\r\n"))), h);
        // another ward, another patient, another facility: another message
        assert_ne!(content_hash(&m(&a.replace("W5", "W6"))), h);
        assert_ne!(content_hash(&m(&a.replace("1904851231", "0101011237"))), h);
        assert_ne!(content_hash(&m(&a.replace("|GGC|", "|LOTH|"))), h);
    }

    #[test]
    fn the_chi_is_found_whichever_repetition_carries_it() {
        let pid = |f2: &str, f3: &str| {
            hl7::parse(&format!(
                "MSH|^~\\&|A|B|C|D|2026||ADT^A08|1|P|2.3\rPID||{f2}|{f3}"
            ))
            .unwrap()
        };
        let chi = |m: &Message| pid_chi(m, "PID", 3);
        // the hospital number first, the CHI marked by a Scottish authority code
        assert_eq!(
            chi(&pid("", "K123456^^^GGC^MR~1904851231^^^NNSCO^NH")).unwrap(),
            "1904851231"
        );
        // the authority as an HD with an OID
        assert_eq!(
            chi(&pid(
                "",
                "K123456^^^GGC^MR~1904851231^^^CHI&2.16.840.1.113883.2.8&ISO"
            ))
            .unwrap(),
            "1904851231"
        );
        // unmarked, but a valid CHI, after the hospital number
        assert_eq!(
            chi(&pid("", "K123456^^^GGC^MR~1904851231")).unwrap(),
            "1904851231"
        );
        // v2.3: the CHI in PID-2
        assert_eq!(
            chi(&pid("1904851231", "K123456^^^GGC^MR")).unwrap(),
            "1904851231"
        );
        // configured authorities
        let m = pid("", "K1^^^GGC^MR~1904851231^^^SCICHI^PI");
        assert_eq!(
            pid_chi_with(&m, "PID", 3, &["SCICHI".into()]).unwrap(),
            "1904851231"
        );
        // nothing valid: the refusal says what was looked for and where
        let e = chi(&pid("", "K123456^^^GGC^MR")).unwrap_err().to_string();
        assert!(e.starts_with("PID-3:"), "{e}");
        assert!(e.contains("looked in PID-3 and PID-2"), "{e}");
        assert!(e.contains("CHI, NNSCO"), "{e}");
    }

    #[test]
    fn chi_from_pid3() {
        let m = hl7::parse(
            "MSH|^~\\&|A|B|C|D|2026||ADT^A08|1|P|2.5\rPID|||123^^^HOSP^MR~1904851231^^^CHI^NH",
        )
        .unwrap();
        assert_eq!(pid_chi(&m, "PID", 3).unwrap(), "1904851231");
        let m = hl7::parse("MSH|^~\\&|A|B|C|D|2026||ADT^A08|1|P|2.5\rPID|||1904851232").unwrap();
        let e = pid_chi(&m, "PID", 3).unwrap_err().to_string();
        assert!(e.starts_with("PID-3:"), "{e}");
        let (code, ae, _) = error_ack(&pid_chi(&m, "PID", 3).unwrap_err());
        assert_eq!(code, AckCode::AE);
        assert_eq!(ae.location, Some(("PID".into(), 3)));
        let m = hl7::parse("MSH|^~\\&|A|B|C|D|2026||ADT^A08|1|P|2.5\rPID|||").unwrap();
        let (_, ae, _) = error_ack(&pid_chi(&m, "PID", 3).unwrap_err());
        assert_eq!(ae.code, err::REQUIRED_FIELD_MISSING);
    }
}
