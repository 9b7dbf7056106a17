//! The tracking server over real HTTP and a real SQLite file.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn ingest_out_of_order_orders_by_read_time() {
    let w = world().await;
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
    // The ward scan (10:30) arrives before the dispatch (10:00) and an older library scan (09:00).
    let late_first = vec![event(bc, "LWARD5", "2026-11-20T10:30:00Z", "receive", None)];
    let r = s
        .post(
            Some(&w.device),
            "/api/v1/events",
            json!({"events": late_first}),
        )
        .await;
    let v = s.ok_json(r).await;
    assert_eq!(v["stored"], 1);
    assert_eq!(v["results"][0]["matched"], true);
    let older = vec![
        event(
            bc,
            "LLIB",
            "2026-11-20T10:00:00Z",
            "dispatch",
            Some("LWARD5"),
        ),
        event(bc, "LLIB", "2026-11-20T09:00:00Z", "seen", None),
    ];
    let v = s
        .ok_json(
            s.post(Some(&w.device), "/api/v1/events", json!({"events": older}))
                .await,
        )
        .await;
    assert_eq!(v["stored"], 2);
    let wi = s
        .ok_json(
            s.get(Some(&w.library), &format!("/api/v1/whereis/folder/{bc}"))
                .await,
        )
        .await;
    assert_eq!(wi["current"]["location"]["code"], "LWARD5", "{wi}");
    assert_eq!(wi["current"]["in_transit"], false);
    assert_eq!(wi["current"]["since"], "2026-11-20T10:30:00.000Z");
    assert_eq!(wi["current"]["seen_by_staff"], "S00042");
    let trail: Vec<&str> = wi["trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["read_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        trail,
        [
            "2026-11-20T10:30:00.000Z",
            "2026-11-20T10:00:00.000Z",
            "2026-11-20T09:00:00.000Z"
        ]
    );
    assert_eq!(wi["patient"]["chi"], "1904851231");
    // Now a dispatch later than everything: the folder is in transit to the clinic.
    let d = vec![event(
        bc,
        "LWARD5",
        "2026-11-21T08:00:00Z",
        "dispatch",
        Some("LCLINA"),
    )];
    s.ok_json(
        s.post(Some(&w.device), "/api/v1/events", json!({"events": d}))
            .await,
    )
    .await;
    let wi = s
        .ok_json(
            s.get(Some(&w.library), &format!("/api/v1/whereis/folder/{bc}"))
                .await,
        )
        .await;
    assert_eq!(wi["current"]["in_transit"], true);
    assert_eq!(wi["current"]["destination"]["code"], "LCLINA");
}

#[tokio::test]
async fn late_event_in_the_middle_recomputes_since() {
    let w = world().await;
    let s = &w.s;
    s.patient(&w.library, "2902201230", "Leap", "Lee", "2020-02-29")
        .await;
    let bc = s.folder(&w.library, "2902201230", "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    let first = vec![
        event(&bc, "LWARD5", "2026-11-20T12:00:00Z", "seen", None),
        event(&bc, "LWARD5", "2026-11-20T14:00:00Z", "seen", None),
    ];
    s.ok_json(
        s.post(Some(&w.device), "/api/v1/events", json!({"events": first}))
            .await,
    )
    .await;
    // A replayed scan from 11:00 at the same ward: the folder has been there since 11:00.
    let late = vec![event(&bc, "LWARD5", "2026-11-20T11:00:00Z", "seen", None)];
    s.ok_json(
        s.post(Some(&w.device), "/api/v1/events", json!({"events": late}))
            .await,
    )
    .await;
    let wi = s
        .ok_json(
            s.get(Some(&w.library), &format!("/api/v1/whereis/folder/{bc}"))
                .await,
        )
        .await;
    assert_eq!(wi["current"]["since"], "2026-11-20T11:00:00.000Z");
    assert_eq!(wi["current"]["last_seen_at"], "2026-11-20T14:00:00.000Z");
}

#[tokio::test]
async fn duplicates_are_stored_once() {
    let w = world().await;
    let s = &w.s;
    s.patient(&w.library, "0101011237", "Twice", "Tam", "2001-01-01")
        .await;
    let bc = s.folder(&w.library, "0101011237", "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    let evs: Vec<Value> = (0..50)
        .map(|i| {
            event(
                &bc,
                "LWARD5",
                &format!("2026-11-20T10:{i:02}:00Z"),
                "seen",
                None,
            )
        })
        .collect();
    let before = s.count("movements").await;
    let v = s
        .ok_json(
            s.post(
                Some(&w.device),
                "/api/v1/events",
                json!({"events": evs.clone()}),
            )
            .await,
        )
        .await;
    assert_eq!(
        (v["stored"].as_i64(), v["duplicates"].as_i64()),
        (Some(50), Some(0))
    );
    let v = s
        .ok_json(
            s.post(Some(&w.device), "/api/v1/events", json!({"events": evs}))
                .await,
        )
        .await;
    assert_eq!(
        (v["stored"].as_i64(), v["duplicates"].as_i64()),
        (Some(0), Some(50))
    );
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "duplicate"));
    assert_eq!(s.count("movements").await - before, 50);
}

#[tokio::test]
async fn batch_reports_per_event_results() {
    let w = world().await;
    let s = &w.s;
    s.patient(
        &w.library,
        "1904851231",
        "Kleinsample",
        "Barry",
        "1985-04-19",
    )
    .await;
    let bc = s.folder(&w.library, "1904851231", "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    let mut bad_time = event(&bc, "LWARD5", "yesterday", "seen", None);
    bad_time["event_id"] = json!("7b0c1f0e-3a55-4d4c-9d5e-3f2a1b0c9d8e");
    let mut wrong_type = event(&bc, "LWARD5", "2026-11-20T10:00:00Z", "seen", None);
    wrong_type["device_id"] = json!(42);
    let unregistered = "F000999999"; // a well-formed id no folder has yet
    let check = casenote_core::identifiers::FolderIdScheme::default()
        .format(999_999)
        .text;
    assert!(check.starts_with(unregistered));
    let evs = vec![
        event(&bc, "LWARD5", "2026-11-20T10:00:00Z", "seen", None),
        event(&bc, "LNOWHERE", "2026-11-20T10:00:00Z", "seen", None),
        bad_time,
        wrong_type,
        event("LWARD5", "LWARD5", "2026-11-20T10:00:00Z", "seen", None),
        event(&check, "LWARD5", "2026-11-20T10:00:00Z", "seen", None),
        event(&bc, "0614141000005", "2026-11-20T11:00:00Z", "seen", None),
    ];
    let v = s
        .ok_json(
            s.post(Some(&w.device), "/api/v1/events", json!({"events": evs}))
                .await,
        )
        .await;
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 7);
    assert_eq!(r[0]["status"], "stored");
    assert_eq!(
        (r[1]["status"].as_str(), r[1]["field"].as_str()),
        (Some("rejected"), Some("location"))
    );
    assert_eq!(
        (r[2]["status"].as_str(), r[2]["field"].as_str()),
        (Some("rejected"), Some("read_at"))
    );
    assert_eq!(r[2]["event_id"], "7b0c1f0e-3a55-4d4c-9d5e-3f2a1b0c9d8e");
    assert_eq!(
        (r[3]["status"].as_str(), r[3]["field"].as_str()),
        (Some("rejected"), Some("device_id"))
    );
    assert_eq!(
        (r[4]["status"].as_str(), r[4]["field"].as_str()),
        (Some("rejected"), Some("raw"))
    );
    assert_eq!(
        (r[5]["status"].as_str(), r[5]["matched"].as_bool()),
        (Some("stored"), Some(false))
    );
    assert_eq!(r[6]["status"], "stored", "GLN resolves the location");
    assert_eq!(
        (v["stored"].as_i64(), v["rejected"].as_i64()),
        (Some(3), Some(4))
    );
    let wi = s
        .ok_json(
            s.get(Some(&w.library), &format!("/api/v1/whereis/folder/{bc}"))
                .await,
        )
        .await;
    assert_eq!(wi["current"]["location"]["code"], "LCODING");
}

/// A batch bigger than one piece (64 events) is stored in pieces, each committed on its own:
/// every event still gets its answer at its own index, an event sent twice in the batch (in
/// different pieces) is stored once, and the folder ends where its latest scan put it.
#[tokio::test]
async fn big_batch_is_stored_in_pieces_with_every_answer_in_place() {
    let w = world().await;
    let s = &w.s;
    s.patient(&w.library, "0101011237", "Pieces", "Pat", "2001-01-01")
        .await;
    let bc = s.folder(&w.library, "0101011237", "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    let mut evs: Vec<Value> = (0..300)
        .map(|i| {
            let t = chrono::DateTime::parse_from_rfc3339("2026-11-20T08:00:00Z").unwrap()
                + chrono::Duration::seconds(i);
            event(&bc, "LWARD5", &t.to_rfc3339(), "seen", None)
        })
        .collect();
    evs[200] = evs[5].clone(); // sent twice: pieces 1 and 4
    evs[150]["location"] = json!("LNOWHERE"); // refused on its own
    evs[299]["location"] = json!("0614141000005"); // the latest scan: the coding room
    let before = s.count("movements").await;
    let v = s
        .ok_json(
            s.post(
                Some(&w.device),
                "/api/v1/events",
                json!({"events": evs.clone()}),
            )
            .await,
        )
        .await;
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 300);
    for (i, (answer, sent)) in r.iter().zip(&evs).enumerate() {
        assert_eq!(
            answer["event_id"], sent["event_id"],
            "answer {i} is in place"
        );
    }
    assert_eq!(r[200]["status"], "duplicate");
    assert_eq!(
        (r[150]["status"].as_str(), r[150]["field"].as_str()),
        (Some("rejected"), Some("location"))
    );
    assert_eq!(
        (
            v["stored"].as_i64(),
            v["duplicates"].as_i64(),
            v["rejected"].as_i64()
        ),
        (Some(298), Some(1), Some(1))
    );
    assert_eq!(s.count("movements").await - before, 298);
    let wi = s
        .ok_json(
            s.get(Some(&w.library), &format!("/api/v1/whereis/folder/{bc}"))
                .await,
        )
        .await;
    assert_eq!(wi["current"]["location"]["code"], "LCODING");
    // sent again whole (as a bridge does after a lost answer): nothing is stored twice
    let v = s
        .ok_json(
            s.post(Some(&w.device), "/api/v1/events", json!({"events": evs}))
                .await,
        )
        .await;
    assert_eq!(
        (v["stored"].as_i64(), v["duplicates"].as_i64()),
        (Some(0), Some(299))
    );
    assert_eq!(s.count("movements").await - before, 298);
}

#[tokio::test]
async fn where_is_by_chi_and_by_name_and_dob() {
    let w = world().await;
    let s = &w.s;
    s.patient(&w.library, "1904851231", "MacLeod", "Barry", "1985-04-19")
        .await;
    s.patient(&w.library, "0101011237", "MacLean", "Ann", "2001-01-01")
        .await;
    let v1 = s.folder(&w.library, "1904851231", "main").await;
    let v2 = s.folder(&w.library, "1904851231", "main").await;
    assert_eq!(
        (v2["volume"].as_i64(), v2["volume_count"].as_i64()),
        (Some(2), Some(2))
    );
    let bc1 = v1["barcode"].as_str().unwrap();
    s.ok_json(
        s.post(
            Some(&w.device),
            "/api/v1/events",
            json!({"events": [event(bc1, "LCLINA", "2026-11-22T09:00:00Z", "seen", None)]}),
        )
        .await,
    )
    .await;
    let wp = s
        .ok_json(
            s.get(Some(&w.clinician), "/api/v1/whereis/patient/1904851231")
                .await,
        )
        .await;
    let vols = wp["folders"].as_array().unwrap();
    assert_eq!(vols.len(), 2);
    assert_eq!(vols[0]["folder"]["volume_count"], 2);
    assert_eq!(vols[0]["current"]["location"]["code"], "LCLINA");
    assert!(
        vols[1]["current"].is_null(),
        "volume 2 never scanned: at home"
    );
    assert_eq!(vols[1]["home_location"], "LLIB");
    let ws = s
        .ok_json(
            s.get(
                Some(&w.clinician),
                "/api/v1/whereis/search?name=macl&dob=1985-04-19",
            )
            .await,
        )
        .await;
    let m = ws["matches"].as_array().unwrap();
    assert_eq!(m.len(), 1, "{ws}");
    assert_eq!(m[0]["patient"]["family_name"], "MacLeod");
    let ps = s
        .ok_json(s.get(Some(&w.library), "/api/v1/patients?name=MACL").await)
        .await;
    assert_eq!(ps.as_array().unwrap().len(), 2);
    // folders at a location, and folders out of the library longer than N days
    let at = s
        .ok_json(
            s.get(Some(&w.porter), "/api/v1/locations/LCLINA/folders")
                .await,
        )
        .await;
    assert_eq!(at["count"], 1);
    let out = s
        .ok_json(
            s.get(Some(&w.library), "/api/v1/reports/out-of-library?days=1")
                .await,
        )
        .await;
    assert_eq!(out["count"], 1);
    assert!(out["folders"][0]["days_out"].as_i64().unwrap() >= 1);
    let out = s
        .ok_json(
            s.get(Some(&w.library), "/api/v1/reports/out-of-library?days=3000")
                .await,
        )
        .await;
    assert_eq!(out["count"], 0);
}

#[tokio::test]
async fn merge_moves_folders_and_keeps_history() {
    let w = world().await;
    let s = &w.s;
    s.patient(&w.library, "1904851231", "Dup", "Dan", "1985-04-19")
        .await;
    s.patient(&w.library, "0101011237", "Dup", "Daniel", "2001-01-01")
        .await;
    let f = s.folder(&w.library, "0101011237", "main").await;
    let bc = f["barcode"].as_str().unwrap();
    s.ok_json(
        s.post(
            Some(&w.device),
            "/api/v1/events",
            json!({"events": [event(bc, "LWARD5", "2026-11-22T09:00:00Z", "seen", None)]}),
        )
        .await,
    )
    .await;
    let body = json!({"retired": "0101011237", "survivor": "1904851231", "reason": "duplicate registration"});
    let r = s
        .post(Some(&w.library), "/api/v1/patients/merge", body.clone())
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let m = s
        .ok_json(
            s.post(Some(&w.manager), "/api/v1/patients/merge", body.clone())
                .await,
        )
        .await;
    assert_eq!(m["folders_moved"].as_array().unwrap().len(), 1);
    assert_eq!(m["retired"]["merged_into"], m["survivor"]["id"]);
    let wp = s
        .ok_json(
            s.get(Some(&w.clinician), "/api/v1/whereis/patient/1904851231")
                .await,
        )
        .await;
    assert_eq!(wp["folders"][0]["folder"]["barcode"], bc);
    assert_eq!(
        wp["folders"][0]["trail"].as_array().unwrap().len(),
        1,
        "history kept"
    );
    let again = s
        .post(Some(&w.manager), "/api/v1/patients/merge", body)
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"]["field"],
        "retired"
    );
    assert_eq!(s.count("patient_merges").await, 1);
}

#[tokio::test]
async fn one_number_one_patient_and_conflicts_name_the_field() {
    let w = world().await;
    let s = &w.s;
    s.patient(
        &w.library,
        "1904851231",
        "Kleinsample",
        "Barry",
        "1985-04-19",
    )
    .await;
    let body = |k: &str| {
        json!({k: "1904851231", "family_name": "Kleinsample", "given_name": "Barry",
               "dob": "1985-04-19", "sex": "male"})
    };
    // the same CHI again, and the same 10 digits given as an NHS number: one person, refused
    for (key, field) in [("chi", "chi"), ("nhs_number", "nhs_number")] {
        let r = s
            .post(Some(&w.library), "/api/v1/patients", body(key))
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{key}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "conflict", "{v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    let r = s
        .post(Some(&w.library), "/api/v1/patients", body("nhs_number"))
        .await;
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already registered for patient"),
        "{v}"
    );
    assert_eq!(s.count("patients").await, 1);
}

#[tokio::test]
async fn roles_are_enforced_and_reads_audited() {
    let w = world().await;
    let s = &w.s;
    s.patient(&w.library, "1904851231", "Secret", "Sam", "1985-04-19")
        .await;
    let bc = s.folder(&w.library, "1904851231", "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    // no token: nothing
    for path in [
        "/api/v1/patients/1904851231",
        &format!("/api/v1/whereis/folder/{bc}"),
        "/api/v1/whereis/patient/1904851231",
    ] {
        let r = s.get(None, path).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = s.get(Some("cs_not-a-real-token"), path).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // porter: location yes, patient details no
    let wi = s
        .ok_json(
            s.get(Some(&w.porter), &format!("/api/v1/whereis/folder/{bc}"))
                .await,
        )
        .await;
    assert!(
        wi.get("patient").is_none(),
        "porters do not see patient details: {wi}"
    );
    assert_eq!(
        s.get(Some(&w.porter), "/api/v1/patients/1904851231")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // device token: ingest only
    assert_eq!(
        s.get(Some(&w.device), &format!("/api/v1/whereis/folder/{bc}"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // clinician cannot register folders; library cannot make users
    let r = s
        .post(
            Some(&w.clinician),
            "/api/v1/folders",
            json!({"patient": "1904851231", "folder_type": "main", "home_location": "LLIB"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "forbidden");
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/users",
            json!({"username": "x", "display_name": "x", "role": "admin", "password": "12345678"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // audit: the clinician's read is recorded against the patient
    let before = s.count("audit_log").await;
    s.ok_json(
        s.get(Some(&w.clinician), "/api/v1/whereis/patient/1904851231")
            .await,
    )
    .await;
    assert_eq!(s.count("audit_log").await, before + 1);
    let rows = s
        .ok_json(
            s.get(Some(&w.manager), "/api/v1/audit?patient=1904851231&limit=5")
                .await,
        )
        .await;
    let r0 = &rows[0];
    assert_eq!(
        (r0["actor"].as_str(), r0["action"].as_str()),
        (Some("user:clinician"), Some("whereis.patient"))
    );
    assert_eq!(
        s.get(Some(&w.clinician), "/api/v1/audit").await.status(),
        StatusCode::FORBIDDEN
    );
    // the hash chain verifies
    let key = tracker_server::audit::AuditKey::load(
        &tracker_server::storage::default_audit_key_path(s.db.path()),
    )
    .unwrap();
    let n =
        s.db.read(move |c| tracker_server::audit::verify(c, &[key]))
            .await
            .unwrap();
    assert!(n.rows > 5 && n.unkeyed == 0, "{n:?}");
    // sign-out ends the session
    assert_eq!(
        s.post(Some(&w.clinician), "/api/v1/auth/logout", json!({}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(Some(&w.clinician), "/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let _ = &w.admin;
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let w = world().await;
    let s = &w.s;
    let patients = s.count("patients").await;
    // malformed CHI
    let r = s.post(Some(&w.library), "/api/v1/patients", json!({"chi": "1904851232", "family_name": "A", "given_name": "B", "dob": "1985-04-19", "sex": "male"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["field"].as_str()),
        (Some("invalid_field"), Some("chi"))
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("check digit"));
    // impossible date in CHI
    let r = s.post(Some(&w.library), "/api/v1/patients", json!({"chi": "2902191230", "family_name": "A", "given_name": "B", "dob": "2019-02-28", "sex": "male"})).await;
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["field"], "chi");
    // wrong type
    let r = s.post(Some(&w.library), "/api/v1/patients", json!({"chi": 1904851231u64, "family_name": "A", "given_name": "B", "dob": "1985-04-19", "sex": "male"})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["field"], "chi", "{e}");
    // unknown field, malformed JSON, wrong content type
    let r = s.post(Some(&w.library), "/api/v1/patients", json!({"chi": "1904851231", "family_name": "A", "given_name": "B", "dob": "1985-04-19", "sex": "male", "shoe_size": 9})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .client
        .post(format!("{}/api/v1/patients", s.base))
        .bearer_auth(&w.library)
        .header("content-type", "application/json")
        .body("{\"chi\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );
    let r = s
        .client
        .post(format!("{}/api/v1/patients", s.base))
        .bearer_auth(&w.library)
        .body("chi=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(s.count("patients").await, patients);
    // unknown location for a folder
    s.patient(&w.library, "1904851231", "A", "B", "1985-04-19")
        .await;
    let folders = s.count("folders").await;
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/folders",
            json!({"patient": "1904851231", "folder_type": "main", "home_location": "LMOON"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "home_location"
    );
    assert_eq!(s.count("folders").await, folders);
    // oversized body
    let movements = s.count("movements").await;
    let huge = "x".repeat(3 * 1024 * 1024);
    let r = s
        .post(
            Some(&w.device),
            "/api/v1/events",
            json!({"events": [], "pad": huge}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "body_too_large"
    );
    // too many events
    let many: Vec<Value> = (0..5001).map(|_| json!({})).collect();
    let r = s
        .post(Some(&w.device), "/api/v1/events", json!({"events": many}))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(s.count("movements").await, movements);
    // bad query values name the field
    let r = s
        .get(Some(&w.library), "/api/v1/reports/out-of-library?days=lots")
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "days");
    // bad barcode check character
    let r = s
        .get(Some(&w.library), "/api/v1/whereis/folder/F0000000010")
        .await;
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["field"], "barcode", "{e}");
}

/// After five failures the right password still signs in, only slower (no lock-out; the
/// security suite covers the per-address refusal).
#[tokio::test]
async fn sign_in_is_slowed_not_locked() {
    let s = start().await;
    for _ in 0..5 {
        let r = s
            .post(
                None,
                "/api/v1/auth/login",
                json!({"username": "library", "password": "wrong-password"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let t = std::time::Instant::now();
    let r = s
        .post(
            None,
            "/api/v1/auth/login",
            json!({"username": "library", "password": PW}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(t.elapsed() >= std::time::Duration::from_millis(900));
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let w = world().await;
    let s = &w.s;
    let doc = s.ok_json(s.get(None, "/api/v1/openapi.json").await).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20);
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let url = format!(
                "{}{}",
                s.base,
                path.replace("{id}", "1904851231")
                    .replace("{barcode}", "F0000000010")
                    .replace("{code}", "LLIB")
            );
            let r = s
                .client
                .request(method.to_uppercase().parse().unwrap(), &url)
                .bearer_auth(&w.admin)
                .send()
                .await
                .unwrap();
            let streaming = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            if streaming {
                continue; // routed: the live desk view never ends
            }
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert_ne!(
                body["error"]["code"], "no_such_endpoint",
                "{method} {path} is described but not routed"
            );
        }
    }
}

#[tokio::test]
async fn device_heartbeat_is_listed() {
    let w = world().await;
    let s = &w.s;
    let hb = json!({"bridge_id": "ward5-pc", "devices": [{"device_id": "ward5-portal", "description": "portal", "online": true, "queue_depth": 3, "oldest_event_age_s": 12}]});
    s.ok_json(
        s.post(Some(&w.device), "/api/v1/devices/heartbeat", hb)
            .await,
    )
    .await;
    let d = s
        .ok_json(s.get(Some(&w.library), "/api/v1/devices").await)
        .await;
    assert_eq!(d[0]["queue_depth"], 3);
    assert_eq!(d[0]["online"], true);
    assert_eq!(
        d[0]["foreign_reads"], 0,
        "older bridges leave the counts out"
    );
    // a portal reading other systems' tags says so, and the Devices page shows it
    let hb = json!({"bridge_id": "ward5-pc", "devices": [{"device_id": "ward5-portal", "online": true,
        "foreign_reads": 340, "corrupt_messages": 2, "refused_scans": 1, "reads": 9000, "reader_errors": 7,
        "last_error": "antenna 2: antenna missing (reader error 0x22)"}]});
    s.ok_json(
        s.post(Some(&w.device), "/api/v1/devices/heartbeat", hb)
            .await,
    )
    .await;
    let d = s
        .ok_json(s.get(Some(&w.library), "/api/v1/devices").await)
        .await;
    assert_eq!(
        (
            &d[0]["foreign_reads"],
            &d[0]["corrupt_messages"],
            &d[0]["refused_scans"]
        ),
        (&json!(340), &json!(2), &json!(1))
    );
    let (_, page) = s.page(&w.library, "/admin/devices").await;
    assert!(
        page.contains("340 other tags")
            && page.contains("2 corrupt")
            && page.contains("antenna 2: antenna missing (reader error 0x22)"),
        "{page}"
    );
}

/// Issue 13: the server keeps each device's read rate against its own norm. With ten days of
/// history in the hourly counts (back-dated through the ledger) and heartbeats over HTTP: a
/// portal whose reads fell to a tenth is "below normal", one with no read for twelve hours is
/// "silent", one reading as usual is "normal" and a scanner heard two days ago is "learning";
/// on the API, the Devices page and the report (page and CSV, silent first), which porters may
/// not see. A bridge restart (its counter going down) counts the new reads.
#[tokio::test]
async fn device_read_rate_against_its_norm() {
    use tracker_server::ledger::read_norms::{hours, record_reads};
    const HOUR: i64 = 3_600_000;
    // the whole test within one clock hour, so that "the last six whole hours" do not move
    let into_hour = tracker_server::util::now_ms().rem_euclid(HOUR);
    if into_hour > HOUR - 30_000 {
        tokio::time::sleep(std::time::Duration::from_millis(
            (HOUR - into_hour + 1_000) as u64,
        ))
        .await;
    }
    let w = world().await;
    let s = &w.s;
    let now_hour = tracker_server::util::now_ms().div_euclid(HOUR);
    // Ten days of 100 reads an hour up to the last whole hour, as the heartbeats would have
    // left them. For the last 12 hours ward 5's antenna is detuned (10 an hour) and ward 7's
    // reader is off (its bridge still reports: 0 reads).
    s.db.write(move |c| {
        for h in (now_hour - 24 * 10)..now_hour {
            let t = h * HOUR + 60_000;
            let recent = h >= now_hour - 12;
            record_reads(c, "ward5-portal", None, t, if recent { 10 } else { 100 })?;
            record_reads(c, "ward7-portal", None, t, if recent { 0 } else { 100 })?;
            record_reads(c, "ward9-portal", None, t, 100)?;
            if h >= now_hour - 48 {
                record_reads(c, "library-scanner", None, t, 100)?;
            }
        }
        Ok(())
    })
    .await
    .unwrap();
    let hb = |ward5: u64, ward9: u64| {
        json!({"bridge_id": "wards-pc", "devices": [
            {"device_id": "ward5-portal", "description": "Ward 5 door", "online": true, "reads": ward5},
            {"device_id": "ward7-portal", "description": "Ward 7 door", "online": true, "reads": 0},
            {"device_id": "ward9-portal", "online": true, "reads": ward9},
            {"device_id": "library-scanner", "online": true, "reads": 4, "last_error": "@SUM(A1)"}]})
    };
    // ward 9's counter: 100, 150, then the bridge restarts and has counted 30 since
    for ward9 in [100, 150, 30] {
        s.ok_json(
            s.post(Some(&w.device), "/api/v1/devices/heartbeat", hb(10, ward9))
                .await,
        )
        .await;
    }
    let this_hour =
        s.db.read(move |c| hours(c, "ward9-portal", now_hour))
            .await
            .unwrap();
    assert_eq!(
        this_hour.into_iter().collect::<Vec<_>>(),
        [(now_hour, 100 + 50 + 30)],
        "the restart's 30 reads are new reads"
    );
    let ward5_now =
        s.db.read(move |c| hours(c, "ward5-portal", now_hour))
            .await
            .unwrap();
    assert_eq!(
        ward5_now.get(&now_hour),
        Some(&10),
        "10 once, then no change"
    );

    let d = s
        .ok_json(s.get(Some(&w.library), "/api/v1/devices").await)
        .await;
    let health = |id: &str| {
        d.as_array()
            .unwrap()
            .iter()
            .find(|x| x["device_id"] == id)
            .unwrap_or_else(|| panic!("{id} in {d}"))["read_health"]
            .clone()
    };
    let ward5 = health("ward5-portal");
    assert_eq!(
        (&ward5["verdict"], &ward5["recent"], &ward5["norm"]),
        (&json!("below_normal"), &json!(60), &json!(600)),
        "{d}"
    );
    assert_eq!(
        (&ward5["window_hours"], &ward5["history_days"]),
        (&json!(6), &json!(9))
    );
    assert_eq!(ward5["summary"], "below normal: 60 in 6 h, norm 600");
    let ward7 = health("ward7-portal");
    assert_eq!(
        (
            &ward7["verdict"],
            &ward7["silent_hours"],
            &ward7["usual_when_silent"]
        ),
        (&json!("silent"), &json!(12), &json!(1_200)),
        "{d}"
    );
    assert_eq!(
        ward7["summary"],
        "silent for 12 h (usually 1,200 reads in those hours)"
    );
    let ward9 = health("ward9-portal");
    assert_eq!(
        (&ward9["verdict"], &ward9["recent"], &ward9["norm"]),
        (&json!("normal"), &json!(600), &json!(600)),
        "{d}"
    );
    assert_eq!(ward9["silent_hours"], Value::Null);
    let library = health("library-scanner");
    assert_eq!(
        (
            &library["verdict"],
            &library["norm"],
            &library["history_days"]
        ),
        (&json!("learning"), &Value::Null, &json!(1)),
        "{d}"
    );

    let (st, devices) = w.s.page(&w.library, "/admin/devices").await;
    assert_eq!(st, StatusCode::OK);
    for (class, text) in [
        ("tag bad", "below normal: 60 in 6 h, norm 600"),
        (
            "tag bad",
            "silent for 12 h (usually 1,200 reads in those hours)",
        ),
        ("tag ok", "normal (600 in 6 h, norm 600)"),
        ("tag info", "learning (1 of 3 days of history)"),
    ] {
        assert!(
            devices.contains(&format!("<span class=\"{class}\">{text}</span>")),
            "{class} {text}: {devices}"
        );
    }
    assert!(devices.contains("href=\"/reports/device-health\""));

    let (st, report) = w.s.page(&w.manager, "/reports/device-health").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        report.contains("<strong>1</strong> silent, <strong>1</strong> below normal, 1 learning, of 4 device(s)"),
        "{report}"
    );
    // silent first, then below normal, learning, normal
    let at = |id: &str| {
        report
            .find(&format!("<td>{id}<br>"))
            .unwrap_or_else(|| panic!("{id}: {report}"))
    };
    assert!(at("ward7-portal") < at("ward5-portal"));
    assert!(at("ward5-portal") < at("library-scanner"));
    assert!(at("library-scanner") < at("ward9-portal"));

    let (st, csv) =
        w.s.page(&w.library, "/reports/device-health?format=csv")
            .await;
    assert_eq!(st, StatusCode::OK);
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        ids,
        [
            "ward7-portal",
            "ward5-portal",
            "library-scanner",
            "ward9-portal"
        ]
    );
    assert_eq!(
        rows[1][..10],
        [
            "ward5-portal",
            "Ward 5 door",
            "wards-pc",
            "true",
            "below_normal",
            "below normal: 60 in 6 h, norm 600",
            "6",
            "60",
            "600",
            "9"
        ]
    );
    assert_eq!(rows[0][10..12], ["12", "1200"]);
    // what a bridge reports is text, never a formula, in a spreadsheet
    assert_eq!(rows[2][14], "'@SUM(A1)");

    // the report is for those who may read reports, like the Devices page
    for token in [&w.porter, &w.clinician] {
        let (st, body) = w.s.page(token, "/reports/device-health").await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(!body.contains("ward7-portal"));
    }
}
