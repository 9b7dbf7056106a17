//! Trolleys, bags and crates over real HTTP on a real database: folders loaded onto a trolley
//! move with it in one scan (once each, however often the trolley is read or the scan is
//! resent), where-is says which trolley a folder is on, and a folder scanned at a place comes
//! off its trolley.

mod common;

use chrono::{Duration, SecondsFormat, Utc};
use common::{world, World};
use reqwest::StatusCode;
use serde_json::{json, Value};

const CHIS: [&str; 3] = ["1904851231", "2902201230", "0101011237"];
const DOBS: [&str; 3] = ["1985-04-19", "2020-02-29", "2001-01-01"];

fn at(secs_ago: i64) -> String {
    (Utc::now() - Duration::seconds(secs_ago)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ev(raw: &str, location: &str, read_at: &str, action: &str, method: &str) -> Value {
    json!({
        "event_id": uuid::Uuid::now_v7().to_string(),
        "device_id": "test-scanner",
        "staff_id": "S00042",
        "read_at": read_at,
        "raw": raw,
        "method": method,
        "location": location,
        "action": action,
    })
}

async fn send(w: &World, events: Vec<Value>) -> Value {
    let r =
        w.s.post(Some(&w.device), "/api/v1/events", json!({"events": events}))
            .await;
    w.s.ok_json(r).await
}

async fn folders(w: &World) -> Vec<String> {
    let mut out = Vec::new();
    for (i, chi) in CHIS.iter().enumerate() {
        w.s.patient(&w.library, chi, &format!("Trolley{i}"), "Pat", DOBS[i])
            .await;
        let f = w.s.folder(&w.library, chi, "main").await;
        out.push(f["barcode"].as_str().unwrap().to_string());
    }
    out
}

async fn register(w: &World, kind: &str, name: &str) -> Value {
    let r =
        w.s.post(
            Some(&w.library),
            "/api/v1/containers",
            json!({"kind": kind, "name": name, "home_location": "LLIB"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn movements_at(w: &World, barcodes: &[String], code: &'static str) -> i64 {
    let list = barcodes.join(",");
    w.s.db
        .read(move |c| {
            let mut n = 0;
            for b in list.split(',') {
                n += c.query_row(
                    "SELECT count(*) FROM movements m JOIN folders f ON f.id = m.folder_id
                     JOIN locations l ON l.id = m.location_id WHERE f.barcode = ?1 AND l.code = ?2",
                    [b, code],
                    |r| r.get::<_, i64>(0),
                )?;
            }
            Ok(n)
        })
        .await
        .unwrap()
}

async fn whereis(w: &World, barcode: &str) -> Value {
    let r =
        w.s.get(
            Some(&w.library),
            &format!("/api/v1/whereis/folder/{barcode}"),
        )
        .await;
    w.s.ok_json(r).await
}

#[tokio::test]
async fn a_trolley_moves_its_folders_once_and_unloads_by_scan() {
    let w = world().await;
    let bc = folders(&w).await;
    let t3 = register(&w, "trolley", "T3").await;
    let grai = t3["grai"].as_str().unwrap().to_string();
    // A GS1 GRAI: 0, the test prefix 0614141, asset type 00001, check digit, serial.
    assert!(grai.starts_with("0061414100001"), "{grai}");
    assert_eq!(grai.len(), 15);
    let epc = t3["epc"].as_str().unwrap().to_string();
    assert!(epc.starts_with("33"), "GRAI-96: {epc}");
    let label = format!("]C18003{grai}");

    // A request for the second folder, to Ward 5.
    let r =
        w.s.post(Some(&w.clinician), "/api/v1/requests", json!({"patient": CHIS[1], "destination": "LWARD5", "urgency": "urgent", "reason": "ward round"}))
            .await;
    let request = w.s.ok_json(r).await["id"].as_i64().unwrap();

    // Library: the trolley, then three folders loaded onto it.
    let mut batch = vec![ev(&label, "LLIB", &at(60), "seen", "barcode")];
    for (i, b) in bc.iter().enumerate() {
        let mut e = ev(
            &format!("]C0{b}"),
            "LLIB",
            &at(50 - i as i64),
            "seen",
            "barcode",
        );
        e["container"] = json!(grai);
        batch.push(e);
    }
    let out = send(&w, batch).await;
    assert_eq!(out["stored"], 4, "{out}");
    assert_eq!(
        movements_at(&w, &bc, "LLIB").await,
        0,
        "loading moves no folder"
    );
    let wi = whereis(&w, &bc[0]).await;
    assert_eq!(wi["on_container"]["name"], "T3", "{wi}");
    assert_eq!(wi["on_container"]["last_seen"]["location"]["code"], "LLIB");

    // Ward 5's portal reads the trolley's tag: one movement per folder.
    let arrival = ev(&epc, "LWARD5", &at(30), "receive", "rfid");
    let out = send(&w, vec![arrival.clone()]).await;
    assert_eq!(out["results"][0]["status"], "stored", "{out}");
    assert_eq!(movements_at(&w, &bc, "LWARD5").await, 3);
    // The same event resent, and the trolley read again at the same door: still three.
    let out = send(&w, vec![arrival]).await;
    assert_eq!(out["results"][0]["status"], "duplicate", "{out}");
    let out = send(&w, vec![ev(&epc, "LWARD5", &at(20), "receive", "rfid")]).await;
    assert_eq!(out["stored"], 1, "{out}");
    assert_eq!(movements_at(&w, &bc, "LWARD5").await, 3);
    // The requested folder's request moved on, as for any scan.
    let r =
        w.s.get(Some(&w.library), &format!("/api/v1/requests/{request}"))
            .await;
    assert_eq!(w.s.ok_json(r).await["state"], "received");

    // Where-is: the folder is at Ward 5, on trolley T3, last seen there at the local time.
    let wi = whereis(&w, &bc[0]).await;
    assert_eq!(wi["current"]["location"]["code"], "LWARD5", "{wi}");
    let seen = wi["on_container"]["last_seen"]["read_at"].as_str().unwrap();
    let local = chrono::DateTime::parse_from_rfc3339(seen)
        .unwrap()
        .with_timezone(&chrono_tz::Europe::London)
        .format("%H:%M")
        .to_string();
    let porter = w.s.login("porter").await;
    let (status, page) = w.s.page(&porter, &format!("/whereis?q={}", bc[0])).await;
    assert_eq!(status, StatusCode::OK);
    let want = format!("on trolley T3 (last seen Ward 5, {local})");
    assert!(page.contains(&want), "{want} not in the page");

    // Unloading: the first folder scanned by hand at the ward comes off the trolley.
    let out = send(
        &w,
        vec![ev(
            &format!("]C0{}", bc[0]),
            "LWARD5",
            &at(10),
            "seen",
            "barcode",
        )],
    )
    .await;
    assert_eq!(out["stored"], 1);
    assert!(whereis(&w, &bc[0]).await.get("on_container").is_none());
    let id = t3["id"].as_i64().unwrap();
    let r =
        w.s.get(Some(&w.porter), &format!("/api/v1/containers/{id}"))
            .await;
    let detail = w.s.ok_json(r).await;
    let on: Vec<&str> = detail["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["barcode"].as_str().unwrap())
        .collect();
    assert_eq!(on, [bc[1].as_str(), bc[2].as_str()]);

    // The rest taken off together; a porter may not, library staff may.
    let r =
        w.s.post(
            Some(&w.porter),
            &format!("/api/v1/containers/{id}/unload"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r =
        w.s.post(
            Some(&w.library),
            &format!("/api/v1/containers/{id}/unload"),
            json!({}),
        )
        .await;
    assert_eq!(w.s.ok_json(r).await["unloaded"], 2);
    assert!(whereis(&w, &bc[2]).await.get("on_container").is_none());
    // Each load and unload is in the audit log against its folder.
    let audited: i64 =
        w.s.db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM audit_log WHERE action IN ('containers.load', 'containers.unload') AND folder_id IS NOT NULL",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
    assert_eq!(audited, 6);
}

#[tokio::test]
async fn refusals_name_the_field() {
    let w = world().await;
    let bc = folders(&w).await;
    // registration
    let r =
        w.s.post(
            Some(&w.library),
            "/api/v1/containers",
            json!({"kind": "wheelbarrow", "name": "W1"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "kind");
    register(&w, "bag", "B1").await;
    let r =
        w.s.post(
            Some(&w.library),
            "/api/v1/containers",
            json!({"kind": "crate", "name": "b1"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "name");
    let r =
        w.s.post(
            Some(&w.porter),
            "/api/v1/containers",
            json!({"kind": "crate", "name": "C1"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r =
        w.s.post(
            Some(&w.library),
            "/api/v1/containers",
            json!({"kind": "crate", "name": "C9", "grai": "00614141000014"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e = r.json::<Value>().await.unwrap();
    assert_eq!(e["error"]["field"], "grai", "{e}");
    // scans: an unknown container name to load onto, an unregistered GRAI
    let mut load = ev(&format!("]C0{}", bc[0]), "LLIB", &at(5), "seen", "barcode");
    load["container"] = json!("T99");
    let stray = casenote_core::identifiers::Grai::new("0614141", "00009", "4").unwrap();
    let unknown = ev(
        &format!("]C18003{}", stray.ai_value()),
        "LWARD5",
        &at(5),
        "seen",
        "barcode",
    );
    let out = send(&w, vec![load, unknown]).await;
    assert_eq!(out["rejected"], 2, "{out}");
    assert_eq!(out["results"][0]["field"], "container");
    assert_eq!(out["results"][1]["field"], "raw");
    // a shelf audit counts folders: an audit scan never loads a folder, and a container is
    // never audited (its folders would all be counted as found on the shelf)
    let t1 = register(&w, "trolley", "T1").await;
    let mut audit_load = ev(&format!("]C0{}", bc[1]), "LLIB", &at(4), "seen", "audit");
    audit_load["container"] = json!("T1");
    let audit_trolley = ev(
        &format!("]C18003{}", t1["grai"].as_str().unwrap()),
        "LLIB",
        &at(4),
        "seen",
        "audit",
    );
    let out = send(&w, vec![audit_load, audit_trolley]).await;
    assert_eq!(out["rejected"], 2, "{out}");
    assert_eq!(out["results"][0]["field"], "container", "{out}");
    assert_eq!(out["results"][1]["field"], "method", "{out}");
    // nothing was loaded or moved
    assert!(whereis(&w, &bc[0]).await.get("on_container").is_none());
    assert_eq!(w.s.count("container_contents").await, 0);
    assert_eq!(w.s.count("shelf_audits").await, 0);
}

#[tokio::test]
async fn the_containers_pages() {
    let w = world().await;
    let bc = folders(&w).await;
    let library = w.s.login("library").await;
    let porter = w.s.login("porter").await;
    let (status, page) = w.s.page(&library, "/containers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Register a container"));
    let csrf = tracker_server::web::csrf_for(&library);
    let r =
        w.s.client
            .post(format!("{}/containers", w.s.base))
            .header("cookie", format!("cn_session={library}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("kind", "crate"),
                ("name", "C7"),
                ("home_location", "LLIB"),
            ])
            .send()
            .await
            .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let grai: String =
        w.s.db
            .read(|c| {
                Ok(
                    c.query_row("SELECT grai FROM containers WHERE name = 'C7'", [], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
            .unwrap();
    let mut load = ev(&format!("]C0{}", bc[2]), "LLIB", &at(5), "seen", "barcode");
    load["container"] = json!(grai);
    assert_eq!(send(&w, vec![load]).await["stored"], 1);
    // A porter sees the crate and what is on it, but may not register one.
    let (status, page) = w.s.page(&porter, "/containers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("C7") && page.contains("Crate"), "{page}");
    assert!(!page.contains("Register a container"));
    let (status, page) = w.s.page(&porter, "/containers/1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&bc[2]) && page.contains("Records Library"),
        "{page}"
    );
    assert!(!page.contains("Take all folders off"));
    // Library staff cannot retire the crate while a folder is on it; once emptied they can,
    // and a retired crate cannot be loaded.
    let form = |active: &'static str| {
        w.s.client
            .post(format!("{}/containers/1/active", w.s.base))
            .header("cookie", format!("cn_session={library}"))
            .form(&[("csrf", csrf.clone()), ("active", active.to_string())])
    };
    let r = form("0").send().await.unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("still has 1 folder(s) on it"), "{text}");
    let r =
        w.s.post(Some(&w.library), "/api/v1/containers/1/unload", json!({}))
            .await;
    assert_eq!(w.s.ok_json(r).await["unloaded"], 1);
    assert!(form("0").send().await.unwrap().status().is_success());
    let mut load = ev(&format!("]C0{}", bc[1]), "LLIB", &at(2), "seen", "barcode");
    load["container"] = json!("C7");
    let out = send(&w, vec![load]).await;
    assert_eq!(out["results"][0]["field"], "container", "{out}");
    assert!(out["results"][0]["message"]
        .as_str()
        .unwrap()
        .contains("retired"));
    // the home page and menu link to it
    let (_, home) = w.s.page(&porter, "/").await;
    assert!(home.contains("href=\"/containers\""));
}
