//! Issue 16 (honest statistics): clinic case-note availability per session on a constructed
//! day, request turnaround against targets across a bank holiday, the monthly PDF's text, and
//! the stale-request sweep (escalation after working days, clinics that have passed, one open
//! request per folder and destination), run through the real command line.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Valid CHI numbers for the constructed day (made with the demo's generator).
fn chis(n: usize) -> Vec<String> {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let mut v: Vec<String> = Vec::new();
    while v.len() < n {
        let c = tracker_server::demo::make_chi(&mut rng, 1970 + v.len() as i32, 3, 14, true);
        if !v.contains(&c) {
            v.push(c);
        }
    }
    v
}

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

/// The text drawn by a PDF's text objects (`(...) Tj`), one string per object, unescaped.
fn pdf_text(pdf: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(pdf);
    let mut out = Vec::new();
    for obj in s.split("BT ").skip(1) {
        let Some(open) = obj.find('(') else { continue };
        let Some(end) = obj.find(") Tj") else {
            continue;
        };
        let mut t = String::new();
        let mut esc = false;
        for ch in obj[open + 1..end].chars() {
            if esc {
                t.push(ch);
                esc = false;
            } else if ch == '\\' {
                esc = true;
            } else {
                t.push(ch);
            }
        }
        out.push(t);
    }
    out
}

async fn post_ok(w: &World, token: &str, path: &str, body: Value) -> Value {
    let r = w.s.post(Some(token), path, body).await;
    w.s.ok_json(r).await
}

async fn events(w: &World, evs: Vec<Value>) {
    let r =
        w.s.post(Some(&w.device), "/api/v1/events", json!({"events": evs}))
            .await;
    let v = w.s.ok_json(r).await;
    assert_eq!(v["rejected"], 0, "{v}");
}

#[tokio::test]
async fn clinic_availability_on_a_constructed_day() {
    let w = world().await;
    // A clinic with a preparation area, and another clinic.
    post_ok(
        &w,
        &w.manager,
        "/api/v1/locations",
        json!({"code": "LPREPC", "name": "Outpatients preparation room", "kind": "department"}),
    )
    .await;
    let clinic = post_ok(&w, &w.manager, "/api/v1/locations", json!({"code": "LCLINC", "name": "Clinic C", "kind": "clinic", "preparation_area": "LPREPC"})).await;
    assert_eq!(clinic["preparation_area"], "LPREPC");
    // only a clinic has a preparation area, and it must exist
    let r = w.s.post(Some(&w.manager), "/api/v1/locations", json!({"code": "LWARD9", "name": "Ward 9", "kind": "ward", "preparation_area": "LPREPC"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "preparation_area"
    );
    let r = w.s.post(Some(&w.manager), "/api/v1/locations", json!({"code": "LCLIND", "name": "Clinic D", "kind": "clinic", "preparation_area": "LNOWHERE"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // An existing clinic gets (and loses) a preparation area; only a clinic may have one.
    let r =
        w.s.put(
            &w.manager,
            "/api/v1/locations/LCLINA/preparation-area",
            json!({"preparation_area": "LPREPC"}),
        )
        .await;
    assert_eq!(w.s.ok_json(r).await["preparation_area"], "LPREPC");
    let r =
        w.s.put(
            &w.manager,
            "/api/v1/locations/LCLINA/preparation-area",
            json!({"preparation_area": null}),
        )
        .await;
    assert_eq!(w.s.ok_json(r).await["preparation_area"], Value::Null);
    let r =
        w.s.put(
            &w.manager,
            "/api/v1/locations/LWARD5/preparation-area",
            json!({"preparation_area": "LPREPC"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "preparation_area"
    );
    let r =
        w.s.put(
            &w.library,
            "/api/v1/locations/LCLINA/preparation-area",
            json!({"preparation_area": "LPREPC"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Monday 16 November 2026 (GMT), 09:00-12:00.
    let session = post_ok(&w, &w.manager, "/api/v1/clinic-sessions", json!({"clinic": "LCLINC", "name": "Fracture clinic", "date": "2026-11-16", "start": "09:00", "end": "12:00"})).await;
    let chi = chis(8);
    let mut barcode = Vec::new();
    for (i, c) in chi.iter().enumerate() {
        w.s.patient(
            &w.library,
            c,
            &format!("Patient{i}"),
            "Test",
            &format!("{}-03-14", 1970 + i),
        )
        .await;
        let ty = if i == 3 { "temporary" } else { "main" };
        barcode.push(
            w.s.folder(&w.library, c, ty).await["barcode"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let appt = post_ok(
            &w,
            &w.library,
            "/api/v1/appointments",
            json!({"session": session["id"], "patient": c, "start": "09:00"}),
        )
        .await;
        if i == 7 {
            // a cancelled appointment is not counted
            post_ok(
                &w,
                &w.library,
                &format!("/api/v1/appointments/{}/cancel", appt["id"]),
                json!({"note": "patient cancelled"}),
            )
            .await;
        }
    }
    let t = |hm: &str| format!("2026-11-16T{hm}:00Z");
    events(
        &w,
        vec![
            // 0: received at the clinic before the start: available
            event(&barcode[0], "LCLINC", &t("08:30"), "receive", None),
            // 1: received in the clinic's preparation area before the start: available
            event(&barcode[1], "LPREPC", &t("08:00"), "receive", None),
            // 2: received at the clinic 20 minutes after the start: not available
            event(&barcode[2], "LCLINC", &t("09:20"), "receive", None),
            // 3: only a temporary folder, at the clinic: temporary notes, never available
            event(&barcode[3], "LCLINC", &t("08:45"), "receive", None),
            // 5: on a ward
            event(&barcode[5], "LWARD5", &t("07:00"), "receive", None),
            // 6: in the library, never requested (scanned there the week before)
            event(&barcode[6], "LLIB", "2026-11-09T10:00:00Z", "seen", None),
        ],
    )
    .await;
    // 4: reported missing
    let r =
        w.s.put(
            &w.library,
            &format!("/api/v1/folders/{}/status", barcode[4]),
            json!({"status": "missing", "reason": "not on its shelf"}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    let st =
        w.s.ok_json(
            w.s.get(
                Some(&w.manager),
                "/api/v1/statistics?from=2026-11-16&to=2026-11-16",
            )
            .await,
        )
        .await;
    let a = &st["clinic_availability"];
    assert_eq!(
        (
            &a["booked"],
            &a["available"],
            &a["temporary"],
            &a["unavailable"]
        ),
        (&json!(7), &json!(2), &json!(1), &json!(4)),
        "{a}"
    );
    assert_eq!(a["percent_available"], 28.6);
    assert_eq!(a["percent_temporary"], 14.3);
    let reasons: Vec<(String, i64)> = a["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["count"].as_i64() > Some(0))
        .map(|r| {
            (
                r["reason"].as_str().unwrap().to_string(),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("arrived_late".to_string(), 1),
            ("missing".to_string(), 1),
            ("on_ward".to_string(), 1),
            ("not_requested".to_string(), 1)
        ]
    );
    let s0 = &a["sessions"][0];
    assert_eq!(
        (&s0["clinic"], &s0["booked"], &s0["available"]),
        (&json!("LCLINC"), &json!(7), &json!(2)),
        "{s0}"
    );

    // The same figures in the CSV, per session, with the reasons as columns.
    let r =
        w.s.get(
            Some(&w.manager),
            "/api/v1/statistics?from=2026-11-16&to=2026-11-16&format=csv&section=availability",
        )
        .await;
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    let head = lines.next().unwrap();
    assert!(head.starts_with("date,clinic,clinic_name,session,start,booked,available,percent_available,temporary_notes_used,unavailable,unavailable_arrived_late"), "{head}");
    let row = lines.next().unwrap();
    assert!(row.starts_with("2026-11-16,LCLINC,Clinic C,Fracture clinic,2026-11-16T09:00:00+00:00,7,2,28.6,1,4,1,0,1,0,1,0,0,1,0"), "{row}");

    // The monthly PDF for the board: its text objects carry the section and the figures.
    let r =
        w.s.get(Some(&w.manager), "/api/v1/reports/monthly?month=2026-11")
            .await;
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let text = pdf_text(&r.bytes().await.unwrap());
    let has = |needle: &str| text.iter().any(|l| l.contains(needle));
    assert!(has("CLINIC CASE-NOTE AVAILABILITY"), "{text:#?}");
    let line = text
        .iter()
        .find(|l| l.contains("Notes available at the start"))
        .expect("availability line");
    assert!(line.trim_end().ends_with("2 (28.6%)"), "{line}");
    let line = text
        .iter()
        .find(|l| l.contains("Temporary notes used"))
        .unwrap();
    assert!(line.trim_end().ends_with("1 (14.3%)"), "{line}");
    assert!(has("Unavailable: Arrived after the start"), "{text:#?}");
    assert!(has("AVAILABILITY PER CLINIC SESSION"));
    assert!(
        text.iter()
            .any(|l| l.contains("Mon 16 Nov 2026 09:00 GMT") && l.contains("LCLINC")),
        "{text:#?}"
    );
    assert!(!text
        .iter()
        .any(|l| l.contains("gp_query") || l.contains("no_folder")));
    // No patient identifier reaches the report.
    assert!(!chi
        .iter()
        .any(|c| text.iter().any(|l| l.contains(c.as_str()))));
}

#[tokio::test]
async fn turnaround_against_targets_across_a_bank_holiday() {
    let w = world_with(|c| {
        c.requests.routine_working_days = 1;
        c.requests.urgent_minutes = 240;
    })
    .await;
    let p =
        w.s.patient(&w.library, "1904851231", "Macdonald", "Morag", "1985-04-19")
            .await;
    let pid = p["id"].as_i64().unwrap();
    w.s.db
        .write(move |c| {
            let clin: i64 = c.query_row("SELECT id FROM locations WHERE code='LCLINA'", [], |r| r.get(0))?;
            // Friday 1 May 2026; Monday 4 May is the May Day bank holiday. Routine target: one
            // working day, so due at 10:00 on Tuesday 5 May.
            for (u, made, got, from) in [
                ("routine", "2026-05-01T10:00:00+01:00", "2026-05-05T09:00:00+01:00", None),
                ("routine", "2026-05-01T10:00:00+01:00", "2026-05-05T11:00:00+01:00", None),
                // escalated from routine: still measured as routine (on time here)
                ("urgent", "2026-05-01T10:00:00+01:00", "2026-05-05T09:30:00+01:00", Some("routine")),
                ("urgent", "2026-05-06T10:00:00+01:00", "2026-05-06T12:00:00+01:00", None),
                ("urgent", "2026-05-06T10:00:00+01:00", "2026-05-06T15:00:00+01:00", None),
            ] {
                c.execute(
                    "INSERT INTO requests(patient_id, destination_id, urgency, reason, state, source, needed_by, due_at, requested_by, created_at, updated_at, received_at, escalated_from)
                     VALUES (?1,?2,?3,'test','received','api',?4,?4,'test',?4,?4,?5,?6)",
                    rusqlite::params![pid, clin, u, ms(made), ms(got), from],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let st =
        w.s.ok_json(
            w.s.get(
                Some(&w.manager),
                "/api/v1/statistics?from=2026-05-01&to=2026-05-31",
            )
            .await,
        )
        .await;
    let by = |u: &str| {
        st["turnaround"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["urgency"] == u)
            .unwrap()
            .clone()
    };
    let routine = by("routine");
    assert_eq!(routine["target"], "1 working day");
    assert_eq!(routine["unit"], "working days");
    assert_eq!(
        (&routine["received"], &routine["within_target"]),
        (&json!(3), &json!(2)),
        "{routine}"
    );
    assert_eq!(routine["percent_within_target"], 66.7);
    // working time, the holiday weekend counting nothing: 14h + 9h, 14h + 9.5h, 14h + 11h
    assert_eq!(routine["median"], 1.0, "{routine}");
    assert_eq!(routine["p90"], 1.0, "{routine}");
    let urgent = by("urgent");
    assert_eq!(urgent["target"], "4 hours");
    assert_eq!(
        (&urgent["received"], &urgent["within_target"]),
        (&json!(2), &json!(1)),
        "{urgent}"
    );
    assert_eq!(urgent["median_minutes"], 210.0);
    assert_eq!(by("emergency")["percent_within_target"], Value::Null);

    // The page shows them with their labels and targets.
    let (code, html) =
        w.s.page(&w.manager, "/statistics?from=2026-05-01&to=2026-05-31")
            .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        html.contains("<h2 id=\"requests\">Requests for notes</h2>"),
        "{html}"
    );
    assert!(
        html.contains(
            "<td>1 working day</td><td>3</td><td>2 (66.7%)</td><td>1.0 working days</td>"
        ),
        "{html}"
    );
    // The board's monthly PDF from the page, with the same figures.
    let (code, pdf) =
        w.s.page(&w.manager, "/statistics/monthly?month=2026-05")
            .await;
    assert_eq!(code, StatusCode::OK);
    let text = pdf_text(pdf.as_bytes());
    assert!(text.iter().any(|l| l == "REQUESTS FOR NOTES"), "{text:#?}");
    let line = text
        .iter()
        .find(|l| l.contains("Routine: within target"))
        .expect("routine line");
    assert!(line.trim_end().ends_with("2 (66.7%)"), "{line}");
    let (code, page) =
        w.s.page(&w.manager, "/statistics/monthly?month=2026-13")
            .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("month: must be a month written YYYY-MM"),
        "{page}"
    );
    let (code, _) =
        w.s.page(&w.clinician, "/statistics/monthly?month=2026-05")
            .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn stale_requests_escalate_close_and_merge() {
    let w = world_with(|c| {
        c.requests.escalate_after_working_days = 2;
        c.requests.stale_check_secs = 3600;
    })
    .await;
    let s = &w.s;
    s.patient(&w.library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    s.patient(&w.library, "0101011237", "Fraser", "Ann", "2001-01-01")
        .await;
    let bc = s.folder(&w.library, "1904851231", "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    s.folder(&w.library, "0101011237", "main").await;
    let ask = |patient: &'static str,
               dest: &'static str,
               urgency: &'static str,
               needed: Option<String>| {
        let w = &w;
        async move {
            let mut b = json!({"patient": patient, "destination": dest, "urgency": urgency, "reason": "clinic review"});
            if let Some(n) = needed {
                b["needed_by"] = json!(n);
            }
            let r = w.s.post(Some(&w.clinician), "/api/v1/requests", b).await;
            let st = r.status();
            (st, r.json::<Value>().await.unwrap())
        }
    };
    // An old routine request to the ward, not delivered: escalated.
    let (st, old) = ask("1904851231", "LWARD5", "routine", None).await;
    assert_eq!(st, StatusCode::CREATED, "{old}");
    let old_id = old["id"].as_i64().unwrap();
    // A second request for the same notes and destination is merged into the open one.
    let (st, again) = ask("1904851231", "LWARD5", "urgent", None).await;
    assert_eq!(st, StatusCode::OK, "{again}");
    assert_eq!(again["id"], old_id);
    assert_eq!(again["urgency"], "urgent", "the more urgent urgency wins");
    assert!(
        again["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["note"].as_str().unwrap().contains("merged")),
        "{again}"
    );
    // A request for one volume to the same place is covered by the open request for all the
    // patient's notes: merged too.
    let r = s.post(Some(&w.clinician), "/api/v1/requests", json!({"patient": "1904851231", "volume": bc, "destination": "LWARD5", "urgency": "routine", "reason": "this volume"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], old_id);
    // The same notes to another place is another request.
    let (st, other) = ask("1904851231", "LCODING", "routine", None).await;
    assert_eq!(st, StatusCode::CREATED, "{other}");
    assert_ne!(other["id"], old_id);
    // back to routine for the escalation check, and made ten days ago
    s.db.write(move |c| {
        c.execute(
            "UPDATE requests SET urgency='routine', created_at = created_at - 10*86400000 WHERE id=?1",
            [old_id],
        )?;
        Ok(())
    })
    .await
    .unwrap();
    // A recent routine request to the clinic for the other patient: left alone.
    let (_, recent) = ask("0101011237", "LCLINA", "routine", None).await;
    // A request for a clinic yesterday, notes never sent: closed ("clinic has passed").
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let (st, passed) = ask("1904851231", "LCLINA", "routine", Some(yesterday.clone())).await;
    assert_eq!(st, StatusCode::CREATED, "{passed}");
    let passed_id = passed["id"].as_i64().unwrap();

    // The library desk is open: it must see the sweep's changes live.
    let mut stream = s
        .client
        .get(format!("{}/api/v1/desk/stream", s.base))
        .bearer_auth(&w.library)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracker-server"))
        .args(["requests", "sweep"])
        .env("CASENOTE_DATABASE", s.dir.path().join("casenote.db"))
        .env("CASENOTE_REQUESTS_ESCALATE_AFTER_WORKING_DAYS", "2")
        .env("CASENOTE_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("escalated 1 routine request(s) ({old_id})")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "closed 1 request(s) whose clinic has passed ({passed_id})"
        )),
        "{stdout}"
    );

    let escalated = format!("\"request_id\":{old_id},\"urgency\":\"urgent\"");
    let closed =
        format!("\"request_id\":{passed_id},\"urgency\":\"routine\",\"state\":\"cancelled\"");
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while !(seen.contains(&escalated) && seen.contains(&closed)) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("the desk did not see the sweep; got {seen:?}"))
            .unwrap()
            .expect("stream ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: request.changed"), "{seen}");

    let r = w.request(old_id).await;
    assert_eq!(r["urgency"], "urgent", "{r}");
    assert!(r["escalated_at"].is_string(), "{r}");
    assert!(
        r["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["note"].as_str().unwrap().starts_with("escalated")),
        "{r}"
    );
    let r = w.request(recent["id"].as_i64().unwrap()).await;
    assert_eq!(
        (&r["urgency"], &r["open"]),
        (&json!("routine"), &json!(true)),
        "{r}"
    );
    let r = w.request(passed_id).await;
    assert_eq!(
        (&r["state"], &r["open"], &r["close_reason"]),
        (
            &json!("cancelled"),
            &json!(false),
            &json!("clinic has passed")
        ),
        "{r}"
    );
    // A second sweep changes nothing.
    let again =
        s.db.write(|c| {
            tracker_server::workflow::stale_requests::sweep(
                c,
                &tracker_server::auth::Principal::system(),
                &tracker_server::config::RequestsConfig {
                    escalate_after_working_days: 2,
                    ..Default::default()
                },
                tracker_server::util::now_ms(),
            )
        })
        .await
        .unwrap();
    assert_eq!(again, Default::default());
    // Escalation and closure are in the audit log.
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
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["request.merge", "request.escalate", "request.close"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    // The statistics count them.
    let st = s
        .ok_json(s.get(Some(&w.manager), "/api/v1/statistics").await)
        .await;
    assert_eq!(st["requests"]["escalated"], 1, "{}", st["requests"]);
    assert_eq!(st["requests"]["closed_clinic_passed"], 1);
}
