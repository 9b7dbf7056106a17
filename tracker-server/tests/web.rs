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
