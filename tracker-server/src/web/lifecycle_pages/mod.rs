//! The records manager's lifecycle pages: the coding queue, scanning-bureau batches, retention
//! and destruction, and GP queries and subject access requests. Each page calls the same
//! `lifecycle` use cases as the JSON API (`http::lifecycle_api`), with the same role rules and
//! audit rows; a refusal is shown on the page, naming the field in words.

mod coding;
mod digitisation;
mod external_requests;
mod retention;
pub(crate) use coding::*;
pub(crate) use digitisation::*;
pub(crate) use external_requests::*;
pub(crate) use retention::*;

use super::pages::{audit_read, param, time_text, Params};
use super::{layout, WebError, WebUser};
use crate::{app::AppState, auth::Permission, error::ErrorKind, Error};
use axum::{
    extract::{Form, Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use chrono::NaiveDate;
use maud::{html, Markup};

/// A message at the top of a page: `Ok` after an action, `Problem` when it was refused.
pub(super) enum Note {
    Ok(String),
    Problem(String),
}

fn note_box(n: &Option<Note>) -> Markup {
    html! {
        @match n {
            Some(Note::Ok(t)) => div.card.ok id="result" role="status" { p { (t) } },
            Some(Note::Problem(t)) => div.error-summary id="result" role="alert" { h2 { "There is a problem" } p { (t) } },
            None => {},
        }
    }
}

/// The words people see for a field the domain names by its key (`received_on`, `folders[2]`).
pub(super) fn field_label(field: &str) -> String {
    if let Some((name, rest)) = field.split_once('[') {
        let n: usize = rest.trim_end_matches(']').parse().unwrap_or(0);
        let what = match name {
            "folders" => "Folder barcodes",
            "diagnoses" => "Diagnoses",
            "procedures" => "Procedures",
            other => other,
        };
        return format!("{what}, line {}", n + 1);
    }
    if let Some(n) = field.strip_prefix("line ") {
        return format!("Codes, line {n}");
    }
    match field {
        "patient" => "Patient (CHI or NHS number)",
        "received_on" => "Date received",
        "requester" => "Who asked",
        "kind" => "Type of request",
        "months" => "Extra months",
        "reason" => "Reason",
        "note" => "Note",
        "status" => "Status",
        "id" => "Request",
        "folder" | "barcode" => "Folder barcode",
        "folders" => "Folder barcodes",
        "bureau" => "Scanning bureau",
        "result" => "QA result",
        "disposition" => "What happens to the paper",
        "diagnoses" => "Diagnoses",
        "procedures" => "Procedures",
        "admitted_at" => "Admitted",
        "discharged_at" => "Discharged",
        "encounter" => "Encounter number",
        "date_of_death" => "Date of death",
        "as_of" => "Due on or before",
        "decision" => "Decision",
        "scheme" => "Classification",
        other => return other.replace('_', " "),
    }
    .to_string()
}

/// A refusal the person can act on, in words, with its status; `Err` for the server's faults.
pub(super) fn refusal(e: Error) -> Result<(StatusCode, Note), WebError> {
    let kind = e.kind();
    let text = match &e {
        Error::Invalid { field, message } => format!("{}: {message}", field_label(field)),
        Error::Conflict { field, message } => format!("{}: {message}", field_label(field)),
        Error::Forbidden { .. } | Error::NotFound { .. } => {
            let m = e.to_string();
            let mut c = m.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
        _ => return Err(e.into()),
    };
    if kind == ErrorKind::Internal {
        return Err(e.into());
    }
    Ok((kind.status(), Note::Problem(text)))
}

/// A `type=date` value (`YYYY-MM-DD`), naming the field when it is not one.
pub(super) fn date_field(f: &Params, field: &str) -> crate::Result<Option<NaiveDate>> {
    param(f, field)
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| Error::invalid(field, "must be a real date written YYYY-MM-DD"))
        })
        .transpose()
}

/// A `datetime-local` value (the site's local time) as RFC 3339, naming the field.
pub(super) fn local_time_field(f: &Params, field: &str) -> crate::Result<Option<String>> {
    let Some(v) = param(f, field) else {
        return Ok(None);
    };
    let naive = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| Error::invalid(field, "enter a date and time"))?;
    naive
        .and_local_timezone(crate::util::site_tz())
        .earliest()
        .map(|t| Some(t.to_rfc3339()))
        .ok_or_else(|| {
            Error::invalid(
                field,
                "that local time does not exist (the clocks went forward)",
            )
        })
}

/// After an action: back to `path` with the outcome, as a fixed sentence chosen by `done`.
pub(super) fn done(path: &str, done: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}done={done}")).into_response()
}

/// Every word of a status, spaced: `in_progress` -> `in progress`.
pub(super) fn words(s: &str) -> String {
    s.replace('_', " ")
}

/// A page with an optional outcome note, given as a status and markup.
pub(super) fn page_with(status: StatusCode, m: Markup) -> Response {
    (status, m).into_response()
}
