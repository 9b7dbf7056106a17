//! The web interface: server-rendered pages for porters, library staff, clinicians and
//! managers. Sessions are HttpOnly, SameSite=Strict cookies; every form and every scan carries a
//! CSRF token derived from the session. Pages use no inline script (strict CSP); the scanning
//! pages load `/static/app.js`.

mod audit_pages;
mod containers_pages;
mod labels_pages;
mod lifecycle_pages;
mod pages;
mod privacy_pages;
mod pulllist_pages;
mod requests_pages;
mod statistics_pages;

use crate::{
    app::AppState,
    auth::{self, Permission, Principal, Role},
    error::ErrorKind,
    Error,
};
use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "cn_session";
const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");
const DESK_JS: &str = include_str!("assets/desk.js");
const PROGRESS_JS: &str = include_str!("assets/progress.js");
const SERVICE_WORKER_JS: &str = include_str!("assets/sw.js");
const ICON_SVG: &str = include_str!("assets/icon.svg");
const ICON_192: &[u8] = include_bytes!("assets/icon-192.png");
const ICON_512: &[u8] = include_bytes!("assets/icon-512.png");
/// The scan page as an installable app (Android handheld computers whose scanners type as a
/// keyboard): opens on the porter's scan page.
const MANIFEST: &str = r##"{"name":"Casenote Tracker: scan folders","short_name":"Casenote scan","start_url":"/scan?mode=porter","scope":"/","display":"standalone","background_color":"#ffffff","theme_color":"#005eb8","icons":[{"src":"/static/icon-192.png","sizes":"192x192","type":"image/png"},{"src":"/static/icon-512.png","sizes":"512x512","type":"image/png"},{"src":"/static/icon.svg","sizes":"any","type":"image/svg+xml"}]}"##;

const JS_TYPE: &str = "text/javascript; charset=utf-8";
const HOUR: &str = "max-age=3600";
const DAY: &str = "max-age=86400";

/// A file built into the server, with its type and caching policy.
fn asset(content_type: &'static str, cache: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

fn script(body: &'static str) -> Response {
    asset(JS_TYPE, HOUR, body)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/whereis", get(pages::whereis))
        .route("/scan", get(pages::scan_page))
        .route("/web/scan", post(pages::scan))
        .route("/reports/out-of-library", get(pages::out_of_library))
        .route("/statistics", get(statistics_pages::statistics_page))
        .route("/statistics/monthly", get(statistics_pages::monthly_pdf))
        .route("/admin/devices", get(pages::devices))
        .route("/reports/device-health", get(pages::device_health))
        .route("/admin/users", get(pages::users).post(pages::add_user))
        .route("/admin/users/{username}/{action}", post(pages::change_user))
        .route("/admin/tokens", get(pages::tokens))
        .route("/admin/tokens/{name}/revoke", post(pages::revoke_token))
        .route(
            "/admin/locations",
            get(pages::locations).post(pages::add_location),
        )
        .route(
            "/admin/locations/preparation-area",
            post(pages::set_preparation_area),
        )
        .route(
            "/requests/new",
            get(requests_pages::new_request_form).post(requests_pages::create_request),
        )
        .route("/requests/{id}", get(requests_pages::request_page))
        .route("/desk", get(requests_pages::desk))
        .route("/desk/{id}/state", post(requests_pages::set_state))
        .route("/web/desk/stream", get(requests_pages::desk_stream))
        .route(
            "/web/desk/rows/{id}",
            get(requests_pages::desk_row_fragment),
        )
        .route("/reports/privacy", get(privacy_pages::report_page))
        .route("/reports/privacy/detail", get(privacy_pages::detail_page))
        .route("/reports/privacy/download", get(privacy_pages::download))
        .route(
            "/admin/patient-flags",
            get(privacy_pages::flags_page).post(privacy_pages::change_flag),
        )
        .route("/audits", get(audit_pages::audits))
        .route("/audits/{id}", get(audit_pages::audit_page))
        .route("/audits/{id}/close", post(audit_pages::close_audit))
        .route("/pull-lists", get(pulllist_pages::pull_list))
        .route("/pull-lists/export", get(pulllist_pages::export))
        .route("/pull-lists/requests", post(pulllist_pages::raise_requests))
        .route(
            "/containers",
            get(containers_pages::containers_page).post(containers_pages::register),
        )
        .route("/containers/{id}", get(containers_pages::container_page))
        .route("/containers/{id}/unload", post(containers_pages::unload))
        .route(
            "/containers/{id}/active",
            post(containers_pages::set_active),
        )
        .route(
            "/containers/{id}/label",
            post(containers_pages::print_label),
        )
        .route("/labels", get(labels_pages::labels))
        .route("/labels/folder", post(labels_pages::print_folder))
        .route("/labels/location", post(labels_pages::print_location))
        .route("/labels/badge", post(labels_pages::print_badge))
        .route("/labels/batch", post(labels_pages::print_batch))
        .route("/labels/batches/{id}", get(labels_pages::batch_page))
        .route("/labels/jobs/{id}/retry", post(labels_pages::retry_job))
        .route("/web/print/batches/{id}", get(labels_pages::batch_json))
        .route(
            "/admin/printers",
            get(labels_pages::printers).post(labels_pages::add_printer),
        )
        // The records manager's lifecycle pages (issue 16 point 1).
        .route("/coding", get(lifecycle_pages::coding_queue))
        .route("/coding/episodes", post(lifecycle_pages::create_episode))
        .route("/coding/code-lists", post(lifecycle_pages::load_code_list))
        .route("/coding/episodes/{id}", get(lifecycle_pages::episode))
        .route(
            "/coding/episodes/{id}/codes",
            post(lifecycle_pages::code_episode),
        )
        .route("/digitisation", get(lifecycle_pages::digitisation_home))
        .route("/digitisation/batches", post(lifecycle_pages::create_batch))
        .route(
            "/digitisation/batches/{id}",
            get(lifecycle_pages::digitisation_batch),
        )
        .route(
            "/digitisation/batches/{id}/qa",
            post(lifecycle_pages::qa_folder),
        )
        .route(
            "/digitisation/batches/{id}/disposition",
            post(lifecycle_pages::dispose_folder),
        )
        .route("/retention", get(lifecycle_pages::retention_home))
        .route("/retention/holds", post(lifecycle_pages::place_hold))
        .route("/retention/deaths", post(lifecycle_pages::record_death))
        .route(
            "/retention/holds/release",
            post(lifecycle_pages::release_hold),
        )
        .route(
            "/retention/destructions",
            post(lifecycle_pages::propose_destruction),
        )
        .route(
            "/retention/destructions/{id}/decide",
            post(lifecycle_pages::decide_destruction),
        )
        .route(
            "/retention/destructions/{id}/certificate",
            get(lifecycle_pages::destruction_certificate),
        )
        .route(
            "/external-requests",
            get(lifecycle_pages::external_requests).post(lifecycle_pages::create_external),
        )
        .route(
            "/external-requests/{id}",
            get(lifecycle_pages::external_request),
        )
        .route(
            "/external-requests/{id}/extend",
            post(lifecycle_pages::extend_external),
        )
        .route(
            "/external-requests/{id}/status",
            post(lifecycle_pages::status_external),
        )
        .route(
            "/admin/printers/{id}",
            get(labels_pages::edit_printer_form).post(labels_pages::edit_printer),
        )
        .route("/admin/printers/{id}/test", post(labels_pages::test_print))
        .route(
            "/labels/folder-by-nhs",
            post(labels_pages::print_by_nhs_number),
        )
        .route("/static/desk.js", get(|| async { script(DESK_JS) }))
        // The service worker must be served from the root to control the scan page, and is
        // never kept by the HTTP cache so an update reaches handhelds at once.
        .route(
            "/sw.js",
            get(|| async { asset(JS_TYPE, "no-cache", SERVICE_WORKER_JS) }),
        )
        .route(
            "/manifest.webmanifest",
            get(|| async { asset("application/manifest+json", HOUR, MANIFEST) }),
        )
        .route(
            "/static/icon-192.png",
            get(|| async { asset("image/png", DAY, ICON_192) }),
        )
        .route(
            "/static/icon-512.png",
            get(|| async { asset("image/png", DAY, ICON_512) }),
        )
        .route(
            "/static/icon.svg",
            get(|| async { asset("image/svg+xml", DAY, ICON_SVG) }),
        )
        .route("/static/progress.js", get(|| async { script(PROGRESS_JS) }))
        .route(
            "/static/app.css",
            get(|| async { asset("text/css; charset=utf-8", HOUR, CSS) }),
        )
        .route("/static/app.js", get(|| async { script(JS) }))
}

/// The CSRF token for a session: derived, so nothing more is stored.
pub fn csrf_for(session_token: &str) -> String {
    hex::encode(&Sha256::digest(format!("csrf:{session_token}").as_bytes())[..16])
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A signed-in person using the web pages.
pub struct WebUser {
    pub who: Principal,
    pub token: String,
    pub csrf: String,
}

impl WebUser {
    pub fn username(&self) -> &str {
        self.who
            .actor
            .strip_prefix("user:")
            .unwrap_or(&self.who.actor)
    }
    /// Check a submitted CSRF token.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), WebError> {
        match submitted {
            Some(s) if constant_eq(s.as_bytes(), self.csrf.as_bytes()) => Ok(()),
            _ => Err(WebError::Csrf),
        }
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Web errors become pages (or a redirect to sign in).
pub enum WebError {
    SignIn,
    Csrf,
    Domain(Error),
}

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        WebError::Domain(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn => Redirect::to("/login").into_response(),
            WebError::Csrf => (StatusCode::FORBIDDEN, message_page("Form expired", "This form was not accepted because its security token was missing or stale. Go back, reload the page, and try again.")).into_response(),
            WebError::Domain(e) => {
                let kind = e.kind();
                let title = match kind {
                    ErrorKind::Forbidden => "Not allowed",
                    ErrorKind::NotFound => "Not found",
                    ErrorKind::Internal => "Something went wrong",
                    _ => "Please check what you entered",
                };
                let msg = match (kind, e.field()) {
                    (ErrorKind::InvalidField, Some(f)) => format!("{f}: {}", e.public_message()),
                    _ => e.public_message(),
                };
                let mut res = (kind.status(), message_page(title, &msg)).into_response();
                if kind == ErrorKind::Internal {
                    res.extensions_mut()
                        .insert(crate::error::InternalCause(e.chain()));
                }
                res
            }
        }
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE)
            .filter(|t| t.starts_with("cs_"))
            .ok_or(WebError::SignIn)?;
        let who = state
            .db
            .read_quick(|c| auth::authenticate(c, &token))
            .map_err(|e| match e {
                Error::Unauthorized => WebError::SignIn,
                e => WebError::Domain(e),
            })?;
        Ok(WebUser {
            who,
            csrf: csrf_for(&token),
            token,
        })
    }
}

fn message_page(title: &str, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; title { (title) " - Casenote Tracker" } link rel="stylesheet" href="/static/app.css"; }
            body {
                header.top { a.brand href="/" { "Casenote Tracker" } }
                main id="main" { div.error-summary role="alert" { h1 { (title) } p { (message) } p { a href="/" { "Back to the start page" } } } }
            }
        }
    }
}

/// The menu, by what the role may do.
fn nav_items(role: Role) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("/", "Home")];
    if auth::allows(role, Permission::LocateFolders) {
        v.push(("/whereis", "Where is"));
    }
    if auth::allows(role, Permission::IngestEvents) {
        v.push(("/scan?mode=porter", "Scan"));
    }
    if auth::allows(role, Permission::EditRecords) {
        v.push(("/scan?mode=dispatch", "Library desk"));
    }
    if auth::allows(role, Permission::RequestNotes) {
        v.push(("/requests/new", "Request notes"));
    }
    if auth::allows(role, Permission::RequestNotes) && auth::allows(role, Permission::EditRecords) {
        v.push(("/desk", "Requests queue"));
    }
    if auth::allows(role, Permission::EditRecords) {
        v.push(("/audits", "Shelf audits"));
    }
    if auth::allows(role, Permission::ManageAppointments)
        && auth::allows(role, Permission::ReadPatient)
    {
        v.push(("/pull-lists", "Pull lists"));
    }
    if auth::allows(role, Permission::LocateFolders) {
        v.push(("/containers", "Trolleys"));
    }
    if auth::allows(role, Permission::PrintLabels) {
        v.push(("/labels", "Labels"));
    }
    if auth::allows(role, Permission::ReadReports) {
        v.push(("/reports/out-of-library", "Reports"));
        v.push(("/statistics", "Statistics"));
        v.push(("/admin/devices", "Devices"));
    }
    if auth::allows(role, Permission::PrintLabels) {
        v.push(("/admin/printers", "Printers"));
    }
    if auth::allows(role, Permission::ManageLocations) {
        v.push(("/admin/locations", "Locations"));
    }
    if auth::allows(role, Permission::ManageUsers) {
        v.push(("/admin/users", "Users"));
    }
    if auth::allows(role, Permission::CodeEpisodes) {
        v.push(("/coding", "Coding"));
    }
    if auth::allows(role, Permission::ManageDigitisation) {
        v.push(("/digitisation", "Scanning"));
    }
    if auth::allows(role, Permission::ManageRetention) {
        v.push(("/retention", "Retention"));
    }
    if auth::allows(role, Permission::ManageExternalRequests) {
        v.push(("/external-requests", "GP queries and SARs"));
    }
    if auth::allows(role, Permission::ReviewPrivacy) {
        v.push(("/reports/privacy", "Privacy"));
    }
    v
}

/// The page frame: skip link, header with menu and sign-out, main content.
pub fn layout(user: &WebUser, current: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - Casenote Tracker" }
                link rel="stylesheet" href="/static/app.css";
                link rel="manifest" href="/manifest.webmanifest";
                meta name="theme-color" content="#005eb8";
            }
            body {
                a.skip href="#main" { "Skip to main content" }
                header.top {
                    a.brand href="/" { "Casenote Tracker" }
                    nav aria-label="Main menu" {
                        @for (href, label) in nav_items(user.who.role) {
                            @if href == current { a href=(href) aria-current="page" { (label) } } @else { a href=(href) { (label) } }
                        }
                    }
                    div.who {
                        span { (user.username()) " (" (user.who.role.as_str().replace('_', " ")) ")" }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(user.csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" tabindex="-1" { h1 { (title) } (body) }
                footer { "Casenote Tracker. Every view of patient information is recorded." }
            }
        }
    }
}

/// Escape-free wrapper for a pre-rendered SVG chart made by this crate.
pub fn svg(s: String) -> PreEscaped<String> {
    PreEscaped(s)
}
