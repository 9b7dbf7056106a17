//! LLRP (EPCglobal Low Level Reader Protocol, TCP 5084), the subset a portal needs.
//!
//! Message header (10 bytes): `[rsvd:3 ver:3 type:10][length u32][message id u32]`, version 1
//! so the first byte is 0x04. Parameters are TLV (`[rsvd:6 type:10][length u16]`, length
//! including the 4-byte header) or TV (`[1 type:7][fixed-size value]`).
//!
//! The bridge sends DELETE_ROSPEC, ADD_ROSPEC, ENABLE_ROSPEC, START_ROSPEC and
//! ENABLE_EVENTS_AND_REPORTS, answers KEEPALIVE with KEEPALIVE_ACK, and reads tags from
//! RO_ACCESS_REPORT / TagReportData (EPC-96 TV 13 or EPCData TLV 241, AntennaID TV 1,
//! PeakRSSI TV 6, FirstSeenTimestampUTC TV 2). READER_EVENT_NOTIFICATION is read for what a
//! portal needs to say why it stopped: ConnectionAttemptEvent (another client holds the
//! reader), ConnectionCloseEvent, AntennaEvent (an antenna unplugged) and ReaderExceptionEvent.
//! ERROR_MESSAGE and failed responses are named by their LLRPStatus code (LLRP 1.1 §14).

use super::TagRead;

pub const HEADER_LEN: usize = 10;
pub const VERSION: u16 = 1;
/// Largest message accepted (a report of thousands of tags fits comfortably).
pub const MAX_MESSAGE: u32 = 16 * 1024 * 1024;

pub const ADD_ROSPEC: u16 = 20;
pub const DELETE_ROSPEC: u16 = 21;
pub const START_ROSPEC: u16 = 22;
pub const ENABLE_ROSPEC: u16 = 24;
pub const ADD_ROSPEC_RESPONSE: u16 = 30;
pub const DELETE_ROSPEC_RESPONSE: u16 = 31;
pub const START_ROSPEC_RESPONSE: u16 = 32;
pub const ENABLE_ROSPEC_RESPONSE: u16 = 34;
pub const RO_ACCESS_REPORT: u16 = 61;
pub const KEEPALIVE: u16 = 62;
pub const READER_EVENT_NOTIFICATION: u16 = 63;
pub const ENABLE_EVENTS_AND_REPORTS: u16 = 64;
pub const KEEPALIVE_ACK: u16 = 72;
pub const ERROR_MESSAGE: u16 = 100;

pub const P_ROSPEC: u16 = 177;
pub const P_RO_BOUNDARY_SPEC: u16 = 178;
pub const P_ROSPEC_START_TRIGGER: u16 = 179;
pub const P_ROSPEC_STOP_TRIGGER: u16 = 182;
pub const P_AISPEC: u16 = 183;
pub const P_AISPEC_STOP_TRIGGER: u16 = 184;
pub const P_INVENTORY_PARAMETER_SPEC: u16 = 186;
pub const P_RO_REPORT_SPEC: u16 = 237;
pub const P_TAG_REPORT_CONTENT_SELECTOR: u16 = 238;
pub const P_TAG_REPORT_DATA: u16 = 240;
pub const P_EPC_DATA: u16 = 241;
pub const P_LLRP_STATUS: u16 = 287;
pub const P_READER_EVENT_NOTIFICATION_DATA: u16 = 246;
pub const P_READER_EXCEPTION_EVENT: u16 = 252;
pub const P_ANTENNA_EVENT: u16 = 255;
pub const P_CONNECTION_ATTEMPT_EVENT: u16 = 256;
pub const P_CONNECTION_CLOSE_EVENT: u16 = 257;

pub const TV_ANTENNA_ID: u8 = 1;
pub const TV_PEAK_RSSI: u8 = 6;
/// FirstSeenTimestampUTC: microseconds since 1970-01-01 UTC by the reader's clock.
pub const TV_FIRST_SEEN_UTC: u8 = 2;
pub const TV_EPC96: u8 = 13;

/// Errors that mean the stream can no longer be trusted (the device reconnects).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlrpError {
    #[error("LLRP version {0} is not supported (expected 1)")]
    Version(u8),
    #[error("LLRP message length {0} is out of range")]
    Length(u32),
    #[error("malformed parameter in message type {0}")]
    Parameter(u16),
    #[error("unknown TV parameter type {0} in a tag report")]
    UnknownTv(u8),
}

/// An event in a READER_EVENT_NOTIFICATION.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// ConnectionAttemptEvent status: 0 success, 1 a reader-initiated connection already
    /// exists, 2 a client-initiated connection already exists, 3 failed for another reason,
    /// 4 another connection was attempted (sent to the client already connected).
    ConnectionAttempt(u16),
    /// The reader is closing the connection.
    ConnectionClose,
    /// An antenna was connected or disconnected.
    Antenna { antenna: u16, connected: bool },
    /// The reader reports an exception, in its words.
    ReaderException(String),
    /// Another event (hopping, GPI, ROSpec, AISpec, buffer level...): not needed here.
    Other(u16),
}

/// The name of an LLRPStatus code (LLRP 1.1 §14.2.3.1 StatusCode).
pub fn status_name(code: u16) -> &'static str {
    match code {
        0 => "M_Success",
        100 => "M_ParameterError",
        101 => "M_FieldError",
        102 => "M_UnexpectedParameter",
        103 => "M_MissingParameter",
        104 => "M_DuplicateParameter",
        105 => "M_OverflowParameter",
        106 => "M_OverflowField",
        107 => "M_UnknownParameter",
        108 => "M_UnknownField",
        109 => "M_UnsupportedMessage",
        110 => "M_UnsupportedVersion",
        111 => "M_UnsupportedParameter",
        200 => "P_ParameterError",
        201 => "P_FieldError",
        202 => "P_UnexpectedParameter",
        203 => "P_MissingParameter",
        204 => "P_DuplicateParameter",
        205 => "P_OverflowParameter",
        206 => "P_OverflowField",
        207 => "P_UnknownParameter",
        208 => "P_UnknownField",
        209 => "P_UnsupportedParameter",
        300 => "A_Invalid",
        301 => "A_OutOfRange",
        401 => "R_DeviceError",
        _ => "unknown status",
    }
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlrpMessage {
    RoAccessReport {
        id: u32,
        tags: Vec<TagRead>,
    },
    Keepalive {
        id: u32,
    },
    ReaderEventNotification {
        id: u32,
        events: Vec<ReaderEvent>,
    },
    /// Any *_RESPONSE or ERROR_MESSAGE with its LLRPStatus code (0 = success).
    Response {
        msg_type: u16,
        id: u32,
        status: u16,
        description: String,
    },
    Other {
        msg_type: u16,
        id: u32,
    },
}

/// Size of a TV parameter's value, by type.
fn tv_len(t: u8) -> Option<usize> {
    Some(match t {
        1 => 2,
        2..=5 => 8,
        6 => 1,
        7 | 8 | 10 | 11 | 12 | 14 | 15 | 17 | 19 | 20 => 2,
        9 | 16 | 18 => 4,
        13 => 12,
        _ => return None,
    })
}

/// Encode a whole message.
pub fn message(msg_type: u16, id: u32, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_LEN + body.len());
    m.extend_from_slice(&((VERSION << 10) | (msg_type & 0x3FF)).to_be_bytes());
    m.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_be_bytes());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// Encode a TLV parameter.
pub fn tlv(t: u16, value: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + value.len());
    p.extend_from_slice(&(t & 0x3FF).to_be_bytes());
    p.extend_from_slice(&((4 + value.len()) as u16).to_be_bytes());
    p.extend_from_slice(value);
    p
}

/// What the ROSpec asks the reader to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoSpecParams {
    pub rospec_id: u32,
    /// Antenna ports to use; empty = all.
    pub antennas: Vec<u16>,
    /// Send a report after this many tags (1 = lowest latency).
    pub report_every_n_tags: u16,
}

/// ADD_ROSPEC: immediate-start-on-START_ROSPEC, runs until stopped, continuous inventory on
/// the given antennas, reports with AntennaID, PeakRSSI and FirstSeenTimestamp.
pub fn add_rospec(id: u32, p: &RoSpecParams) -> Vec<u8> {
    let start_trigger = tlv(P_ROSPEC_START_TRIGGER, &[0]); // null: wait for START_ROSPEC
    let mut stop = vec![0u8]; // null stop trigger
    stop.extend_from_slice(&0u32.to_be_bytes());
    let stop_trigger = tlv(P_ROSPEC_STOP_TRIGGER, &stop);
    let boundary = tlv(P_RO_BOUNDARY_SPEC, &[start_trigger, stop_trigger].concat());

    let antennas: Vec<u16> = if p.antennas.is_empty() {
        vec![0]
    } else {
        p.antennas.clone()
    };
    let mut ai = (antennas.len() as u16).to_be_bytes().to_vec();
    for a in &antennas {
        ai.extend_from_slice(&a.to_be_bytes());
    }
    let mut ai_stop = vec![0u8];
    ai_stop.extend_from_slice(&0u32.to_be_bytes());
    ai.extend(tlv(P_AISPEC_STOP_TRIGGER, &ai_stop));
    ai.extend(tlv(P_INVENTORY_PARAMETER_SPEC, &[0, 1, 1])); // id 1, EPCglobal C1G2
    let aispec = tlv(P_AISPEC, &ai);

    // AntennaID (bit 12), PeakRSSI (bit 10), FirstSeenTimestamp (bit 9)
    let selector: u16 = (1 << 12) | (1 << 10) | (1 << 9);
    let mut rep = vec![1u8]; // upon N tags or end of AISpec
    rep.extend_from_slice(&p.report_every_n_tags.to_be_bytes());
    rep.extend(tlv(P_TAG_REPORT_CONTENT_SELECTOR, &selector.to_be_bytes()));
    let report = tlv(P_RO_REPORT_SPEC, &rep);

    let mut spec = p.rospec_id.to_be_bytes().to_vec();
    spec.extend_from_slice(&[0, 0]); // priority 0, state disabled
    spec.extend(boundary);
    spec.extend(aispec);
    spec.extend(report);
    message(ADD_ROSPEC, id, &tlv(P_ROSPEC, &spec))
}

pub fn enable_rospec(id: u32, rospec_id: u32) -> Vec<u8> {
    message(ENABLE_ROSPEC, id, &rospec_id.to_be_bytes())
}

pub fn start_rospec(id: u32, rospec_id: u32) -> Vec<u8> {
    message(START_ROSPEC, id, &rospec_id.to_be_bytes())
}

/// DELETE_ROSPEC; `rospec_id` 0 deletes every ROSpec on the reader.
pub fn delete_rospec(id: u32, rospec_id: u32) -> Vec<u8> {
    message(DELETE_ROSPEC, id, &rospec_id.to_be_bytes())
}

pub fn keepalive_ack(id: u32) -> Vec<u8> {
    message(KEEPALIVE_ACK, id, &[])
}

pub fn enable_events_and_reports(id: u32) -> Vec<u8> {
    message(ENABLE_EVENTS_AND_REPORTS, id, &[])
}

/// Reader side (tests and simulator): KEEPALIVE.
pub fn keepalive(id: u32) -> Vec<u8> {
    message(KEEPALIVE, id, &[])
}

/// Reader side: a response carrying LLRPStatus.
pub fn response(msg_type: u16, id: u32, status: u16, description: &str) -> Vec<u8> {
    let mut v = status.to_be_bytes().to_vec();
    v.extend_from_slice(&(description.len() as u16).to_be_bytes());
    v.extend_from_slice(description.as_bytes());
    message(msg_type, id, &tlv(P_LLRP_STATUS, &v))
}

/// Reader side: RO_ACCESS_REPORT with one TagReportData per read (EPC-96 TV for 12-byte EPCs,
/// EPCData TLV otherwise).
pub fn ro_access_report(id: u32, tags: &[TagRead]) -> Vec<u8> {
    let mut body = Vec::new();
    for t in tags {
        let mut d = Vec::new();
        if t.epc.len() == 12 {
            d.push(0x80 | TV_EPC96);
            d.extend_from_slice(&t.epc);
        } else {
            let mut v = ((t.epc.len() * 8) as u16).to_be_bytes().to_vec();
            v.extend_from_slice(&t.epc);
            d.extend(tlv(P_EPC_DATA, &v));
        }
        d.push(0x80 | TV_ANTENNA_ID);
        d.extend_from_slice(&t.antenna.to_be_bytes());
        if let Some(r) = t.rssi_dbm {
            d.push(0x80 | TV_PEAK_RSSI);
            d.push(r.clamp(-128, 127) as i8 as u8);
        }
        if let Some(us) = t.seen_at_us {
            d.push(0x80 | TV_FIRST_SEEN_UTC);
            d.extend_from_slice(&us.to_be_bytes());
        }
        body.extend(tlv(P_TAG_REPORT_DATA, &d));
    }
    message(RO_ACCESS_REPORT, id, &body)
}

/// Incremental message decoder.
#[derive(Debug, Default)]
pub struct LlrpDecoder {
    buf: Vec<u8>,
    /// Skipping bytes that are not a header (reported once per run of them).
    lost_sync: bool,
}

impl LlrpDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feed bytes; every message decoded, in order. A message whose body is corrupt is one
    /// `Err` among the good ones (its length still frames it). Bytes that are not a header
    /// (wrong version, impossible length) are one `Err`, then the decoder resynchronises on the
    /// next plausible header, so good messages after a corrupt one in the same read are
    /// still delivered.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<LlrpMessage, LlrpError>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while self.buf.len() - start >= HEADER_LEN {
            let h = &self.buf[start..];
            let word = u16::from_be_bytes([h[0], h[1]]);
            let version = ((word >> 10) & 7) as u8;
            let msg_type = word & 0x3FF;
            let len = u32::from_be_bytes([h[2], h[3], h[4], h[5]]);
            let id = u32::from_be_bytes([h[6], h[7], h[8], h[9]]);
            let bad = if version != 1 {
                Some(LlrpError::Version(version))
            } else if (len as usize) < HEADER_LEN || len > MAX_MESSAGE {
                Some(LlrpError::Length(len))
            } else {
                None
            };
            if let Some(e) = bad {
                // one error per run of garbage, then look for the next header byte by byte
                if !self.lost_sync {
                    out.push(Err(e));
                    self.lost_sync = true;
                }
                start += 1;
                continue;
            }
            self.lost_sync = false;
            if h.len() < len as usize {
                break; // truncated
            }
            out.push(decode_body(msg_type, id, &h[HEADER_LEN..len as usize]));
            start += len as usize;
        }
        self.buf.drain(..start);
        out
    }
}

fn decode_body(msg_type: u16, id: u32, body: &[u8]) -> Result<LlrpMessage, LlrpError> {
    Ok(match msg_type {
        RO_ACCESS_REPORT => {
            let mut tags = Vec::new();
            for (t, v) in tlvs(body, msg_type)? {
                if t == P_TAG_REPORT_DATA {
                    if let Some(tag) = tag_report(v, msg_type)? {
                        tags.push(tag);
                    }
                }
            }
            LlrpMessage::RoAccessReport { id, tags }
        }
        KEEPALIVE => LlrpMessage::Keepalive { id },
        READER_EVENT_NOTIFICATION => {
            let mut events = Vec::new();
            for (t, v) in tlvs(body, msg_type)? {
                if t == P_READER_EVENT_NOTIFICATION_DATA {
                    events.extend(reader_events(v, msg_type)?);
                }
            }
            LlrpMessage::ReaderEventNotification { id, events }
        }
        t if (30..=60).contains(&t) || t == ERROR_MESSAGE || t == 13 || t == 12 => {
            let mut status = 0;
            let mut description = String::new();
            for (pt, v) in tlvs(body, msg_type)? {
                if pt == P_LLRP_STATUS && v.len() >= 4 {
                    status = u16::from_be_bytes([v[0], v[1]]);
                    let n = u16::from_be_bytes([v[2], v[3]]) as usize;
                    let text = v.get(4..4 + n).ok_or(LlrpError::Parameter(msg_type))?;
                    description = String::from_utf8_lossy(text).into_owned();
                }
            }
            LlrpMessage::Response {
                msg_type,
                id,
                status,
                description,
            }
        }
        _ => LlrpMessage::Other { msg_type, id },
    })
}

/// The events in a ReaderEventNotificationData (its timestamp is skipped).
fn reader_events(b: &[u8], msg_type: u16) -> Result<Vec<ReaderEvent>, LlrpError> {
    let bad = || LlrpError::Parameter(msg_type);
    let mut out = Vec::new();
    for (t, v) in tlvs(b, msg_type)? {
        out.push(match t {
            // UTCTimestamp (128) / Uptime (129)
            128 | 129 => continue,
            P_CONNECTION_ATTEMPT_EVENT => {
                let s = v.get(..2).ok_or_else(bad)?;
                ReaderEvent::ConnectionAttempt(u16::from_be_bytes([s[0], s[1]]))
            }
            P_CONNECTION_CLOSE_EVENT => ReaderEvent::ConnectionClose,
            P_ANTENNA_EVENT => {
                let s = v.get(..3).ok_or_else(bad)?;
                ReaderEvent::Antenna {
                    connected: s[0] == 1,
                    antenna: u16::from_be_bytes([s[1], s[2]]),
                }
            }
            P_READER_EXCEPTION_EVENT => {
                let n = v.get(..2).ok_or_else(bad)?;
                let n = u16::from_be_bytes([n[0], n[1]]) as usize;
                let text = v.get(2..2 + n).ok_or_else(bad)?;
                ReaderEvent::ReaderException(String::from_utf8_lossy(text).into_owned())
            }
            other => ReaderEvent::Other(other),
        });
    }
    Ok(out)
}

/// Split a run of TLV parameters (TV parameters at this level are skipped where known).
fn tlvs(mut b: &[u8], msg_type: u16) -> Result<Vec<(u16, &[u8])>, LlrpError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b[0] & 0x80 != 0 {
            let n = tv_len(b[0] & 0x7F).ok_or(LlrpError::UnknownTv(b[0] & 0x7F))?;
            b = b.get(1 + n..).ok_or(LlrpError::Parameter(msg_type))?;
            continue;
        }
        if b.len() < 4 {
            return Err(LlrpError::Parameter(msg_type));
        }
        let t = u16::from_be_bytes([b[0], b[1]]) & 0x3FF;
        let len = u16::from_be_bytes([b[2], b[3]]) as usize;
        if len < 4 || len > b.len() {
            return Err(LlrpError::Parameter(msg_type));
        }
        out.push((t, &b[4..len]));
        b = &b[len..];
    }
    Ok(out)
}

fn tag_report(mut b: &[u8], msg_type: u16) -> Result<Option<TagRead>, LlrpError> {
    let mut epc = None;
    let mut antenna = 0u16;
    let mut rssi = None;
    let mut seen_at_us = None;
    while !b.is_empty() {
        if b[0] & 0x80 != 0 {
            let t = b[0] & 0x7F;
            let n = tv_len(t).ok_or(LlrpError::UnknownTv(t))?;
            let v = b.get(1..1 + n).ok_or(LlrpError::Parameter(msg_type))?;
            match t {
                TV_EPC96 => epc = Some(v.to_vec()),
                TV_ANTENNA_ID => antenna = u16::from_be_bytes([v[0], v[1]]),
                TV_PEAK_RSSI => rssi = Some(v[0] as i8 as i16),
                // microseconds since the Unix epoch, by the reader's clock
                TV_FIRST_SEEN_UTC => {
                    seen_at_us = v.try_into().ok().map(u64::from_be_bytes);
                }
                _ => {}
            }
            b = &b[1 + n..];
        } else {
            if b.len() < 4 {
                return Err(LlrpError::Parameter(msg_type));
            }
            let t = u16::from_be_bytes([b[0], b[1]]) & 0x3FF;
            let len = u16::from_be_bytes([b[2], b[3]]) as usize;
            if len < 4 || len > b.len() {
                return Err(LlrpError::Parameter(msg_type));
            }
            if t == P_EPC_DATA && len >= 6 {
                let bits = u16::from_be_bytes([b[4], b[5]]) as usize;
                let bytes = bits.div_ceil(8);
                let v = b.get(6..6 + bytes).ok_or(LlrpError::Parameter(msg_type))?;
                epc = Some(v.to_vec());
            }
            b = &b[len..];
        }
    }
    Ok(epc.map(|epc| TagRead {
        epc,
        antenna,
        rssi_dbm: rssi,
        seen_at_us,
    }))
}

/// An LLRP reader as a [`super::ProtocolSession`]: sets up and starts the ROSpec, answers
/// keepalives, and ends the connection when the reader refuses a message or falls silent.
pub struct LlrpSession {
    dec: LlrpDecoder,
    params: RoSpecParams,
    /// Seconds of silence after which the connection is given up (0 = never).
    silence_timeout_s: u64,
}

impl LlrpSession {
    pub fn new(params: RoSpecParams, silence_timeout_s: u64) -> Self {
        Self {
            dec: LlrpDecoder::new(),
            params,
            silence_timeout_s,
        }
    }
}

impl super::ProtocolSession for LlrpSession {
    fn start(&mut self, _now_ms: u64) -> Vec<u8> {
        let id = self.params.rospec_id;
        let mut b = delete_rospec(1, 0);
        b.extend(add_rospec(2, &self.params));
        b.extend(enable_rospec(3, id));
        b.extend(start_rospec(4, id));
        b.extend(enable_events_and_reports(5));
        b
    }

    fn feed(
        &mut self,
        bytes: &[u8],
        _now_ms: u64,
        idle_ms: u64,
        out: &mut Vec<super::Step>,
    ) -> Result<(), super::SessionFault> {
        let silence = self.silence_timeout_s;
        if silence > 0 && idle_ms > silence * 1000 {
            return Err(super::SessionFault(format!(
                "reader silent for {silence} s"
            )));
        }
        for m in self.dec.push(bytes) {
            let m = match m {
                Ok(m) => m,
                // Counted and skipped; the messages around it are still delivered.
                Err(e) => {
                    out.push(super::Step::Corrupt(format!(
                        "corrupt LLRP message dropped: {e}"
                    )));
                    continue;
                }
            };
            match m {
                LlrpMessage::RoAccessReport { tags, .. } => {
                    out.extend(tags.into_iter().map(super::Step::Tag))
                }
                LlrpMessage::Keepalive { id } => out.push(super::Step::Send(keepalive_ack(id))),
                // An ERROR_MESSAGE answers a message the reader could not take; the ROSpec
                // may still run, so it is reported, not fatal.
                LlrpMessage::Response {
                    msg_type: ERROR_MESSAGE,
                    status,
                    description,
                    ..
                } => out.push(super::Step::ReaderError(format!(
                    "reader ERROR_MESSAGE: status {status} {} {description}",
                    status_name(status)
                ))),
                LlrpMessage::Response {
                    msg_type,
                    status,
                    description,
                    ..
                } => {
                    if status != 0 && msg_type != DELETE_ROSPEC_RESPONSE {
                        return Err(super::SessionFault(format!(
                            "reader refused message type {msg_type}: status {status} {} {description}",
                            status_name(status)
                        )));
                    }
                }
                LlrpMessage::ReaderEventNotification { events, .. } => {
                    for e in events {
                        reader_event(e, out)?;
                    }
                }
                LlrpMessage::Other { .. } => {}
            }
        }
        Ok(())
    }
}

/// What a reader event means for the connection.
fn reader_event(e: ReaderEvent, out: &mut Vec<super::Step>) -> Result<(), super::SessionFault> {
    use super::{SessionFault, Step};
    match e {
        ReaderEvent::ConnectionAttempt(0) => {
            out.push(Step::Debug("the reader accepted the connection".into()))
        }
        ReaderEvent::ConnectionAttempt(1 | 2) => {
            return Err(SessionFault(
                "another LLRP client is connected to the reader and holds it (ConnectionAttemptEvent: a connection already exists); stop the other program (ItemTest, MultiReader, another bridge)".into(),
            ))
        }
        ReaderEvent::ConnectionAttempt(4) => out.push(Step::Warn(
            "another LLRP client tried to connect to this reader (ConnectionAttemptEvent: another connection attempted); the bridge keeps the connection".into(),
        )),
        ReaderEvent::ConnectionAttempt(s) => {
            return Err(SessionFault(format!(
                "the reader refused the connection (ConnectionAttemptEvent status {s})"
            )))
        }
        ReaderEvent::ConnectionClose => out.push(Step::Warn(
            "the reader is closing the connection (ConnectionCloseEvent)".into(),
        )),
        ReaderEvent::Antenna {
            antenna,
            connected: false,
        } => out.push(Step::ReaderError(format!("antenna {antenna} disconnected (AntennaEvent)"))),
        ReaderEvent::Antenna {
            antenna,
            connected: true,
        } => out.push(Step::Warn(format!("antenna {antenna} connected (AntennaEvent)"))),
        ReaderEvent::ReaderException(m) => {
            out.push(Step::ReaderError(format!("reader exception: {m}")))
        }
        ReaderEvent::Other(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epc() -> Vec<u8> {
        hex::decode("3434257BF400000000003039").unwrap()
    }

    #[test]
    fn header_and_encoders() {
        let k = keepalive_ack(7);
        assert_eq!(k, vec![0x04, 0x48, 0, 0, 0, 10, 0, 0, 0, 7]);
        assert_eq!(
            enable_rospec(2, 1),
            vec![0x04, 24, 0, 0, 0, 14, 0, 0, 0, 2, 0, 0, 0, 1]
        );
        assert_eq!(start_rospec(3, 1)[..2], [0x04, 22]);
        let add = add_rospec(
            1,
            &RoSpecParams {
                rospec_id: 1,
                antennas: vec![1, 2],
                report_every_n_tags: 1,
            },
        );
        assert_eq!(add[..2], [0x04, 20]);
        assert_eq!(
            u32::from_be_bytes(add[2..6].try_into().unwrap()) as usize,
            add.len()
        );
        // ROSpec TLV type 177 right after the header, its length covers the rest
        assert_eq!(u16::from_be_bytes([add[10], add[11]]), P_ROSPEC);
        assert_eq!(
            u16::from_be_bytes([add[12], add[13]]) as usize,
            add.len() - 10
        );
    }

    /// READER_EVENT_NOTIFICATION as LLRP 1.1 §13.2.6 lays it out: ReaderEventNotificationData
    /// (246) holding a UTCTimestamp (128) and one event.
    #[test]
    fn reader_event_notifications() {
        use crate::frames::ProtocolSession;
        let rend = |event: &[u8]| {
            let mut d = vec![0x00, 0x80, 0x00, 0x0C, 0, 0, 0, 0, 0, 0, 0, 1]; // UTCTimestamp
            d.extend_from_slice(event);
            let mut p = vec![0x00, 0xF6];
            p.extend(((d.len() + 4) as u16).to_be_bytes());
            p.extend(d);
            let mut m = vec![0x04, 0x3F];
            m.extend(((p.len() + 10) as u32).to_be_bytes());
            m.extend([0, 0, 0, 0]);
            m.extend(p);
            m
        };
        let events = |m: Vec<u8>| match LlrpDecoder::new().push(&m).remove(0) {
            Ok(LlrpMessage::ReaderEventNotification { events, .. }) => events,
            other => panic!("{other:?}"),
        };
        // ConnectionAttemptEvent (256), status 2: a client initiated connection already exists
        let m = rend(&[0x01, 0x00, 0x00, 0x06, 0x00, 0x02]);
        assert_eq!(events(m.clone()), vec![ReaderEvent::ConnectionAttempt(2)]);
        let mut s = LlrpSession::new(
            RoSpecParams {
                rospec_id: 1,
                antennas: vec![1],
                report_every_n_tags: 1,
            },
            60,
        );
        let mut out = Vec::new();
        let e = s.feed(&m, 0, 0, &mut out).unwrap_err();
        assert!(e.0.contains("another LLRP client"), "{e}");
        // AntennaEvent (255): disconnected, antenna 2
        let m = rend(&[0x00, 0xFF, 0x00, 0x07, 0x00, 0x00, 0x02]);
        assert_eq!(
            events(m.clone()),
            vec![ReaderEvent::Antenna {
                antenna: 2,
                connected: false
            }]
        );
        let mut out = Vec::new();
        s.feed(&m, 0, 0, &mut out).unwrap();
        assert_eq!(
            out,
            vec![crate::frames::Step::ReaderError(
                "antenna 2 disconnected (AntennaEvent)".into()
            )]
        );
        // ReaderExceptionEvent (252): a UTF-8 message
        let m = rend(&[
            0x00, 0xFC, 0x00, 0x0B, 0x00, 0x05, b'h', b'o', b't', b' ', b'!',
        ]);
        assert_eq!(
            events(m),
            vec![ReaderEvent::ReaderException("hot !".into())]
        );
        // ERROR_MESSAGE (100) with LLRPStatus M_UnsupportedMessage: reported, not fatal
        let mut out = Vec::new();
        s.feed(&response(ERROR_MESSAGE, 9, 109, "no"), 0, 0, &mut out)
            .unwrap();
        assert_eq!(
            out,
            vec![crate::frames::Step::ReaderError(
                "reader ERROR_MESSAGE: status 109 M_UnsupportedMessage no".into()
            )]
        );
    }

    /// A hand-assembled RO_ACCESS_REPORT as an Impinj reader sends it.
    #[test]
    fn recorded_ro_access_report() {
        let mut trd = vec![0x8D];
        trd.extend(epc());
        trd.extend([0x81, 0x00, 0x02]); // AntennaID 2
        trd.extend([0x86, 0xC4]); // PeakRSSI -60
                                  // FirstSeenTimestampUTC, microseconds: 2026-12-04T09:00:00.123456Z
        trd.push(0x82);
        trd.extend(1_796_374_800_123_456u64.to_be_bytes());
        let mut body = vec![0x00, 0xF0];
        body.extend(((trd.len() + 4) as u16).to_be_bytes());
        body.extend(&trd);
        let mut msg = vec![0x04, 0x3D];
        msg.extend(((body.len() + 10) as u32).to_be_bytes());
        msg.extend([0, 0, 0, 9]);
        msg.extend(&body);
        let got = LlrpDecoder::new().push(&msg);
        assert_eq!(
            got,
            vec![Ok(LlrpMessage::RoAccessReport {
                id: 9,
                tags: vec![TagRead {
                    epc: epc(),
                    antenna: 2,
                    rssi_dbm: Some(-60),
                    seen_at_us: Some(1_796_374_800_123_456),
                }]
            })]
        );
    }

    #[test]
    fn roundtrip_split_and_epcdata() {
        let tags = vec![
            TagRead {
                epc: epc(),
                antenna: 1,
                rssi_dbm: Some(-55),
                seen_at_us: None,
            },
            TagRead {
                epc: vec![0xAB; 16],
                antenna: 2,
                rssi_dbm: None,
                seen_at_us: None,
            },
        ];
        let mut stream = keepalive(5);
        stream.extend(ro_access_report(6, &tags));
        stream.extend(response(ADD_ROSPEC_RESPONSE, 7, 0, "Success"));
        let mut d = LlrpDecoder::new();
        let mut got = Vec::new();
        for chunk in stream.chunks(7) {
            got.extend(d.push(chunk));
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Ok(LlrpMessage::Keepalive { id: 5 }));
        assert_eq!(got[1], Ok(LlrpMessage::RoAccessReport { id: 6, tags }));
        assert_eq!(
            got[2],
            Ok(LlrpMessage::Response {
                msg_type: ADD_ROSPEC_RESPONSE,
                id: 7,
                status: 0,
                description: "Success".into()
            })
        );
        assert_eq!(d.buffered(), 0);
    }

    /// Issue 13: one corrupt message in a TCP read must not take the good reports of the
    /// same read with it; the session counts it and goes on.
    #[test]
    fn a_corrupt_message_among_good_reports_is_dropped_alone() {
        use crate::frames::{ProtocolSession, Step};
        let tag = |b: u8| TagRead {
            epc: vec![b; 12],
            antenna: 1,
            rssi_dbm: Some(-50),
            seen_at_us: None,
        };
        let mut bytes = ro_access_report(1, &[tag(1)]);
        // a report whose TagReportData is cut short inside its EPC parameter
        let mut bad = ro_access_report(2, &[tag(2)]);
        let n = bad.len();
        bad[HEADER_LEN + 3] = 0xFF; // the TagReportData length now overruns the message
        bytes.extend(&bad[..n]);
        bytes.extend([
            0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]); // garbage
        bytes.extend(ro_access_report(3, &[tag(3)]));
        let params = RoSpecParams {
            rospec_id: 1,
            antennas: vec![],
            report_every_n_tags: 1,
        };
        let mut s = LlrpSession::new(params, 0);
        let mut out = Vec::new();
        s.feed(&bytes, 0, 0, &mut out)
            .expect("no fault for a corrupt message");
        let tags: Vec<u8> = out
            .iter()
            .filter_map(|st| match st {
                Step::Tag(t) => Some(t.epc[0]),
                _ => None,
            })
            .collect();
        assert_eq!(tags, [1, 3], "{out:?}");
        let corrupt = out
            .iter()
            .filter(|st| matches!(st, Step::Corrupt(_)))
            .count();
        assert_eq!(corrupt, 2, "the bad report and the garbage: {out:?}");
    }

    #[test]
    fn truncated_and_garbage() {
        let mut d = LlrpDecoder::new();
        let k = keepalive(1);
        assert!(d.push(&k[..9]).is_empty());
        assert_eq!(d.push(&k[9..]).len(), 1);
        // garbage: wrong version -> one error, then the next good message is found again
        let got = d.push(&[0xFF, 0xFF, 0, 0, 0, 10, 0, 0, 0, 1]);
        assert_eq!(got, vec![Err(LlrpError::Version(7))]);
        assert!(d.buffered() < HEADER_LEN);
        assert_eq!(
            d.push(&keepalive(2)),
            vec![Ok(LlrpMessage::Keepalive { id: 2 })]
        );
        let mut d = LlrpDecoder::new();
        let got = d.push(&[0x04, 0x3E, 0, 0, 0, 3, 0, 0, 0, 1]);
        assert_eq!(got, vec![Err(LlrpError::Length(3))]);
        // a tag report with a TLV whose length overruns
        let bad = message(RO_ACCESS_REPORT, 1, &[0x00, 0xF0, 0x00, 0x40, 0x8D]);
        assert_eq!(
            d.push(&bad),
            vec![Err(LlrpError::Parameter(RO_ACCESS_REPORT))]
        );
    }
}
