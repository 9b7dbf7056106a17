//! Security tests over real HTTP: who may call what, no patient data without sign-in, the
//! tamper-evident audit log, sign-in rate limiting, CSRF, XSS, SQL injection, path traversal and
//! oversized bodies. docs/security.md says what each one proves.

mod common;

use common::{TestServer, PW};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use tracker_server::http::openapi::{self, ENDPOINTS};

const CHI: &str = "0101011237";

/// Who may call each endpoint. Roles: P porter, L library, C clinician, M records_manager,
/// A admin, D device token, N no token at all. Every endpoint in `ENDPOINTS` must have a row
/// here (the test fails otherwise), so a new endpoint cannot ship without a decision.
///
/// "Allowed" means the answer is anything but 401 or 403 (the request may still be refused as
/// invalid, e.g. 404 for an unknown id); "refused" means 401 or 403.
const ACCESS: &[(&str, &str, &str)] = &[
    ("get", "/healthz", "PLCMADN"),
    ("get", "/api/v1/openapi.json", "PLCMADN"),
    ("post", "/api/v1/auth/login", "PLCMADN"),
    ("post", "/api/v1/auth/logout", "PLCMAD"),
    ("get", "/api/v1/me", "PLCMAD"),
    ("post", "/api/v1/users", "A"),
    ("get", "/api/v1/users", "A"),
    ("post", "/api/v1/users/{username}/disable", "A"),
    ("post", "/api/v1/users/{username}/enable", "A"),
    ("post", "/api/v1/users/{username}/password", "A"),
    ("put", "/api/v1/users/{username}/role", "A"),
    ("post", "/api/v1/tokens", "A"),
    ("get", "/api/v1/tokens", "A"),
    ("post", "/api/v1/tokens/{name}/revoke", "A"),
    ("post", "/api/v1/staff-badges", "LMA"),
    ("get", "/api/v1/staff-badges", "LMA"),
    ("post", "/api/v1/patients", "LMA"),
    ("get", "/api/v1/patients", "LCMA"),
    ("get", "/api/v1/patients/{id}", "LCMA"),
    ("post", "/api/v1/patients/merge", "MA"),
    ("post", "/api/v1/folders", "LMA"),
    ("put", "/api/v1/folders/{barcode}/status", "LMA"),
    ("get", "/api/v1/locations", "PLCMA"),
    ("post", "/api/v1/locations", "MA"),
    ("get", "/api/v1/containers", "PLCMA"),
    ("post", "/api/v1/containers", "LMA"),
    ("get", "/api/v1/containers/{id}", "PLCMA"),
    ("post", "/api/v1/containers/{id}/unload", "LMA"),
    ("get", "/api/v1/locations/{code}/folders", "PLCMA"),
    ("post", "/api/v1/events", "DPLMA"),
    ("get", "/api/v1/shelf-audits", "LMA"),
    ("post", "/api/v1/shelf-audits", "LMA"),
    ("get", "/api/v1/shelf-audits/{id}", "LMA"),
    ("post", "/api/v1/shelf-audits/{id}/close", "LMA"),
    ("put", "/api/v1/locations/{code}/filing-range", "MA"),
    ("get", "/api/v1/whereis/folder/{barcode}", "PLCMA"),
    ("get", "/api/v1/whereis/patient/{id}", "LCMA"),
    ("get", "/api/v1/whereis/search", "LCMA"),
    ("get", "/api/v1/reports/out-of-library", "LMA"),
    ("get", "/api/v1/devices", "LMA"),
    ("post", "/api/v1/devices/heartbeat", "DA"),
    ("get", "/api/v1/audit", "MA"),
    ("get", "/api/v1/printers", "LMA"),
    ("post", "/api/v1/printers", "A"),
    ("put", "/api/v1/printers/{id}", "A"),
    ("post", "/api/v1/print/folder", "LMA"),
    ("post", "/api/v1/print/location", "LMA"),
    ("post", "/api/v1/print/badge", "LMA"),
    ("get", "/api/v1/print/jobs", "LMA"),
    ("post", "/api/v1/print/jobs/{id}/retry", "LMA"),
    ("post", "/api/v1/print/batch", "LMA"),
    ("get", "/api/v1/print/batches/{id}", "LMA"),
    ("post", "/api/v1/print/batches/{id}/retry", "LMA"),
    ("get", "/api/v1/labels/folder/{barcode}.{format}", "LMA"),
    ("put", "/api/v1/locations/{code}/preparation-area", "MA"),
    ("post", "/api/v1/requests", "CLMA"),
    ("get", "/api/v1/requests/{id}", "CLMA"),
    // The sample body sets the state to "located": library work. Clinicians may only cancel.
    ("put", "/api/v1/requests/{id}/state", "LMA"),
    ("post", "/api/v1/requests/{id}/reroute", "CLMA"),
    ("get", "/api/v1/desk/queue", "CLMA"),
    ("get", "/api/v1/desk/stream", "CLMA"),
    ("post", "/api/v1/clinic-sessions", "LMA"),
    ("get", "/api/v1/clinic-sessions", "LMA"),
    ("post", "/api/v1/appointments", "LMA"),
    ("get", "/api/v1/appointments/{id}", "LMA"),
    ("put", "/api/v1/appointments/{id}", "LMA"),
    ("post", "/api/v1/appointments/{id}/cancel", "LMA"),
    ("post", "/api/v1/appointments/{id}/no-show", "LMA"),
    ("get", "/api/v1/pull-lists", "LMA"),
    ("post", "/api/v1/pull-lists/requests", "LMA"),
    ("get", "/api/v1/reports/clinic-availability", "LMA"),
    ("post", "/api/v1/hl7/messages", "LMA"),
    ("post", "/api/v1/folders/{barcode}/missing", "LMA"),
    ("get", "/api/v1/folders/{barcode}/missing", "LMA"),
    ("post", "/api/v1/folders/{barcode}/missing/escalate", "LMA"),
    ("post", "/api/v1/folders/{barcode}/missing/temporary", "MA"),
    ("post", "/api/v1/folders/{barcode}/missing/found", "LMA"),
    // records lifecycle (issue 7)
    ("post", "/api/v1/coding/code-lists/{scheme}", "MA"),
    ("get", "/api/v1/coding/queue", "LMA"),
    ("get", "/api/v1/coding/backlog", "LMA"),
    ("post", "/api/v1/coding/episodes", "LMA"),
    ("get", "/api/v1/coding/episodes/{id}", "LMA"),
    ("post", "/api/v1/coding/episodes/{id}/codes", "LMA"),
    ("post", "/api/v1/digitisation/batches", "LMA"),
    ("get", "/api/v1/digitisation/batches/{id}", "LMA"),
    (
        "post",
        "/api/v1/digitisation/batches/{id}/folders/{barcode}/qa",
        "LMA",
    ),
    (
        "post",
        "/api/v1/digitisation/batches/{id}/folders/{barcode}/disposition",
        "LMA",
    ),
    ("post", "/api/v1/folders/{barcode}/documents", "LMA"),
    ("get", "/api/v1/folders/{barcode}/documents", "LCMA"),
    ("get", "/api/v1/documents/{id}", "LCMA"),
    ("get", "/api/v1/documents/by-hash/{sha256}", "LCMA"),
    ("post", "/api/v1/patients/{id}/death", "LMA"),
    ("get", "/api/v1/retention/due", "MA"),
    ("get", "/api/v1/retention/rules", "MA"),
    ("post", "/api/v1/folders/{barcode}/legal-hold", "MA"),
    ("post", "/api/v1/folders/{barcode}/legal-hold/release", "MA"),
    ("get", "/api/v1/folders/{barcode}/tombstone", "MA"),
    ("post", "/api/v1/retention/destructions", "MA"),
    ("get", "/api/v1/retention/destructions", "MA"),
    ("get", "/api/v1/retention/destructions/{id}", "MA"),
    ("post", "/api/v1/retention/destructions/{id}/approve", "MA"),
    ("post", "/api/v1/retention/destructions/{id}/reject", "MA"),
    (
        "get",
        "/api/v1/retention/destructions/{id}/certificate",
        "MA",
    ),
    ("post", "/api/v1/external-requests", "LMA"),
    ("get", "/api/v1/external-requests", "LMA"),
    ("get", "/api/v1/external-requests/{id}", "LMA"),
    ("post", "/api/v1/external-requests/{id}/extend", "LMA"),
    ("post", "/api/v1/external-requests/{id}/status", "LMA"),
    ("get", "/api/v1/statistics", "LMA"),
    ("get", "/api/v1/reports/monthly", "LMA"),
    ("get", "/api/v1/reports/privacy", "MA"),
    ("get", "/api/v1/reports/privacy/detail", "MA"),
    ("get", "/api/v1/reports/privacy/weekly", "MA"),
    ("get", "/api/v1/patient-flags", "MA"),
    ("post", "/api/v1/patient-flags", "MA"),
    ("post", "/api/v1/patient-flags/clear", "MA"),
    ("put", "/api/v1/users/{username}/profile", "A"),
];

const ROLES: [(char, &str); 7] = [
    ('P', "porter"),
    ('L', "library"),
    ('C', "clinician"),
    ('M', "records_manager"),
    ('A', "admin"),
    ('D', "device token"),
    ('N', "no token"),
];

/// A request body that deserialises: every required property of the schema, with a sample value.
fn sample(schemas: &Value, schema: &Value, field: &str) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        return sample(schemas, &schemas[name], field);
    }
    if let Some(e) = schema.get("enum") {
        return e[0].clone();
    }
    if let Some(o) = schema.get("oneOf") {
        return sample(schemas, &o[0], field);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let mut m = serde_json::Map::new();
            for r in schema["required"].as_array().into_iter().flatten() {
                let k = r.as_str().unwrap();
                m.insert(k.into(), sample(schemas, &schema["properties"][k], k));
            }
            Value::Object(m)
        }
        Some("integer") => json!(schema.get("minimum").and_then(Value::as_i64).unwrap_or(1)),
        Some("boolean") => json!(false),
        Some("array") => json!([]),
        _ => match (schema.get("format").and_then(Value::as_str), field) {
            (Some("date"), _) => json!("2030-03-04"),
            (Some("date-time"), _) => json!("2030-03-04T09:00:00Z"),
            (Some("uuid"), _) => json!(uuid::Uuid::new_v4().to_string()),
            _ if schema.get("pattern").is_some() => json!("09:00"),
            (_, "password") => json!("a-long-enough-password"),
            (_, "message") => json!("MSH|^~\\&|PAS|HOSP|CASENOTE|TRACKER|20300304090000||ADT^A08|1|P|2.4\rPID|||0101011237^^^CHI"),
            _ => json!("x"),
        },
    }
}

struct World {
    s: TestServer,
    tokens: BTreeMap<char, Option<String>>,
    barcode: String,
}

async fn world() -> World {
    let s = common::start().await;
    let admin = s.login("admin").await;
    let manager = s.login("records_manager").await;
    let library = s.login("library").await;
    s.seed_locations(&manager).await;
    s.patient(&library, CHI, "Twice", "Tam", "2001-01-01").await;
    let f = s.folder(&library, CHI, "main").await;
    let barcode = f["barcode"].as_str().unwrap().to_string();
    let device = s.device_token(&admin, "ward5-bridge").await;
    let mut tokens = BTreeMap::new();
    for (c, name) in ROLES {
        let t = match c {
            'D' => Some(device.clone()),
            'N' => None,
            _ => Some(s.login(name).await),
        };
        tokens.insert(c, t);
    }
    World { s, tokens, barcode }
}

impl World {
    fn url(&self, path: &str) -> String {
        let p = path
            .replace("{barcode}", &self.barcode)
            .replace("{format}", "png")
            .replace("{code}", "LLIB")
            // (no such user or token: the call is answered 404, and nobody is locked out)
            .replace("{username}", "nobody-here")
            .replace("{name}", "no-such-token")
            .replace("{id}", "1");
        format!("{}{p}", self.s.base)
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> StatusCode {
        let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let mut rb = self.s.client.request(m, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        // The response (for the desk stream, a never-ending one) is dropped unread.
        rb.send().await.unwrap().status()
    }
}

#[tokio::test]
async fn every_endpoint_by_every_role() {
    let w = world().await;
    let doc = openapi::document();
    let schemas = &doc["components"]["schemas"];
    let table: BTreeMap<(&str, &str), &str> =
        ACCESS.iter().map(|(m, p, who)| ((*m, *p), *who)).collect();
    let listed: BTreeSet<(&str, &str)> = ENDPOINTS.iter().map(|e| (e.0, e.1)).collect();
    let missing: Vec<_> = listed.iter().filter(|k| !table.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "endpoints with no row in the security table (decide who may call them): {missing:?}"
    );
    let stale: Vec<_> = table.keys().filter(|k| !listed.contains(*k)).collect();
    assert!(
        stale.is_empty(),
        "rows for endpoints that no longer exist: {stale:?}"
    );

    let mut wrong = Vec::new();
    for (method, path, _, _, body) in ENDPOINTS {
        let allowed = table[&(*method, *path)];
        for (c, name) in ROLES {
            let mut token = w.tokens[&c].clone();
            if *path == "/api/v1/auth/logout" && !matches!(c, 'D' | 'N') {
                // Sign out a fresh session, not the one the rest of the table uses.
                token = Some(w.s.login(name).await);
            }
            let body = match (*path, body) {
                ("/api/v1/auth/login", _) => Some(json!({"username": "library", "password": PW})),
                (_, Some(b)) => Some(sample(schemas, &json!({"$ref": b}), "")),
                (_, None) if *method != "get" => Some(json!({})),
                _ => None,
            };
            let status = w.call(method, path, token.as_deref(), body).await;
            let refused = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
            let expect_allowed = allowed.contains(c);
            if refused == expect_allowed {
                wrong.push(format!(
                    "{} {path} as {name}: got {status}, expected {}",
                    method.to_uppercase(),
                    if expect_allowed { "allowed" } else { "refused" }
                ));
            }
            if c == 'N' && !expect_allowed {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} without a token"
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "access table violated:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn no_patient_data_without_a_session_or_token() {
    let w = world().await;
    for (method, path, _, who, _) in ENDPOINTS {
        if *method != "get" || *who == "anyone" {
            continue;
        }
        let r = w.s.client.get(w.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "GET {path}");
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("Twice") && !text.contains(CHI),
            "GET {path}: {text}"
        );
        // A token that is not ours, and one that was never issued, are no better.
        for bad in ["cs_0000", "ct_0000", "Bearer", "' OR 1=1 --"] {
            let r =
                w.s.client
                    .get(w.url(path))
                    .header("authorization", format!("Bearer {bad}"))
                    .send()
                    .await
                    .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "GET {path} with {bad:?}"
            );
        }
    }
    // The web pages send people without a session to sign in, and show nothing.
    let client = no_redirects();
    for page in [
        format!("/whereis?q={CHI}"),
        format!("/whereis?q={}", w.barcode),
        "/reports/out-of-library".to_string(),
        "/admin/users".into(),
        "/admin/devices".into(),
        "/reports/device-health?format=csv".into(),
        "/".into(),
    ] {
        let r = client
            .get(format!("{}{page}", w.s.base))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{page}: {}", r.status());
        assert_eq!(r.headers()["location"], "/login", "{page}");
        let text = r.text().await.unwrap();
        assert!(!text.contains("Twice") && !text.contains(CHI), "{page}");
    }
}

#[tokio::test]
async fn audit_log_edits_are_detected_by_audit_verify() {
    let w = world().await;
    // Reads of patient data are audited too.
    let lib = w.tokens[&'L'].as_deref();
    let r = w.s.get(lib, &format!("/api/v1/patients/{CHI}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let db = w.s.dir.path().join("casenote.db");
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tracker-server"))
            .arg("audit-verify")
            .env("CASENOTE_DATABASE", &db)
            .env_remove("CASENOTE_CONFIG")
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact"));

    let raw = rusqlite::Connection::open(&db).unwrap();
    let (id, detail): (i64, String) = raw
        .query_row(
            "SELECT id, detail FROM audit_log WHERE action LIKE 'patient.%' ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // Someone with the database file hides who looked at the record.
    raw.execute("UPDATE audit_log SET actor='user:nobody' WHERE id=?1", [id])
        .unwrap();
    let bad = verify();
    assert!(
        !bad.status.success(),
        "an edited row must fail verification"
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains(&format!("row {id}")), "{err}");

    // Restoring the row makes it pass again; deleting a row is caught at the next one.
    raw.execute(
        "UPDATE audit_log SET actor='user:library' WHERE id=?1",
        [id],
    )
    .unwrap();
    assert!(verify().status.success(), "{detail}");
    let first: i64 = raw
        .query_row("SELECT min(id) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    raw.execute("DELETE FROM audit_log WHERE id=?1", [first + 1])
        .unwrap();
    let bad = verify();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains(&format!("row {}", first + 2)));
}

/// Sign-in throttling: per user name a growing wait, never a lock-out (the right password
/// still works); per client address a refusal after too many failures, whatever the names
/// tried. The client address comes from `X-Forwarded-For` only behind a trusted proxy.
#[tokio::test]
async fn sign_in_is_throttled_per_address_and_slowed_per_user() {
    let s = common::start_with(|c| {
        c.auth.login_max_failures = 3;
        c.auth.login_window_secs = 600;
        c.auth.login_max_delay_secs = 2;
        c.auth.login_max_failures_per_address = 8;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let login = |u: &str, p: &str, from: &str| {
        s.client
            .post(format!("{}/api/v1/auth/login", s.base))
            .header("x-forwarded-for", from)
            .json(&json!({"username": u, "password": p}))
            .send()
    };
    let attacker = "10.1.1.1";
    for _ in 0..3 {
        let r = login("library", "wrong-password", attacker).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Failures on "library" slow its sign-in down, but the user is not locked out.
    let t = std::time::Instant::now();
    let r = login("library", PW, "10.2.2.2").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    // The attacker tries other names: after 8 failures in all, that address is refused,
    // even with a right password, and the answer says so.
    for i in 0..5 {
        let r = login(&format!("guess{i}"), "whatever-it-is", attacker)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login("porter", PW, attacker).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
    // Everyone else still signs in.
    assert_eq!(
        login("porter", PW, "10.3.3.3").await.unwrap().status(),
        StatusCode::OK
    );
    // The web sign-in form shares the limit.
    let client = no_redirects();
    let (cookie, csrf) = login_form(&client, &s.base).await;
    let r = client
        .post(format!("{}/login", s.base))
        .header("cookie", format!("cn_login={cookie}"))
        .header("x-forwarded-for", attacker)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "library"),
            ("password", PW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // Without a trusted proxy, X-Forwarded-For is ignored: a client cannot dodge the limit by
    // making up addresses.
    let s = common::start_with(|c| c.auth.login_max_failures_per_address = 3).await;
    for i in 0..3 {
        let r = s
            .client
            .post(format!("{}/api/v1/auth/login", s.base))
            .header("x-forwarded-for", format!("10.9.9.{i}"))
            .json(&json!({"username": format!("x{i}"), "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = s
        .client
        .post(format!("{}/api/v1/auth/login", s.base))
        .header("x-forwarded-for", "10.9.9.200")
        .json(&json!({"username": "library", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// RFC 3339 time `secs` from now.
fn at(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Send one event with `token`; the server's result for it.
async fn send_one(s: &TestServer, token: &str, ev: Value) -> Value {
    let r = s
        .post(Some(token), "/api/v1/events", json!({"events": [ev]}))
        .await;
    let v: Value = r.json().await.unwrap();
    v["results"][0].clone()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GET /login: the login CSRF cookie and the hidden field.
async fn login_form(client: &reqwest::Client, base: &str) -> (String, String) {
    let r = client.get(format!("{base}/login")).send().await.unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("cn_login=")
        .to_string();
    let html = r.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    (cookie, csrf)
}

#[tokio::test]
async fn web_forms_need_the_csrf_token() {
    let w = world().await;
    let client = no_redirects();
    let admin = w.tokens[&'A'].clone().unwrap();
    let session = format!("cn_session={admin}");
    let good = tracker_server::web::csrf_for(&admin);
    let other = tracker_server::web::csrf_for(w.tokens[&'L'].as_deref().unwrap());
    let users = w.s.count("users").await;
    let locations = w.s.count("locations").await;
    let audit = w.s.count("audit_log").await;
    for csrf in [
        None,
        Some(""),
        Some("0123456789abcdef0123456789abcdef"),
        Some(other.as_str()),
    ] {
        let mut user_form = vec![
            ("username", "mallory"),
            ("display_name", "Mallory"),
            ("role", "admin"),
            ("password", "mallory-password"),
        ];
        let mut loc_form = vec![("code", "LEVIL"), ("name", "Evil"), ("kind", "ward")];
        let mut logout_form = vec![];
        if let Some(c) = csrf {
            user_form.push(("csrf", c));
            loc_form.push(("csrf", c));
            logout_form.push(("csrf", c));
        }
        for (path, form) in [
            ("/admin/users", &user_form),
            ("/admin/locations", &loc_form),
            ("/logout", &logout_form),
        ] {
            let r = client
                .post(format!("{}{path}", w.s.base))
                .header("cookie", &session)
                .form(form)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{path} with csrf {csrf:?}"
            );
        }
        // The scanning page posts JSON with the token in a header.
        let mut rb = client
            .post(format!("{}/web/scan", w.s.base))
            .header("cookie", &session)
            .json(&json!({"event_id": uuid::Uuid::new_v4().to_string(), "raw": w.barcode, "mode": "porter", "location": "LWARD5"}));
        if let Some(c) = csrf {
            rb = rb.header("x-csrf-token", c);
        }
        assert_eq!(rb.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(w.s.count("users").await, users, "no user was added");
    assert_eq!(
        w.s.count("locations").await,
        locations,
        "no location was added"
    );
    assert_eq!(w.s.count("movements").await, 0, "no scan was stored");
    assert_eq!(
        w.s.count("audit_log").await,
        audit,
        "nothing happened to audit"
    );
    // Still signed in: the refused sign-out did nothing.
    let me = w.s.get(Some(&admin), "/api/v1/me").await;
    assert_eq!(me.status(), StatusCode::OK);
    // The sign-in form itself: no login cookie, or a different one, is refused.
    let (cookie, csrf) = login_form(&client, &w.s.base).await;
    for c in [None, Some("not-the-cookie")] {
        let mut rb = client.post(format!("{}/login", w.s.base)).form(&[
            ("csrf", csrf.as_str()),
            ("username", "library"),
            ("password", PW),
        ]);
        if let Some(c) = c {
            rb = rb.header("cookie", format!("cn_login={c}"));
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|v| !v.to_str().unwrap().starts_with("cn_session=cs_")));
    }
    // And the right token works (so the refusals above were for the token alone).
    let r = client
        .post(format!("{}/admin/locations", w.s.base))
        .header("cookie", &session)
        .form(&[
            ("code", "LGOOD"),
            ("name", "Good"),
            ("kind", "ward"),
            ("csrf", good.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(w.s.count("locations").await, locations + 1);
    let r = client
        .post(format!("{}/login", w.s.base))
        .header("cookie", format!("cn_login={cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "library"),
            ("password", PW),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
}

#[tokio::test]
async fn script_in_a_name_is_escaped_on_pages_and_stays_json() {
    let w = world().await;
    let library = w.tokens[&'L'].clone().unwrap();
    let evil = "<script>alert(1)</script>";
    let chi = "0101011210";
    let r = w
        .s
        .post(
            Some(&library),
            "/api/v1/patients",
            json!({"chi": chi, "family_name": evil, "given_name": "<img src=x onerror=alert(2)>", "dob": "2001-01-01", "sex": "female"}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let f = w.s.folder(&library, chi, "main").await;
    let barcode = f["barcode"].as_str().unwrap();
    let client = no_redirects();
    for q in [chi, barcode, evil] {
        let r = client
            .get(format!("{}/whereis", w.s.base))
            .query(&[("q", q)])
            .header("cookie", format!("cn_session={library}"))
            .send()
            .await
            .unwrap();
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let html = r.text().await.unwrap();
        assert!(
            !html.contains("<script>"),
            "raw script tag on the page for {q:?}"
        );
        assert!(
            !html.contains("<img src=x"),
            "raw img tag on the page for {q:?}"
        );
        if q != evil {
            // Shown (family names in capitals), as text.
            let lower = html.to_lowercase();
            assert!(
                lower.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{q}: {html}"
            );
            assert!(
                lower.contains("&lt;img src=x onerror=alert(2)&gt;"),
                "{q}: {html}"
            );
        }
    }
    // JSON answers carry the name as a JSON string, with a JSON content type.
    let r =
        w.s.get(Some(&library), &format!("/api/v1/patients/{chi}"))
            .await;
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["family_name"]
            .as_str()
            .or(v["patient"]["family_name"].as_str()),
        Some(evil),
        "{v}"
    );
}

async fn counts(s: &TestServer) -> (i64, i64, i64, i64) {
    (
        s.count("patients").await,
        s.count("folders").await,
        s.count("users").await,
        s.count("locations").await,
    )
}

#[tokio::test]
async fn sql_injection_strings_are_harmless() {
    let w = world().await;
    let library = w.tokens[&'L'].clone().unwrap();
    let manager = w.tokens[&'M'].clone().unwrap();
    let tables = |s: &TestServer| {
        let db = s.db.clone();
        async move {
            db.read(|c| {
                Ok(c.query_row(
                    "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type='table' ORDER BY name)",
                    [],
                    |r| r.get::<_, String>(0),
                )?)
            })
            .await
            .unwrap()
        }
    };
    let before = tables(&w.s).await;
    let (patients, folders, users, locations) = counts(&w.s).await;
    let attacks = [
        "' OR '1'='1",
        "' OR 1=1 --",
        "\" OR \"\"=\"",
        "'; DROP TABLE patients; --",
        "x'); DELETE FROM users; --",
        "%' OR '%'='",
        "1 UNION SELECT username, password_hash FROM users --",
        "L'; UPDATE folders SET status='destroyed'; --",
    ];
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    for a in attacks {
        let e = enc(a);
        for path in [
            format!("/api/v1/patients?name={e}"),
            format!("/api/v1/patients?name=Twice&dob={e}"),
            format!("/api/v1/patients/{e}"),
            format!("/api/v1/whereis/search?name={e}&dob=2001-01-01"),
            format!("/api/v1/whereis/patient/{e}"),
            format!("/api/v1/whereis/folder/{e}"),
            format!("/api/v1/locations/{e}/folders"),
            format!("/api/v1/audit?patient={e}"),
            format!("/api/v1/reports/out-of-library?days={e}"),
            format!("/api/v1/print/jobs?status={e}"),
            format!("/api/v1/pull-lists?date={e}&clinic={e}"),
        ] {
            let token = if path.contains("audit") {
                &manager
            } else {
                &library
            };
            let r = w.s.get(Some(token), &path).await;
            let status = r.status();
            let text = r.text().await.unwrap();
            assert!(!status.is_server_error(), "{path}: {status} {text}");
            assert!(!text.contains("argon2"), "{path} leaked a password hash");
            if status.is_success() && path.contains("name=") {
                // Nobody's family name starts with these strings: no rows at all.
                assert!(!text.contains("Twice"), "{path} matched everyone: {text}");
            }
        }
        let r = client_web_get(&w, &library, a).await;
        assert!(!r.is_server_error(), "web where-is {a:?}: {r}");
        // Writes: refused as invalid in identifier fields, stored literally in free text.
        for body in [
            json!({"chi": a, "family_name": "X", "given_name": "Y", "dob": "2001-01-01", "sex": "male"}),
            json!({"nhs_number": a, "family_name": "X", "given_name": "Y", "dob": "2001-01-01", "sex": "male"}),
            json!({"chi": CHI, "family_name": "X", "given_name": "Y", "dob": a, "sex": "male"}),
        ] {
            let r = w.s.post(Some(&library), "/api/v1/patients", body).await;
            assert!(r.status().is_client_error(), "{a}: {}", r.status());
        }
        let r =
            w.s.post(
                Some(&manager),
                "/api/v1/locations",
                json!({"code": a, "name": a, "kind": "ward"}),
            )
            .await;
        assert!(
            r.status().is_client_error(),
            "location code {a}: {}",
            r.status()
        );
        let r =
            w.s.post(
                Some(&library),
                "/api/v1/folders",
                json!({"patient": a, "folder_type": "main", "home_location": a}),
            )
            .await;
        assert!(
            r.status().is_client_error(),
            "folder for {a}: {}",
            r.status()
        );
        let r =
            w.s.post(
                None,
                "/api/v1/auth/login",
                json!({"username": a, "password": a}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "login as {a}");
    }
    assert_eq!(counts(&w.s).await, (patients, folders, users, locations));
    assert_eq!(tables(&w.s).await, before, "tables intact");
    // Free text is stored exactly as sent (it was a parameter, never SQL).
    let a = attacks[3];
    let r = w
        .s
        .post(
            Some(&library),
            "/api/v1/patients",
            json!({"chi": "0101011210", "family_name": a, "given_name": a, "dob": "2001-01-01", "sex": "male"}),
        )
        .await;
    let v = w.s.ok_json(r).await;
    assert_eq!(v["family_name"], a, "{v}");
    let r =
        w.s.get(Some(&library), "/api/v1/patients?name=%27%3B%20DROP")
            .await;
    let v = w.s.ok_json(r).await;
    assert!(v.to_string().contains("DROP TABLE patients"), "{v}");
    assert_eq!(tables(&w.s).await, before);
}

async fn client_web_get(w: &World, session: &str, q: &str) -> StatusCode {
    no_redirects()
        .get(format!("{}/whereis", w.s.base))
        .query(&[("q", q)])
        .header("cookie", format!("cn_session={session}"))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn path_traversal_is_refused() {
    let w = world().await;
    let library = w.tokens[&'L'].clone().unwrap();
    let admin = w.tokens[&'A'].clone().unwrap();
    let traversals = [
        "../../../../etc/passwd",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "....//....//etc/passwd",
        "..\\..\\windows\\win.ini",
        "/etc/passwd",
    ];
    for t in traversals {
        // The label preview's file name and format.
        for path in [
            format!("/api/v1/labels/folder/{t}"),
            format!("/api/v1/labels/folder/{t}.png"),
            format!("/api/v1/labels/folder/{}.{t}", w.barcode),
            format!("/api/v1/labels/folder/{}.png?printer={t}", w.barcode),
        ] {
            let r = w.s.get(Some(&library), &path).await;
            let status = r.status();
            let body = r.bytes().await.unwrap();
            assert!(status.is_client_error(), "{path}: {status}");
            assert!(!String::from_utf8_lossy(&body).contains("root:"), "{path}");
        }
        // Printer addresses.
        for url in [
            format!("file://{t}"),
            format!("file:///tmp/{t}"),
            format!("lp://{t}"),
            format!("usb://{t}"),
        ] {
            let r =
                w.s.post(
                    Some(&admin),
                    "/api/v1/printers",
                    json!({"name": "p", "url": url}),
                )
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        }
    }
    assert_eq!(w.s.count("printers").await, 0);
    // Even where file printers are switched on, they may not climb out of their directory.
    let s = common::start_with(|c| c.printing.allow_file_printers = true).await;
    let admin = s.login("admin").await;
    for url in [
        "file://../../etc/cron.d/x",
        "file:///tmp/../etc/cron.d/x",
        "file://relative/out.zpl",
    ] {
        let r = s
            .post(
                Some(&admin),
                "/api/v1/printers",
                json!({"name": "p", "url": url}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
    }
    let ok = format!("file://{}", s.dir.path().join("labels.zpl").display());
    let r = s
        .post(
            Some(&admin),
            "/api/v1/printers",
            json!({"name": "p", "url": ok}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    // The test server accepts 2 MiB.
    let w = world().await;
    let big = "x".repeat(3 * 1024 * 1024);
    let admin = w.tokens[&'A'].clone().unwrap();
    let device = w.tokens[&'D'].clone().unwrap();
    for (token, path) in [
        (&device, "/api/v1/events"),
        (&admin, "/api/v1/patients"),
        (&admin, "/api/v1/hl7/messages"),
        (&admin, "/api/v1/print/batch"),
    ] {
        let r =
            w.s.client
                .post(format!("{}{path}", w.s.base))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(format!("{{\"message\": \"{big}\"}}"))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    // Web forms too.
    let r = no_redirects()
        .post(format!("{}/admin/users", w.s.base))
        .header("cookie", format!("cn_session={admin}"))
        .form(&[("username", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// CSV injection: a patient registered with a spreadsheet formula as a name is exported as
/// text (a leading apostrophe) in the pull list, and the statistics CSV too goes through the
/// same writer.
#[tokio::test]
async fn csv_exports_neutralise_formulas() {
    let s = common::start().await;
    let manager = s.login("records_manager").await;
    let library = s.login("library").await;
    s.seed_locations(&manager).await;
    let evil = "=HYPERLINK(\"http://evil.example/\",\"click\")";
    s.patient(&library, "1904851231", evil, "@SUM(A1)", "1985-04-19")
        .await;
    s.folder(&library, "1904851231", "main").await;
    let r = s
        .post(Some(&library), "/api/v1/clinic-sessions", json!({"clinic": "LCLINA", "name": "AM", "date": "2030-01-07", "start": "09:00", "end": "12:00"}))
        .await;
    let session = s.ok_json(r).await["id"].as_i64().unwrap();
    let r = s
        .post(
            Some(&library),
            "/api/v1/appointments",
            json!({"patient": "1904851231", "session": session, "start": "09:00"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .get(
            Some(&library),
            "/api/v1/pull-lists?date=2030-01-07&format=csv",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    // read it as a spreadsheet would, with a real CSV reader
    let mut rd = csv::ReaderBuilder::new().from_reader(body.as_bytes());
    let cells: Vec<String> = rd
        .records()
        .flat_map(|r| r.unwrap().iter().map(String::from).collect::<Vec<_>>())
        .collect();
    assert!(cells.iter().any(|c| c == &format!("'{evil}")), "{body}");
    assert!(cells.iter().any(|c| c == "'@SUM(A1)"), "{body}");
    assert!(
        !cells
            .iter()
            .any(|c| c.starts_with(['=', '+', '-', '@']) && c.parse::<f64>().is_err()),
        "a live formula in {body}"
    );
}

/// Every answer carries the security headers: API answers with patient data are never cached
/// and never sniffed, the 404 page has the same headers as the others, and there is no HSTS
/// over plain HTTP (the TLS test checks it is there over HTTPS).
#[tokio::test]
async fn security_headers_on_api_pages_and_404() {
    let w = world().await;
    let lib = w.tokens[&'L'].clone().unwrap();
    for (path, token) in [
        (format!("/api/v1/patients/{CHI}"), Some(lib.as_str())),
        (
            format!("/api/v1/whereis/folder/{}", w.barcode),
            Some(lib.as_str()),
        ),
        ("/api/v1/no-such-thing".to_string(), Some(lib.as_str())),
        ("/no-such-page".to_string(), None),
        ("/login".to_string(), None),
    ] {
        let r = w.s.get(token, &path).await;
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(h.contains_key("content-security-policy"), "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(!h.contains_key("strict-transport-security"), "{path}");
    }
}

/// A clinician may cancel or re-route only the requests they made; another clinician's, or one
/// raised by the library, is refused (403) and unchanged; library staff may change any.
#[tokio::test]
async fn clinicians_change_only_their_own_requests() {
    let w = world().await;
    let s = &w.s;
    let admin = w.tokens[&'A'].clone().unwrap();
    let lib = w.tokens[&'L'].clone().unwrap();
    let mine = w.tokens[&'C'].clone().unwrap();
    let r = s
        .post(Some(&admin), "/api/v1/users", json!({"username": "dr-other", "display_name": "Dr Other", "role": "clinician", "password": PW}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let other = s.login("dr-other").await;
    // (different destinations: a second open request for the same notes and destination
    // would be merged into the first)
    let ask = |token: String, destination: &'static str| {
        let s = &w.s;
        async move {
            let r = s
                .post(Some(&token), "/api/v1/requests", json!({"patient": CHI, "destination": destination, "urgency": "urgent", "reason": "clinic"}))
                .await;
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
        }
    };
    let cancel = |token: String, id: i64| {
        let s = &w.s;
        async move {
            s.put(
                &token,
                &format!("/api/v1/requests/{id}/state"),
                json!({"state": "cancelled", "note": "not needed"}),
            )
            .await
            .status()
        }
    };
    let reroute = |token: String, id: i64| {
        let s = &w.s;
        async move {
            s.post(
                Some(&token),
                &format!("/api/v1/requests/{id}/reroute"),
                json!({"destination": "LWARD5", "note": "moved"}),
            )
            .await
            .status()
        }
    };
    let by_me = ask(mine.clone(), "LCLINA").await;
    let by_library = ask(lib.clone(), "LCODING").await;
    // another clinician: refused, and nothing changed
    assert_eq!(cancel(other.clone(), by_me).await, StatusCode::FORBIDDEN);
    assert_eq!(reroute(other.clone(), by_me).await, StatusCode::FORBIDDEN);
    assert_eq!(
        cancel(mine.clone(), by_library).await,
        StatusCode::FORBIDDEN
    );
    let r = s
        .get(Some(&lib), &format!("/api/v1/requests/{by_me}"))
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["state"], "requested", "{v}");
    assert_eq!(v["destination"]["code"], "LCLINA", "{v}");
    // the requester and the library may
    assert_eq!(reroute(mine.clone(), by_me).await, StatusCode::OK);
    assert_eq!(cancel(mine, by_me).await, StatusCode::OK);
    assert_eq!(cancel(lib, by_library).await, StatusCode::OK);
}

/// Device clocks and event ids: a read five minutes ahead of the server is refused naming
/// `read_at` and does not pin the folder; a reused event id with other content is refused
/// naming the id, while the same event sent again is a duplicate.
#[tokio::test]
async fn future_reads_and_reused_event_ids_are_refused() {
    let w = world().await;
    let s = &w.s;
    let dev = w.tokens[&'D'].clone().unwrap();
    let send = |ev: Value| send_one(&w.s, &dev, ev);
    let ahead = common::event(&w.barcode, "LWARD5", &at(300), "receive", None);
    let r = send(ahead).await;
    assert_eq!(r["status"], "rejected", "{r}");
    assert_eq!(r["field"], "read_at", "{r}");
    // the next real scan is current, not "late"
    let now = common::event(&w.barcode, "LLIB", &at(0), "seen", None);
    assert_eq!(send(now.clone()).await["status"], "stored");
    let lib = w.tokens[&'L'].clone().unwrap();
    let wi: Value = s
        .get(Some(&lib), &format!("/api/v1/whereis/folder/{}", w.barcode))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(wi["current"]["location"]["code"], "LLIB", "{wi}");
    // the same event again: a duplicate
    assert_eq!(send(now.clone()).await["status"], "duplicate");
    // its id on another scan: refused, naming the id
    let mut other = common::event(&w.barcode, "LWARD5", &at(1), "receive", None);
    other["event_id"] = now["event_id"].clone();
    let r = send(other).await;
    assert_eq!(r["status"], "rejected", "{r}");
    assert_eq!(r["field"], "event_id", "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains(now["event_id"].as_str().unwrap()),
        "{r}"
    );
}

/// Limits per endpoint (docs/security.md): JSON and form bodies are held to
/// `[server] max_body_bytes` (2 MiB in these tests), document uploads to `[digitisation]
/// max_upload_bytes` (50 MiB by default), so a 3 MiB scanned PDF is accepted where a 3 MiB
/// JSON body is refused.
#[tokio::test]
async fn body_limits_are_per_endpoint() {
    let w = world().await;
    let s = &w.s;
    let manager = w.tokens[&'M'].clone().unwrap();
    let lib = w.tokens[&'L'].clone().unwrap();
    let r = s
        .post(
            Some(&manager),
            "/api/v1/locations",
            json!({"code": "LBUREAU", "name": "Bureau", "kind": "scanning_bureau"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .post(
            Some(&lib),
            "/api/v1/digitisation/batches",
            json!({"bureau": "LBUREAU", "folders": [w.barcode]}),
        )
        .await;
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(3 * 1024 * 1024, b'x');
    let r = s
        .client
        .post(format!("{}/api/v1/folders/{}/documents", s.base, w.barcode))
        .bearer_auth(&lib)
        .header("content-type", "application/pdf")
        .body(pdf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    let big = "x".repeat(3 * 1024 * 1024);
    let r = s
        .post(Some(&lib), "/api/v1/patients", json!({"chi": CHI, "family_name": big, "given_name": "A", "dob": "2001-01-01", "sex": "male"}))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Porters locate folders but are told neither the internal patient id (which links the
/// volumes of one patient) nor the folder type (which can reveal a sensitive service), in the
/// API or on the where-is page; library staff still see both.
#[tokio::test]
async fn porters_see_no_patient_id_or_folder_type() {
    let w = world().await;
    let s = &w.s;
    let lib = w.tokens[&'L'].clone().unwrap();
    let porter = w.tokens[&'P'].clone().unwrap();
    let dev = w.tokens[&'D'].clone().unwrap();
    let mh = s.folder(&lib, CHI, "mental_health").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let r = s
        .post(
            Some(&dev),
            "/api/v1/events",
            json!({"events": [common::event(&mh, "LWARD5", &at, "receive", None)]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for path in [
        format!("/api/v1/whereis/folder/{mh}"),
        "/api/v1/locations/LWARD5/folders".to_string(),
    ] {
        let body = s.get(Some(&porter), &path).await.text().await.unwrap();
        assert!(body.contains(&mh), "{path}: {body}");
        assert!(!body.contains("patient_id"), "{path}: {body}");
        assert!(
            !body.contains("folder_type") && !body.contains("mental_health"),
            "{path}: {body}"
        );
        let body = s.get(Some(&lib), &path).await.text().await.unwrap();
        assert!(body.contains("mental_health"), "library: {path}: {body}");
    }
    let page = no_redirects()
        .get(format!("{}/whereis", s.base))
        .query(&[("q", mh.as_str())])
        .header("cookie", format!("cn_session={porter}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&mh), "{page}");
    assert!(!page.to_lowercase().contains("mental health"), "{page}");
}

/// Revocation (issue 15): an administrator disables a user (their session stops working at
/// once and they cannot sign in), enables them again, resets a password (old sessions and the
/// old password stop working), changes a role (it applies from the next sign-in), and revokes
/// a device token (it stops on its next request). Each is audited; only admins may.
#[tokio::test]
async fn users_can_be_disabled_and_tokens_revoked() {
    let w = world().await;
    let s = &w.s;
    let admin = w.tokens[&'A'].clone().unwrap();
    let manager = w.tokens[&'M'].clone().unwrap();
    let lib = w.tokens[&'L'].clone().unwrap();
    let porter = w.tokens[&'P'].clone().unwrap();
    let dev = w.tokens[&'D'].clone().unwrap();
    let me = |t: String| {
        let s = &w.s;
        async move { s.get(Some(&t), "/api/v1/me").await.status() }
    };
    let login = |u: &'static str, p: &'static str| {
        let s = &w.s;
        async move {
            s.post(
                None,
                "/api/v1/auth/login",
                json!({"username": u, "password": p}),
            )
            .await
            .status()
        }
    };
    // only admins
    let r = s
        .post(
            Some(&manager),
            "/api/v1/users/library/disable",
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // an admin cannot disable their own account
    let r = s
        .post(
            Some(&admin),
            "/api/v1/users/admin/disable",
            json!({"reason": "oops"}),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "username"
    );
    assert_eq!(me(admin.clone()).await, StatusCode::OK);
    // disable: the open session ends at once, sign-in refused
    assert_eq!(me(lib.clone()).await, StatusCode::OK);
    let r = s
        .post(
            Some(&admin),
            "/api/v1/users/library/disable",
            json!({"reason": ""}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "reason");
    let r = s
        .post(
            Some(&admin),
            "/api/v1/users/library/disable",
            json!({"reason": "left the trust"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(me(lib.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login("library", PW).await, StatusCode::UNAUTHORIZED);
    let users: Value = s
        .get(Some(&admin), "/api/v1/users")
        .await
        .json()
        .await
        .unwrap();
    let row = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "library")
        .unwrap()
        .clone();
    assert_eq!(row["active"], false);
    assert!(
        !users.to_string().contains("argon2"),
        "no hashes in the list"
    );
    let r = s
        .post(Some(&admin), "/api/v1/users/library/enable", json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(login("library", PW).await, StatusCode::OK);
    // reset a password: the old session and the old password stop working
    let r = s
        .post(
            Some(&admin),
            "/api/v1/users/porter/password",
            json!({"password": "a-new-password-1"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(me(porter).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login("porter", PW).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login("porter", "a-new-password-1").await, StatusCode::OK);
    // change a role: a porter becomes library staff and may read patients after signing in
    let r = s
        .put(
            &admin,
            "/api/v1/users/porter/role",
            json!({"role": "device"}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "role");
    let r = s
        .put(
            &admin,
            "/api/v1/users/porter/role",
            json!({"role": "library"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = s
        .post(
            None,
            "/api/v1/auth/login",
            json!({"username": "porter", "password": "a-new-password-1"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.get(Some(&t), &format!("/api/v1/patients/{CHI}"))
            .await
            .status(),
        StatusCode::OK
    );
    // revoke the bridge's token: it stops on its next request
    let hb = json!({"bridge_id": "b1", "devices": []});
    assert_ne!(
        s.post(Some(&dev), "/api/v1/devices/heartbeat", hb.clone())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = s
        .post(
            Some(&admin),
            "/api/v1/tokens/ward5-bridge/revoke",
            json!({"reason": "PC stolen"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.post(Some(&dev), "/api/v1/devices/heartbeat", hb)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let toks: Value = s
        .get(Some(&admin), "/api/v1/tokens")
        .await
        .json()
        .await
        .unwrap();
    assert!(toks["tokens"][0]["revoked_at"].is_string(), "{toks}");
    assert!(
        !toks.to_string().contains("ct_"),
        "tokens are never shown again"
    );
    // all of it is in the audit log
    let audit: Value = s
        .get(Some(&admin), "/api/v1/audit?limit=100")
        .await
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    for a in [
        "user.disable",
        "user.enable",
        "user.password_reset",
        "user.role",
        "token.revoke",
    ] {
        assert!(text.contains(a), "{a} missing from the audit log");
    }
    // the admin page does the same, with its CSRF token
    let page = no_redirects()
        .get(format!("{}/admin/users", s.base))
        .header("cookie", format!("cn_session={admin}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/admin/users/clinician/disable"), "{page}");
    let csrf = tracker_server::web::csrf_for(&admin);
    let r = no_redirects()
        .post(format!("{}/admin/users/clinician/disable", s.base))
        .header("cookie", format!("cn_session={admin}"))
        .form(&[("csrf", csrf.as_str()), ("reason", "on leave")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("clinician: disabled"));
    assert_eq!(
        me(w.tokens[&'C'].clone().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The attack of issue 15: edit a row, delete another and recompute every later hash. With
/// plain SHA-256 (no key) `audit-verify` catches it; with the key itself (an insider holding
/// both), the anchored chain head catches it.
#[tokio::test]
async fn a_rewritten_audit_chain_is_caught_with_or_without_the_key() {
    use tracker_server::{audit, storage};
    let w = world().await;
    let lib = w.tokens[&'L'].as_deref();
    for _ in 0..3 {
        w.s.get(lib, &format!("/api/v1/patients/{CHI}")).await;
    }
    let db = w.s.dir.path().join("casenote.db");
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tracker-server"))
            .arg("audit-verify")
            .env("CASENOTE_DATABASE", &db)
            .env_remove("CASENOTE_CONFIG")
            .env_remove("CASENOTE_AUDIT_KEY_FILE")
            .env_remove("CASENOTE_AUDIT_ANCHOR_FILE")
            .output()
            .unwrap()
    };
    let raw = rusqlite::Connection::open(&db).unwrap();
    // anchor the head now, as the server does every few minutes
    audit::anchor(&raw, &storage::default_anchor_path(&db), None).unwrap();
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 anchor(s) match"));
    let snapshot: Vec<(i64, String, String, Option<String>)> = raw
        .prepare("SELECT id, prev_hash, hash, key_id FROM audit_log ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let reads: Vec<i64> = raw
        .prepare("SELECT id FROM audit_log WHERE action='patient.read' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let (edit, delete) = (reads[0], reads[1]);
    // re-chain from `edit` on, with `mac` computing each hash
    let rechain = |mac: &dyn Fn(&str, &[String]) -> String| {
        let mut prev: String = raw
            .query_row(
                "SELECT hash FROM audit_log WHERE id < ?1 ORDER BY id DESC LIMIT 1",
                [edit],
                |r| r.get(0),
            )
            .unwrap();
        let rows: Vec<(i64, Vec<String>)> = raw
            .prepare("SELECT id, at, actor, role, action, coalesce(patient_id,''), coalesce(folder_id,''), detail FROM audit_log WHERE id >= ?1 ORDER BY id")
            .unwrap()
            .query_map([edit], |r| {
                Ok((r.get(0)?, (1..8).map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    _ => String::new(),
                })).collect::<rusqlite::Result<Vec<_>>>()?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (id, fields) in rows {
            let h = mac(&prev, &fields);
            raw.execute(
                "UPDATE audit_log SET prev_hash=?2, hash=?3 WHERE id=?1",
                rusqlite::params![id, prev, h],
            )
            .unwrap();
            prev = h;
        }
    };
    let message = |prev: &str, f: &[String]| {
        let mut m = prev.as_bytes().to_vec();
        for x in f {
            m.push(0x1f);
            m.extend_from_slice(x.as_bytes());
        }
        m
    };
    // 1. without the key: hide who read the record, drop another read, re-chain with SHA-256
    raw.execute(
        "UPDATE audit_log SET actor='user:nobody' WHERE id=?1",
        [edit],
    )
    .unwrap();
    raw.execute("DELETE FROM audit_log WHERE id=?1", [delete])
        .unwrap();
    rechain(&|prev, f| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(message(prev, f)))
    });
    let bad = verify();
    assert!(!bad.status.success(), "a SHA-256 re-chain passed");
    assert!(String::from_utf8_lossy(&bad.stderr).contains(&format!("row {edit}")));
    // 2. with the key (an insider): the chain verifies again, but the anchor does not match
    let secret = hex::decode(
        std::fs::read_to_string(storage::default_audit_key_path(&db))
            .unwrap()
            .trim(),
    )
    .unwrap();
    rechain(&|prev, f| hex::encode(audit::hmac_sha256(&secret, &message(prev, f))));
    let bad = verify();
    assert!(!bad.status.success(), "a keyed re-chain passed the anchors");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("anchored"), "{err}");
    assert!(snapshot.iter().all(|r| r.3.is_some()), "every row is keyed");
}

/// Scan attribution (issue 15): every movement records who sent it; a device id belongs to
/// one token (named at creation, or bound on first use), so another token or a person cannot
/// send as `ward5-portal`.
#[tokio::test]
async fn scans_record_their_sender_and_devices_belong_to_one_token() {
    let w = world().await;
    let s = &w.s;
    let admin = w.tokens[&'A'].clone().unwrap();
    let lib = w.tokens[&'L'].clone().unwrap();
    let porter = w.tokens[&'P'].clone().unwrap();
    let bridge = w.tokens[&'D'].clone().unwrap();
    let send = |token: String, device: &'static str, secs: i64| {
        let mut ev = common::event(&w.barcode, "LWARD5", &at(secs), "seen", None);
        ev["device_id"] = json!(device);
        let s = &w.s;
        async move { send_one(s, &token, ev).await }
    };
    // the ward 5 bridge's token sends as its portal: stored, and the portal is now its own
    assert_eq!(
        send(bridge.clone(), "ward5-portal", -30).await["status"],
        "stored"
    );
    // a porter's session cannot send as the portal
    let r = send(porter.clone(), "ward5-portal", -20).await;
    assert_eq!(
        (r["status"].as_str(), r["field"].as_str()),
        (Some("rejected"), Some("device_id")),
        "{r}"
    );
    // another bridge's token, made for the library desk scanner only
    let r = s
        .post(
            Some(&admin),
            "/api/v1/tokens",
            json!({"name": "library-bridge", "role": "device", "devices": ["library-desk"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let lib_bridge = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        send(lib_bridge.clone(), "ward5-portal", -10).await["status"],
        "rejected"
    );
    assert_eq!(
        send(lib_bridge.clone(), "some-other-scanner", -9).await["status"],
        "rejected"
    );
    assert_eq!(
        send(lib_bridge.clone(), "library-desk", -8).await["status"],
        "stored"
    );
    // a new token cannot claim a device that is already someone else's
    let r = s
        .post(
            Some(&admin),
            "/api/v1/tokens",
            json!({"name": "thief", "role": "device", "devices": ["ward5-portal"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "devices"
    );
    // a person's own handheld: stored under their name
    assert_eq!(
        send(lib.clone(), "handheld-7", -5).await["status"],
        "stored"
    );
    // where-is shows who sent each scan
    let wi: Value = s
        .get(Some(&lib), &format!("/api/v1/whereis/folder/{}", w.barcode))
        .await
        .json()
        .await
        .unwrap();
    let senders: Vec<&str> = wi["trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["sent_by"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        senders,
        ["user:library", "token:library-bridge", "token:ward5-bridge"],
        "{wi}"
    );
}

/// Staff badges must exist: a scan naming an unknown badge is refused naming `staff_id`; a
/// badge registered by number, or a user's own badge, is accepted.
#[tokio::test]
async fn unknown_staff_badges_are_refused() {
    let w = world().await;
    let s = &w.s;
    let lib = w.tokens[&'L'].clone().unwrap();
    let dev = w.tokens[&'D'].clone().unwrap();
    let send = |staff: &'static str, secs: i64| {
        let mut ev = common::event(&w.barcode, "LWARD5", &at(secs), "seen", None);
        ev["staff_id"] = json!(staff);
        let (s, dev) = (&w.s, dev.clone());
        async move { send_one(s, &dev, ev).await }
    };
    let r = send("S99999", -30).await;
    assert_eq!(
        (r["status"].as_str(), r["field"].as_str()),
        (Some("rejected"), Some("staff_id")),
        "{r}"
    );
    let r = s
        .post(
            Some(&lib),
            "/api/v1/staff-badges",
            json!({"badge": "S99999", "name": "Agency Porter"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(send("S99999", -20).await["status"], "stored");
    // the porter user's own badge (staff prefix + user number, as printed for a user)
    let porter_id: i64 = {
        let c = rusqlite::Connection::open(w.s.dir.path().join("casenote.db")).unwrap();
        c.query_row("SELECT id FROM users WHERE username='porter'", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let badge: &'static str = Box::leak(format!("S{porter_id:05}").into_boxed_str());
    assert_eq!(send(badge, -10).await["status"], "stored");
}
