//! Records lifecycle over real HTTP and a real SQLite file: retention rules with real dates,
//! the coding queue from a discharge, scanned documents (upload, audited view, path traversal
//! refused), two-person destruction with certificate, tombstone and legal hold, subject access
//! due dates, and statistics checked against hand-computed figures.

mod common;

use chrono::NaiveDate;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tracker_server::lifecycle::retention::{evaluate, Facts, RetentionConfig};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A valid CHI number for a date of birth (DD, MM, YY) with a check digit (mod 11).
fn chi(dob: &str, serial: u32) -> String {
    let dd = d(dob);
    for s in serial..serial + 50 {
        let base = format!("{}{:03}", dd.format("%d%m%y"), s % 1000);
        let sum: u32 = base
            .chars()
            .zip((2..=10).rev())
            .map(|(c, w)| c.to_digit(10).unwrap() * w)
            .sum();
        let check = (11 - sum % 11) % 11;
        if check < 10 {
            return format!("{base}{check}");
        }
    }
    unreachable!()
}

async fn err_field(r: reqwest::Response) -> (StatusCode, Value) {
    let s = r.status();
    (s, r.json::<Value>().await.unwrap())
}

// ---------- retention rules with real dates ----------

#[test]
fn retention_rules_with_real_dates() {
    let rules = RetentionConfig::default().rules;
    let due = |t: &str, dob: &str, last: &str, death: Option<&str>| {
        let x = evaluate(
            &rules,
            &Facts {
                folder_type: t.into(),
                dob: d(dob),
                last_entry: d(last),
                date_of_death: death.map(d),
            },
        )
        .unwrap();
        (x.rule, x.due_on.to_string())
    };
    // Adult: 6 years after the last entry.
    assert_eq!(
        due("main", "1980-05-01", "2020-03-15", None),
        ("adult".into(), "2026-03-15".into())
    );
    // Adult whose last entry was on 29 February: 1 March six years on (2026 is not leap).
    assert_eq!(
        due("main", "1980-05-01", "2020-02-29", None),
        ("adult".into(), "2026-03-01".into())
    );
    // A child (8 at the last entry) is kept to the 25th birthday.
    assert_eq!(
        due("main", "2001-06-10", "2009-08-01", None),
        ("children".into(), "2026-06-10".into())
    );
    // 17 at the conclusion of treatment: the 26th birthday.
    assert_eq!(
        due("main", "2003-02-01", "2020-12-01", None),
        ("children".into(), "2029-02-01".into())
    );
    // 18 at the end is an adult: 6 years after the last entry.
    assert_eq!(
        due("main", "2002-02-01", "2020-12-01", None),
        ("adult".into(), "2026-12-01".into())
    );
    // Born 29 February 2004: the 25th birthday in 2029 (not leap) is taken as 1 March.
    assert_eq!(
        due("main", "2004-02-29", "2012-05-05", None),
        ("children".into(), "2029-03-01".into())
    );
    // Born 29 February 2008, 17 at the end (turned 17 on 1 March 2025): 26th birthday 1 March 2034.
    assert_eq!(
        due("paediatric", "2008-02-29", "2025-06-01", None),
        ("children".into(), "2034-03-01".into())
    );
    // Still 16 on 28 February 2025 (the 17th anniversary is 1 March): 25th birthday.
    assert_eq!(
        due("main", "2008-02-29", "2025-02-28", None),
        ("children".into(), "2033-03-01".into())
    );
    // Deceased: 3 years after death (on 29 Feb 2024 -> 1 Mar 2027).
    assert_eq!(
        due("main", "1950-01-01", "2024-02-10", Some("2024-02-29")),
        ("deceased".into(), "2027-03-01".into())
    );
    assert_eq!(
        due("main", "1950-01-01", "2023-05-01", Some("2023-05-10")),
        ("deceased".into(), "2026-05-10".into())
    );
    // Maternity 25 years and mental health 20 years, before the deceased rule.
    assert_eq!(
        due("maternity", "1990-01-01", "2020-07-01", Some("2021-01-01")),
        ("maternity".into(), "2045-07-01".into())
    );
    assert_eq!(
        due("mental_health", "1990-01-01", "2020-07-01", None),
        ("mental_health".into(), "2040-07-01".into())
    );
}

// ---------- a small world ----------

/// The common world, with the PAS ward code W5 mapped to LWARD5.
async fn world_with(tweak: impl FnOnce(&mut tracker_server::config::Config)) -> World {
    common::world_with(|c| {
        c.hl7.locations.insert("W5".into(), "LWARD5".into());
        tweak(c)
    })
    .await
}

fn hl7(ctl: &str, event: &str, tail: &str) -> String {
    format!(
        "MSH|^~\\&|TrakCare|GGC|CASENOTE|TRACKER|20261125090000||ADT^{event}^ADT_{event}|{ctl}|P|2.5\rEVN|{event}|20261125090000\rPID|||1904851231^^^CHI^NH||KLEINSAMPLE^BARRY||19850419|M\r{tail}"
    )
}

impl World {
    async fn hl7(&self, msg: String) {
        let r = self
            .s
            .post(
                Some(&self.library),
                "/api/v1/hl7/messages",
                json!({ "message": msg }),
            )
            .await;
        let v = self.s.ok_json(r).await;
        assert_eq!(v["ack_code"], "AA", "{v}");
    }

    async fn audit_count(&self, action: &'static str) -> i64 {
        self.s
            .db
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM audit_log WHERE action=?1",
                    [action],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap()
    }
}

// ---------- coding ----------

#[tokio::test]
async fn coding_queue_from_a_discharge() {
    let w = world_with(|_| {}).await;
    let visit = format!("PV1||I|W5^1^1^GGC{}V123", "|".repeat(16));
    w.hl7(hl7("C1", "A01", &visit)).await;
    w.hl7(hl7("C2", "A03", &visit)).await;
    let q =
        w.s.ok_json(w.s.get(Some(&w.library), "/api/v1/coding/queue").await)
            .await;
    assert_eq!(q["count"], 1, "{q}");
    assert_eq!(q["new_from_adt"], 1);
    let ep = &q["episodes"][0];
    assert_eq!(ep["source"], "adt");
    assert_eq!(ep["encounter"], "V123");
    assert!(ep["admitted_at"].is_string(), "{ep}");
    assert!(ep["discharge_request_id"].is_i64());
    assert_eq!(ep["status"], "awaiting_coding");
    let id = ep["id"].as_i64().unwrap();
    // Reading the queue again does not create the episode twice.
    let q =
        w.s.ok_json(w.s.get(Some(&w.library), "/api/v1/coding/queue").await)
            .await;
    assert_eq!(
        (q["count"].as_i64(), q["new_from_adt"].as_i64()),
        (Some(1), Some(0))
    );

    let path = format!("/api/v1/coding/episodes/{id}/codes");
    // Format errors name the field.
    let (st, v) = err_field(
        w.s.post(
            Some(&w.library),
            &path,
            json!({"diagnoses": ["J18.9", "J1"]}),
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["field"], "diagnoses[1]");
    let (st, v) = err_field(
        w.s.post(
            Some(&w.library),
            &path,
            json!({"diagnoses": ["J18.9"], "procedures": ["W37"]}),
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["field"], "procedures[0]");

    // Load code lists: CSV with a header for ICD-10, TSV for OPCS-4. Only managers may.
    let icd = "code,description\nJ18.9,Pneumonia unspecified\nA170,Tuberculous meningitis\nG01*,Meningitis in bacterial diseases\n";
    let load = |tok: &str, scheme: &str, body: &str| {
        w.s.client
            .post(format!("{}/api/v1/coding/code-lists/{scheme}", w.s.base))
            .bearer_auth(tok.to_string())
            .header("content-type", "text/csv")
            .body(body.to_string())
            .send()
    };
    assert_eq!(
        load(&w.library, "icd10", icd).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let v: Value = load(&w.manager, "icd10", icd)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["entries"].as_i64(), v["skipped_header"].as_bool()),
        (Some(3), Some(true)),
        "{v}"
    );
    let v: Value = load(
        &w.manager,
        "opcs4",
        "W37.1\tPrimary total hip replacement\nH01.1\tEmergency excision of appendix\n",
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(v["entries"], 2, "{v}");
    let bad = load(&w.manager, "opcs4", "W37.1\tok\nnonsense\tbad\n")
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A well-formed code missing from the loaded list is refused, naming the field.
    let (st, v) = err_field(
        w.s.post(
            Some(&w.library),
            &path,
            json!({"diagnoses": ["J18.9", "K35.8"], "procedures": ["W37.1"]}),
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["field"], "diagnoses[1]");
    let (_, v) = err_field(
        w.s.post(
            Some(&w.library),
            &path,
            json!({"diagnoses": ["J18.9"], "procedures": ["W38.1"]}),
        )
        .await,
    )
    .await;
    assert_eq!(v["error"]["field"], "procedures[0]");

    // Coded, with a dagger/asterisk pair.
    let v =
        w.s.ok_json(
            w.s.post(
                Some(&w.library),
                &path,
                json!({"diagnoses": ["J18.9", "A17.0† G01*"], "procedures": ["w371"]}),
            )
            .await,
        )
        .await;
    assert_eq!(v["status"], "coded");
    assert_eq!(
        v["diagnoses"][1],
        json!({"code": "A17.0", "asterisk": "G01"})
    );
    assert_eq!(v["procedures"], json!(["W37.1"]));
    let q =
        w.s.ok_json(w.s.get(Some(&w.library), "/api/v1/coding/queue").await)
            .await;
    assert_eq!(q["count"], 0);

    // An episode recorded by hand joins the queue; the backlog counts it by band.
    let r = w
        .s
        .post(
            Some(&w.library),
            "/api/v1/coding/episodes",
            json!({"patient": "1904851231", "admitted_at": "2025-03-01T10:00:00Z", "discharged_at": "2025-03-10T12:00:00Z"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let b =
        w.s.ok_json(
            w.s.get(Some(&w.library), "/api/v1/coding/backlog?as_of=2025-05-15")
                .await,
        )
        .await;
    // 31 March to 15 May is 45 days: 6 whole weeks.
    assert_eq!(b["awaiting"], 1);
    assert_eq!(
        b["bands"],
        json!([
            ["under 4 weeks", 0],
            ["4+ weeks", 0],
            ["6+ weeks", 1],
            ["13+ weeks", 0]
        ])
    );
    assert_eq!(
        w.s.get(Some(&w.porter), "/api/v1/coding/queue")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

// ---------- digitisation ----------

#[tokio::test]
async fn upload_view_audited_and_path_traversal_refused() {
    let scans = tempfile::tempdir().unwrap();
    let dir = scans.path().join("store");
    let d2 = dir.clone();
    let w = world_with(move |c| {
        c.digitisation.storage_dir = d2;
        c.digitisation.max_upload_bytes = 4096;
    })
    .await;
    let r =
        w.s.post(
            Some(&w.manager),
            "/api/v1/locations",
            json!({"code": "LBUREAU", "name": "Scanning bureau", "kind": "scanning_bureau"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    w.s.patient(
        &w.library,
        "1904851231",
        "KLEINSAMPLE",
        "BARRY",
        "1985-04-19",
    )
    .await;
    let f = w.s.folder(&w.library, "1904851231", "main").await;
    let bc = f["barcode"].as_str().unwrap().to_string();

    // A batch to the bureau: the folder is sent_for_scanning.
    let (st, v) = err_field(
        w.s.post(
            Some(&w.library),
            "/api/v1/digitisation/batches",
            json!({"bureau": "LLIB", "folders": [bc]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("bureau"))
    );
    let b =
        w.s.ok_json(
            w.s.post(
                Some(&w.library),
                "/api/v1/digitisation/batches",
                json!({"bureau": "LBUREAU", "folders": [bc], "note": "box 1"}),
            )
            .await,
        )
        .await;
    let batch = b["id"].as_i64().unwrap();
    assert_eq!(b["folders"][0]["folder_status"], "sent_for_scanning");

    let upload = |body: Vec<u8>, query: &str| {
        w.s.client
            .post(format!("{}/api/v1/folders/{bc}/documents{query}", w.s.base))
            .bearer_auth(w.library.clone())
            .header("content-type", "application/pdf")
            .body(body)
            .send()
    };
    // Not a PDF or TIFF by its first bytes, whatever the content type says.
    let (st, v) = err_field(upload(b"<html>hello</html>".to_vec(), "").await.unwrap()).await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("body"))
    );
    // Too large.
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(5000, b'x');
    assert_eq!(
        upload(big, "").await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // A real upload; a hostile file name is ignored.
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n".to_vec();
    let sha = hex::encode(Sha256::digest(&pdf));
    let r = upload(pdf.clone(), "?filename=../../../../tmp/evil.pdf")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["sha256"], sha);
    assert_eq!(doc["media_type"], "application/pdf");
    assert_eq!(doc["batch_id"], batch);
    let stored = dir.join(&sha[..2]).join(&sha);
    assert_eq!(std::fs::read(&stored).unwrap(), pdf);
    assert!(!std::path::Path::new("/tmp/evil.pdf").exists());
    let files: Vec<_> = walk(&dir);
    assert_eq!(files, vec![stored.clone()]);
    // TIFF is accepted too.
    let tiff = b"II*\0\x08\0\0\0rest".to_vec();
    let r = upload(tiff, "").await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap()["media_type"], "image/tiff");

    // Viewing is for authorised users only, and every view is audited.
    let id = doc["id"].as_i64().unwrap();
    assert_eq!(
        w.s.get(Some(&w.porter), &format!("/api/v1/documents/{id}"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.s.get(None, &format!("/api/v1/documents/{id}"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(w.audit_count("document.view").await, 0);
    let r =
        w.s.get(Some(&w.clinician), &format!("/api/v1/documents/{id}"))
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.bytes().await.unwrap().to_vec(), pdf);
    let r =
        w.s.get(
            Some(&w.clinician),
            &format!("/api/v1/documents/by-hash/{sha}"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(w.audit_count("document.view").await, 2);
    // Path traversal through the hash is refused, naming the field.
    for evil in ["..%2F..%2F..%2Fetc%2Fpasswd", "0123abc", "%2E%2E%2Fstore"] {
        let (st, v) = err_field(
            w.s.get(
                Some(&w.clinician),
                &format!("/api/v1/documents/by-hash/{evil}"),
            )
            .await,
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{evil}: {v}");
        assert_eq!(v["error"]["field"], "sha256");
    }
    assert_eq!(w.audit_count("document.view").await, 2);

    // QA, then the paper goes back to the library: active again; the batch is complete.
    let qa = format!("/api/v1/digitisation/batches/{batch}/folders/{bc}/qa");
    let disp = format!("/api/v1/digitisation/batches/{batch}/folders/{bc}/disposition");
    let (st, _) = err_field(
        w.s.post(Some(&w.library), &disp, json!({"disposition": "returned"}))
            .await,
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    w.s.ok_json(
        w.s.post(Some(&w.library), &qa, json!({"result": "passed"}))
            .await,
    )
    .await;
    let v =
        w.s.ok_json(
            w.s.post(Some(&w.library), &disp, json!({"disposition": "returned"}))
                .await,
        )
        .await;
    assert_eq!(v["batch"]["status"], "completed");
    assert_eq!(v["batch"]["folders"][0]["folder_status"], "active");
    assert_eq!(v["batch"]["folders"][0]["documents"], 2);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

// ---------- retention and destruction ----------

#[tokio::test]
async fn two_person_destruction_with_certificate_tombstone_and_legal_hold() {
    let w = world_with(|_| {}).await;
    let c = chi("1950-01-01", 100);
    w.s.patient(&w.library, &c, "OLDSAMPLE", "ANNE", "1950-01-01")
        .await;
    let f = w.s.folder(&w.library, &c, "main").await;
    let bc = f["barcode"].as_str().unwrap().to_string();

    // The folder was created today: under the adult rule it is not due for six years.
    let (st, v) = err_field(
        w.s.post(
            Some(&w.manager),
            "/api/v1/retention/destructions",
            json!({"folder": bc, "reason": "due"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("folder")),
        "{v}"
    );
    let due =
        w.s.ok_json(w.s.get(Some(&w.manager), "/api/v1/retention/due").await)
            .await;
    assert_eq!(due["count"], 0);

    // Record the death (2020-01-15): due 3 years later.
    let (st, v) = err_field(
        w.s.post(
            Some(&w.library),
            &format!("/api/v1/patients/{c}/death"),
            json!({"date_of_death": "2999-01-01"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("date_of_death"))
    );
    w.s.ok_json(
        w.s.post(
            Some(&w.library),
            &format!("/api/v1/patients/{c}/death"),
            json!({"date_of_death": "2020-01-15"}),
        )
        .await,
    )
    .await;
    // The folder was created today, which is its last entry; a deceased rule counts from death.
    let due =
        w.s.ok_json(
            w.s.get(Some(&w.manager), "/api/v1/retention/due?as_of=2099-01-01")
                .await,
        )
        .await;
    assert_eq!(due["count"], 1, "{due}");
    assert_eq!(due["folders"][0]["rule"], "deceased");
    assert_eq!(due["folders"][0]["due_on"], "2023-01-15");
    assert_eq!(due["folders"][0]["rule_confirmed"], false);
    assert_eq!(
        w.s.get(Some(&w.library), "/api/v1/retention/due")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // Legal hold blocks the request.
    let hold = format!("/api/v1/folders/{bc}/legal-hold");
    let r =
        w.s.post(Some(&w.manager), &hold, json!({"reason": "claim 2026/17"}))
            .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r =
        w.s.post(
            Some(&w.manager),
            "/api/v1/retention/destructions",
            json!({"folder": bc, "reason": "retention period over"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    w.s.ok_json(
        w.s.post(
            Some(&w.manager),
            &format!("{hold}/release"),
            json!({"note": "claim settled"}),
        )
        .await,
    )
    .await;

    let d =
        w.s.ok_json(
            w.s.post(
                Some(&w.manager),
                "/api/v1/retention/destructions",
                json!({"folder": bc, "reason": "retention period over"}),
            )
            .await,
        )
        .await;
    let id = d["id"].as_i64().unwrap();
    assert_eq!(d["status"], "pending");
    assert_eq!(d["rule"], "deceased");
    // The requester cannot approve their own request.
    let r =
        w.s.post(
            Some(&w.manager),
            &format!("/api/v1/retention/destructions/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A hold placed while pending blocks the approval too.
    w.s.post(Some(&w.manager), &hold, json!({"reason": "inquiry"}))
        .await;
    let r =
        w.s.post(
            Some(&w.admin),
            &format!("/api/v1/retention/destructions/{id}/approve"),
            json!({"note": "checked"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    w.s.ok_json(
        w.s.post(
            Some(&w.manager),
            &format!("{hold}/release"),
            json!({"note": "closed"}),
        )
        .await,
    )
    .await;
    // No certificate before approval.
    assert_eq!(
        w.s.get(
            Some(&w.admin),
            &format!("/api/v1/retention/destructions/{id}/certificate")
        )
        .await
        .status(),
        StatusCode::CONFLICT
    );
    let d =
        w.s.ok_json(
            w.s.post(
                Some(&w.admin),
                &format!("/api/v1/retention/destructions/{id}/approve"),
                json!({"note": "checked against the list"}),
            )
            .await,
        )
        .await;
    assert_eq!(d["status"], "approved");
    assert_eq!(d["decided_by"], "user:admin");
    let sha = d["certificate_sha256"].as_str().unwrap().to_string();

    // The certificate's text hashes to the recorded SHA-256.
    let r =
        w.s.get(
            Some(&w.manager),
            &format!("/api/v1/retention/destructions/{id}/certificate"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-certificate-sha256"], sha.as_str());
    let text = r.text().await.unwrap();
    let (cert, last) = text.rsplit_once("SHA-256 of the text above: ").unwrap();
    assert_eq!(last.trim(), sha);
    assert_eq!(hex::encode(Sha256::digest(cert.as_bytes())), sha);
    assert!(
        cert.contains(&bc) && cert.contains("user:records_manager") && cert.contains("user:admin")
    );

    // Not deleted: the folder is destroyed, with a tombstone.
    let st: String = {
        let fid = f["id"].as_i64().unwrap();
        w.s.db
            .read(move |c| {
                Ok(
                    c.query_row("SELECT status FROM folders WHERE id=?1", [fid], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
            .unwrap()
    };
    assert_eq!(st, "destroyed");
    let t =
        w.s.ok_json(
            w.s.get(Some(&w.manager), &format!("/api/v1/folders/{bc}/tombstone"))
                .await,
        )
        .await;
    assert_eq!(t["barcode"], bc.as_str());
    assert_eq!(t["approved_by"], "user:admin");
    assert_eq!(t["requested_by"], "user:records_manager");
    assert_eq!(t["reason"], "retention period over");
    assert_eq!(t["patient_identifier"], format!("CHI {c}"));
    assert_eq!(t["certificate_sha256"], sha.as_str());
    // Destroyed folders leave the due list and cannot be destroyed again.
    let due =
        w.s.ok_json(
            w.s.get(Some(&w.manager), "/api/v1/retention/due?as_of=2099-01-01")
                .await,
        )
        .await;
    assert_eq!(due["count"], 0);
    assert_eq!(w.audit_count("retention.destruction.approve").await, 1);
}

// ---------- external requests ----------

#[tokio::test]
async fn subject_access_due_dates_and_extension() {
    let w = world_with(|_| {}).await;
    w.s.patient(
        &w.library,
        "1904851231",
        "KLEINSAMPLE",
        "BARRY",
        "1985-04-19",
    )
    .await;
    let mk = |kind: &str, received: &str| {
        w.s.post(
            Some(&w.library),
            "/api/v1/external-requests",
            json!({"kind": kind, "patient": "1904851231", "requester": "the patient", "received_on": received}),
        )
    };
    // One calendar month: 31 January -> 29 February in a leap year, 28 February otherwise.
    let a = w.s.ok_json(mk("sar", "2024-01-31").await).await;
    assert_eq!(a["due_on"], "2024-02-29");
    let b = w.s.ok_json(mk("sar", "2023-01-31").await).await;
    assert_eq!(b["due_on"], "2023-02-28");
    let c = w.s.ok_json(mk("sar", "2023-03-15").await).await;
    assert_eq!(c["due_on"], "2023-04-15");
    assert_eq!(b["overdue"], true);
    // Extension: by up to two further months in total.
    let id = b["id"].as_i64().unwrap();
    let ext = format!("/api/v1/external-requests/{id}/extend");
    let v =
        w.s.ok_json(
            w.s.post(
                Some(&w.library),
                &ext,
                json!({"months": 1, "reason": "complex"}),
            )
            .await,
        )
        .await;
    assert_eq!(v["due_on"], "2023-03-31");
    let v =
        w.s.ok_json(
            w.s.post(
                Some(&w.library),
                &ext,
                json!({"months": 1, "reason": "still complex"}),
            )
            .await,
        )
        .await;
    assert_eq!(v["due_on"], "2023-04-30");
    assert_eq!(v["extended_months"], 2);
    let (st, e) = err_field(
        w.s.post(
            Some(&w.library),
            &ext,
            json!({"months": 1, "reason": "more"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("months"))
    );
    // Overdue as of a date, then completed.
    let v =
        w.s.ok_json(
            w.s.get(
                Some(&w.library),
                &format!("/api/v1/external-requests/{id}?as_of=2023-04-30"),
            )
            .await,
        )
        .await;
    assert_eq!(v["overdue"], false);
    let v =
        w.s.ok_json(
            w.s.get(
                Some(&w.library),
                &format!("/api/v1/external-requests/{id}?as_of=2023-05-01"),
            )
            .await,
        )
        .await;
    assert_eq!(v["overdue"], true);
    let l =
        w.s.ok_json(
            w.s.get(
                Some(&w.library),
                "/api/v1/external-requests?open=true&overdue=true&as_of=2023-03-01",
            )
            .await,
        )
        .await;
    // On 1 March 2023: a (due 29 Feb 2024) is not overdue; b was extended; c not yet due.
    assert_eq!(l["count"], 0, "{l}");
    let l =
        w.s.ok_json(
            w.s.get(
                Some(&w.library),
                "/api/v1/external-requests?open=true&overdue=true&as_of=2024-03-01",
            )
            .await,
        )
        .await;
    assert_eq!(l["count"], 3, "{l}");
    let v =
        w.s.ok_json(
            w.s.post(
                Some(&w.library),
                &format!("/api/v1/external-requests/{id}/status"),
                json!({"status": "completed", "note": "copy sent"}),
            )
            .await,
        )
        .await;
    assert_eq!(
        (v["status"].as_str(), v["overdue"].as_bool()),
        (Some("completed"), Some(false))
    );
    // A GP query cannot be extended.
    let g = w.s.ok_json(mk("gp_query", "2023-03-01").await).await;
    assert_eq!(g["due_on"], "2023-03-06");
    let (st, _) = err_field(
        w.s.post(
            Some(&w.library),
            &format!("/api/v1/external-requests/{}/extend", g["id"]),
            json!({"months": 1, "reason": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    // Access to Health Records Act: deceased patients only.
    let (st, e) = err_field(mk("ahra", "2023-03-01").await).await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("patient"))
    );
    w.s.ok_json(
        w.s.post(
            Some(&w.library),
            "/api/v1/patients/1904851231/death",
            json!({"date_of_death": "2023-02-01"}),
        )
        .await,
    )
    .await;
    let h = w.s.ok_json(mk("ahra", "2023-03-01").await).await;
    assert_eq!(h["due_on"], "2023-04-10");
    let (st, e) = err_field(mk("sar", "2023-03-01").await).await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("kind"))
    );
    let (st, e) = err_field(mk("sar", "2999-01-01").await).await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("received_on"))
    );
}

// ---------- statistics ----------

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn statistics_on_a_fixed_data_set() {
    let w = world_with(|_| {}).await;
    let p =
        w.s.patient(
            &w.library,
            "1904851231",
            "KLEINSAMPLE",
            "BARRY",
            "1985-04-19",
        )
        .await;
    let pid = p["id"].as_i64().unwrap();
    let f1 = w.s.folder(&w.library, "1904851231", "main").await;
    let f2 = w.s.folder(&w.library, "1904851231", "main").await;
    let (fid1, fid2) = (f1["id"].as_i64().unwrap(), f2["id"].as_i64().unwrap());
    w.s.db
        .write(move |c| {
            let lib: i64 = c.query_row("SELECT id FROM locations WHERE code='LLIB'", [], |r| r.get(0))?;
            let clin: i64 = c.query_row("SELECT id FROM locations WHERE code='LCLINA'", [], |r| r.get(0))?;
            // Turnaround (minutes): urgent 10..100 step 10; emergency 5, 15, 25; one urgent
            // received after the period (excluded).
            let mut reqs: Vec<(&str, i64, &str)> = (1..=10)
                .map(|i| ("urgent", i * 10, "2025-03-10T09:00:00Z"))
                .collect();
            reqs.extend([
                ("emergency", 5, "2025-03-11T09:00:00Z"),
                ("emergency", 15, "2025-03-12T09:00:00Z"),
                ("emergency", 25, "2025-03-13T09:00:00Z"),
                ("urgent", 1000, "2025-04-01T09:00:00Z"),
            ]);
            for (u, minutes, at) in reqs {
                let created = ms(at);
                c.execute(
                    "INSERT INTO requests(patient_id, destination_id, urgency, reason, state, source, needed_by, due_at, requested_by, created_at, updated_at, received_at)
                     VALUES (?1,?2,?3,'test','received','api',?4,?4,'test',?4,?4,?5)",
                    rusqlite::params![pid, clin, u, created, created + minutes * 60_000],
                )?;
            }
            // Movements: 3 at LLIB and 2 at LCLINA on 3 March, 1 at LLIB on 4 March, 1 in April.
            for (loc, at) in [
                (lib, "2025-03-03T08:00:00Z"),
                (lib, "2025-03-03T09:00:00Z"),
                (lib, "2025-03-03T23:59:59Z"),
                (clin, "2025-03-03T10:00:00Z"),
                (clin, "2025-03-03T11:00:00Z"),
                (lib, "2025-03-04T00:00:00Z"),
                (lib, "2025-04-01T00:00:00Z"),
            ] {
                c.execute(
                    "INSERT INTO movements(event_id, folder_id, location_id, action, device_id, read_at, received_at, raw, symbology, method)
                     VALUES (randomblob(16), ?1, ?2, 'seen', 'dev', ?3, ?3, 'x', 'C0', 'barcode')",
                    rusqlite::params![fid1, loc, ms(at)],
                )?;
            }
            c.execute("UPDATE folders SET status='missing' WHERE id=?1", [fid2])?;
            // Uncoded episodes discharged 5 Jan, 10 Mar and 20 Apr 2025.
            for at in ["2025-01-05T12:00:00Z", "2025-03-10T12:00:00Z", "2025-04-20T12:00:00Z"] {
                c.execute(
                    "INSERT INTO episodes(patient_id, discharged_at, source, status, created_by, created_at) VALUES (?1,?2,'manual','awaiting_coding','test',0)",
                    rusqlite::params![pid, ms(at)],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();

    let s =
        w.s.ok_json(
            w.s.get(
                Some(&w.library),
                "/api/v1/statistics?from=2025-03-01&to=2025-03-31&as_of=2025-05-15",
            )
            .await,
        )
        .await;
    assert_eq!(s["movements_total"], 6, "{s}");
    assert_eq!(
        s["movements"],
        json!([
            {"date": "2025-03-03", "location": "LCLINA", "count": 2},
            {"date": "2025-03-03", "location": "LLIB", "count": 3},
            {"date": "2025-03-04", "location": "LLIB", "count": 1},
        ])
    );
    let t = &s["turnaround"];
    let fields = |t: &Value| {
        json!([
            t["urgency"],
            t["received"],
            t["median_minutes"],
            t["p90_minutes"],
            t["target"],
            t["within_target"],
            t["percent_within_target"]
        ])
    };
    assert_eq!(
        fields(&t[0]),
        json!(["emergency", 3, 15.0, 25.0, "30 minutes", 3, 100.0])
    );
    assert_eq!(
        fields(&t[1]),
        json!(["urgent", 10, 55.0, 90.0, "4 hours", 10, 100.0])
    );
    assert_eq!(
        fields(&t[2]),
        json!(["routine", 0, null, null, "2 working days", 0, null])
    );
    assert_eq!(s["folders_missing"], 1);
    assert_eq!(s["folders_temporary"], 0);
    // As of 15 May: Jan (month end 31 Jan, 104 days: 14 weeks), Mar (45 days: 6 weeks),
    // Apr (15 days: 2 weeks).
    assert_eq!(s["coding_backlog"]["awaiting"], 3);
    assert_eq!(
        s["coding_backlog"]["bands"],
        json!([
            ["under 4 weeks", 1],
            ["4+ weeks", 0],
            ["6+ weeks", 1],
            ["13+ weeks", 1]
        ])
    );

    let r =
        w.s.get(
            Some(&w.library),
            "/api/v1/statistics?from=2025-03-01&to=2025-03-31&format=csv&section=turnaround",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csv = r.text().await.unwrap();
    assert!(csv.contains("urgent,10,55.0,90.0"), "{csv}");
    assert!(csv.contains("emergency,3,15.0,25.0"), "{csv}");
    assert!(csv.contains("routine,0,-,-"), "{csv}");

    let r =
        w.s.get(Some(&w.manager), "/api/v1/reports/monthly?month=2025-03")
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4"));
    assert!(String::from_utf8_lossy(&pdf).contains("Urgent: median"));
    let (st, e) = err_field(
        w.s.get(Some(&w.manager), "/api/v1/reports/monthly?month=2025-13")
            .await,
    )
    .await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("month"))
    );
    assert_eq!(
        w.s.get(Some(&w.clinician), "/api/v1/statistics")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}
