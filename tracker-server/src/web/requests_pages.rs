//! Requests for notes on the web: clinicians and secretaries ask for a patient's notes; the
//! library desk works a live queue (server-sent events, cookie-authenticated) and moves each
//! request on (located, pulled, cancelled; dispatch and receipt follow scans).

use super::pages::{audit_read, param, time_text, Params};
use super::{layout, WebError, WebUser};
use crate::workflow::requests::{RequestState, Urgency};
use crate::{
    app::AppState,
    auth::Permission,
    ledger::locations,
    workflow::requests::{self, RequestView, URGENCIES},
    Error,
};
use axum::{
    extract::{Form, Path, Query, State},
    http::header,
    response::{IntoResponse, Redirect, Response},
};
use maud::{html, Markup};

/// Where notes can be sent: everything but library stores, sites and buildings.
fn destinations(all: &[locations::Location]) -> Vec<&locations::Location> {
    all.iter()
        .filter(|l| !l.kind.is_library() && !l.kind.is_container())
        .collect()
}

fn urgency_tag(u: &Urgency) -> Markup {
    let class = match u {
        Urgency::Emergency => "tag bad",
        Urgency::Urgent => "tag warn",
        Urgency::Routine => "tag info",
    };
    html! { span class=(class) { (u.as_str()) } }
}

fn state_text(s: &RequestState) -> String {
    s.as_str().replace('_', " ")
}

/// A `datetime-local` value (local time, no offset) as RFC 3339.
fn local_to_rfc3339(v: &str) -> crate::Result<String> {
    let naive = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| Error::invalid("needed_by", "enter a date and time"))?;
    naive
        .and_local_timezone(crate::util::site_tz())
        .earliest()
        .map(|t| t.to_rfc3339())
        .ok_or_else(|| Error::invalid("needed_by", "that local time does not exist"))
}

// ---------- asking for notes ----------

/// The request form; `?volume=<barcode>` (the "Request these notes" button on a where-is
/// answer) fills in that volume and its patient.
pub async fn new_request_form(
    State(s): State<AppState>,
    user: WebUser,
    axum::extract::Query(q): axum::extract::Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::RequestNotes)?;
    let locs = s.db.read(locations::list).await?;
    let mut f = Params::new();
    if let Some(volume) = param(&q, "volume").map(str::to_string) {
        f.insert("volume".into(), volume.clone());
        if user.who.can(Permission::ReadPatient) {
            let scheme = s.cfg.identifiers.folder.clone();
            let found =
                s.db.read(move |c| {
                    let folder = crate::ledger::folders::by_barcode(c, &scheme, &volume)?;
                    crate::ledger::patients::get(c, folder.patient_id)
                })
                .await;
            if let Ok(p) = found {
                audit_read(
                    &s,
                    &user.who,
                    "patient.read",
                    vec![(Some(p.id), None)],
                    "request form filled from a where-is answer".into(),
                )
                .await?;
                if let Some(chi) = p.chi.or(p.nhs_number) {
                    f.insert("patient".into(), chi);
                }
            }
        }
    }
    Ok(request_form_page(&user, &locs, &f, None))
}

fn request_form_page(
    user: &WebUser,
    locs: &[locations::Location],
    f: &Params,
    error: Option<String>,
) -> Markup {
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    let urgency = param(f, "urgency").unwrap_or("routine").to_string();
    let dest = v("destination");
    layout(
        user,
        "/requests/new",
        "Request notes",
        html! {
            p { "Ask the records library to send a patient's case notes to you. The library sees the request at once." }
            @if let Some(e) = &error { div.error-summary role="alert" { h2 { "There is a problem" } p { (e) } } }
            form.card method="post" action="/requests/new" {
                input type="hidden" name="csrf" value=(user.csrf);
                label for="patient" { "Patient CHI number (or NHS number)" }
                p.hint { "10 digits, for example 1904851231." }
                input type="text" id="patient" name="patient" inputmode="numeric" autocomplete="off" required value=(v("patient"));
                label for="volume" { "One volume only (optional)" }
                p.hint { "Scan or type a folder barcode. Leave empty to ask for every active volume." }
                input type="text" id="volume" name="volume" autocomplete="off" value=(v("volume"));
                label for="destination" { "Send to" }
                select id="destination" name="destination" required {
                    // nothing chosen for the clinician: the wrong ward is worse than a prompt
                    option value="" disabled selected[dest.is_empty()] { "Choose where the notes should go" }
                    @for l in destinations(locs) {
                        option value=(l.code) selected[l.code == dest] { (l.name) " (" (l.code) ")" }
                    }
                }
                fieldset {
                    legend { "How urgent?" }
                    @for u in URGENCIES {
                        div.radio {
                            input type="radio" id={"urgency-" (u)} name="urgency" value=(u) checked[urgency == *u];
                            label for={"urgency-" (u)} { (u) }
                        }
                    }
                }
                label for="needed_by" { "Needed by (optional)" }
                p.hint { "Leave empty to use the usual target for the urgency." }
                input type="datetime-local" id="needed_by" name="needed_by" value=(v("needed_by"));
                label for="reason" { "Reason" }
                textarea id="reason" name="reason" rows="3" required { (v("reason")) }
                div { button type="submit" { "Send request" } }
            }
        },
    )
}

pub async fn create_request(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::RequestNotes)?;
    let needed_by = param(&f, "needed_by").map(local_to_rfc3339).transpose();
    let result = match needed_by {
        Err(e) => Err(e),
        Ok(needed_by) => {
            let n = requests::NewRequest {
                patient: param(&f, "patient").unwrap_or_default().to_string(),
                volume: param(&f, "volume").map(String::from),
                destination: param(&f, "destination").unwrap_or_default().to_string(),
                needed_by,
                urgency: param(&f, "urgency").unwrap_or_default().to_string(),
                reason: param(&f, "reason").unwrap_or_default().to_string(),
            };
            let (cfg, who) = (s.cfg.clone(), user.who.clone());
            s.db.write(move |c| {
                let made =
                    requests::create_from_api(c, &who, &cfg.requests, &cfg.identifiers.folder, &n)?;
                let kind = if made.merged {
                    "request.changed"
                } else {
                    "request.new"
                };
                Ok((made, requests::desk_event(c, kind, made.id)?))
            })
            .await
        }
    };
    match result {
        Ok((made, ev)) => {
            s.desk.publish([ev]);
            let shown = if made.merged { "merged" } else { "made" };
            Ok(Redirect::to(&format!("/requests/{}?{shown}=1", made.id)).into_response())
        }
        Err(e @ (Error::Invalid { .. } | Error::NotFound { .. } | Error::Conflict { .. })) => {
            let locs = s.db.read(locations::list).await?;
            Ok((
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                request_form_page(&user, &locs, &f, Some(e.to_string())),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

// ---------- one request ----------

/// The confirmation after a state change (only known states and numbers are echoed).
fn done_message(q: &Params) -> Markup {
    let state = param(q, "done").filter(|d| requests::STATES.contains(d));
    let id = param(q, "r").and_then(|r| r.parse::<i64>().ok());
    html! {
        @if let (Some(state), Some(id)) = (state, id) {
            div.card.ok role="status" { p { "Request " (id) " is now " strong { (state) } "." } }
        }
    }
}

fn folders_cell(r: &RequestView) -> Markup {
    html! {
        @if r.folders.is_empty() { "no active volume" }
        ul.plain {
            @for f in &r.folders {
                li {
                    a href={"/whereis?q=" (f.barcode)} { (f.barcode) } " vol " (f.volume) "/" (f.volume_count) ": "
                    @if f.in_library { span.tag.ok { "in library" } }
                    @else if let Some(l) = &f.location { span.tag.warn { (l.name) } }
                    @else { "never scanned" }
                }
            }
        }
    }
}

pub async fn request_page(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::RequestNotes)?;
    let with_patient = user.who.can(Permission::ReadPatient);
    let r =
        s.db.read(move |c| requests::get(c, id, with_patient))
            .await?;
    let locs = s.db.read(locations::list).await?;
    audit_read(
        &s,
        &user.who,
        "request.read",
        vec![(Some(r.patient_id), None)],
        format!("request {id}"),
    )
    .await?;
    let desk = user.who.can(Permission::EditRecords);
    Ok(layout(
        &user,
        "/requests/new",
        &format!("Request {id}"),
        html! {
            @if param(&q, "made").is_some() { div.card.ok role="status" { p { strong { "Request sent." } " The library desk has it now. This page shows how it is going." } } }
            @if param(&q, "merged").is_some() { div.card.ok role="status" { p { strong { "These notes were already requested for this place." } " Your request was added to the open one below (its history shows it), so the library fetches them once." } } }
            (done_message(&q))
            dl.summary {
                @if let Some(p) = &r.patient { dt { "Patient" } dd { (p.family_name.to_uppercase()) ", " (p.given_name) " - CHI " (p.chi.as_deref().unwrap_or("none")) " - born " (p.dob) } }
                dt { "State" } dd { strong { (state_text(&r.state)) } @if r.overdue { " " span.tag.bad { "overdue" } } }
                dt { "Urgency" } dd { (urgency_tag(&r.urgency)) }
                dt { "Send to" } dd { (r.destination.name) " (" (r.destination.code) ")" }
                dt { "Needed by" } dd { (time_text(&r.needed_by)) }
                @if let Some(h) = &r.holder_location { dt { "Fetch from" } dd { (h.name) " (" (h.code) ")" } }
                dt { "Reason" } dd { (r.reason) }
                dt { "Asked by" } dd { (r.requested_by) " at " (time_text(&r.created_at)) }
                dt { "Volumes" } dd { (folders_cell(&r)) }
            }
            @if desk && r.open {
                form.card method="post" action={"/desk/" (id) "/state"} {
                    h2 { "Update from the desk" }
                    input type="hidden" name="csrf" value=(user.csrf);
                    label for="state" { "New state" }
                    select id="state" name="state" {
                        option value="pulled" { "pulled (taken off the shelf)" }
                        option value="located" { "located elsewhere (say where)" }
                        option value="cancelled" { "cancelled" }
                    }
                    label for="holder" { "Where the notes are (for located)" }
                    select id="holder" name="holder" {
                        option value="" { "-" }
                        @for l in &locs { option value=(l.code) { (l.name) " (" (l.code) ")" } }
                    }
                    label for="note" { "Note" }
                    input type="text" id="note" name="note" required;
                    div { button type="submit" { "Update request" } a.button.secondary href="/scan?mode=dispatch" { "Dispatch by scanning" } }
                }
            } @else if r.open {
                form.card method="post" action={"/desk/" (id) "/state"} {
                    input type="hidden" name="csrf" value=(user.csrf);
                    input type="hidden" name="state" value="cancelled";
                    label for="note" { "No longer needed? Say why" }
                    input type="text" id="note" name="note" required;
                    div { button.secondary type="submit" { "Cancel this request" } }
                }
            }
            h2 { "History" }
            ol.timeline {
                @for h in &r.history {
                    li { time datetime=(h.at) { (time_text(&h.at)) } " - " (state_text(&h.state))
                        @if let Some(l) = &h.location { " at " (l) }
                        " - " (h.note) " (" (h.actor) ")" }
                }
            }
        },
    ))
}

pub async fn set_state(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::RequestNotes)?;
    let state = param(&f, "state").unwrap_or_default().to_string();
    // Anyone who may ask for notes may cancel; only the library locates and pulls them.
    if state.parse() != Ok(RequestState::Cancelled) {
        user.who.require(Permission::EditRecords)?;
    }
    let note = param(&f, "note")
        .map(String::from)
        .or_else(|| {
            (state.parse() == Ok(RequestState::Pulled))
                .then(|| "pulled at the library desk".to_string())
        })
        .ok_or_else(|| Error::invalid("note", "say why"))?;
    let holder = param(&f, "holder").map(String::from);
    let who = user.who.clone();
    let st = state.clone();
    s.db.write(move |c| requests::set_state(c, &who, id, &st, holder.as_deref(), &note))
        .await?;
    let back = if param(&f, "back") == Some("desk") {
        "/desk".to_string()
    } else {
        format!("/requests/{id}")
    };
    Ok(Redirect::to(&format!("{back}?done={state}&r={id}")).into_response())
}

// ---------- the library desk ----------

/// One queue row. Also served alone to the live page when a request arrives.
fn desk_row(r: &RequestView, csrf: &str) -> Markup {
    let class = if r.overdue { "overdue" } else { "" };
    html! {
        tr id={"req-" (r.id)} class=(class) data-due=(r.needed_by) data-id=(r.id) {
            td {
                time datetime=(r.needed_by) { (time_text(&r.needed_by)) }
                span.overdue-tag { " " span.tag.bad { "overdue" } }
            }
            td { (urgency_tag(&r.urgency)) }
            td {
                @if let Some(p) = &r.patient { strong { (p.family_name.to_uppercase()) ", " (p.given_name) } br; "CHI " (p.chi.as_deref().unwrap_or("none")) }
                @else { "patient " (r.patient_id) }
            }
            td { (folders_cell(r)) @if let Some(h) = &r.holder_location { "Fetch from " strong { (h.name) } } }
            td { (r.destination.name) br; span.hint { (r.reason) } }
            td.state {
                (state_text(&r.state))
                div.row-actions {
                    a href={"/requests/" (r.id)} aria-label={"Open request " (r.id)} { "Open" }
                    @if matches!(r.state, RequestState::Requested | RequestState::Located) {
                        form.inline method="post" action={"/desk/" (r.id) "/state"} {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="state" value="pulled";
                            input type="hidden" name="back" value="desk";
                            button.small type="submit" aria-label={"Mark request " (r.id) " pulled"} { "Pulled" }
                        }
                    }
                }
            }
        }
    }
}

fn desk_user(user: &WebUser) -> Result<(), WebError> {
    user.who.require(Permission::RequestNotes)?;
    user.who.require(Permission::EditRecords)?;
    Ok(())
}

pub async fn desk(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    desk_user(&user)?;
    let with_patient = user.who.can(Permission::ReadPatient);
    let list =
        s.db.read(move |c| requests::queue(c, with_patient, 500))
            .await?;
    if with_patient && !list.is_empty() {
        audit_read(
            &s,
            &user.who,
            "desk.queue",
            list.iter().map(|r| (Some(r.patient_id), None)).collect(),
            "library desk queue (web)".into(),
        )
        .await?;
    }
    let overdue = list.iter().filter(|r| r.overdue).count();
    Ok(layout(
        &user,
        "/desk",
        "Library desk: requests",
        html! {
            (done_message(&q))
            p {
                span id="desk-count" { (list.len()) } " open request(s), "
                span id="desk-overdue" { (overdue) } " overdue. "
                span id="live" class="tag info" { "Connecting to live updates..." }
            }
            p.hint { "New requests appear here by themselves; overdue ones turn red. To dispatch, use "
                a href="/scan?mode=dispatch" { "the dispatch scanning page" } "." }
            div id="announce" class="visually-hidden" role="status" aria-live="polite" {}
            div.table-wrap {
                table id="desk-queue" {
                    caption.visually-hidden { "Open requests, earliest needed first" }
                    thead { tr { th { "Needed by" } th { "Urgency" } th { "Patient" } th { "Volumes" } th { "To" } th { "State" } } }
                    tbody { @for r in &list { (desk_row(r, &user.csrf)) } }
                }
            }
            script src="/static/desk.js" defer {}
        },
    ))
}

/// `GET /web/desk/rows/{id}`: one row of the queue, rendered (and escaped) by the server.
pub async fn desk_row_fragment(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    desk_user(&user)?;
    let with_patient = user.who.can(Permission::ReadPatient);
    let r =
        s.db.read(move |c| requests::get(c, id, with_patient))
            .await?;
    if with_patient {
        audit_read(
            &s,
            &user.who,
            "request.read",
            vec![(Some(r.patient_id), None)],
            format!("request {id} (live desk)"),
        )
        .await?;
    }
    Ok((
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        desk_row(&r, &user.csrf),
    )
        .into_response())
}

/// `GET /web/desk/stream`: the live desk events for a signed-in desk user.
pub async fn desk_stream(State(s): State<AppState>, user: WebUser) -> Result<Response, WebError> {
    desk_user(&user)?;
    Ok(crate::app::live::desk_stream(&s, user.who).await?)
}
