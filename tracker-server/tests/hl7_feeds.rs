//! HL7 v2 as patient administration systems send it (issue 12): each case is a message shaped
//! as HL7 v2.5 chapter 3 defines the event, sent through the real MLLP listener by the PyPI
//! `hl7` client (`mllp_send`), with the effect checked over the HTTP API.

mod common;

use common::hl7::*;
use common::*;

/// A patient with a main folder, registered through the API. Returns the folder's barcode.
async fn registered(w: &World, chi: &str) -> String {
    // the CHI's first six digits are the date of birth
    let dob = match chi {
        "0101011237" => "2001-01-01",
        _ => "1985-04-19",
    };
    w.s.patient(&w.library, chi, "Kleinsample", "Barry", dob)
        .await;
    let f = w.s.folder(&w.library, chi, "main").await;
    f["barcode"].as_str().unwrap().to_string()
}

/// The ERR segment's location (ERR-2, e.g. `MRG^1^1`).
fn err_location(ack: &str) -> String {
    let m = tracker_server::hl7::parse(ack).unwrap();
    m.segment("ERR")
        .map(|s| s.raw(2).to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a12_sends_the_notes_back_to_the_ward_in_pv1_3() {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    registered(&w, "1904851231").await;
    let a01 = hl7(
        "T12-1",
        "A01",
        "1904851231",
        "PV1||I|W5^12^1^GGC||||||||||||||||V12",
    );
    let Some(acks) = mllp_send(port, &[a01]).await else {
        return;
    };
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    let a02 = hl7(
        "T12-2",
        "A02",
        "1904851231",
        "PV1||I|W6^1^1^GGC|||W5^12^1^GGC||||||||||||||V12",
    );
    assert_eq!(ack_code(&mllp_send(port, &[a02]).await.unwrap()[0]).0, "AA");
    let id = w.queue().await["requests"][0]["id"].as_i64().unwrap();
    assert_eq!(w.request(id).await["destination"]["code"], "LWARD6");
    // A12: the transfer to W6 is cancelled. PV1-3 = where the patient is (back on W5);
    // PV1-6 = the cancelled location (W6).
    let a12 = hl7(
        "T12-3",
        "A12",
        "1904851231",
        "PV1||I|W5^12^1^GGC|||W6^1^1^GGC||||||||||||||V12",
    );
    let acks = mllp_send(port, &[a12]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    assert_eq!(w.request(id).await["destination"]["code"], "LWARD5");
}

#[tokio::test]
async fn a_reused_control_id_is_applied_and_a_true_resend_is_not() {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    registered(&w, "1904851231").await;
    registered(&w, "0101011237").await;
    let first = hl7("RESTART1", "A01", "1904851231", "PV1||I|W5");
    let Some(acks) = mllp_send(port, std::slice::from_ref(&first)).await else {
        return;
    };
    assert_eq!(ack_code(&acks[0]).0, "AA");
    // The same message again, stamped later (MSH-7): a resend, answered with the first ACK.
    let resend = first.replace("|20261125090000||ADT", "|20261125091500||ADT");
    assert_ne!(resend, first);
    let again = mllp_send(port, &[resend]).await.unwrap();
    assert_eq!(again[0], acks[0]);
    assert_eq!(w.s.count("requests").await, 1);
    // Another patient's admission under the same control id (the engine restarted its
    // numbering): applied, not answered with the earlier ACK.
    let other = hl7("RESTART1", "A01", "0101011237", "PV1||I|W6").replace("19850419", "20010101");
    let acks2 = mllp_send(port, &[other]).await.unwrap();
    assert_eq!(ack_code(&acks2[0]).0, "AA", "{}", acks2[0]);
    assert_ne!(acks2[0], acks[0]);
    assert_eq!(w.s.count("requests").await, 2);
    // The same control id from another facility is another message, too.
    let elsewhere = first
        .replace("|TrakCare|GGC|", "|TrakCare|LOTHIAN|")
        .replace("W5", "W6");
    let acks3 = mllp_send(port, &[elsewhere]).await.unwrap();
    assert_eq!(ack_code(&acks3[0]).0, "AA");
    assert_ne!(acks3[0], acks[0]);
}

#[tokio::test]
async fn a_known_patient_needs_no_date_of_birth() {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    registered(&w, "1904851231").await;
    let a01 = hl7("NODOB1", "A01", "1904851231", "PV1||I|W5").replace("|19850419|", "||");
    let Some(acks) = mllp_send(port, &[a01]).await else {
        return;
    };
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    let q = w.queue().await;
    assert_eq!(q["count"], 1, "{q}");
    let p =
        w.s.get(Some(&w.library), "/api/v1/patients/1904851231")
            .await;
    let p = w.s.ok_json(p).await;
    assert_eq!(
        p["patient"]["dob"], "1985-04-19",
        "the registered date of birth is kept: {p}"
    );
    // A new patient still needs it.
    let new = hl7("NODOB2", "A01", "0101011237", "PV1||I|W5").replace("|19850419|", "||");
    let acks = mllp_send(port, &[new]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AE", "{}", acks[0]);
    assert!(err_location(&acks[0]).starts_with("PID^1^7"), "{}", acks[0]);
}

#[tokio::test]
async fn a06_and_a07_move_the_notes_like_a_transfer() {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    registered(&w, "1904851231").await;
    let a01 = hl7("PC1", "A01", "1904851231", "PV1||O|W5");
    let Some(acks) = mllp_send(port, &[a01]).await else {
        return;
    };
    assert_eq!(ack_code(&acks[0]).0, "AA");
    let id = w.queue().await["requests"][0]["id"].as_i64().unwrap();
    let a06 = hl7("PC2", "A06", "1904851231", "PV1||I|W6^2^1^GGC|||W5");
    let acks = mllp_send(port, &[a06]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    assert_eq!(w.request(id).await["destination"]["code"], "LWARD6");
    let a07 = hl7("PC3", "A07", "1904851231", "PV1||O|W5|||W6");
    let acks = mllp_send(port, &[a07]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    assert_eq!(w.request(id).await["destination"]["code"], "LWARD5");
    // An event the tracker does not handle is refused with AR naming it.
    let a09 = hl7("PC4", "A09", "1904851231", "PV1||I|W5");
    let acks = mllp_send(port, &[a09]).await.unwrap();
    let (code, text) = ack_code(&acks[0]);
    assert_eq!(code, "AR");
    assert!(text.contains("A09"), "{text}");
}

#[tokio::test]
async fn a_second_discharge_of_one_stay_opens_no_second_coding_request() {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    registered(&w, "1904851231").await;
    let a01 = hl7("DIS1", "A01", "1904851231", "PV1||I|W5||||||||||||||||V900");
    let Some(_) = mllp_send(port, &[a01]).await else {
        return;
    };
    let a03 = hl7("DIS2", "A03", "1904851231", "PV1||I|W5||||||||||||||||V900");
    let acks = mllp_send(port, &[a03]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA");
    // The PAS sends the discharge again as a new message (new control id, same visit).
    let a03b = hl7("DIS3", "A03", "1904851231", "PV1||I|W5||||||||||||||||V900");
    let acks = mllp_send(port, &[a03b]).await.unwrap();
    let (code, text) = ack_code(&acks[0]);
    assert_eq!(code, "AA");
    assert!(text.contains("already"), "{text}");
    let coding: Vec<_> = w.queue().await["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["destination"]["code"] == "LCODING")
        .cloned()
        .collect();
    assert_eq!(coding.len(), 1, "{coding:?}");
}

#[tokio::test]
async fn acks_echo_the_processing_id_and_errors_point_at_the_right_field() {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    registered(&w, "1904851231").await;
    // A training message (MSH-11 = T): the ACK says T too.
    let t = hl7("PID-T", "A08", "1904851231", "").replace("|P|2.5", "|T|2.5");
    let Some(acks) = mllp_send(port, &[t]).await else {
        return;
    };
    let msh = tracker_server::hl7::parse(&acks[0]).unwrap();
    assert_eq!(msh.get("MSH", 11, 1), "T", "{}", acks[0]);
    // A40 naming a retired patient nobody registered: the error is in MRG-1, not PID-3.
    let a40 = hl7("MRG-X", "A40", "1904851231", "MRG|0101011237^^^CHI^NH");
    let acks = mllp_send(port, &[a40]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AE", "{}", acks[0]);
    assert!(err_location(&acks[0]).starts_with("MRG^1^1"), "{}", acks[0]);
}

#[tokio::test]
async fn a_booking_changes_only_for_its_own_patient() {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    registered(&w, "1904851231").await;
    registered(&w, "0101011237").await;
    let sch = "SCH|APT9|APT9-F|||||||15|min|^^^20300107093000\rAIS|1||CONS^Consultation|20300107093000|||15|min\rAIL|1||CLINA^^^GGC";
    let Some(acks) = mllp_send(port, &[hl7("SIU9-1", "S12", "1904851231", sch)]).await else {
        return;
    };
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    let booked = || async {
        let s =
            w.s.ok_json(
                w.s.get(Some(&w.library), "/api/v1/clinic-sessions?date=2030-01-07")
                    .await,
            )
            .await;
        s[0]["booked"].as_i64().unwrap()
    };
    assert_eq!(booked().await, 1);
    // A cancel naming another patient is refused (AE at PID-3) and cancels nothing.
    let wrong = hl7("SIU9-2", "S15", "0101011237", sch).replace("19850419", "20010101");
    let acks = mllp_send(port, &[wrong]).await.unwrap();
    let (code, text) = ack_code(&acks[0]);
    assert_eq!(code, "AE", "{}", acks[0]);
    assert!(text.starts_with("PID-3:"), "{text}");
    assert_eq!(booked().await, 1);
    // The right patient's cancel goes through.
    let acks = mllp_send(port, &[hl7("SIU9-3", "S15", "1904851231", sch)])
        .await
        .unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    assert_eq!(booked().await, 0);
}

#[tokio::test]
async fn version_2_8_composites_in_pv1_3_and_pid_5() {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    // v2.8: PV1-3.1 as an HD (namespace & universal id & type), PID-5.1 as an FN
    // (surname & own-surname prefix & own surname & partner prefix & partner surname).
    let a01 = hl7(
        "V28-1",
        "A01",
        "0101011237",
        "PV1||I|W5&1.2.826.0.1&ISO^3^1",
    )
    .replace("KLEINSAMPLE^BARRY", "EVERYMAN&&&&Aniston^ADAM")
    .replace("19850419", "20010101")
    .replace("|P|2.5", "|P|2.8");
    let Some(acks) = mllp_send(port, &[a01]).await else {
        return;
    };
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    assert_eq!(
        w.queue().await["requests"][0]["destination"]["code"],
        "LWARD5"
    );
    let p =
        w.s.ok_json(
            w.s.get(Some(&w.library), "/api/v1/patients/0101011237")
                .await,
        )
        .await;
    assert_eq!(p["patient"]["family_name"], "EVERYMAN", "{p}");
    assert_eq!(p["patient"]["given_name"], "ADAM", "{p}");
}

#[tokio::test]
async fn a_booking_for_a_patient_with_no_folder_is_on_the_pull_list() {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    registered(&w, "1904851231").await;
    // 0101011237 is registered by the booking itself and has no folder
    let sch = |apt: &str| {
        format!("SCH|{apt}|{apt}-F|||||||15|min|^^^20300107093000\rAIS|1||CONS^Consultation|20300107093000|||15|min\rAIL|1||CLINA^^^GGC")
    };
    let booking = hl7("NF-1", "S12", "0101011237", &sch("APTNF")).replace("19850419", "20010101");
    let Some(acks) = mllp_send(
        port,
        &[booking, hl7("NF-2", "S12", "1904851231", &sch("APTF"))],
    )
    .await
    else {
        return;
    };
    assert!(acks.iter().all(|a| ack_code(a).0 == "AA"), "{acks:?}");
    let list =
        w.s.ok_json(
            w.s.get(Some(&w.library), "/api/v1/pull-lists?date=2030-01-07")
                .await,
        )
        .await;
    assert_eq!(list["appointments"], 2, "{list}");
    assert_eq!(list["folders"], 1, "{list}");
    let nf = &list["no_folder"];
    assert_eq!(nf.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(nf[0]["chi"], "0101011237");
    assert_eq!(
        nf[0]["action"],
        "no folder registered: make a temporary folder"
    );
    let csv =
        w.s.get(
            Some(&w.library),
            "/api/v1/pull-lists?date=2030-01-07&format=csv",
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("make a temporary folder"), "{csv}");
}

/// `text` as ISO 8859-1 bytes (every character below U+0100).
fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
        .collect()
}

#[tokio::test]
async fn character_sets_are_read_as_declared_and_never_replaced() {
    let w = hl7_world().await;
    let port = w.hl7_port().await;
    let family = |chi: &str| {
        let w = &w;
        let chi = chi.to_string();
        async move {
            let p =
                w.s.ok_json(
                    w.s.get(Some(&w.library), &format!("/api/v1/patients/{chi}"))
                        .await,
                )
                .await;
            p["patient"]["family_name"].as_str().unwrap().to_string()
        }
    };
    // 8859/1 declared in MSH-18: ò is one byte, 0xF2
    let a04 = hl7("CS-1", "A04", "1904851231", "")
        .replace("KLEINSAMPLE^BARRY", "NicLeòid^Mòrag")
        .replace("|P|2.5", "|P|2.5||||||8859/1");
    let Some(acks) = mllp_send_bytes(port, &[latin1(&a04)]).await else {
        return;
    };
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    assert_eq!(family("1904851231").await, "NicLeòid");
    // The same bytes declared as UTF-8: refused naming PID-5, nothing stored.
    let bad = hl7("CS-2", "A04", "0101011237", "")
        .replace("19850419", "20010101")
        .replace("KLEINSAMPLE^BARRY", "NicLeòid^Mòrag")
        .replace("|P|2.5", "|P|2.5||||||UNICODE UTF-8");
    let acks = mllp_send_bytes(port, &[latin1(&bad)]).await.unwrap();
    let (code, text) = ack_code(&acks[0]);
    assert_eq!(code, "AE", "{}", acks[0]);
    assert!(text.starts_with("PID-5:"), "{text}");
    let r =
        w.s.get(Some(&w.library), "/api/v1/patients/0101011237")
            .await;
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);
    // UTF-8 with a byte-order mark before MSH, and an \X..\ escape (C3 B2 = ò in UTF-8).
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(
        hl7("CS-3", "A04", "0101011237", "")
            .replace("19850419", "20010101")
            .replace("KLEINSAMPLE^BARRY", "NicLe\\XC3B2\\id^Mòrag")
            .replace("|P|2.5", "|P|2.5||||||UNICODE UTF-8")
            .into_bytes(),
    );
    let acks = mllp_send_bytes(port, &[bom]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    assert_eq!(family("0101011237").await, "NicLeòid");
}

/// England/Wales feeds: with `[hl7] patient_number = "nhs_number"` the patient is found and
/// registered by the NHS number (marked NHS, or by the NHS number's OID in an HD); a Scottish
/// board's default refuses the same message, naming PID-3 and what it looked for.
#[tokio::test]
async fn nhs_number_feeds_match_by_nhs_number_when_configured() {
    use tracker_server::config::PatientNumberKind;
    let nhs_msg = |ctl: &str, event: &str, pid3: &str, tail: &str| {
        hl7(ctl, event, "X", tail)
            .replace("X^^^CHI^NH", pid3)
            .replace("19850419", "19700101")
    };
    let w = hl7_world_with(|c| c.hl7.patient_number = PatientNumberKind::NhsNumber).await;
    let port = w.hl7_port().await;
    let a01 = nhs_msg(
        "E1",
        "A01",
        "RX1234^^^RXH^MR~9434765919^^^NHS^NH",
        "PV1||I|W5",
    );
    let Some(acks) = mllp_send(port, &[a01]).await else {
        return;
    };
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    let p =
        w.s.ok_json(
            w.s.get(Some(&w.library), "/api/v1/patients/9434765919")
                .await,
        )
        .await;
    assert_eq!(p["patient"]["nhs_number"], "9434765919", "{p}");
    assert_eq!(p["patient"]["chi"], serde_json::Value::Null);
    // The transfer names the patient by the OID of the NHS number: the same patient.
    let a02 = nhs_msg(
        "E2",
        "A02",
        "9434765919^^^&2.16.840.1.113883.2.1.4.1&ISO^NH",
        "PV1||I|W6|||W5",
    );
    let acks = mllp_send(port, &[a02]).await.unwrap();
    let (code, text) = ack_code(&acks[0]);
    assert_eq!(code, "AA", "{}", acks[0]);
    assert!(text.contains("re-routed to LWARD6"), "{text}");
    assert_eq!(w.s.count("patients").await, 1);
    // A wrong check digit: AE naming PID-3.
    let bad = nhs_msg("E3", "A08", "9434765918^^^NHS^NH", "");
    let acks = mllp_send(port, &[bad]).await.unwrap();
    let (code, text) = ack_code(&acks[0]);
    assert_eq!(code, "AE");
    assert!(
        text.starts_with("PID-3:") && text.contains("NHS number"),
        "{text}"
    );

    // The default (CHI) refuses an NHS-numbered message and says what it looked for.
    let scot = hl7_world().await;
    let port = scot.hl7_port().await;
    let acks = mllp_send(port, &[nhs_msg("E4", "A04", "9434765919^^^NHS^NH", "")])
        .await
        .unwrap();
    let (code, text) = ack_code(&acks[0]);
    assert_eq!(code, "AE", "{}", acks[0]);
    assert!(text.starts_with("PID-3:"), "{text}");
    assert!(text.contains("looked in PID-3 and PID-2"), "{text}");
}

/// A border board (`chi_or_nhs_number`): the CHI when the message carries one, else the NHS
/// number; and the same ten digits are never registered twice as the two kinds.
#[tokio::test]
async fn chi_or_nhs_number_prefers_the_chi_and_one_number_is_one_patient() {
    use tracker_server::config::PatientNumberKind;
    let w = hl7_world_with(|c| c.hl7.patient_number = PatientNumberKind::ChiOrNhsNumber).await;
    let port = w.hl7_port().await;
    // NHS number first, CHI second: the CHI is taken.
    let both =
        hl7("B1", "A04", "X", "").replace("X^^^CHI^NH", "9434765919^^^NHS^NH~1904851231^^^CHI^NH");
    let Some(acks) = mllp_send(port, &[both]).await else {
        return;
    };
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    let p =
        w.s.ok_json(
            w.s.get(Some(&w.library), "/api/v1/patients/1904851231")
                .await,
        )
        .await;
    assert_eq!(p["patient"]["chi"], "1904851231");
    // The CHI's ten digits sent again marked as an NHS number: refused, naming the patient.
    let twice = hl7("B2", "A04", "X", "").replace("X^^^CHI^NH", "1904851231^^^NHS^NH");
    let acks = mllp_send(port, &[twice]).await.unwrap();
    let (code, text) = ack_code(&acks[0]);
    assert_eq!(code, "AE", "{}", acks[0]);
    assert!(text.starts_with("PID-3:"), "{text}");
    assert!(text.contains("already registered for patient"), "{text}");
    assert_eq!(w.s.count("patients").await, 1);
}
