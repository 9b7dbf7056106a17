//! HL7 v2 conformance corpus (issue 12). Messages written for this project from the event
//! definitions of HL7 v2.5 chapter 3 (ADT: A01 admit, A02 transfer, A12 cancel transfer, A03
//! discharge, A13 cancel discharge, A11 cancel admit, A04 register, A40 merge) and chapter 10
//! (SIU: S12 book, S13 reschedule, S15 cancel, S26 no-show), in the shapes real feeds use:
//! versions 2.3 to 2.8, CR / LF / CRLF segment ends, a byte-order mark, every supported
//! character set with HL7 escapes, several identifiers in PID-3 (or the CHI in PID-2), HD and
//! FN sub-components, Z-segments, and missing optional fields.
//!
//! Each shape runs the whole sequence through the real MLLP listener with the PyPI `hl7`
//! client (`mllp_send`) as the peer, and checks the effect of every step over the HTTP API.

mod common;

use common::hl7::*;
use common::*;
use serde_json::Value;

/// How one feed writes its messages.
struct Shape {
    /// MSH-3, the sending application.
    sender: &'static str,
    version: &'static str,
    /// Segment terminator as sent (the standard says CR; engines send LF or CRLF too).
    end: &'static str,
    /// MSH-18; empty means the configured default (UTF-8).
    charset: &'static str,
    bom: bool,
    /// MSH-9 with the message structure (component 3), as v2.5 and later do.
    structure: bool,
    /// PID-2 and PID-3 for a CHI.
    ids: fn(&str) -> (String, String),
    /// PID-5 as written in the message, and the family and given names the tracker must store.
    name: (&'static str, &'static str, &'static str),
    /// PV1-3 for a ward code.
    ward: fn(&str) -> String,
    /// Z-segments (site extensions) after PID and at the end.
    z: bool,
    /// Optional fields (sex, visit number, EVN-2) left out.
    sparse: bool,
}

const CHI1: &str = "1904851231";
const DOB1: &str = "19850419";
const CHI2: &str = "0101011237";
const DOB2: &str = "20010101";

/// Bytes of `s` in the shape's character set (panics on a character the set cannot hold: a
/// defect in the corpus, not in the tracker).
fn encode(charset: &str, s: &str) -> Vec<u8> {
    match charset {
        "" | "UNICODE UTF-8" => s.as_bytes().to_vec(),
        "ASCII" => {
            assert!(s.is_ascii(), "{s}");
            s.as_bytes().to_vec()
        }
        "8859/1" => s
            .chars()
            .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
            .collect(),
        "8859/15" => s
            .chars()
            .map(|c| match c {
                '€' => 0xA4,
                'Š' => 0xA6,
                'š' => 0xA8,
                'Ž' => 0xB4,
                'ž' => 0xB8,
                'Œ' => 0xBC,
                'œ' => 0xBD,
                'Ÿ' => 0xBE,
                c => {
                    let b = u8::try_from(u32::from(c)).expect("a Latin-9 character");
                    assert!(
                        ![0xA4, 0xA6, 0xA8, 0xB4, 0xB8, 0xBC, 0xBD, 0xBE].contains(&b),
                        "{c} is not in ISO-8859-15"
                    );
                    b
                }
            })
            .collect(),
        other => panic!("no encoder for {other}"),
    }
}

impl Shape {
    fn msh(&self, ctl: &str, mtype: &str, event: &str, structure: &str) -> String {
        let t = if self.structure {
            format!("{mtype}^{event}^{structure}")
        } else {
            format!("{mtype}^{event}")
        };
        format!(
            "MSH|^~\\&|{}|GGC|CASENOTE|TRACKER|20261125090000||{t}|{ctl}|P|{}||||||{}",
            self.sender, self.version, self.charset
        )
    }

    fn pid(&self, chi: &str, dob: &str) -> String {
        let (pid2, pid3) = (self.ids)(chi);
        let (name, _, _) = self.name;
        let sex = if self.sparse { "" } else { "F" };
        format!("PID|1|{pid2}|{pid3}||{name}||{dob}|{sex}|||1 HIGH STREET^^GLASGOW^^G1 1AA")
    }

    /// PV1 with the assigned location (PV1-3), the prior location (PV1-6) and the visit
    /// number (PV1-19).
    fn pv1(&self, ward: &str, prior: Option<&str>) -> String {
        let mut f = vec![String::new(); 20];
        f[0] = "PV1".into();
        f[1] = "1".into();
        f[2] = "I".into();
        f[3] = (self.ward)(ward);
        f[6] = prior.map(|p| (self.ward)(p)).unwrap_or_default();
        f[19] = if self.sparse { "" } else { "V1" }.into();
        f.join("|")
    }

    /// One ADT message as bytes on the wire.
    fn adt(&self, ctl: &str, event: &str, structure: &str, chi: &str, tail: &[String]) -> Vec<u8> {
        let evn = if self.sparse {
            format!("EVN|{event}")
        } else {
            format!("EVN|{event}|20261125085900")
        };
        let dob = if chi == CHI1 { DOB1 } else { DOB2 };
        let mut segs = vec![
            self.msh(ctl, "ADT", event, structure),
            evn,
            self.pid(chi, dob),
        ];
        if self.z {
            segs.push("ZPI|1|Y|RELIGION^NONE".into());
        }
        segs.extend(tail.iter().cloned());
        if self.z {
            segs.push("ZPV|1|ROUTINE|BED 12".into());
        }
        self.wire(&segs)
    }

    /// One SIU message: SCH, PID, RGS, AIS, AIL, with the slot in local time.
    fn siu(&self, ctl: &str, event: &str, appt: &str, start: &str) -> Vec<u8> {
        let mut segs = vec![
            self.msh(ctl, "SIU", event, "SIU_S12"),
            format!("SCH|{appt}|{appt}-F|||||||20|min|^^^{start}"),
        ];
        if self.version >= "2.5" {
            segs.push(format!("TQ1|1||||||{start}"));
        }
        segs.push(self.pid(CHI1, DOB1));
        segs.push("RGS|1".into());
        segs.push(format!("AIS|1||CONS^Consultation|{start}|||20|min"));
        segs.push("AIL|1||CLINA^^^GGC".into());
        if self.z {
            segs.push("ZSC|1|FOLLOW-UP".into());
        }
        self.wire(&segs)
    }

    fn wire(&self, segs: &[String]) -> Vec<u8> {
        let mut out = if self.bom {
            b"\xEF\xBB\xBF".to_vec()
        } else {
            Vec::new()
        };
        out.extend(encode(self.charset, &segs.join(self.end)));
        out
    }
}

fn plain_chi(chi: &str) -> (String, String) {
    (String::new(), format!("{chi}^^^CHI^NH"))
}

/// Step outcome: ACK code, text.
async fn send(port: u16, m: Vec<u8>) -> Option<(String, String)> {
    let acks = mllp_send_bytes(port, &[m]).await?;
    Some(ack_code(&acks[0]))
}

/// The first number after `word ` in an ACK text ("request 3 for the notes ...").
fn id_after(text: &str, word: &str) -> i64 {
    let at = text
        .find(&format!("{word} "))
        .unwrap_or_else(|| panic!("no {word:?} in {text:?}"));
    text[at + word.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no id after {word:?} in {text:?}"))
}

async fn get(w: &World, path: &str) -> Value {
    w.s.ok_json(w.s.get(Some(&w.library), path).await).await
}

/// The whole sequence for one shape.
async fn run(shape: Shape) {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    let s = &shape;
    let pv1 = |ward: &str, prior: Option<&str>| vec![s.pv1(ward, prior)];

    // A01 admit to W5: a new patient, and a request for the notes on the ward.
    let Some((code, text)) =
        send(port, s.adt("C1", "A01", "ADT_A01", CHI1, &pv1("W5", None))).await
    else {
        return;
    };
    assert_eq!(code, "AA", "{}: A01: {text}", s.version);
    let adm = id_after(&text, "request");
    assert_eq!(w.request(adm).await["destination"]["code"], "LWARD5");
    let p = get(&w, &format!("/api/v1/patients/{CHI1}")).await;
    assert_eq!(p["patient"]["family_name"], s.name.1, "{}", s.version);
    assert_eq!(p["patient"]["given_name"], s.name.2, "{}", s.version);
    assert_eq!(p["patient"]["dob"], "1985-04-19");

    // A02 transfer W5 -> W6 (PV1-3 the new ward, PV1-6 the prior one).
    let (code, text) = send(
        port,
        s.adt("C2", "A02", "ADT_A02", CHI1, &pv1("W6", Some("W5"))),
    )
    .await
    .unwrap();
    assert_eq!(code, "AA", "{}: A02: {text}", s.version);
    assert_eq!(w.request(adm).await["destination"]["code"], "LWARD6");

    // A12 cancel transfer: PV1-3 is where the patient is again (W5), PV1-6 the cancelled ward.
    let (code, text) = send(
        port,
        s.adt("C3", "A12", "ADT_A12", CHI1, &pv1("W5", Some("W6"))),
    )
    .await
    .unwrap();
    assert_eq!(code, "AA", "{}: A12: {text}", s.version);
    assert_eq!(w.request(adm).await["destination"]["code"], "LWARD5");

    // A03 discharge: the ward request closes, a coding request opens.
    let (code, text) = send(port, s.adt("C4", "A03", "ADT_A03", CHI1, &pv1("W5", None)))
        .await
        .unwrap();
    assert_eq!(code, "AA", "{}: A03: {text}", s.version);
    let coding = id_after(&text, "request");
    let r = w.request(adm).await;
    assert_eq!(
        (r["open"].clone(), r["close_reason"].clone()),
        (false.into(), "discharged".into())
    );
    assert_eq!(w.request(coding).await["destination"]["code"], "LCODING");

    // A13 cancel discharge: the coding request is cancelled, the ward request reopens.
    let (code, text) = send(port, s.adt("C5", "A13", "ADT_A01", CHI1, &pv1("W5", None)))
        .await
        .unwrap();
    assert_eq!(code, "AA", "{}: A13: {text}", s.version);
    assert_eq!(w.request(coding).await["state"], "cancelled");
    assert_eq!(w.request(adm).await["open"], true);

    // A11 cancel admit: the ward request is cancelled.
    let (code, text) = send(port, s.adt("C6", "A11", "ADT_A09", CHI1, &pv1("W5", None)))
        .await
        .unwrap();
    assert_eq!(code, "AA", "{}: A11: {text}", s.version);
    assert_eq!(w.request(adm).await["state"], "cancelled");

    // A04 registers a duplicate record, A40 merges it into the first (MRG-1 the retired one).
    let (code, text) = send(port, s.adt("C7", "A04", "ADT_A01", CHI2, &[]))
        .await
        .unwrap();
    assert_eq!(code, "AA", "{}: A04: {text}", s.version);
    // (v2.3: the retired CHI as the prior external id, MRG-4, like PID-2)
    let mrg = match (s.ids)(CHI2) {
        (pid2, pid3) if pid2.is_empty() => format!("MRG|{pid3}"),
        (pid2, _) => format!("MRG|K654321^^^GGC^MR|||{pid2}"),
    };
    let (code, text) = send(port, s.adt("C8", "A40", "ADT_A39", CHI1, &[mrg]))
        .await
        .unwrap();
    assert_eq!(code, "AA", "{}: A40: {text}", s.version);
    let survivor = p["patient"]["id"].clone();
    let retired = get(&w, &format!("/api/v1/patients/{CHI2}")).await;
    assert_eq!(retired["patient"]["merged_into"], survivor, "{retired}");

    // S12 book on a summer date: 09:30 local (BST) is 08:30 UTC.
    let (code, text) = send(port, s.siu("C9", "S12", "APT1", "20300707093000"))
        .await
        .unwrap();
    assert_eq!(code, "AA", "{}: S12: {text}", s.version);
    let appt = id_after(&text, "appointment");
    let a = get(&w, &format!("/api/v1/appointments/{appt}")).await;
    assert_eq!(a["status"], "booked", "{a}");
    assert!(
        a["slot_start"]
            .as_str()
            .unwrap()
            .starts_with("2030-07-07T08:30"),
        "{a}"
    );
    assert_eq!(a["clinic"], "LCLINA");

    // S13 reschedule to 11:00 local.
    let (code, text) = send(port, s.siu("C10", "S13", "APT1", "20300707110000"))
        .await
        .unwrap();
    assert_eq!(code, "AA", "{}: S13: {text}", s.version);
    let a = get(&w, &format!("/api/v1/appointments/{appt}")).await;
    assert!(
        a["slot_start"]
            .as_str()
            .unwrap()
            .starts_with("2030-07-07T10:00"),
        "{a}"
    );

    // S15 cancel.
    let (code, text) = send(port, s.siu("C11", "S15", "APT1", "20300707110000"))
        .await
        .unwrap();
    assert_eq!(code, "AA", "{}: S15: {text}", s.version);
    assert_eq!(
        get(&w, &format!("/api/v1/appointments/{appt}")).await["status"],
        "cancelled"
    );

    // A winter booking (GMT: local = UTC), then S26 no-show.
    let (code, text) = send(port, s.siu("C12", "S12", "APT2", "20300107093000"))
        .await
        .unwrap();
    assert_eq!(code, "AA", "{}: S12: {text}", s.version);
    let appt2 = id_after(&text, "appointment");
    let a = get(&w, &format!("/api/v1/appointments/{appt2}")).await;
    assert!(
        a["slot_start"]
            .as_str()
            .unwrap()
            .starts_with("2030-01-07T09:30"),
        "{a}"
    );
    let (code, text) = send(port, s.siu("C13", "S26", "APT2", "20300107093000"))
        .await
        .unwrap();
    assert_eq!(code, "AA", "{}: S26: {text}", s.version);
    assert_eq!(
        get(&w, &format!("/api/v1/appointments/{appt2}")).await["status"],
        "no_show"
    );

    // Every message was applied once: a resend of the first is answered, not applied again.
    let before = w.s.count("requests").await;
    let (code, _) = send(port, s.adt("C1", "A01", "ADT_A01", CHI1, &pv1("W5", None)))
        .await
        .unwrap();
    assert_eq!(code, "AA");
    assert_eq!(
        w.s.count("requests").await,
        before,
        "{}: a resend was applied again",
        s.version
    );
}

/// v2.3: the CHI in PID-2 (as older Scottish feeds send it), PID-3 the hospital number only,
/// no message structure in MSH-9, CR segment ends, MSH-18 empty (UTF-8 by default).
#[tokio::test]
async fn v2_3_chi_in_pid_2_cr() {
    run(Shape {
        sender: "SCI",
        version: "2.3",
        end: "\r",
        charset: "",
        bom: false,
        structure: false,
        ids: |chi| (chi.to_string(), "K123456^^^GGC^MR".into()),
        name: ("MACDONALD^CATRIONA", "MACDONALD", "CATRIONA"),
        ward: |w| format!("{w}^12^1"),
        z: false,
        sparse: false,
    })
    .await;
}

/// v2.3.1: LF segment ends, ISO-8859-1 with a Gaelic name, the CHI marked NNSCO after the
/// hospital number, Z-segments.
#[tokio::test]
async fn v2_3_1_latin1_lf_nnsco_z_segments() {
    run(Shape {
        sender: "TRAK",
        version: "2.3.1",
        end: "\n",
        charset: "8859/1",
        bom: false,
        structure: false,
        ids: |chi| (String::new(), format!("K123456^^^GGC^MR~{chi}^^^NNSCO^NH")),
        name: ("NicLeòid^Mòrag", "NicLeòid", "Mòrag"),
        ward: |w| format!("{w}^12^1^GGC"),
        z: true,
        sparse: false,
    })
    .await;
}

/// v2.4: CRLF segment ends, ASCII with HL7 escapes (`\X27\` is an apostrophe, `\S\` the
/// component separator written as data).
#[tokio::test]
async fn v2_4_ascii_escapes_crlf() {
    run(Shape {
        sender: "PAS",
        version: "2.4",
        end: "\r\n",
        charset: "ASCII",
        bom: false,
        structure: false,
        ids: plain_chi,
        name: ("O\\X27\\BRIEN^ANNE\\S\\MARIE", "O'BRIEN", "ANNE^MARIE"),
        ward: |w| format!("{w}^12^1^GGC"),
        z: false,
        sparse: false,
    })
    .await;
}

/// v2.5: UTF-8 with a byte-order mark, the CHI's assigning authority as an HD with an OID.
#[tokio::test]
async fn v2_5_utf8_bom_hd_authority() {
    run(Shape {
        sender: "TrakCare",
        version: "2.5",
        end: "\r",
        charset: "UNICODE UTF-8",
        bom: true,
        structure: true,
        ids: |chi| {
            (
                String::new(),
                format!("K123456^^^GGC^MR~{chi}^^^CHI&2.16.840.1.113883.2.1.3.2.4.16.53&ISO^NH"),
            )
        },
        name: ("Ó Dochartaigh^Seán", "Ó Dochartaigh", "Seán"),
        ward: |w| format!("{w}^12^1^GGC"),
        z: true,
        sparse: false,
    })
    .await;
}

/// v2.5.1: missing optional fields (no sex, no visit number, no EVN-2), unmarked CHI after
/// the hospital number.
#[tokio::test]
async fn v2_5_1_sparse_unmarked_chi() {
    run(Shape {
        sender: "EMIS",
        version: "2.5.1",
        end: "\r",
        charset: "",
        bom: false,
        structure: true,
        ids: |chi| (String::new(), format!("K123456^^^GGC^MR~{chi}")),
        name: ("KLEINSAMPLE^BARRY", "KLEINSAMPLE", "BARRY"),
        ward: |w| w.to_string(),
        z: false,
        sparse: true,
    })
    .await;
}

/// v2.6: ISO-8859-15 (Š is 0xA6 there, not in 8859-1), LF ends.
#[tokio::test]
async fn v2_6_latin9_lf() {
    run(Shape {
        sender: "CERNER",
        version: "2.6",
        end: "\n",
        charset: "8859/15",
        bom: false,
        structure: true,
        ids: plain_chi,
        name: ("Šimková^Zoë", "Šimková", "Zoë"),
        ward: |w| format!("{w}^12^1^GGC"),
        z: true,
        sparse: false,
    })
    .await;
}

/// v2.7: the point of care as an HD (`W5&<oid>&ISO`), the family name as an FN.
#[tokio::test]
async fn v2_7_hd_point_of_care_fn_name() {
    run(Shape {
        sender: "TrakCare",
        version: "2.7",
        end: "\r",
        charset: "UNICODE UTF-8",
        bom: false,
        structure: true,
        ids: plain_chi,
        name: ("MACLEOD&&&&NICLEÒID^Mòrag", "MACLEOD", "Mòrag"),
        ward: |w| format!("{w}&1.2.826.0.1.999.5&ISO^12^1^GGC&1.2.826.0.1.999&ISO"),
        z: false,
        sparse: false,
    })
    .await;
}

/// v2.8: CRLF, UTF-8, Z-segments, several identifiers with the CHI last.
#[tokio::test]
async fn v2_8_crlf_many_identifiers() {
    run(Shape {
        sender: "PAS",
        version: "2.8",
        end: "\r\n",
        charset: "UNICODE UTF-8",
        bom: false,
        structure: true,
        ids: |chi| {
            (
                String::new(),
                format!("K123456^^^GGC^MR~E998877^^^LOTH^MR~{chi}^^^CHI^NH"),
            )
        },
        name: ("EVERYMAN&&&&Aniston^Adam^A", "EVERYMAN", "Adam"),
        ward: |w| format!("{w}^12^1^GGC"),
        z: true,
        sparse: false,
    })
    .await;
}
