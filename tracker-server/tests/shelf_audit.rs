//! Shelf audits (stock-takes) over real HTTP on a real SQLite file: found here, found but
//! expected elsewhere (a movement with method `audit`, stored once however often it is sent),
//! expected here but not found; a terminal-digit shelf's expected range; the follow-up that
//! reports folders not found as missing after the configured time; and the scan page's queued
//! open/scan/close steps, resent.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tracker_server::util::ms_to_rfc3339;

const CHI: &str = "1904851231";

fn minutes_ago(m: i64) -> String {
    ms_to_rfc3339(tracker_server::util::now_ms() - m * 60_000)
}

fn now() -> String {
    ms_to_rfc3339(tracker_server::util::now_ms())
}

async fn shelf(w: &World, code: &str, range: Option<&str>) {
    let r = w
        .s
        .post(
            Some(&w.manager),
            "/api/v1/locations",
            json!({"code": code, "name": format!("Shelf {code}"), "kind": "shelf", "parent": "LLIB", "filing_range": range}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
}

async fn folder_with(w: &World, filing: Option<&str>) -> String {
    let mut b = json!({"patient": CHI, "folder_type": "main", "home_location": "LLIB"});
    if let Some(f) = filing {
        b["filing_number"] = json!(f);
    }
    let r = w.s.post(Some(&w.library), "/api/v1/folders", b).await;
    w.s.ok_json(r).await["barcode"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Send events as `token`; the per-event results.
async fn send(w: &World, token: &str, events: Vec<Value>) -> Vec<Value> {
    let r =
        w.s.post(Some(token), "/api/v1/events", json!({"events": events}))
            .await;
    w.s.ok_json(r).await["results"].as_array().unwrap().clone()
}

fn audit_scan(barcode: &str, shelf: &str) -> Value {
    let mut e = event(barcode, shelf, &now(), "seen", None);
    e["method"] = json!("audit");
    e["device_id"] = json!("library-audit-scanner");
    e
}

/// (location code, method) of every movement of a folder, in read order.
async fn movements(w: &World, barcode: &str) -> Vec<(String, String)> {
    let b = format!("]C0{barcode}");
    w.s.db
        .read(move |c| {
            let mut st = c.prepare(
                "SELECT l.code, m.method FROM movements m JOIN locations l ON l.id = m.location_id WHERE m.raw = ?1 ORDER BY m.read_at, m.id",
            )?;
            let v = st
                .query_map([&b], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
        .await
        .unwrap()
}

fn folders_of(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["folder"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn audit_actions(w: &World) -> Vec<String> {
    w.s.db
        .read(|c| {
            let mut st = c.prepare(
                "SELECT action FROM audit_log WHERE action LIKE 'shelf_audit.%' ORDER BY id",
            )?;
            let v = st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(v)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn an_audit_lists_found_here_found_elsewhere_and_not_found() {
    let w = world().await;
    shelf(&w, "LSHELF1", None).await;
    w.s.patient(&w.library, CHI, "Macdonald", "Morag", "1985-04-19")
        .await;
    let mut f = Vec::new();
    for _ in 0..5 {
        f.push(folder_with(&w, None).await);
    }
    // a, b, c filed on the shelf; d out on Ward 5; e never scanned
    let (a, b, c, d) = (&f[0], &f[1], &f[2], &f[3]);
    let placed: Vec<Value> = [a, b, c]
        .iter()
        .map(|x| event(x, "LSHELF1", &minutes_ago(30), "receive", None))
        .chain([event(d, "LWARD5", &minutes_ago(30), "receive", None)])
        .collect();
    for r in send(&w, &w.device, placed).await {
        assert_eq!(r["status"], "stored", "{r}");
    }

    // open (201), and opening again joins the same audit (200)
    let r =
        w.s.post(
            Some(&w.library),
            "/api/v1/shelf-audits",
            json!({"location": "LSHELF1"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r =
        w.s.post(
            Some(&w.manager),
            "/api/v1/shelf-audits",
            json!({"location": "lshelf1"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], id);
    // not at a ward, and not by a porter or a clinician
    let r =
        w.s.post(
            Some(&w.library),
            "/api/v1/shelf-audits",
            json!({"location": "LWARD5"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e = r.json::<Value>().await.unwrap();
    assert_eq!(e["error"]["field"], "location");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("ward"),
        "{e}"
    );
    for who in [&w.porter, &w.clinician] {
        let r =
            w.s.post(
                Some(who),
                "/api/v1/shelf-audits",
                json!({"location": "LSHELF1"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    // scans: a found here, d found but expected at Ward 5
    let scan_d = audit_scan(d, "LSHELF1");
    let res = send(
        &w,
        &w.library,
        vec![audit_scan(a, "LSHELF1"), scan_d.clone()],
    )
    .await;
    assert_eq!(res[0]["status"], "stored", "{}", res[0]);
    assert_eq!(res[1]["status"], "stored", "{}", res[1]);
    // the same scan resent (a queue replaying), and d scanned again: stored once
    let res = send(
        &w,
        &w.library,
        vec![scan_d.clone(), audit_scan(d, "LSHELF1")],
    )
    .await;
    assert_eq!(res[0]["status"], "duplicate", "{}", res[0]);
    assert_eq!(res[1]["status"], "duplicate", "{}", res[1]);
    assert_eq!(
        movements(&w, d).await,
        [
            ("LWARD5".to_string(), "barcode".to_string()),
            ("LSHELF1".to_string(), "audit".to_string())
        ]
    );
    // the folder's place is corrected
    let r =
        w.s.get(Some(&w.library), &format!("/api/v1/whereis/folder/{d}"))
            .await;
    let where_d = w.s.ok_json(r).await;
    assert!(where_d.to_string().contains("LSHELF1"), "{where_d}");

    // a porter's audit scan is refused, naming the field; a dispatch is no audit scan
    let res = send(&w, &w.porter, vec![audit_scan(b, "LSHELF1")]).await;
    assert_eq!(res[0]["status"], "rejected");
    assert_eq!(res[0]["field"], "method");
    let mut disp = audit_scan(b, "LSHELF1");
    disp["action"] = json!("dispatch");
    disp["destination"] = json!("LWARD5");
    let res = send(&w, &w.library, vec![disp]).await;
    assert_eq!(res[0]["field"], "action", "{}", res[0]);

    // while open: nothing is listed as not found yet
    let r =
        w.s.get(Some(&w.library), &format!("/api/v1/shelf-audits/{id}"))
            .await;
    let open = w.s.ok_json(r).await;
    assert_eq!(open["audit"]["status"], "open");
    assert_eq!(open["not_found"], json!([]));

    // close: b and c expected here and not found; e was never here
    let r =
        w.s.post(
            Some(&w.library),
            &format!("/api/v1/shelf-audits/{id}/close"),
            json!({}),
        )
        .await;
    let done = w.s.ok_json(r).await;
    assert_eq!(folders_of(&done["found"]), std::slice::from_ref(a));
    assert_eq!(folders_of(&done["elsewhere"]), std::slice::from_ref(d));
    assert_eq!(done["elsewhere"][0]["expected_at"]["code"], "LWARD5");
    assert_eq!(
        folders_of(&done["not_found"]),
        sorted(vec![b.clone(), c.clone()])
    );
    assert_eq!(done["not_found"][0]["expected_at"]["code"], "LSHELF1");
    assert_eq!(done["not_found"][0]["follow_up"], "pending");
    let s = &done["audit"];
    assert_eq!(
        (
            s["found"].as_i64(),
            s["elsewhere"].as_i64(),
            s["not_found"].as_i64(),
            s["scanned"].as_i64()
        ),
        (Some(1), Some(1), Some(2), Some(2))
    );
    assert_eq!(s["status"], "closed");
    assert_eq!(s["opened_by"], "user:library");
    // closing twice is refused
    let r =
        w.s.post(
            Some(&w.library),
            &format!("/api/v1/shelf-audits/{id}/close"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // the list shows the summary
    let r =
        w.s.get(Some(&w.manager), "/api/v1/shelf-audits?location=LSHELF1")
            .await;
    let list = w.s.ok_json(r).await;
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["not_found"], 2);
    let r = w.s.get(Some(&w.porter), "/api/v1/shelf-audits").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // the pages: the list and the three lists, in words
    let (st, html) = w.s.page(&w.library, "/audits").await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains(&format!("href=\"/audits/{id}\"")), "{html}");
    assert!(html.contains("Shelf LSHELF1"));
    let (st, html) = w.s.page(&w.library, &format!("/audits/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("Found here (1)"), "{html}");
    assert!(html.contains("Found here but expected elsewhere (1)"));
    assert!(html.contains("Expected here but not found (2)"));
    assert!(html.contains("Ward 5 (LWARD5)"));
    assert!(!html.contains(CHI), "no CHI on the audit page");
    let (st, _) = w.s.page(&w.porter, &format!("/audits/{id}")).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // everything is in the audit log
    let acts = audit_actions(&w).await;
    for a in [
        "shelf_audit.open",
        "shelf_audit.scan",
        "shelf_audit.close",
        "shelf_audit.read",
    ] {
        assert!(acts.iter().any(|x| x == a), "{a} in {acts:?}");
    }
    assert_eq!(acts.iter().filter(|x| *x == "shelf_audit.scan").count(), 2);
}

#[tokio::test]
async fn a_terminal_digit_shelf_expects_the_folders_of_its_range() {
    let w = world().await;
    shelf(&w, "LTD0009", None).await;
    // the range is set on the shelf afterwards; nonsense and wards are refused
    let r =
        w.s.put(
            &w.manager,
            "/api/v1/locations/LTD0009/filing-range",
            json!({"filing_range": "09-00"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "filing_range"
    );
    let r =
        w.s.put(
            &w.manager,
            "/api/v1/locations/LWARD5/filing-range",
            json!({"filing_range": "00-09"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r =
        w.s.put(
            &w.library,
            "/api/v1/locations/LTD0009/filing-range",
            json!({"filing_range": "00-09"}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "library staff do not change shelves"
    );
    let r =
        w.s.put(
            &w.manager,
            "/api/v1/locations/LTD0009/filing-range",
            json!({"filing_range": " 00 - 09 "}),
        )
        .await;
    assert_eq!(w.s.ok_json(r).await["filing_range"], "00-09");

    w.s.patient(&w.library, CHI, "Macdonald", "Morag", "1985-04-19")
        .await;
    let in5 = folder_with(&w, Some("12-34-05")).await; // in range, never scanned
    let in7 = folder_with(&w, Some("12-34-07")).await; // in range, returned to the library desk
    let in9 = folder_with(&w, Some("56-78-09")).await; // in range, never scanned
    let out_loan = folder_with(&w, Some("12-34-03")).await; // in range, out on Ward 5
    let other = folder_with(&w, Some("12-34-55")).await; // another shelf's range
    let placed = vec![
        event(&in7, "LLIB", &minutes_ago(20), "receive", None),
        event(&out_loan, "LWARD5", &minutes_ago(20), "receive", None),
    ];
    for r in send(&w, &w.device, placed).await {
        assert_eq!(r["status"], "stored", "{r}");
    }
    let r =
        w.s.post(
            Some(&w.library),
            "/api/v1/shelf-audits",
            json!({"location": "LTD0009"}),
        )
        .await;
    let opened = w.s.ok_json(r).await;
    assert_eq!(opened["filing_range"], "00-09");
    let id = opened["id"].as_i64().unwrap();
    let res = send(
        &w,
        &w.library,
        vec![audit_scan(&in5, "LTD0009"), audit_scan(&other, "LTD0009")],
    )
    .await;
    assert!(res.iter().all(|r| r["status"] == "stored"), "{res:?}");
    let r =
        w.s.post(
            Some(&w.library),
            &format!("/api/v1/shelf-audits/{id}/close"),
            json!({}),
        )
        .await;
    let done = w.s.ok_json(r).await;
    assert_eq!(
        folders_of(&done["found"]),
        std::slice::from_ref(&in5),
        "in range: expected here"
    );
    assert_eq!(folders_of(&done["elsewhere"]), std::slice::from_ref(&other));
    assert_eq!(
        done["elsewhere"][0]["expected_at"]["code"], "LLIB",
        "its home"
    );
    // not found: the in-range folders in the library; not the one out on loan
    assert_eq!(
        folders_of(&done["not_found"]),
        sorted(vec![in7.clone(), in9.clone()])
    );
    let (_, html) = w.s.page(&w.library, &format!("/audits/{id}")).await;
    assert!(html.contains("Terminal digits expected"), "{html}");
    assert!(html.contains("00-09"));
}

#[tokio::test]
async fn folders_not_found_are_reported_missing_after_the_configured_time() {
    let w = world_with(|c| {
        c.shelf_audit.missing_after_hours = 2;
        c.shelf_audit.check_secs = 1;
    })
    .await;
    shelf(&w, "LSHELF2", None).await;
    w.s.patient(&w.library, CHI, "Macdonald", "Morag", "1985-04-19")
        .await;
    let (x, y, z) = (
        folder_with(&w, None).await,
        folder_with(&w, None).await,
        folder_with(&w, None).await,
    );
    let placed = [&x, &y, &z]
        .iter()
        // filed four hours ago
        .map(|f| event(f, "LSHELF2", &minutes_ago(240), "receive", None))
        .collect();
    send(&w, &w.device, placed).await;
    let r =
        w.s.post(
            Some(&w.library),
            "/api/v1/shelf-audits",
            json!({"location": "LSHELF2"}),
        )
        .await;
    let id = w.s.ok_json(r).await["id"].as_i64().unwrap();
    let res = send(&w, &w.library, vec![audit_scan(&x, "LSHELF2")]).await;
    assert_eq!(res[0]["status"], "stored", "{}", res[0]);
    let r =
        w.s.post(
            Some(&w.library),
            &format!("/api/v1/shelf-audits/{id}/close"),
            json!({}),
        )
        .await;
    let done = w.s.ok_json(r).await;
    assert_eq!(
        folders_of(&done["not_found"]),
        sorted(vec![y.clone(), z.clone()])
    );

    // within the time: nothing is reported, though the follow-up runs every second
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(w.s.count("missing_cases").await, 0);
    // z turns up on Ward 5 after the audit
    send(
        &w,
        &w.device,
        vec![event(&z, "LWARD5", &now(), "receive", None)],
    )
    .await;
    // the audit closed three hours ago (back-dated in the database)
    w.s.db
        .write(move |c| {
            c.execute(
                "UPDATE shelf_audits SET opened_at = opened_at - 3 * 3600000, closed_at = closed_at - 3 * 3600000 WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let follow = |w: &World| {
        let s = w.s.db.clone();
        async move {
            s.read(move |c| {
                let mut st = c.prepare(
                    "SELECT f.barcode, x.follow_up, x.missing_case_id, f.status FROM shelf_audit_lines x JOIN folders f ON f.id = x.folder_id WHERE x.audit_id = ?1 AND x.outcome = 'not_found' ORDER BY f.barcode",
                )?;
                let v = st
                    .query_map([id], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Option<i64>>(2)?, r.get::<_, String>(3)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(v)
            })
            .await
            .unwrap()
        }
    };
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = follow(&w).await;
        if lines.iter().all(|l| l.1.as_deref() != Some("pending")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let of = |b: &str| lines.iter().find(|l| l.0 == b).cloned().unwrap();
    let ly = of(&y);
    assert_eq!(ly.1.as_deref(), Some("missing"), "{lines:?}");
    assert_eq!(ly.3, "missing", "the folder is marked missing");
    let case = ly.2.expect("linked to its missing case");
    let lz = of(&z);
    assert_eq!(lz.1.as_deref(), Some("seen_since"), "{lines:?}");
    assert_eq!(lz.3, "active");
    assert_eq!(w.s.count("missing_cases").await, 1, "reported once");
    // the missing case names the audit, through the existing missing-notes use case
    let reason: String =
        w.s.db
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT reason FROM missing_cases WHERE id = ?1",
                    [case],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
    assert!(reason.contains(&format!("shelf audit {id}")), "{reason}");
    // and it is not reported again on the next rounds
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.s.count("missing_cases").await, 1);
    let (_, html) = w.s.page(&w.library, &format!("/audits/{id}")).await;
    assert!(html.contains("reported missing"), "{html}");
    assert!(html.contains("seen since"));

    // the next audit of the shelf finds y: its missing case is closed as found
    let res = send(&w, &w.library, vec![audit_scan(&y, "LSHELF2")]).await;
    assert_eq!(res[0]["status"], "stored", "{}", res[0]);
    let (case_status, folder_status): (String, String) = w
        .s
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT m.status, f.status FROM missing_cases m JOIN folders f ON f.id = m.folder_id WHERE m.id = ?1",
                [case],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(
        (case_status.as_str(), folder_status.as_str()),
        ("found", "active")
    );
}

#[tokio::test]
async fn the_scan_page_steps_open_scan_and_close_once_however_often_they_are_sent() {
    let w = world().await;
    shelf(&w, "LSHELF3", None).await;
    w.s.patient(&w.library, CHI, "Macdonald", "Morag", "1985-04-19")
        .await;
    let (here, away) = (folder_with(&w, None).await, folder_with(&w, None).await);
    let placed = vec![
        event(&here, "LSHELF3", &minutes_ago(30), "receive", None),
        event(&away, "LWARD5", &minutes_ago(30), "receive", None),
    ];
    send(&w, &w.device, placed).await;
    let csrf = tracker_server::web::csrf_for(&w.library);
    let step = |body: Value| {
        let (s, csrf, cookie) = (&w.s, csrf.clone(), format!("cn_session={}", w.library));
        async move {
            let r = s
                .client
                .post(format!("{}/web/scan", s.base))
                .header("cookie", cookie)
                .header("x-csrf-token", csrf)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let t = tracker_server::util::now_ms() - 60_000;
    let card = casenote_core::identifiers::card_payload("LSHELF3").unwrap();
    let open = json!({"event_id": uuid::Uuid::now_v7().to_string(), "raw": card, "mode": "audit",
                      "audit": "open", "location": "LSHELF3", "scanned_at": t});
    let a = step(open.clone()).await;
    assert_eq!(a["kind"], "audit", "{a}");
    let id = a["audit_id"].as_i64().unwrap();
    assert_eq!(
        step(open).await["audit_id"],
        id,
        "a resent open is the same audit"
    );
    let scan = |raw: &str, at: i64| {
        json!({"event_id": uuid::Uuid::now_v7().to_string(), "raw": format!("]C0{raw}"), "mode": "audit",
               "location": "LSHELF3", "scanned_at": at})
    };
    let s1 = scan(&here, t + 1000);
    let r = step(s1.clone()).await;
    assert_eq!(r["level"], "ok", "{r}");
    assert!(r["message"].as_str().unwrap().contains("found here"), "{r}");
    let s2 = scan(&away, t + 2000);
    let r = step(s2.clone()).await;
    assert_eq!(r["level"], "warn", "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("Ward 5 (LWARD5)"),
        "{r}"
    );
    let r = step(s2).await;
    assert!(
        r["message"].as_str().unwrap().contains("already counted"),
        "{r}"
    );
    let close = json!({"event_id": uuid::Uuid::now_v7().to_string(), "raw": "", "mode": "audit",
                       "audit": "close", "location": "LSHELF3", "scanned_at": t + 3000});
    let c1 = step(close.clone()).await;
    assert_eq!(c1["kind"], "audit-closed", "{c1}");
    assert_eq!(c1["url"], format!("/audits/{id}"));
    assert_eq!(
        step(close).await["audit_id"],
        id,
        "a resent close answers the same audit"
    );
    // a scan read before the close but delivered after it still counts in that audit
    let r = step(scan(&here, t + 2500)).await;
    assert!(
        r["message"].as_str().unwrap().contains("already counted"),
        "{r}"
    );
    assert_eq!(
        movements(&w, &away)
            .await
            .iter()
            .filter(|m| m.1 == "audit")
            .count(),
        1
    );
    // a porter cannot use the mode
    let porter_csrf = tracker_server::web::csrf_for(&w.porter);
    let r =
        w.s.client
            .post(format!("{}/web/scan", w.s.base))
            .header("cookie", format!("cn_session={}", w.porter))
            .header("x-csrf-token", porter_csrf)
            .json(
                &json!({"event_id": uuid::Uuid::now_v7().to_string(), "raw": "x", "mode": "audit",
                      "audit": "open", "location": "LSHELF3"}),
            )
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, page) = w.s.page(&w.library, "/scan?mode=audit").await;
    assert!(
        page.contains("Shelf audit") && page.contains("id=\"audit-close\""),
        "{page}"
    );
    let (st, _) = w.s.page(&w.porter, "/scan?mode=audit").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

/// A folder taken from the shelf onto a trolley is on the trolley, not missing from the shelf:
/// the audit does not expect it (so it is never reported missing from there).
#[tokio::test]
async fn a_folder_on_a_trolley_is_not_expected_on_the_shelf() {
    let w = world().await;
    shelf(&w, "LSHELF1", None).await;
    w.s.patient(&w.library, CHI, "Macdonald", "Morag", "1985-04-19")
        .await;
    let (stays, leaves) = (folder_with(&w, None).await, folder_with(&w, None).await);
    let on_shelf: Vec<Value> = [&stays, &leaves]
        .iter()
        .map(|x| event(x, "LSHELF1", &minutes_ago(30), "receive", None))
        .collect();
    send(&w, &w.device, on_shelf).await;
    let r =
        w.s.post(
            Some(&w.library),
            "/api/v1/containers",
            json!({"kind": "trolley", "name": "T1", "home_location": "LLIB"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut load = event(&leaves, "LSHELF1", &minutes_ago(20), "seen", None);
    load["container"] = json!("T1");
    let res = send(&w, &w.device, vec![load]).await;
    assert_eq!(res[0]["status"], "stored", "{res:?}");

    let r =
        w.s.post(
            Some(&w.library),
            "/api/v1/shelf-audits",
            json!({"location": "LSHELF1"}),
        )
        .await;
    let id = w.s.ok_json(r).await["id"].as_i64().unwrap();
    let r =
        w.s.post(
            Some(&w.library),
            &format!("/api/v1/shelf-audits/{id}/close"),
            json!({}),
        )
        .await;
    let done = w.s.ok_json(r).await;
    assert_eq!(folders_of(&done["not_found"]), vec![stays], "{done}");
}
