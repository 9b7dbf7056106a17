//! Requests, pull lists, HL7 feeds, missing notes and the live desk view, over real HTTP, a real
//! SQLite file and a real MLLP client (`mllp_send` from PyPI `hl7`: `pip install hl7`).

mod common;

use common::hl7::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn request_lifecycle_is_driven_by_scans() {
    let w = hl7_world().await;
    let s = &w.s;
    s.patient(
        &w.library,
        "1904851231",
        "Kleinsample",
        "Barry",
        "1985-04-19",
    )
    .await;
    let f = s.folder(&w.library, "1904851231", "main").await;
    let bc = f["barcode"].as_str().unwrap();
    // Validation names the field.
    let r = s
        .post(Some(&w.clinician), "/api/v1/requests", json!({"patient": "1904851231", "destination": "LNOWHERE", "urgency": "urgent", "reason": "clinic"}))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "destination"
    );
    let r = s
        .post(Some(&w.clinician), "/api/v1/requests", json!({"patient": "1904851231", "destination": "LCLINA", "urgency": "urgent", "reason": "review before theatre"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let req = r.json::<Value>().await.unwrap();
    let id = req["id"].as_i64().unwrap();
    assert_eq!(req["state"], "requested");
    assert_eq!(req["holder_location"], Value::Null);
    assert_eq!(req["overdue"], false);
    assert_eq!(req["patient"]["chi"], "1904851231");
    // Where-is says where it is expected.
    let wi = s
        .ok_json(
            s.get(Some(&w.library), &format!("/api/v1/whereis/folder/{bc}"))
                .await,
        )
        .await;
    assert_eq!(wi["expected"]["destination"]["code"], "LCLINA", "{wi}");
    assert_eq!(wi["expected"]["request_id"], id);

    w.scan(bc, "LLIB", 1, "seen", None).await;
    assert_eq!(w.request(id).await["state"], "pulled");
    w.scan(bc, "LLIB", 2, "dispatch", Some("LCLINA")).await;
    assert_eq!(w.request(id).await["state"], "dispatched");
    w.scan(bc, "LCLINA", 3, "receive", None).await;
    let r = w.request(id).await;
    assert_eq!(r["state"], "received");
    assert!(r["received_at"].is_string());
    let wi = s
        .ok_json(
            s.get(Some(&w.library), &format!("/api/v1/whereis/folder/{bc}"))
                .await,
        )
        .await;
    assert_eq!(wi["expected"], Value::Null, "delivered: nothing expected");
    w.scan(bc, "LLIB", 4, "seen", None).await;
    let r = w.request(id).await;
    assert_eq!(r["state"], "returned");
    assert_eq!(r["open"], false);
    let states: Vec<&str> = r["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["requested", "pulled", "dispatched", "received", "returned"]
    );

    // Notes out on a ward: the request is routed to whoever holds them.
    w.scan(bc, "LWARD5", 5, "receive", None).await;
    let r = s
        .post(Some(&w.clinician), "/api/v1/requests", json!({"patient": "1904851231", "volume": bc, "destination": "LCLINA", "urgency": "routine", "reason": "follow-up"}))
        .await;
    let req = s.ok_json(r).await;
    assert_eq!(req["state"], "located");
    assert_eq!(req["holder_location"]["code"], "LWARD5");
    assert_eq!(req["folders"][0]["in_library"], false);
    assert_eq!(req["folders"][0]["location"]["code"], "LWARD5");
    // Porters cannot request notes; the audit has the request.
    let porter = s.login("porter").await;
    let r = s
        .post(Some(&porter), "/api/v1/requests", json!({"patient": "1904851231", "destination": "LCLINA", "urgency": "routine", "reason": "x"}))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let audit = s
        .ok_json(
            s.get(
                Some(&w.manager),
                "/api/v1/audit?patient=1904851231&limit=200",
            )
            .await,
        )
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"request.create"), "{actions:?}");
    assert!(actions.contains(&"request.read"), "{actions:?}");
}

#[tokio::test]
async fn admission_transfer_discharge_over_mllp() {
    let w = hl7_world().await;
    let s = &w.s;
    let port = w.hl7_port().await;
    s.patient(
        &w.library,
        "1904851231",
        "Kleinsample",
        "Barry",
        "1985-04-19",
    )
    .await;
    let f = s.folder(&w.library, "1904851231", "main").await;
    let bc = f["barcode"].as_str().unwrap();
    let a01 = hl7(
        "ADM0001",
        "A01",
        "1904851231",
        "PV1||I|W5^12^1^GGC||||||||||||||||V100",
    );
    let Some(acks) = mllp_send(port, std::slice::from_ref(&a01)).await else {
        return;
    };
    let (code, text) = ack_code(&acks[0]);
    assert_eq!(code, "AA", "{}", acks[0]);
    assert!(acks[0].contains("MSA|AA|ADM0001|"), "{}", acks[0]);
    assert!(text.contains("LWARD5"), "{text}");
    let q = w.queue().await;
    assert_eq!(q["count"], 1, "{q}");
    let id = q["requests"][0]["id"].as_i64().unwrap();
    assert_eq!(q["requests"][0]["destination"]["code"], "LWARD5");
    assert_eq!(q["requests"][0]["source"], "adt");
    assert_eq!(q["requests"][0]["encounter"], "V100");
    w.scan(bc, "LLIB", 1, "dispatch", Some("LWARD5")).await;
    assert_eq!(w.request(id).await["state"], "dispatched");
    w.scan(bc, "LWARD5", 2, "receive", None).await;
    assert_eq!(w.request(id).await["state"], "received");

    // A resend of the same message: the same ACK, nothing applied again.
    let again = mllp_send(port, std::slice::from_ref(&a01)).await.unwrap();
    assert_eq!(again[0], acks[0]);
    assert_eq!(s.count("requests").await, 1);

    // Transfer to ward 6: the request follows; the notes must be fetched from ward 5.
    let a02 = hl7(
        "ADM0002",
        "A02",
        "1904851231",
        "PV1||I|W6^1^1^GGC|||W5^12^1^GGC",
    );
    let acks = mllp_send(port, &[a02]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    let r = w.request(id).await;
    assert_eq!(r["destination"]["code"], "LWARD6");
    assert_eq!(r["state"], "located");
    assert_eq!(r["holder_location"]["code"], "LWARD5");
    w.scan(bc, "LWARD5", 3, "dispatch", Some("LWARD6")).await;
    w.scan(bc, "LWARD6", 4, "receive", None).await;
    assert_eq!(w.request(id).await["state"], "received");

    // Discharge: the notes go to coding, then back to the library.
    let a03 = hl7("ADM0003", "A03", "1904851231", "PV1||I|W6^1^1^GGC");
    let acks = mllp_send(port, &[a03]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    let r = w.request(id).await;
    assert_eq!(r["open"], false);
    assert_eq!(r["close_reason"], "discharged");
    let q = w.queue().await;
    assert_eq!(q["count"], 1);
    let coding = q["requests"][0]["id"].as_i64().unwrap();
    assert_eq!(q["requests"][0]["destination"]["code"], "LCODING");
    assert_eq!(q["requests"][0]["holder_location"]["code"], "LWARD6");
    w.scan(bc, "LWARD6", 5, "dispatch", Some("LCODING")).await;
    w.scan(bc, "LCODING", 6, "receive", None).await;
    assert_eq!(w.request(coding).await["state"], "received");
    w.scan(bc, "LLIB", 7, "seen", None).await;
    let r = w.request(coding).await;
    assert_eq!(r["state"], "returned");
    assert_eq!(w.queue().await["count"], 0);

    // An admission of a patient not yet registered registers them.
    let m = hl7("ADM0004", "A01", "0101011237", "PV1||E|W5").replace("19850419", "20010101");
    let acks = mllp_send(port, &[m]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    let q = w.queue().await;
    assert_eq!(q["requests"][0]["urgency"], "emergency");
    assert_eq!(q["requests"][0]["patient"]["chi"], "0101011237");

    // A40: 0101011237 is merged into 1904851231; its request follows.
    let a40 = hl7("ADM0005", "A40", "1904851231", "MRG|0101011237^^^CHI^NH");
    let acks = mllp_send(port, &[a40]).await.unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    let q = w.queue().await;
    assert_eq!(q["requests"][0]["patient"]["chi"], "1904851231");
}

#[tokio::test]
async fn bad_hl7_is_refused_changes_nothing_and_other_clients_are_served() {
    let w = hl7_world_with(|c| c.hl7.max_message_bytes = 64 * 1024).await;
    let s = &w.s;
    let port = w.hl7_port().await;
    s.patient(
        &w.library,
        "1904851231",
        "Kleinsample",
        "Barry",
        "1985-04-19",
    )
    .await;
    s.folder(&w.library, "1904851231", "main").await;
    let tables = [
        "requests",
        "patients",
        "hl7_messages",
        "audit_log",
        "appointments",
    ];
    let mut before = Vec::new();
    for t in tables {
        before.push(s.count(t).await);
    }
    // A client that opens a frame and never finishes it must not block anyone.
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stalled.write_all(b"\x0bMSH|^~\\&|SLOW|").await.unwrap();

    let msgs = vec![
        "PID|||1904851231^^^CHI^NH||X^Y||19850419|M".to_string(),
        hl7("BAD0002", "A99", "1904851231", "PV1||I|W5"),
        hl7("BAD0003", "A01", "1904851232", "PV1||I|W5"),
        hl7("BAD0004", "A01", "1904851231", "PV1||I|W99"),
        hl7("BAD0005", "A01", "1904851231", "PV1||I|W5").replace("|BAD0005|", "||"),
        "MSH|^~\\&|A|B|C|D|2026||ORM^O01|BAD0006|P|2.5".to_string(),
    ];
    let Some(acks) = mllp_send(port, &msgs).await else {
        return;
    };
    let codes: Vec<(String, String)> = acks.iter().map(|a| ack_code(a)).collect();
    assert_eq!(codes[0].0, "AR", "no MSH: {}", acks[0]);
    assert!(codes[0].1.contains("MSH"), "{:?}", codes[0]);
    assert_eq!(codes[1].0, "AR", "unknown event: {}", acks[1]);
    assert!(acks[1].contains("MSA|AR|BAD0002|"), "{}", acks[1]);
    assert_eq!(codes[2].0, "AE", "bad CHI: {}", acks[2]);
    assert!(codes[2].1.starts_with("PID-3:"), "{:?}", codes[2]);
    assert!(acks[2].contains("ERR||PID^1^3|102^"), "{}", acks[2]);
    assert_eq!(codes[3].0, "AE", "unmapped ward: {}", acks[3]);
    assert!(codes[3].1.starts_with("PV1-3:"), "{:?}", codes[3]);
    assert_eq!(codes[4].0, "AR", "no control id: {}", acks[4]);
    assert_eq!(codes[5].0, "AR", "ORM: {}", acks[5]);

    // Broken frames and a huge message over a raw socket.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    async fn read_ack(sock: &mut tokio::net::TcpStream, pending: &mut Vec<u8>) -> String {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = pending.windows(2).position(|w| w == [EB, CR]) {
                let frame: Vec<u8> = pending.drain(..end + 2).collect();
                return String::from_utf8_lossy(&frame[1..frame.len() - 2]).into_owned();
            }
            let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
                .await
                .expect("no ACK")
                .unwrap();
            assert!(n > 0, "connection closed");
            pending.extend_from_slice(&buf[..n]);
        }
    }
    let mut pending = Vec::new();
    raw.write_all(b"garbage without a start block")
        .await
        .unwrap();
    raw.write_all(&[SB]).await.unwrap();
    raw.write_all(hl7("BAD0007", "A08", "1904851231", "").as_bytes())
        .await
        .unwrap();
    let first = read_ack(&mut raw, &mut pending).await;
    assert_eq!(ack_code(&first).0, "AR", "{first}");
    let mut huge = vec![SB];
    huge.extend_from_slice(hl7("BAD0008", "A08", "1904851231", "NTE|").as_bytes());
    huge.extend(std::iter::repeat_n(b'x', 200 * 1024));
    huge.extend_from_slice(&[EB, CR]);
    raw.write_all(&huge).await.unwrap();
    let second = read_ack(&mut raw, &mut pending).await;
    let (c2, t2) = ack_code(&second);
    assert_eq!(c2, "AR", "{second}");
    // "garbage" then the unfinished frame (closed by the huge one's start) -> AR each.
    let third = if t2.contains("larger") {
        second.clone()
    } else {
        read_ack(&mut raw, &mut pending).await
    };
    assert!(ack_code(&third).1.contains("larger"), "{third}");
    // The same connection still works afterwards.
    raw.write_all(&[SB]).await.unwrap();
    raw.write_all(hl7("OK0001", "A08", "1904851231", "").as_bytes())
        .await
        .unwrap();
    raw.write_all(&[EB, CR]).await.unwrap();
    let ok = read_ack(&mut raw, &mut pending).await;
    assert_eq!(ack_code(&ok).0, "AA", "{ok}");

    let mut after = Vec::new();
    for t in tables {
        after.push(s.count(t).await);
    }
    // Only the good A08 changed anything: one processed message and its audit row.
    assert_eq!(after[0], before[0], "requests");
    assert_eq!(after[1], before[1], "patients");
    assert_eq!(after[2], before[2] + 1, "hl7_messages");
    assert_eq!(after[3], before[3] + 1, "audit_log");
    assert_eq!(after[4], before[4], "appointments");
    // Another real client is served while the stalled one still holds its half frame.
    let acks = mllp_send(port, &[hl7("OK0002", "A08", "1904851231", "")])
        .await
        .unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA");
    stalled.write_all(b"never finished").await.unwrap();
}

#[tokio::test]
async fn siu_bookings_over_mllp_and_hl7_recorded_by_staff() {
    let w = hl7_world().await;
    let s = &w.s;
    let port = w.hl7_port().await;
    s.patient(
        &w.library,
        "1904851231",
        "Kleinsample",
        "Barry",
        "1985-04-19",
    )
    .await;
    let sch = "SCH|APT1|APT1-F|||||||15|min|^^^20300107093000\rAIS|1||CONS^Consultation|20300107093000|||15|min\rAIL|1||CLINA^^^GGC";
    let Some(acks) = mllp_send(port, &[hl7("SIU0001", "S12", "1904851231", sch)]).await else {
        return;
    };
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    let sessions = s
        .ok_json(
            s.get(Some(&w.library), "/api/v1/clinic-sessions?date=2030-01-07")
                .await,
        )
        .await;
    assert_eq!(sessions[0]["clinic"], "LCLINA", "{sessions}");
    assert_eq!(sessions[0]["booked"], 1);
    // Reschedule, then cancel.
    let moved = sch.replace("20300107093000", "20300107100000");
    let acks = mllp_send(
        port,
        &[
            hl7("SIU0002", "S13", "1904851231", &moved),
            hl7("SIU0003", "S15", "1904851231", &moved),
        ],
    )
    .await
    .unwrap();
    assert_eq!(ack_code(&acks[0]).0, "AA", "{}", acks[0]);
    assert_eq!(ack_code(&acks[1]).0, "AA", "{}", acks[1]);
    let sessions = s
        .ok_json(
            s.get(Some(&w.library), "/api/v1/clinic-sessions?date=2030-01-07")
                .await,
        )
        .await;
    assert_eq!(sessions[0]["booked"], 0);
    // Unknown appointment: AE naming SCH-2.
    let acks = mllp_send(
        port,
        &[hl7("SIU0004", "S26", "1904851231", "SCH|NOPE|NOPE")],
    )
    .await
    .unwrap();
    let (code, text) = ack_code(&acks[0]);
    assert_eq!(code, "AE");
    assert!(text.starts_with("SCH-2:"), "{text}");
    // The same message recorded by staff through the API.
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/hl7/messages",
            json!({"message": hl7("API0001", "A08", "1904851231", "").replace("KLEINSAMPLE^BARRY", "KLEIN^BARRY")}),
        )
        .await;
    let v = s.ok_json(r).await;
    assert_eq!(v["ack_code"], "AA", "{v}");
    let p = s
        .ok_json(s.get(Some(&w.library), "/api/v1/patients/1904851231").await)
        .await;
    assert_eq!(p["patient"]["family_name"], "KLEIN");
    let r = s
        .post(
            Some(&w.clinician),
            "/api/v1/hl7/messages",
            json!({"message": "MSH|"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// In summer the slot times printed and exported are the clinic's local time (BST), not UTC.
#[tokio::test]
async fn pull_list_exports_show_local_times_in_summer() {
    let w = hl7_world().await;
    let s = &w.s;
    s.patient(&w.library, "1904851231", "Alpha", "Pat", "1985-04-19")
        .await;
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/folders",
            json!({"patient": "1904851231", "folder_type": "main", "home_location": "LLIB"}),
        )
        .await;
    let barcode = s.ok_json(r).await["barcode"].as_str().unwrap().to_string();
    // Out on ward 5 since 14:20 BST (13:20 UTC) on 30 June 2026.
    let r = s
        .post(
            Some(&w.device),
            "/api/v1/events",
            json!({"events": [common::event(&barcode, "LWARD5", "2026-06-30T13:20:00Z", "receive", None)]}),
        )
        .await;
    assert_eq!(s.ok_json(r).await["stored"], 1);
    let r = s
        .post(Some(&w.library), "/api/v1/clinic-sessions", json!({"clinic": "LCLINA", "name": "Ortho AM", "date": "2030-07-01", "start": "09:00", "end": "12:00"}))
        .await;
    let session = s.ok_json(r).await["id"].as_i64().unwrap();
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/appointments",
            json!({"patient": "1904851231", "session": session, "start": "09:30"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let csv = s
        .get(
            Some(&w.library),
            "/api/v1/pull-lists?date=2030-07-01&format=csv",
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(",2030-07-01T09:30:00+01:00,"), "{csv}");
    assert!(csv.contains(",2026-06-30T14:20:00+01:00"), "{csv}");
    let pdf = s
        .get(
            Some(&w.library),
            "/api/v1/pull-lists?date=2030-07-01&format=pdf",
        )
        .await
        .bytes()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains(" 09:30 "), "the slot in local time");
    assert!(!text.contains(" 08:30 "), "not the slot in UTC");
    assert!(
        text.contains("OUT: LWARD5 Tue 30 Jun 2026 14:20 BST"),
        "{text}"
    );
}

#[tokio::test]
async fn pull_list_in_terminal_digit_order_with_exports() {
    let w = hl7_world().await;
    let s = &w.s;
    // (chi, dob, filing number): shelf keys (30,20,10), (30,10,99), (2,99,5)
    let people = [
        ("1904851231", "1985-04-19", "10-20-30", "Alpha"),
        ("2902201230", "2020-02-29", "99-10-30", "Bravo"),
        ("0101011237", "2001-01-01", "05-99-02", "Charlie"),
    ];
    let mut barcodes = Vec::new();
    for (chi, dob, filing, name) in people {
        s.patient(&w.library, chi, name, "Pat", dob).await;
        let r = s
            .post(Some(&w.library), "/api/v1/folders", json!({"patient": chi, "folder_type": "main", "home_location": "LLIB", "filing_number": filing}))
            .await;
        barcodes.push(s.ok_json(r).await["barcode"].as_str().unwrap().to_string());
    }
    // Bravo's notes are on ward 5.
    w.scan(&barcodes[1], "LWARD5", 1, "receive", None).await;
    let r = s
        .post(Some(&w.library), "/api/v1/clinic-sessions", json!({"clinic": "LCLINA", "name": "Ortho AM", "date": "2030-01-07", "start": "09:00", "end": "12:00"}))
        .await;
    let session = s.ok_json(r).await["id"].as_i64().unwrap();
    for (i, (chi, ..)) in people.iter().enumerate() {
        let r = s
            .post(
                Some(&w.library),
                "/api/v1/appointments",
                json!({"patient": chi, "session": session, "start": format!("09:{:02}", i * 15)}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/appointments",
            json!({"patient": "1904851231", "session": session, "start": "13:00"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "start");

    let list = s
        .ok_json(
            s.get(Some(&w.library), "/api/v1/pull-lists?date=2030-01-07")
                .await,
        )
        .await;
    let order: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["barcode"].as_str().unwrap())
        .collect();
    assert_eq!(order, [&barcodes[2], &barcodes[1], &barcodes[0]], "{list}");
    assert_eq!(list["not_in_library"], 1);
    assert_eq!(list["items"][1]["in_library"], false);
    assert_eq!(list["items"][1]["current_location"], "LWARD5");
    assert_eq!(list["items"][0]["in_library"], true);
    assert_eq!(list["items"][0]["current_location"], Value::Null);

    let r = s
        .get(
            Some(&w.library),
            "/api/v1/pull-lists?date=2030-01-07&format=csv",
        )
        .await;
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("home_location,filing_number,barcode"));
    assert!(lines[1].contains(&barcodes[2]) && lines[1].contains("05-99-02"));
    assert!(
        lines[2].contains(&barcodes[1]) && lines[2].contains(",no,LWARD5,"),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains(&barcodes[0]) && lines[3].contains(",yes,"));

    let r = s
        .get(
            Some(&w.library),
            "/api/v1/pull-lists?date=2030-01-07&format=pdf",
        )
        .await;
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4") && pdf.ends_with(b"%%EOF\n"));
    assert!(String::from_utf8_lossy(&pdf).contains("OUT: LWARD5"));

    let r = s
        .get(Some(&w.clinician), "/api/v1/pull-lists?date=2030-01-07")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s
        .get(
            Some(&w.library),
            "/api/v1/pull-lists?date=2030-01-07&format=xml",
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "format");

    // Requests for the clinic, once per appointment.
    let v = s
        .ok_json(
            s.post(
                Some(&w.library),
                "/api/v1/pull-lists/requests",
                json!({"date": "2030-01-07"}),
            )
            .await,
        )
        .await;
    assert_eq!(v["created"], 3);
    let v = s
        .ok_json(
            s.post(
                Some(&w.library),
                "/api/v1/pull-lists/requests",
                json!({"date": "2030-01-07"}),
            )
            .await,
        )
        .await;
    assert_eq!(v["created"], 0);
    let q = w.queue().await;
    let bravo = q["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["patient"]["chi"] == "2902201230")
        .unwrap();
    assert_eq!(bravo["holder_location"]["code"], "LWARD5");
    assert_eq!(bravo["needed_by"], "2030-01-07T09:00:00.000Z");

    let a = s
        .ok_json(
            s.get(
                Some(&w.library),
                "/api/v1/reports/clinic-availability?from=2030-01-07&to=2030-01-07",
            )
            .await,
        )
        .await;
    assert_eq!(a["booked"], 3);
    assert_eq!(a["available"], 0);
    assert_eq!(a["percent_available"], 0.0);
}

#[tokio::test]
async fn overdue_flag_and_live_desk_stream() {
    let w = hl7_world_with(|c| {
        c.requests.emergency_minutes = 0;
        c.requests.overdue_check_secs = 1;
    })
    .await;
    let s = &w.s;
    s.patient(
        &w.library,
        "1904851231",
        "Kleinsample",
        "Barry",
        "1985-04-19",
    )
    .await;
    s.folder(&w.library, "1904851231", "main").await;
    let mut stream = s
        .client
        .get(format!("{}/api/v1/desk/stream", s.base))
        .bearer_auth(&w.library)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let r = s
        .post(Some(&w.clinician), "/api/v1/requests", json!({"patient": "1904851231", "destination": "LWARD5", "urgency": "emergency", "reason": "collapsed on ward"}))
        .await;
    let id = s.ok_json(r).await["id"].as_i64().unwrap();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !(seen.contains("event: request.new") && seen.contains("event: request.overdue")) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no desk events; got {seen:?}"))
            .unwrap()
            .expect("stream ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(&format!("\"request_id\":{id}")), "{seen}");
    assert!(seen.contains("\"urgency\":\"emergency\""), "{seen}");
    let q = w.queue().await;
    assert_eq!(q["overdue"], 1);
    assert_eq!(q["requests"][0]["overdue"], true);
    let wi = s
        .ok_json(
            s.get(Some(&w.library), "/api/v1/whereis/patient/1904851231")
                .await,
        )
        .await;
    assert_eq!(wi["folders"][0]["expected"]["overdue"], true, "{wi}");
    // Received: no longer overdue.
    let bc = q["requests"][0]["folders"][0]["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    w.scan(&bc, "LWARD5", 1, "receive", None).await;
    assert_eq!(w.request(id).await["overdue"], false);
}

#[tokio::test]
async fn missing_notes_temporary_folder_and_merge() {
    let w = hl7_world().await;
    let s = &w.s;
    s.patient(
        &w.library,
        "1904851231",
        "Kleinsample",
        "Barry",
        "1985-04-19",
    )
    .await;
    let f = s.folder(&w.library, "1904851231", "main").await;
    let bc = f["barcode"].as_str().unwrap();
    w.scan(bc, "LLIB", 1, "dispatch", Some("LWARD5")).await;
    w.scan(bc, "LWARD5", 2, "receive", None).await;
    let r = s
        .post(
            Some(&w.library),
            &format!("/api/v1/folders/{bc}/missing"),
            json!({"reason": ""}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "reason");
    let r = s
        .post(
            Some(&w.library),
            &format!("/api/v1/folders/{bc}/missing"),
            json!({"reason": "not on ward 5 shelf"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v = r.json::<Value>().await.unwrap();
    assert_eq!(v["case"]["status"], "open");
    let places: Vec<&str> = v["search_list"]["places"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(places, ["LWARD5", "LLIB"]);
    assert_eq!(v["search_list"]["staff"][0], "S00042");
    assert_eq!(v["search_list"]["devices"][0], "test-scanner");
    let p = s
        .ok_json(s.get(Some(&w.library), "/api/v1/patients/1904851231").await)
        .await;
    assert_eq!(p["folders"][0]["status"], "missing");

    let v = s
        .ok_json(
            s.post(
                Some(&w.library),
                &format!("/api/v1/folders/{bc}/missing/escalate"),
                json!({"note": "searched ward 5 and theatres"}),
            )
            .await,
        )
        .await;
    assert_eq!(v["status"], "escalated");
    let r = s
        .post(
            Some(&w.library),
            &format!("/api/v1/folders/{bc}/missing/temporary"),
            json!({"instruction": "open a temporary folder"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s
        .post(
            Some(&w.manager),
            &format!("/api/v1/folders/{bc}/missing/temporary"),
            json!({"instruction": "clinic tomorrow: open a temporary folder"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v = r.json::<Value>().await.unwrap();
    let temp = v["temporary_folder"]["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(v["temporary_folder"]["folder_type"], "temporary");
    assert_eq!(v["temporary_folder"]["status"], "temporary");
    // The temporary folder is tracked like any other.
    w.scan(&temp, "LLIB", 3, "dispatch", Some("LCLINA")).await;
    let wi = s
        .ok_json(
            s.get(Some(&w.library), &format!("/api/v1/whereis/folder/{temp}"))
                .await,
        )
        .await;
    assert_eq!(wi["current"]["in_transit"], true);
    // The original turns up.
    let v = s
        .ok_json(
            s.post(
                Some(&w.library),
                &format!("/api/v1/folders/{bc}/missing/found"),
                json!({"note": "found in ward 5 office"}),
            )
            .await,
        )
        .await;
    assert_eq!(v["status"], "found");
    assert!(v["note"]
        .as_str()
        .unwrap()
        .contains(&format!("temporary folder {temp} merged into {bc}")));
    let p = s
        .ok_json(s.get(Some(&w.library), "/api/v1/patients/1904851231").await)
        .await;
    let statuses: Vec<(&str, &str)> = p["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["folder_type"].as_str().unwrap(),
                f["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(statuses.contains(&("main", "active")), "{statuses:?}");
    assert!(statuses.contains(&("temporary", "merged")), "{statuses:?}");
    let audit = s
        .ok_json(
            s.get(
                Some(&w.manager),
                "/api/v1/audit?patient=1904851231&limit=200",
            )
            .await,
        )
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in [
        "folder.missing",
        "folder.missing.escalate",
        "folder.temporary",
        "folder.temporary.merge",
        "folder.found",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}
