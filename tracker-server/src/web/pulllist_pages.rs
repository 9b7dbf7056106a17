//! Pull lists on the web: the folders to pull for a clinic date, in shelf order, with a print
//! view (print CSS), CSV and PDF exports, and a button to raise the requests.

use super::pages::{audit_read, param, time_text, Params};
use super::{layout, WebError, WebUser};
use crate::ledger::locations::LocationKind;
use crate::{
    app::AppState, auth::Permission, ledger::locations, workflow::appointments,
    workflow::pulllists, Error,
};
use axum::{
    extract::{Form, Query, State},
    http::header,
    response::{IntoResponse, Redirect, Response},
};
use maud::html;

fn list_date(s: &AppState, q: &Params) -> crate::Result<chrono::NaiveDate> {
    Ok(match param(q, "date") {
        Some(d) => appointments::parse_date("date", d)?,
        None => pulllists::default_date(&s.cfg.requests),
    })
}

fn may(user: &WebUser) -> Result<(), WebError> {
    user.who.require(Permission::ManageAppointments)?;
    user.who.require(Permission::ReadPatient)?;
    Ok(())
}

async fn load(
    s: &AppState,
    user: &WebUser,
    q: &Params,
    how: &str,
) -> Result<pulllists::PullList, WebError> {
    let date = list_date(s, q)?;
    let clinic = param(q, "clinic").map(String::from);
    let list =
        s.db.read(move |c| pulllists::build(c, date, clinic.as_deref()))
            .await?;
    audit_read(
        s,
        &user.who,
        "pull_list.read",
        list.items
            .iter()
            .map(|i| i.patient_id)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|p| (Some(p), None))
            .collect(),
        format!("pull list {} ({how})", list.date),
    )
    .await?;
    Ok(list)
}

pub async fn pull_list(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    may(&user)?;
    let list = load(&s, &user, &q, "web").await?;
    let clinics: Vec<locations::Location> =
        s.db.read(locations::list)
            .await?
            .into_iter()
            .filter(|l| l.kind == LocationKind::Clinic)
            .collect();
    let clinic = param(&q, "clinic").unwrap_or_default().to_string();
    let qs = if clinic.is_empty() {
        format!("date={}", list.date)
    } else {
        format!("date={}&clinic={}", list.date, clinic)
    };
    let raised = param(&q, "raised").and_then(|n| n.parse::<usize>().ok());
    Ok(layout(&user, "/pull-lists", &format!("Pull list for {}", list.date), html! {
        form.card.noprint method="get" action="/pull-lists" {
            div.row {
                div { label for="date" { "Clinic date" } input type="date" id="date" name="date" value=(list.date); }
                div { label for="clinic" { "Clinic" } select id="clinic" name="clinic" {
                    option value="" { "All clinics" }
                    @for c in &clinics { option value=(c.code) selected[c.code == clinic] { (c.name) " (" (c.code) ")" } }
                } }
            }
            div { button type="submit" { "Show list" } }
        }
        @if let Some(n) = raised { div.card.ok role="status" { p { (n) " request(s) raised for the desk." } } }
        p {
            strong { (list.folders) } " folder(s) for " (list.appointments) " appointment(s) in " (list.sessions) " session(s); "
            strong { (list.not_in_library) } " not in the library."
        }
        div.noprint.actions {
            button.secondary type="button" data-print="" { "Print this list" }
            a.button.secondary href={"/pull-lists/export?format=pdf&" (qs)} { "PDF" }
            a.button.secondary href={"/pull-lists/export?format=csv&" (qs)} { "Download CSV" }
            @if !list.items.is_empty() {
                form.inline method="post" action="/pull-lists/requests" {
                    input type="hidden" name="csrf" value=(user.csrf);
                    input type="hidden" name="date" value=(list.date);
                    input type="hidden" name="clinic" value=(clinic);
                    button type="submit" { "Raise requests for these folders" }
                }
            }
        }
        @if !list.no_folder.is_empty() {
            div.error-summary role="alert" {
                h2 { (list.no_folder.len()) " appointment(s) with no folder" }
                ul { @for n in &list.no_folder {
                    li { strong { (n.family_name.to_uppercase()) ", " (n.given_name) } " (CHI " (n.chi.as_deref().unwrap_or("none")) "), " (n.clinic) " " (time_text(&n.slot_start)) ": " (n.action) }
                } }
            }
        }
        @if list.items.is_empty() && list.no_folder.is_empty() { p { "No booked appointments need notes on this date." } }
        @if !list.items.is_empty() {
            div.table-wrap {
                table.pull-list {
                    caption.visually-hidden { "Folders to pull, in shelf order" }
                    thead { tr { th { "Shelf" } th { "Filing no." } th { "Folder" } th { "Patient" } th { "Clinic, time" } th { "Where" } th.print-only { "Pulled" } } }
                    tbody { @for i in &list.items {
                        tr {
                            td { (i.home_location) }
                            td { strong { (i.filing_number.as_deref().unwrap_or("-")) } }
                            td { (i.barcode) br; span.hint { (i.folder_type.replace('_', " ")) " " (i.volume) "/" (i.volume_count) } }
                            td { (i.family_name.to_uppercase()) ", " (i.given_name) br; span.hint { "CHI " (i.chi.as_deref().unwrap_or("none")) } }
                            td { (i.clinic) br; (time_text(&i.slot_start)) }
                            td { @if i.in_library { "library" } @else { span.tag.warn { (i.current_location_name.as_deref().or(i.current_location.as_deref()).unwrap_or("not scanned")) } } }
                            td.print-only { span.tickbox {} }
                        }
                    } }
                }
            }
        }
        script src="/static/app.js" defer {}
    }).into_response())
}

/// `GET /pull-lists/export?format=csv|pdf&date=...`: the same exports as the API, for a
/// signed-in browser.
pub async fn export(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    may(&user)?;
    let format = param(&q, "format").unwrap_or("csv").to_string();
    if !matches!(format.as_str(), "csv" | "pdf") {
        return Err(Error::invalid("format", "must be csv or pdf").into());
    }
    let list = load(&s, &user, &q, &format).await?;
    let name = format!("pull-list-{}", list.date);
    Ok(if format == "csv" {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.csv\""),
                ),
            ],
            pulllists::to_csv(&list)?,
        )
            .into_response()
    } else {
        (
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"{name}.pdf\""),
                ),
            ],
            pulllists::to_pdf(&list),
        )
            .into_response()
    })
}

/// `POST /pull-lists/requests`: raise the desk requests for a day's list.
pub async fn raise_requests(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageAppointments)?;
    let date = list_date(&s, &f)?;
    let clinic = param(&f, "clinic")
        .filter(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric()))
        .map(String::from);
    let ids = crate::app::pull_lists::raise_requests(&s, &user.who, date, clinic.clone()).await?;
    let clinic_q = clinic.map(|c| format!("&clinic={c}")).unwrap_or_default();
    Ok(Redirect::to(&format!(
        "/pull-lists?date={date}{clinic_q}&raised={}",
        ids.len()
    ))
    .into_response())
}
