//! The web pages over real HTTP (no browser): sign-in with the session cookie, CSRF, the new
//! request, desk, pull-list, labels and printer pages, the cookie-authenticated live desk
//! stream, and escaping of patient data.

mod common;

use common::*;
use reqwest::{redirect::Policy, Client, StatusCode};
use serde_json::json;

/// A browser-like session: cookie and CSRF token, no redirects followed.
struct Web {
    base: String,
    client: Client,
    cookie: String,
    csrf: String,
}

fn hidden_csrf(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[i..i + html[i..].find('"').unwrap()].to_string()
}

async fn sign_in(s: &TestServer, user: &str) -> Web {
    let client = Client::builder().redirect(Policy::none()).build().unwrap();
    let r = client
        .get(format!("{}/login", s.base))
        .send()
        .await
        .unwrap();
    let login_cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = hidden_csrf(&r.text().await.unwrap());
    let r = client
        .post(format!("{}/login", s.base))
        .header("cookie", &login_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", user),
            ("password", PW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    let cookie = set.split(';').next().unwrap().to_string();
    let home = client
        .get(format!("{}/", s.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Web {
        base: s.base.clone(),
        client,
        cookie,
        csrf: hidden_csrf(&home),
    }
}

impl Web {
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut f: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        f.extend_from_slice(form);
        self.client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&f)
            .send()
            .await
            .unwrap()
    }
}

const EVIL_FAMILY: &str = "<script>alert(1)</script>";
const EVIL_GIVEN: &str = "<img src=x onerror=alert(2)>";
const CHI: &str = "1904851231";

async fn world() -> (TestServer, String) {
    let s = start().await;
    let manager = s.login("records_manager").await;
    let library = s.login("library").await;
    s.seed_locations(&manager).await;
    s.patient(&library, CHI, EVIL_FAMILY, EVIL_GIVEN, "1985-04-19")
        .await;
    let f = s.folder(&library, CHI, "main").await;
    (s, f["barcode"].as_str().unwrap().to_string())
}

fn assert_escaped(page: &str, html: &str) {
    assert!(
        !html.to_lowercase().contains("<script>alert"),
        "{page}: raw script tag in the page"
    );
    assert!(
        !html.contains("<img src=x"),
        "{page}: raw img tag in the page"
    );
    assert!(
        html.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{page}: the name is not shown as text"
    );
}

#[tokio::test]
async fn request_pages_desk_and_escaping() {
    let (s, barcode) = world().await;
    let clinician = sign_in(&s, "clinician").await;
    let library = sign_in(&s, "library").await;

    // The menu follows the role.
    let (_, home) = clinician.get("/").await;
    assert!(home.contains("href=\"/requests/new\""));
    assert!(!home.contains("href=\"/desk\""));
    assert!(!home.contains("href=\"/labels\""));
    let (_, home) = library.get("/").await;
    for h in ["/desk", "/pull-lists", "/labels", "/admin/printers"] {
        assert!(
            home.contains(&format!("href=\"{h}\"")),
            "library menu has {h}"
        );
    }
    assert_eq!(clinician.get("/desk").await.0, StatusCode::FORBIDDEN);

    // No CSRF token, no request.
    let r = clinician
        .client
        .post(format!("{}/requests/new", s.base))
        .header("cookie", &clinician.cookie)
        .form(&[("patient", CHI)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A mistake is shown on the form, with what was typed kept.
    let r = clinician
        .post(
            "/requests/new",
            &[
                ("patient", "1234567890"),
                ("destination", "LWARD5"),
                ("urgency", "urgent"),
                ("reason", "clinic"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("There is a problem") && html.contains("value=\"1234567890\""));

    let r = clinician
        .post(
            "/requests/new",
            &[
                ("patient", CHI),
                ("volume", ""),
                ("destination", "LWARD5"),
                ("urgency", "urgent"),
                ("needed_by", "2030-01-02T09:30"),
                ("reason", "ward round <b>tomorrow</b>"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/requests/"), "{to}");
    let (st, html) = clinician.get(&to).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("Request sent."));
    assert!(html.contains("ward round &lt;b&gt;tomorrow&lt;/b&gt;"));
    assert_escaped("request", &html);
    let id: i64 = to
        .trim_start_matches("/requests/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // The desk sees it, and can mark it pulled.
    let (st, html) = library.get("/desk").await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains(&format!("id=\"req-{id}\"")));
    assert!(html.contains("/static/desk.js"));
    assert_escaped("desk", &html);
    let (st, row) = library.get(&format!("/web/desk/rows/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(row.trim_start().starts_with("<tr"));
    assert_escaped("desk row", &row);
    let r = library
        .post(
            &format!("/desk/{id}/state"),
            &[("state", "pulled"), ("back", "desk")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = library.get(r.headers()["location"].to_str().unwrap()).await;
    assert!(html.contains(&format!("Request {id} is now <strong>pulled</strong>")));
    // A clinician may not pull.
    let r = clinician
        .post(&format!("/desk/{id}/state"), &[("state", "pulled")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Where-is and the pull list show the names as text.
    let (_, html) = library.get(&format!("/whereis?q={barcode}")).await;
    assert_escaped("whereis", &html);
    let (_, html) = library.get(&format!("/whereis?q={CHI}")).await;
    assert_escaped("whereis by CHI", &html);

    // Every page carries the strict CSP.
    let r = library
        .client
        .get(format!("{}/desk", s.base))
        .header("cookie", &library.cookie)
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"));
    let (st, js) = library.get("/static/desk.js").await;
    assert_eq!(st, StatusCode::OK);
    assert!(js.contains("EventSource"));
}

#[tokio::test]
async fn desk_stream_needs_the_session_cookie_and_carries_new_requests() {
    let (s, _) = world().await;
    let library = sign_in(&s, "library").await;
    // Without a cookie: sent to sign in.
    let r = library
        .client
        .get(format!("{}/web/desk/stream", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut r = library
        .client
        .get(format!("{}/web/desk/stream", s.base))
        .header("cookie", &library.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let clinician = sign_in(&s, "clinician").await;
    let made = clinician
        .post(
            "/requests/new",
            &[
                ("patient", CHI),
                ("destination", "LCLINA"),
                ("urgency", "emergency"),
                ("reason", "fracture clinic"),
            ],
        )
        .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let mut got = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !got.contains("request.new") && std::time::Instant::now() < deadline {
        match tokio::time::timeout(std::time::Duration::from_secs(10), r.chunk()).await {
            Ok(Ok(Some(c))) => got.push_str(&String::from_utf8_lossy(&c)),
            _ => break,
        }
    }
    assert!(got.contains("event: request.new"), "{got}");
    assert!(got.contains("\"urgency\":\"emergency\""), "{got}");
    assert!(!got.contains("alert"), "no patient names on the stream");
}

#[tokio::test]
async fn pull_list_labels_and_printers_pages() {
    let (s, barcode) = world().await;
    let library = sign_in(&s, "library").await;
    let admin = sign_in(&s, "admin").await;
    let manager = s.login("records_manager").await;
    // A clinic session with one booking.
    let r = s
        .post(
            Some(&manager),
            "/api/v1/clinic-sessions",
            json!({"clinic": "LCLINA", "date": "2030-03-04", "start": "09:00", "end": "12:00"}),
        )
        .await;
    let session = s.ok_json(r).await;
    let r = s
        .post(
            Some(&manager),
            "/api/v1/appointments",
            json!({"session": session["id"], "patient": CHI, "start": "09:30"}),
        )
        .await;
    s.ok_json(r).await;

    let (st, html) = library.get("/pull-lists?date=2030-03-04").await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains(&barcode));
    assert!(html.contains("data-print"));
    assert!(html.contains("/pull-lists/export?format=pdf&amp;date=2030-03-04"));
    assert_escaped("pull list", &html);
    let r = library
        .client
        .get(format!(
            "{}/pull-lists/export?format=csv&date=2030-03-04",
            s.base
        ))
        .header("cookie", &library.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains(&barcode));
    let r = library
        .client
        .get(format!(
            "{}/pull-lists/export?format=pdf&date=2030-03-04",
            s.base
        ))
        .header("cookie", &library.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.bytes().await.unwrap().starts_with(b"%PDF"));
    // The statistics page offers the same CSV download as the API.
    let r = library
        .client
        .get(format!(
            "{}/statistics?format=csv&section=summary&from=2030-03-01&to=2030-03-31",
            s.base
        ))
        .header("cookie", &library.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"statistics-summary-2030-03-01-2030-03-31.csv\""
    );
    assert!(r.text().await.unwrap().contains(','));
    let r = library
        .post(
            "/pull-lists/requests",
            &[("date", "2030-03-04"), ("clinic", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with("raised=1"));

    // Printers: library sees, only admin registers.
    let (st, html) = library.get("/admin/printers").await;
    assert_eq!(st, StatusCode::OK);
    assert!(!html.contains("Register a printer"));
    let r = library
        .post(
            "/admin/printers",
            &[("name", "p1"), ("url", "tcp://127.0.0.1:9")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = admin
        .post(
            "/admin/printers",
            &[("name", "dead-printer"), ("url", "tcp://127.0.0.1:9")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Printer dead-printer registered."));

    // Printing to a printer that is not there: the job is kept as failed, with a retry button.
    let r = library
        .post(
            "/labels/folder",
            &[
                ("barcode", &barcode),
                ("printer", "dead-printer"),
                ("copies", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let html = r.text().await.unwrap();
    assert!(html.contains("There is a problem") && html.contains("Retry"));
    // A batch goes to its progress page, whose JSON the page polls.
    let r = library
        .post(
            "/labels/batch",
            &[
                ("barcodes", &format!("{barcode}\n")),
                ("printer", "dead-printer"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = r.headers()["location"].to_str().unwrap().to_string();
    let (st, html) = library.get(&page).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("/static/progress.js") && html.contains("<progress"));
    let id = page.rsplit('/').next().unwrap();
    let (st, j) = library.get(&format!("/web/print/batches/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["total"], 1);
}

/// Issue 14: where-is speaks in names, offers "Request these notes", and a porter who types a
/// CHI is told what porters can look up, on a page with the menu.
#[tokio::test]
async fn whereis_names_request_button_and_porter_help() {
    let (s, barcode) = world().await;
    // a scan by a device that reported its description, carried by a registered badge
    let admin = s.login("admin").await;
    let device = s.device_token(&admin, "ward5-bridge").await;
    let hb = json!({"bridge_id": "ward5-pc", "devices": [{"device_id": "ward5-porter-scanner",
        "description": "Ward 5 porter scanner", "online": true}]});
    s.ok_json(s.post(Some(&device), "/api/v1/devices/heartbeat", hb).await)
        .await;
    let mut ev = event(
        &barcode,
        "LWARD5",
        &chrono::Utc::now().to_rfc3339(),
        "receive",
        None,
    );
    ev["device_id"] = json!("ward5-porter-scanner");
    s.ok_json(
        s.post(Some(&device), "/api/v1/events", json!({"events": [ev]}))
            .await,
    )
    .await;
    let clinician = sign_in(&s, "clinician").await;
    let (st, page) = clinician.get(&format!("/whereis?q={barcode}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Ward 5 (LWARD5)"), "{page}");
    assert!(
        page.contains("Test Porter (S00042)"),
        "staff by name: {page}"
    );
    assert!(
        page.contains("Ward 5 porter scanner (ward5-porter-scanner)"),
        "device by name: {page}"
    );
    let href = format!("/requests/new?volume={barcode}");
    assert!(page.contains(&href), "Request these notes: {page}");
    let (st, form) = clinician.get(&href).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        form.contains(&format!("value=\"{CHI}\"")),
        "patient filled in: {form}"
    );
    assert!(
        form.contains(&format!("value=\"{barcode}\"")),
        "volume filled in"
    );

    // a porter typing a CHI: an answer with the menu, not a bare refusal, and no patient data
    let porter = sign_in(&s, "porter").await;
    let (st, page) = porter.get(&format!("/whereis?q={CHI}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("Porters can find a folder by its barcode"),
        "{page}"
    );
    assert!(
        page.contains("aria-label=\"Main menu\""),
        "the menu is there"
    );
    assert!(!page.contains(EVIL_FAMILY) && !page.contains("Request these notes"));
}

// ---------- issue 16 point 1: the records manager's lifecycle pages ----------

async fn audit_rows(s: &TestServer, action: &'static str) -> i64 {
    s.db.read(move |c| {
        Ok(c.query_row(
            "SELECT count(*) FROM audit_log WHERE action=?1",
            [action],
            |r| r.get(0),
        )?)
    })
    .await
    .unwrap()
}

/// Porters and clinicians get 403 for a page and its form, as the API refuses them.
async fn refused_to_porter_and_clinician(s: &TestServer, get: &str, post: &str) {
    for user in ["porter", "clinician"] {
        let w = sign_in(s, user).await;
        assert_eq!(w.get(get).await.0, StatusCode::FORBIDDEN, "{user} {get}");
        let r = w.post(post, &[("patient", "1904851231")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{user} {post}");
        let (_, home) = w.get("/").await;
        assert!(!home.contains(&format!("href=\"{get}\"")), "{user} menu");
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn coding_queue_page_in_age_order_with_where_the_notes_are() {
    let w = common::world().await;
    let s = &w.s;
    s.patient(&w.library, CHI, "Macdonald", "Morag", "1985-04-19")
        .await;
    s.patient(&w.library, "0101011237", "Stewart", "Ann", "2001-01-01")
        .await;
    let bc = s.folder(&w.library, CHI, "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    // Morag's notes arrive on Ward 5; Ann's folder is never scanned.
    s.folder(&w.library, "0101011237", "main").await;
    let at = chrono::Utc::now().to_rfc3339();
    let r = s
        .post(
            Some(&w.device),
            "/api/v1/events",
            json!({"events": [event(&bc, "LWARD5", &at, "receive", None)]}),
        )
        .await;
    s.ok_json(r).await;
    refused_to_porter_and_clinician(s, "/coding", "/coding/episodes").await;

    let m = sign_in(s, "records_manager").await;
    let (_, home) = m.get("/").await;
    for h in [
        "/coding",
        "/digitisation",
        "/retention",
        "/external-requests",
    ] {
        assert!(
            home.contains(&format!("href=\"{h}\"")),
            "manager menu has {h}"
        );
    }
    // A mistake names the field in words and keeps what was typed.
    let r = m
        .post(
            "/coding/episodes",
            &[("patient", CHI), ("discharged_at", "yesterday")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Discharged: enter a date and time"), "{html}");
    assert!(html.contains(&format!("value=\"{CHI}\"")));
    let r = m
        .post(
            "/coding/episodes",
            &[
                ("patient", "1904851232"),
                ("discharged_at", "2026-10-01T10:30"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Patient (CHI or NHS number): not a valid CHI or NHS number"));
    assert_eq!(s.count("episodes").await, 0);

    // Morag discharged 1 October (BST), Ann 15 August: Ann is older, so first.
    for (patient, admitted, discharged) in [
        (CHI, "2026-09-28T09:00", "2026-10-01T10:30"),
        ("0101011237", "", "2026-08-15T16:00"),
    ] {
        let r = m
            .post(
                "/coding/episodes",
                &[
                    ("patient", patient),
                    ("admitted_at", admitted),
                    ("discharged_at", discharged),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/coding?done=recorded");
    }
    let before = audit_rows(s, "coding.queue").await;
    let (st, html) = m.get("/coding").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("<strong id=\"queue-count\">2</strong>"),
        "{html}"
    );
    let (morag, ann) = (
        html.find("MACDONALD, Morag").unwrap(),
        html.find("STEWART, Ann").unwrap(),
    );
    assert!(ann < morag, "oldest discharge first");
    // Local time (BST on 1 October), and where each patient's notes are now.
    assert!(html.contains("Thu 01 Oct 2026 10:30 BST"), "{html}");
    assert!(html.contains("Ward 5 (LWARD5)"));
    assert!(html.contains("never scanned (expected at Records Library (LLIB))"));
    assert_eq!(audit_rows(s, "coding.queue").await, before + 2);

    // Coding: a malformed code is named by its line; good codes take it off the queue.
    let id: i64 = s
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT e.id FROM episodes e JOIN patients p ON p.id = e.patient_id WHERE p.chi = '1904851231'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    let (st, html) = m.get(&format!("/coding/episodes/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("Ward 5 (LWARD5)"));
    assert!(audit_rows(s, "episode.read").await >= 1);
    // The records manager loads the ICD-10 list (the library may not); a line in the wrong
    // shape is named.
    let list = "code,description\nJ18.9,Pneumonia, unspecified\n";
    let l = sign_in(s, "library").await;
    let r = l
        .post("/coding/code-lists", &[("scheme", "icd10"), ("list", list)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = m
        .post(
            "/coding/code-lists",
            &[("scheme", "icd10"), ("list", "J18.9,x\nbanana,y\n")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Codes, line 2:"));
    let r = m
        .post("/coding/code-lists", &[("scheme", "icd10"), ("list", list)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Loaded 1 ICD-10 codes."));
    let path = format!("/coding/episodes/{id}/codes");
    // A well-formed code that is not on the loaded list is refused.
    let r = m.post(&path, &[("diagnoses", "J99.9")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Diagnoses, line 1:"));
    let r = m
        .post(
            &path,
            &[("diagnoses", "J18.9\nnonsense"), ("procedures", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Diagnoses, line 2:"), "{html}");
    assert!(html.contains("J18.9\nnonsense"), "what was typed is kept");
    let r = m
        .post(&path, &[("diagnoses", "J18.9"), ("procedures", "W37.1")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = m.get("/coding?done=coded").await;
    assert!(html.contains("Episode coded"));
    assert!(html.contains("<strong id=\"queue-count\">1</strong>"));
    assert!(!html.contains("MACDONALD, Morag"));
    assert_eq!(audit_rows(s, "episode.code").await, 1);
}

#[tokio::test]
async fn external_requests_page_logs_extends_completes_and_marks_overdue() {
    let w = common::world().await;
    let s = &w.s;
    s.patient(&w.library, CHI, "Macdonald", "Morag", "1985-04-19")
        .await;
    refused_to_porter_and_clinician(s, "/external-requests", "/external-requests").await;
    let m = sign_in(s, "records_manager").await;
    // Without the form's CSRF token nothing is logged.
    let r = m
        .client
        .post(format!("{}/external-requests", s.base))
        .header("cookie", &m.cookie)
        .form(&[
            ("kind", "sar"),
            ("patient", CHI),
            ("requester", "Mallory"),
            ("received_on", "2026-01-31"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.count("external_requests").await, 0);
    let (st, html) = m.get("/external-requests").await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("one calendar month from receipt"));

    // Refusals name the field in words; nothing is stored.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2))
        .date_naive()
        .to_string();
    for (received, requester, says) in [
        (
            "31/01/2026",
            "Patient",
            "Date received: must be a real date",
        ),
        (
            tomorrow.as_str(),
            "Patient",
            "Date received: is in the future",
        ),
        ("2026-01-31", "", "Who asked: say who asked"),
    ] {
        let r = m
            .post(
                "/external-requests",
                &[
                    ("kind", "sar"),
                    ("patient", CHI),
                    ("requester", requester),
                    ("received_on", received),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains(says), "{says}: {html}");
    }
    assert_eq!(s.count("external_requests").await, 0);

    // A subject access request received 31 January is due 28 February (one calendar month).
    let r = m
        .post(
            "/external-requests",
            &[
                ("kind", "sar"),
                ("patient", CHI),
                ("requester", "The patient, by post"),
                ("received_on", "2026-01-31"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    let id: i64 = to
        .trim_start_matches("/external-requests/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (_, html) = m.get(&to).await;
    assert!(html.contains("Request logged"));
    assert!(html.contains("Sat 28 Feb 2026"), "{html}");
    assert!(html.contains("Overdue"));
    assert!(html.contains("MACDONALD, Morag"));
    // In the list: overdue in words, and the row is marked for the red style.
    let (_, html) = m.get("/external-requests").await;
    assert!(
        html.contains(&format!("<tr id=\"ext-{id}\" class=\"overdue\">")),
        "{html}"
    );
    assert!(html.contains("<strong id=\"ext-overdue\">1</strong>"));

    // Extend by two months: due 30 April; a third month is refused naming the field.
    let ext = format!("/external-requests/{id}/extend");
    let r = m.post(&ext, &[("months", "2"), ("reason", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Reason: say why"));
    let r = m
        .post(
            &ext,
            &[
                ("months", "2"),
                ("reason", "numerous records across three sites"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = m.get(&format!("/external-requests/{id}")).await;
    assert!(html.contains("Thu 30 Apr 2026"), "{html}");
    assert!(
        !html.contains("Extend the due date"),
        "no more extension offered"
    );
    let r = m.post(&ext, &[("months", "1"), ("reason", "more")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Extra months: may be 1 or 2 in total"));

    // Complete: a note is required; then it is no longer open or overdue.
    let st = format!("/external-requests/{id}/status");
    let r = m.post(&st, &[("status", "completed"), ("note", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Note: say what was sent"));
    let r = m
        .post(
            &st,
            &[
                ("status", "completed"),
                ("note", "copy sent by recorded delivery"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = m.get("/external-requests").await;
    assert!(html.contains("<strong id=\"ext-count\">0</strong>"));
    let (_, html) = m.get("/external-requests?all=1").await;
    assert!(html.contains("completed") && !html.contains("class=\"overdue\""));

    // A library clerk may log a GP query too (same rule as the API); due in 5 days.
    let l = sign_in(s, "library").await;
    let r = l
        .post(
            "/external-requests",
            &[
                ("kind", "gp_query"),
                ("patient", CHI),
                ("requester", "Dr Brown, Riverside Practice"),
                ("received_on", &chrono::Utc::now().date_naive().to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for (action, at_least) in [
        ("external_request.create", 2),
        ("external_request.extend", 1),
        ("external_request.status", 1),
        ("external_request.read", 2),
        ("external_request.list", 2),
    ] {
        assert!(audit_rows(s, action).await >= at_least, "{action}");
    }
}

#[tokio::test]
async fn retention_page_two_people_and_legal_hold() {
    let w = common::world().await;
    let s = &w.s;
    s.patient(&w.library, CHI, "Macdonald", "Morag", "1985-04-19")
        .await;
    let bc = s.folder(&w.library, CHI, "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    let hash = tracker_server::auth::hash_password(PW).unwrap();
    s.db.write(move |c| {
        tracker_server::auth::insert_user(
            c,
            "second_manager",
            "Second Manager",
            tracker_server::auth::Role::RecordsManager,
            &hash,
        )?;
        Ok(())
    })
    .await
    .unwrap();
    refused_to_porter_and_clinician(s, "/retention", "/retention/destructions").await;
    // The library may not either (retention is the records manager's).
    let l = sign_in(s, "library").await;
    assert_eq!(l.get("/retention").await.0, StatusCode::FORBIDDEN);

    let m = sign_in(s, "records_manager").await;
    // Deceased 15 January 2020: due for destruction 15 January 2023.
    let r = m
        .post(
            "/retention/deaths",
            &[("patient", CHI), ("date_of_death", "1980-01-01")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Date of death: is before the date of birth"));
    let r = m
        .post(
            "/retention/deaths",
            &[("patient", CHI), ("date_of_death", "2020-01-15")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(audit_rows(s, "patient.death").await, 1);
    let before = audit_rows(s, "retention.due").await;
    let (st, html) = m.get("/retention").await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains(&format!("id=\"due-{bc}\"")), "{html}");
    assert!(html.contains("2023-01-15") && html.contains("deceased"));
    assert_eq!(audit_rows(s, "retention.due").await, before + 1);
    let (_, html) = m.get("/retention?as_of=soon").await;
    assert!(html.contains("Due on or before: must be a real date"));

    // A legal hold blocks the proposal, named on the page.
    let r = m
        .post(
            "/retention/holds",
            &[("folder", &bc), ("reason", "claim 2026/17")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = m.get("/retention").await;
    assert!(html.contains(&format!("id=\"hold-{bc}\"")) && html.contains("claim 2026/17"));
    let r = m
        .post(
            "/retention/destructions",
            &[("folder", &bc), ("reason", "retention over")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Folder barcode: the folder is under a legal hold"));
    let r = m
        .post("/retention/holds/release", &[("folder", &bc), ("note", "")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = m
        .post(
            "/retention/holds/release",
            &[("folder", &bc), ("note", "claim settled")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Proposed by one manager ...
    let r = m
        .post(
            "/retention/destructions",
            &[("folder", &bc), ("reason", "retention over")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id: i64 =
        s.db.read(|c| Ok(c.query_row("SELECT id FROM destructions", [], |r| r.get(0))?))
            .await
            .unwrap();
    let (_, html) = m.get("/retention").await;
    assert!(html.contains("You proposed this destruction, so you cannot approve"));
    assert!(!html.contains(&format!("Approve destruction {id}")));
    // ... who cannot approve it, even by posting the form.
    let decide = format!("/retention/destructions/{id}/decide");
    let r = m
        .post(&decide, &[("decision", "approve"), ("note", "")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert!(html.contains("a second person must decide"), "{html}");
    assert!(html.contains("There is a problem"));
    // ... and approved by a second, different one.
    let m2 = sign_in(s, "second_manager").await;
    let (_, html) = m2.get("/retention").await;
    assert!(html.contains(&format!("Approve destruction {id}")));
    let r = m2
        .post(&decide, &[("decision", "approve"), ("note", "checked")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = m2.get("/retention?done=approved").await;
    assert!(html.contains("Destruction approved"));
    assert!(html.contains(&format!(
        "href=\"/retention/destructions/{id}/certificate\""
    )));
    let (st, cert) = m2
        .get(&format!("/retention/destructions/{id}/certificate"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(cert.contains("Requested by: user:records_manager"));
    assert!(cert.contains("Approved by: user:second_manager"));
    let status: String =
        s.db.read(|c| Ok(c.query_row("SELECT status FROM folders", [], |r| r.get(0))?))
            .await
            .unwrap();
    assert_eq!(status, "destroyed");
    // A second volume: proposed, then rejected by the second manager, who must say why.
    let bc2 = s.folder(&w.library, CHI, "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    let r = m
        .post(
            "/retention/destructions",
            &[("folder", &bc2), ("reason", "retention over")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let decide = format!("/retention/destructions/{}/decide", id + 1);
    let r = m2
        .post(&decide, &[("decision", "reject"), ("note", "")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Note: say why the destruction is rejected"));
    let r = m2
        .post(
            &decide,
            &[("decision", "reject"), ("note", "open complaint on file")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = m2.get("/retention?done=rejected").await;
    assert!(html.contains("Destruction rejected; the folder is kept."));
    assert!(html.contains("rejected: kept") && html.contains("open complaint on file"));
    for action in [
        "retention.hold",
        "retention.hold.release",
        "retention.destruction.approve",
        "retention.destruction.reject",
    ] {
        assert_eq!(audit_rows(s, action).await, 1, "{action}");
    }
}

#[tokio::test]
async fn digitisation_pages_send_qa_and_paper() {
    let scans = tempfile::tempdir().unwrap();
    let dir = scans.path().join("store");
    let w = common::world_with(move |c| c.digitisation.storage_dir = dir).await;
    let s = &w.s;
    let r = s
        .post(
            Some(&w.manager),
            "/api/v1/locations",
            json!({"code": "LBUREAU", "name": "Scanning bureau", "kind": "scanning_bureau"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    s.patient(&w.library, CHI, "Macdonald", "Morag", "1985-04-19")
        .await;
    let a = s.folder(&w.library, CHI, "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    let b = s.folder(&w.library, CHI, "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    refused_to_porter_and_clinician(s, "/digitisation", "/digitisation/batches").await;

    let l = sign_in(s, "library").await;
    let (st, html) = l.get("/digitisation").await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("Scanning bureau (LBUREAU)"));
    // A bad barcode on line 2 is named; no batch is stored.
    let r = l
        .post(
            "/digitisation/batches",
            &[("bureau", "LBUREAU"), ("folders", &format!("{a}\nF123"))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Folder barcodes, line 2:"), "{html}");
    assert_eq!(s.count("scanning_batches").await, 0);
    let r = l
        .post(
            "/digitisation/batches",
            &[
                ("bureau", "LBUREAU"),
                ("folders", &format!("{a}\r\n{b}\r\n")),
                ("note", "box 1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    let batch = to
        .trim_start_matches("/digitisation/batches/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let (_, html) = l.get(&to).await;
    assert!(html.contains("Batch recorded as sent"));
    assert!(html.contains("sent for scanning"));
    assert_eq!(audit_rows(s, "digitisation.batch.add").await, 2);

    // QA cannot pass before the bureau uploads the scans.
    let qa = format!("/digitisation/batches/{batch}/qa");
    let r = l.post(&qa, &[("barcode", &a), ("result", "passed")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("QA result: no scanned document has been uploaded"));
    for bc in [&a, &b] {
        let r = s
            .client
            .post(format!("{}/api/v1/folders/{bc}/documents", s.base))
            .bearer_auth(&w.library)
            .body(b"%PDF-1.4\nscanned notes\n".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = l.post(&qa, &[("barcode", &a), ("result", "passed")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = l
        .post(&qa, &[("barcode", &b), ("result", "failed"), ("note", "")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Note: say what is wrong"));
    let r = l.post(&qa, &[("barcode", &b), ("result", "passed")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The paper: one returned by the library; destroying the other is a retention decision,
    // refused to the library and raised as a two-person destruction by the manager.
    let disp = format!("/digitisation/batches/{batch}/disposition");
    let (_, html) = l.get(&to).await;
    assert!(html.contains("option value=\"retained\""));
    assert!(
        !html.contains("option value=\"destroyed\""),
        "not offered to the library"
    );
    let r = l
        .post(&disp, &[("barcode", &a), ("disposition", "returned")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = l
        .post(&disp, &[("barcode", &b), ("disposition", "destroyed")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let m = sign_in(s, "records_manager").await;
    let (_, html) = m.get(&to).await;
    assert!(html.contains("option value=\"destroyed\""));
    let r = m
        .post(&disp, &[("barcode", &b), ("disposition", "destroyed")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).ends_with("done=destroy"));
    let (_, html) = m.get(&to).await;
    assert!(html.contains("returned to the library"));
    assert!(html.contains("to be destroyed (a second person approves)"));
    assert!(html.contains("completed"));
    let (_, html) = m.get("/retention").await;
    assert!(html.contains("You proposed this destruction"), "{html}");
    assert_eq!(audit_rows(s, "digitisation.qa").await, 2);
    assert_eq!(audit_rows(s, "digitisation.disposition").await, 2);
}

#[tokio::test]
async fn printer_edit_page_and_labels_by_nhs_number() {
    let w = common::world_with(|c| c.printing.allow_file_printers = true).await;
    let s = &w.s;
    let r = s
        .post(
            Some(&w.admin),
            "/api/v1/printers",
            json!({"name": "library-zebra-1", "url": "tcp://127.0.0.1:9"}),
        )
        .await;
    let p = s.ok_json(r).await;
    let id = p["id"].as_i64().unwrap();
    let path = format!("/admin/printers/{id}");
    // Only an administrator edits printers (as in the API).
    for user in ["records_manager", "library", "porter"] {
        let u = sign_in(s, user).await;
        assert_eq!(u.get(&path).await.0, StatusCode::FORBIDDEN, "{user}");
        let r = u.post(&path, &[("url", "tcp://10.0.0.1:9100")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{user}");
    }
    let a = sign_in(s, "admin").await;
    let (_, html) = a.get("/admin/printers").await;
    assert!(html.contains(&format!("href=\"{path}\"")));
    let (st, html) = a.get(&path).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("value=\"tcp://127.0.0.1:9\""));
    let r = a
        .post(
            &path,
            &[
                ("url", "tcp://10.0.0.1:9100"),
                ("stock", "100 by 50"),
                ("dpi", "203"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Label size:"), "{html}");
    assert!(
        html.contains("value=\"100 by 50\""),
        "what was typed is kept"
    );
    let r = a
        .post(
            &path,
            &[
                ("url", "tcp://10.0.0.1:9100"),
                ("stock", "102x64"),
                ("dpi", "300"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Printer library-zebra-1 changed."));
    let p = s
        .ok_json(s.get(Some(&w.admin), "/api/v1/printers").await)
        .await;
    let p = &p[0];
    assert_eq!(p["url"], "tcp://10.0.0.1:9100");
    assert_eq!(p["stock"], "102x64");
    assert_eq!(p["dpi"], 300);
    assert_eq!(p["active"], false, "unticked: switched off");
    assert_eq!(audit_rows(s, "printer.update").await, 1);
    // Back in use.
    let r = a
        .post(
            &path,
            &[
                ("url", "tcp://10.0.0.1:9100"),
                ("stock", "102x64"),
                ("dpi", "300"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let p = s
        .ok_json(s.get(Some(&w.admin), "/api/v1/printers").await)
        .await;
    assert_eq!(p[0]["active"], true);

    // Labels by NHS number: the check digit is checked and the field named.
    let l = sign_in(s, "library").await;
    let r = l
        .post(
            "/labels/folder-by-nhs",
            &[("nhs_number", "9434765918"), ("printer", "library-zebra-1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("NHS number:"));
    let r = l
        .post(
            "/labels/folder-by-nhs",
            &[
                ("nhs_number", "943 476 5919"),
                ("printer", "library-zebra-1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("NHS number: no patient with this NHS number"));
    // A patient known only by an NHS number: the label prints the NHS number, never a CHI.
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/patients",
            json!({"nhs_number": "9434765919", "family_name": "Jones", "given_name": "Gareth", "dob": "1970-02-03", "sex": "male"}),
        )
        .await;
    s.ok_json(r).await;
    let bc = s.folder(&w.library, "9434765919", "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    let out = s.dir.path().join("labels.zpl");
    let r = s
        .post(
            Some(&w.admin),
            "/api/v1/printers",
            json!({"name": "capture", "url": format!("file://{}", out.display())}),
        )
        .await;
    s.ok_json(r).await;
    let r = l
        .post(
            "/labels/folder-by-nhs",
            &[("nhs_number", "943 476 5919"), ("printer", "capture")],
        )
        .await;
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("Sent 1 folder label(s): {bc}.")),
        "{html}"
    );
    let zpl = std::fs::read_to_string(&out).unwrap();
    assert!(zpl.contains("NHS 943 476 5919"), "{zpl}");
    assert!(zpl.contains("JONES, Gareth"));
    assert!(!zpl.contains("CHI"));
    assert_eq!(audit_rows(s, "label.print").await, 1);
}
