//! Page handlers. Each one authorises by role, calls the domain layer, audits reads of patient
//! data, and renders HTML (maud escapes every value, so names with markup are harmless).

use super::{layout, svg, WebError, WebUser, SESSION_COOKIE};
use crate::{
    app::{search, users, AppState},
    audit,
    auth::{self, Permission, Principal, Role},
    ledger::devices,
    ledger::folders,
    ledger::locations,
    ledger::movements,
    ledger::whereis::{self, WhereIs},
    util::now_ms,
    Error,
};
use axum::{
    extract::{Form, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Json,
};
use label_printer::identifiers::{classify, ScanTarget};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

pub(super) type Params = HashMap<String, String>;

pub(super) fn param<'a>(p: &'a Params, k: &str) -> Option<&'a str> {
    p.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
}

pub(super) async fn audit_read(
    s: &AppState,
    who: &Principal,
    action: &'static str,
    rows: Vec<(Option<i64>, Option<i64>)>,
    detail: String,
) -> Result<(), WebError> {
    Ok(audit::record_reads(&s.db, who, action, rows, detail).await?)
}

// ---------- sign in / out ----------

fn login_page(error: Option<&str>, login_csrf: &str) -> Markup {
    html! {
        (maud::DOCTYPE)
        html lang="en-GB" {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; title { "Sign in - Casenote Tracker" } link rel="stylesheet" href="/static/app.css"; }
            body {
                header.top { a.brand href="/" { "Casenote Tracker" } }
                main id="main" {
                    h1 { "Sign in" }
                    @if let Some(e) = error { div.error-summary role="alert" { h2 { "There is a problem" } p { (e) } } }
                    form.card method="post" action="/login" {
                        input type="hidden" name="csrf" value=(login_csrf);
                        label for="username" { "User name" }
                        input type="text" id="username" name="username" autocomplete="username" required autofocus;
                        label for="password" { "Password" }
                        input type="password" id="password" name="password" autocomplete="current-password" required;
                        div { button type="submit" { "Sign in" } }
                    }
                }
            }
        }
    }
}

fn login_cookie(value: &str, secure: bool) -> String {
    format!(
        "cn_login={value}; Path=/login; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

pub async fn login_form(State(s): State<AppState>) -> Response {
    let t = auth::new_token("");
    (
        [(
            header::SET_COOKIE,
            login_cookie(&t, s.cfg.server.secure_cookies),
        )],
        login_page(None, &t),
    )
        .into_response()
}

pub async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<Params>,
) -> Response {
    let fresh = auth::new_token("");
    let set = [(
        header::SET_COOKIE,
        login_cookie(&fresh, s.cfg.server.secure_cookies),
    )];
    let expected = super::cookie(&headers, "cn_login");
    if expected.is_none() || expected.as_deref() != param(&f, "csrf") {
        return (
            StatusCode::FORBIDDEN,
            set,
            login_page(Some("The sign-in form expired. Please try again."), &fresh),
        )
            .into_response();
    }
    let (u, p) = (
        param(&f, "username").unwrap_or_default(),
        f.get("password").map(String::as_str).unwrap_or_default(),
    );
    match crate::app::session::sign_in(&s, u, p).await {
        Ok((token, _, _)) => {
            let cookie = format!(
                "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                s.cfg.auth.session_hours * 3600,
                if s.cfg.server.secure_cookies {
                    "; Secure"
                } else {
                    ""
                }
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Err(Error::RateLimited(secs)) => (
            StatusCode::TOO_MANY_REQUESTS,
            set,
            login_page(
                Some(&format!(
                    "Too many failed attempts. Try again in {secs} seconds."
                )),
                &fresh,
            ),
        )
            .into_response(),
        Err(Error::Unauthorized) => (
            StatusCode::UNAUTHORIZED,
            set,
            login_page(Some("The user name or password is not right."), &fresh),
        )
            .into_response(),
        Err(e) => WebError::Domain(e).into_response(),
    }
}

pub async fn logout(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    let (t, who) = (user.token.clone(), user.who.clone());
    s.db.write(move |c| {
        auth::delete_session(c, &t)?;
        audit::record(c, &who, "auth.logout", None, None, "signed out")
    })
    .await?;
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response())
}

// ---------- home ----------

pub async fn home(user: WebUser) -> Markup {
    let role = user.who.role;
    let tiles: Vec<(&str, &str, &str)> = [
        (
            Permission::LocateFolders,
            "/whereis",
            "Where is a file?",
            "Find a folder by barcode, CHI, or name and date of birth.",
        ),
        (
            Permission::IngestEvents,
            "/scan?mode=porter",
            "Scan folders",
            "Scan a location card, then the folders you are carrying.",
        ),
        (
            Permission::EditRecords,
            "/scan?mode=dispatch",
            "Dispatch from the library",
            "Send folders to a ward or clinic.",
        ),
        (
            Permission::EditRecords,
            "/scan?mode=receive",
            "Receive at the library",
            "Book returned folders back in.",
        ),
        (
            Permission::RequestNotes,
            "/requests/new",
            "Request notes",
            "Ask the library to send a patient's notes to a ward or clinic.",
        ),
        (
            Permission::EditRecords,
            "/desk",
            "Requests queue",
            "Live list of requests for notes, most urgent first.",
        ),
        (
            Permission::ManageAppointments,
            "/pull-lists",
            "Pull lists",
            "Folders to pull for a clinic date, in shelf order.",
        ),
        (
            Permission::PrintLabels,
            "/labels",
            "Labels",
            "Print folder labels, location cards and badges.",
        ),
        (
            Permission::ReadReports,
            "/reports/out-of-library",
            "Folders out too long",
            "Folders away from the library for more than N days.",
        ),
        (
            Permission::ReadReports,
            "/admin/devices",
            "Devices",
            "Scanners and portals: online, last read, queue depth.",
        ),
        (
            Permission::ManageLocations,
            "/admin/locations",
            "Locations",
            "Wards, clinics, stores and their codes.",
        ),
        (
            Permission::ManageUsers,
            "/admin/users",
            "Users",
            "Who can sign in, and their roles.",
        ),
    ]
    .into_iter()
    .filter(|(p, ..)| auth::allows(role, *p))
    .map(|(_, h, t, d)| (h, t, d))
    .collect();
    layout(
        &user,
        "/",
        "What do you need to do?",
        html! {
            div.tiles { @for (href, title, desc) in tiles { a href=(href) { strong { (title) } (desc) } } }
        },
    )
}

// ---------- where is ----------

fn place_text(p: &whereis::Place) -> String {
    format!("{} ({})", p.name, p.code)
}

pub(super) fn time_text(rfc: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%a %d %b %Y %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| rfc.to_string())
}

fn whereis_answer(w: &WhereIs) -> Markup {
    let f = &w.folder;
    html! {
        section.card aria-label={"Folder " (f.barcode)} {
            h2 { "Folder " (f.barcode) " - " (f.folder_type.replace('_', " ")) ", volume " (f.volume) " of " (f.volume_count) }
            @if let Some(p) = &w.patient {
                p { strong { (p.family_name.to_uppercase()) ", " (p.given_name) } " - CHI " (p.chi.as_deref().unwrap_or("none")) " - born " (p.dob) }
            }
            @if f.status != "active" { p { span.tag.warn { "Status: " (f.status.replace('_', " ")) } } }
            @match &w.current {
                Some(c) => {
                    div class=(if c.in_transit { "answer transit" } else { "answer" }) {
                        @if c.in_transit {
                            p.where { "In transit from " (place_text(&c.location)) }
                            @if let Some(d) = &c.destination { p { "Going to " strong { (place_text(d)) } } }
                        } @else {
                            p.where { (place_text(&c.location)) }
                        }
                        p { "Since " (time_text(&c.since)) ". Last seen " (time_text(&c.last_seen_at)) " by " (c.seen_by_staff.as_deref().unwrap_or("unknown staff")) " on " (c.seen_by_device) " (" (c.method) ")." }
                    }
                }
                None => { div.answer { p.where { "Never scanned: expected at its home, " (w.home_location) } } }
            }
            @if !w.trail.is_empty() {
                details open[w.trail.len() <= 10] {
                    summary { "Trail (" (w.trail.len()) " scans, newest first)" }
                    ol.timeline {
                        @for t in &w.trail {
                            li { time datetime=(t.read_at) { (time_text(&t.read_at)) } " - " (t.action) " at " (place_text(&t.location))
                                @if let Some(d) = &t.destination { " to " (d) }
                                " - " (t.staff_id.as_deref().unwrap_or("-")) ", " (t.device_id) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn whereis(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::LocateFolders)?;
    let can_read = user.who.can(Permission::ReadPatient);
    let mut results: Vec<WhereIs> = Vec::new();
    let mut error: Option<String> = None;
    let mut searched = false;
    if let Some(term) = param(&q, "q") {
        searched = true;
        match search::SearchTerm::classify(&s, term) {
            search::SearchTerm::NotUnderstood(why) => error = Some(why),
            search::SearchTerm::Folder(b) => match search::folder(&s, &user.who, b).await {
                Ok(w) => results.push(w),
                Err(e @ (Error::Forbidden { .. } | Error::Unauthorized)) => return Err(e.into()),
                Err(e) if e.kind() == crate::error::ErrorKind::Internal => return Err(e.into()),
                Err(e) => error = Some(e.to_string()),
            },
            search::SearchTerm::Patient(id) => {
                user.who.require(Permission::ReadPatient)?;
                match search::patient(&s, &user.who, "q", id, true).await {
                    Ok((_, list)) => {
                        if list.is_empty() {
                            error = Some("This patient has no folders registered.".into());
                        }
                        results = list;
                    }
                    Err(e) if e.kind() == crate::error::ErrorKind::Internal => return Err(e.into()),
                    Err(e) => error = Some(e.to_string()),
                }
            }
        }
    } else if let (Some(name), Some(dob)) = (param(&q, "name"), param(&q, "dob")) {
        searched = true;
        user.who.require(Permission::ReadPatient)?;
        match search::by_name(&s, &user.who, name.to_string(), dob.to_string(), true).await {
            Ok(found) => results = found.into_iter().flat_map(|(_, w)| w).collect(),
            Err(e) if e.kind() == crate::error::ErrorKind::Internal => return Err(e.into()),
            Err(e) => error = Some(e.to_string()),
        }
    }
    let qv = q.get("q").cloned().unwrap_or_default();
    Ok(layout(
        &user,
        "/whereis",
        "Where is a file?",
        html! {
            form.card method="get" action="/whereis" role="search" {
                label for="q" { "Folder barcode, CHI or NHS number" }
                p.hint { "Scan the folder label or type the number." }
                input.scan type="text" id="q" name="q" value=(qv) autocomplete="off" autofocus;
                div { button type="submit" { "Find" } }
            }
            @if can_read {
                form.card method="get" action="/whereis" {
                    h2 { "Or search by name and date of birth" }
                    div.row {
                        div { label for="name" { "Family name (or its start)" } input type="text" id="name" name="name" value=(q.get("name").cloned().unwrap_or_default()); }
                        div { label for="dob" { "Date of birth" } input type="date" id="dob" name="dob" value=(q.get("dob").cloned().unwrap_or_default()); }
                    }
                    div { button.secondary type="submit" { "Search" } }
                }
            }
            @if let Some(e) = &error { div.error-summary role="alert" { h2 { "No answer" } p { (e) } } }
            @if searched && error.is_none() && results.is_empty() { div.error-summary role="alert" { p { "No matching patients or folders." } } }
            @for w in &results { (whereis_answer(w)) }
        },
    ))
}

// ---------- scanning ----------

pub async fn scan_page(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::IngestEvents)?;
    let mode = match param(&q, "mode").unwrap_or("porter") {
        m @ ("dispatch" | "receive" | "refile") => {
            user.who.require(Permission::EditRecords)?;
            m
        }
        _ => "porter",
    };
    let locs = s.db.read(locations::list).await?;
    let libraries: Vec<&locations::Location> = locs
        .iter()
        .filter(|l| matches!(l.kind.as_str(), "library" | "store" | "shelf"))
        .collect();
    let others: Vec<&locations::Location> = locs
        .iter()
        .filter(|l| {
            !matches!(
                l.kind.as_str(),
                "library" | "store" | "shelf" | "site" | "building"
            )
        })
        .collect();
    let (title, help) = match mode {
        "dispatch" => ("Library desk: dispatch", "Choose where the folders are going, then scan each folder."),
        "receive" => ("Library desk: receive", "Scan each returned folder as it arrives at the library."),
        "refile" => ("Library: re-file", "Scan each folder as you put it back on the shelf."),
        _ => ("Scan folders", "Scan the location card (ward door, clinic or trolley label), then each folder. Scan your badge to record your name."),
    };
    let preset = if mode == "porter" {
        None
    } else {
        libraries.first().map(|l| l.code.clone())
    };
    Ok(layout(
        &user,
        if mode == "porter" {
            "/scan?mode=porter"
        } else {
            "/scan?mode=dispatch"
        },
        title,
        html! {
            p { (help) }
            @if mode != "porter" {
                nav.card aria-label="Desk mode" { "Desk: " a href="/scan?mode=dispatch" { "dispatch" } " | " a href="/scan?mode=receive" { "receive" } " | " a href="/scan?mode=refile" { "re-file" } }
            }
            form.card id="scan-form" data-csrf=(user.csrf) data-mode=(mode) data-location=[preset.as_deref()] {
                @if mode == "porter" {
                    p { "Location: " strong id="here" { "none yet - scan a location card" } }
                } @else {
                    p { "Desk: " strong id="here" { (preset.as_deref().unwrap_or("no library location is set up")) } }
                }
                @if mode == "dispatch" {
                    label for="destination" { "Sending to" }
                    select id="destination" name="destination" {
                        @for l in &others { option value=(l.code) { (l.name) " (" (l.code) ")" } }
                    }
                }
                label for="scan-input" { "Scan here" }
                p.hint { "The scanner types into this box and presses Enter." }
                input.scan type="text" id="scan-input" name="raw" autocomplete="off" autofocus;
                div { button type="submit" { "Record scan" } }
            }
            div id="feedback" role="status" aria-live="assertive" { "Ready." }
            h2 { "This session" }
            ol id="log" {}
            script src="/static/app.js" defer {}
        },
    ))
}

#[derive(Deserialize)]
pub struct WebScan {
    event_id: String,
    raw: String,
    mode: String,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    staff: Option<String>,
    #[serde(default)]
    destination: Option<String>,
}

fn answer(kind: &str, level: &str, message: impl Into<String>) -> Json<Value> {
    Json(json!({"kind": kind, "level": level, "message": message.into()}))
}

pub async fn scan(
    State(s): State<AppState>,
    user: WebUser,
    headers: HeaderMap,
    Json(b): Json<WebScan>,
) -> Result<Json<Value>, WebError> {
    user.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    user.who.require(Permission::IngestEvents)?;
    if b.mode != "porter" {
        user.who.require(Permission::EditRecords)?;
    }
    match classify(&b.raw, &s.cfg.identifiers) {
        ScanTarget::Location { code } | ScanTarget::LocationGln { gln: code } => {
            let c2 = code.clone();
            match s.db.read(move |c| locations::resolve(c, &c2)).await? {
                Some(l) => Ok(Json(
                    json!({"kind": "location", "level": "ok", "code": l.code, "name": l.name, "message": format!("Location set: {} ({})", l.name, l.code)}),
                )),
                None => Ok(answer(
                    "error",
                    "error",
                    format!("Unknown location card {code}: it is not registered."),
                )),
            }
        }
        ScanTarget::Staff { badge } => Ok(Json(
            json!({"kind": "staff", "level": "ok", "badge": badge, "message": format!("Badge {badge} recorded for the next scans")}),
        )),
        ScanTarget::Unknown { reason } => Ok(answer(
            "error",
            "error",
            format!("Not recognised ({reason}). Check the label and scan again."),
        )),
        ScanTarget::Folder { .. } => {
            let (action, destination) = match b.mode.as_str() {
                "dispatch" => ("dispatch", b.destination.clone()),
                "receive" => ("receive", None),
                _ => ("seen", None),
            };
            let Some(location) = b.location.clone().filter(|l| !l.is_empty()) else {
                return Ok(answer(
                    "error",
                    "error",
                    "Scan a location card first, so we know where this folder is.",
                ));
            };
            let ev = json!({
                "event_id": b.event_id, "device_id": format!("web:{}", user.username()),
                "staff_id": b.staff.clone().unwrap_or_else(|| user.username().to_string()),
                "read_at": crate::util::now_rfc3339(), "raw": b.raw, "method": "barcode",
                "location": location, "action": action, "destination": destination,
            });
            let out =
                movements::ingest_batch(&s.db, &s.cfg.identifiers, user.who.clone(), vec![ev])
                    .await?;
            let r = &out.results[0];
            let folder = label_printer::identifiers::strip_aim(b.raw.trim())
                .1
                .to_ascii_uppercase();
            Ok(match (r.status, r.matched) {
                ("stored", Some(true)) => {
                    let what = match action {
                        "dispatch" => format!("dispatched to {}", destination.unwrap_or_default()),
                        "receive" => format!("received at {location}"),
                        _ => format!("recorded at {location}"),
                    };
                    answer("folder", "ok", format!("{folder} {what}"))
                }
                ("stored", _) => answer("folder", "warn", format!("{folder} is not a registered folder. The scan is kept; tell the records team.")),
                ("duplicate", _) => answer("folder", "warn", format!("{folder} was already recorded")),
                _ => answer("folder", "error", format!("Not recorded: {}: {}", r.field.clone().unwrap_or_default(), r.message.clone().unwrap_or_default())),
            })
        }
    }
}

// ---------- reports ----------

/// A bar chart as SVG: one bar per (label, value).
pub fn bar_chart(title: &str, bars: &[(String, i64)]) -> String {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let (w, bh, gap, left) = (640, 28, 10, 140);
    let h = bars.len() as i64 * (bh + gap) + 40;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="{}"><title>{}</title>"#,
        esc(title),
        esc(title)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 20 + i as i64 * (bh + gap);
        let bw = (w - left - 60) * v / max;
        out += &format!(
            r##"<text x="{}" y="{}" text-anchor="end" font-size="14" fill="#212b32">{}</text><rect x="{left}" y="{y}" width="{bw}" height="{bh}" fill="#005eb8"/><text x="{}" y="{}" font-size="14" fill="#212b32">{v}</text>"##,
            left - 8,
            y + 19,
            esc(label),
            left + bw + 6,
            y + 19
        );
    }
    out + "</svg>"
}

pub async fn out_of_library(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    user.who.require(Permission::ReadReports)?;
    let days: i64 = match param(&q, "days") {
        Some(d) => d
            .parse()
            .ok()
            .filter(|d| (0..=3650).contains(d))
            .ok_or_else(|| Error::invalid("days", "must be a whole number from 0 to 3650"))?,
        None => s.cfg.reports.out_of_library_days,
    };
    let list =
        s.db.read(move |c| folders::out_of_library(c, days, now_ms(), 100_000))
            .await?;
    if param(&q, "format") == Some("csv") {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record([
            "barcode",
            "folder_type",
            "volume",
            "volume_count",
            "location",
            "since",
            "days_out",
        ]);
        for f in &list {
            let _ = w.write_record([
                f.barcode.clone(),
                f.folder_type.clone(),
                f.volume.to_string(),
                f.volume_count.to_string(),
                f.location.clone(),
                f.since.clone(),
                f.days_out.unwrap_or(0).to_string(),
            ]);
        }
        let body = w.into_inner().unwrap_or_default();
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"out-of-library.csv\"",
                ),
            ],
            body,
        )
            .into_response());
    }
    let bars = crate::ledger::folders::by_days_out(&list);
    let mut by_loc: std::collections::BTreeMap<&str, i64> = Default::default();
    for f in &list {
        *by_loc.entry(f.location.as_str()).or_default() += 1;
    }
    let loc_bars: Vec<(String, i64)> = by_loc
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Ok(layout(&user, "/reports/out-of-library", "Folders out of the library", html! {
        form.card method="get" {
            label for="days" { "Out for more than (days)" }
            input type="number" id="days" name="days" min="0" max="3650" value=(days);
            div { button type="submit" { "Show" } a.button.secondary href={"/reports/out-of-library?format=csv&days=" (days)} { "Download CSV" } }
        }
        p { strong { (list.len()) } " folder(s) out for more than " (days) " day(s)." }
        div.row {
            div.card.chart { h2 { "How long" } (svg(bar_chart("Folders by days out", &bars))) }
            div.card.chart { h2 { "Where" } (svg(bar_chart("Folders by location", &loc_bars))) }
        }
        table {
            thead { tr { th { "Folder" } th { "Type" } th { "Volume" } th { "Where" } th { "Since" } th { "Days out" } } }
            tbody { @for f in list.iter().take(500) {
                tr { td { a href={"/whereis?q=" (f.barcode)} { (f.barcode) } } td { (f.folder_type) } td { (f.volume) " of " (f.volume_count) } td { (f.location) } td { (time_text(&f.since)) } td { (f.days_out.unwrap_or(0)) } }
            } }
        }
    }).into_response())
}

// ---------- admin ----------

pub async fn devices(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.who.require(Permission::ReadReports)?;
    let list = s.db.read(devices::list).await?;
    Ok(layout(
        &user,
        "/admin/devices",
        "Devices",
        html! {
            @if list.is_empty() { p { "No bridge has reported yet." } }
            table {
                thead { tr { th { "Device" } th { "Bridge" } th { "State" } th { "Last read" } th { "Queue" } th { "Oldest queued" } th { "Last report" } } }
                tbody { @for d in &list {
                    tr {
                        td { (d.device_id) br; span.hint { (d.description) } }
                        td { (d.bridge_id) }
                        td { @if d.online { span.tag.ok { "online" } } @else { span.tag.bad { "offline" } } }
                        td { (d.last_read_at.as_deref().map(time_text).unwrap_or_else(|| "never".into())) }
                        td { @if d.queue_depth > 0 { span.tag.warn { (d.queue_depth) } } @else { "0" } }
                        td { (d.oldest_event_age_s.map(|s| format!("{s} s")).unwrap_or_else(|| "-".into())) }
                        td { (time_text(&d.last_heartbeat)) }
                    }
                } }
            }
        },
    ))
}

pub async fn users(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.who.require(Permission::ManageUsers)?;
    let list = s.db.read(auth::list_users).await?;
    Ok(users_page(&user, &list, None))
}

fn users_page(user: &WebUser, list: &[auth::UserRow], message: Option<(&str, String)>) -> Markup {
    layout(
        user,
        "/admin/users",
        "Users",
        html! {
            @if let Some((kind, m)) = &message { div class=(if *kind == "ok" { "card" } else { "error-summary" }) role="alert" { p { (m) } } }
            table {
                thead { tr { th { "User name" } th { "Name" } th { "Role" } th { "Active" } } }
                tbody { @for u in list { tr { td { (u.username) } td { (u.display_name) } td { (u.role.replace('_', " ")) } td { @if u.active { "yes" } @else { "no" } } } } }
            }
            form.card method="post" action="/admin/users" {
                h2 { "Add a user" }
                input type="hidden" name="csrf" value=(user.csrf);
                label for="username" { "User name" } input type="text" id="username" name="username" required;
                label for="display_name" { "Full name" } input type="text" id="display_name" name="display_name" required;
                label for="role" { "Role" }
                select id="role" name="role" { @for r in [Role::Porter, Role::Library, Role::Clinician, Role::RecordsManager, Role::Admin] { option value=(r.as_str()) { (r.as_str().replace('_', " ")) } } }
                label for="password" { "First password (at least 8 characters)" } input type="password" id="password" name="password" autocomplete="new-password" required;
                div { button type="submit" { "Add user" } }
            }
        },
    )
}

pub async fn add_user(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageUsers)?;
    let result: crate::Result<String> = async {
        let role = Role::parse(param(&f, "role").unwrap_or_default())?;
        let username = param(&f, "username").unwrap_or_default().to_string();
        let display = param(&f, "display_name")
            .ok_or_else(|| Error::invalid("display_name", "is required"))?
            .to_string();
        let new = users::NewUser {
            username: username.clone(),
            display_name: display,
            role,
            password: f.get("password").cloned().unwrap_or_default(),
        };
        users::add_user(&s.db, &user.who, new).await?;
        Ok(username)
    }
    .await;
    let list = s.db.read(auth::list_users).await?;
    Ok(match result {
        Ok(u) => users_page(&user, &list, Some(("ok", format!("User {u} added.")))).into_response(),
        Err(e @ (Error::Invalid { .. } | Error::Conflict(_))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            users_page(&user, &list, Some(("error", e.to_string()))),
        )
            .into_response(),
        Err(e) => return Err(e.into()),
    })
}

pub async fn locations(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.who.require(Permission::ManageLocations)?;
    let list = s.db.read(locations::list).await?;
    Ok(locations_page(&user, &list, None))
}

fn locations_page(
    user: &WebUser,
    list: &[locations::Location],
    message: Option<(&str, String)>,
) -> Markup {
    layout(
        user,
        "/admin/locations",
        "Locations",
        html! {
            @if let Some((kind, m)) = &message { div class=(if *kind == "ok" { "card" } else { "error-summary" }) role="alert" { p { (m) } } }
            table {
                thead { tr { th { "Code" } th { "Name" } th { "Kind" } th { "GLN" } th { "Part of" } } }
                tbody { @for l in list { tr { td { (l.code) } td { (l.name) } td { (l.kind.replace('_', " ")) } td { (l.gln.as_deref().unwrap_or("-")) } td { (l.parent.as_deref().unwrap_or("-")) } } } }
            }
            form.card method="post" action="/admin/locations" {
                h2 { "Add a location" }
                input type="hidden" name="csrf" value=(user.csrf);
                label for="code" { "Code" } p.hint { "Starts with L, letters and digits only, e.g. LWARD12" } input type="text" id="code" name="code" required;
                label for="name" { "Name" } input type="text" id="name" name="name" required;
                label for="kind" { "Kind" } select id="kind" name="kind" { @for k in locations::KINDS { option value=(k) { (k.replace('_', " ")) } } }
                label for="gln" { "GS1 GLN (optional)" } input type="text" id="gln" name="gln";
                label for="parent" { "Part of (code, optional)" } input type="text" id="parent" name="parent";
                div { button type="submit" { "Add location" } }
            }
        },
    )
}

pub async fn add_location(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageLocations)?;
    let n = locations::NewLocation {
        code: param(&f, "code").unwrap_or_default().to_string(),
        name: param(&f, "name").unwrap_or_default().to_string(),
        kind: param(&f, "kind").unwrap_or_default().to_string(),
        gln: param(&f, "gln").map(String::from),
        parent: param(&f, "parent").map(String::from),
    };
    let prefix = s.cfg.identifiers.location_prefix.clone();
    let who = user.who.clone();
    let result =
        s.db.write(move |c| {
            let l = locations::create(c, &n, &prefix)?;
            audit::record(c, &who, "location.create", None, None, &l.code)?;
            Ok(l)
        })
        .await;
    let list = s.db.read(locations::list).await?;
    Ok(match result {
        Ok(l) => locations_page(
            &user,
            &list,
            Some(("ok", format!("Location {} added.", l.code))),
        )
        .into_response(),
        Err(e @ (Error::Invalid { .. } | Error::Conflict(_))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            locations_page(&user, &list, Some(("error", e.to_string()))),
        )
            .into_response(),
        Err(e) => return Err(e.into()),
    })
}
