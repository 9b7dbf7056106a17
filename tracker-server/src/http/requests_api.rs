//! Handlers for requests, the live desk view, clinic sessions and appointments, pull lists,
//! HL7 messages recorded by staff, and missing notes. Same style as [`super::api`]:
//! authorise, call the domain layer in one transaction with its audit rows, answer.

use super::{ApiJson, ApiResult, AppState, Caller};
use crate::{
    audit,
    auth::{Permission, Principal},
    hl7::adt,
    workflow::appointments,
    workflow::missing,
    workflow::pulllists,
    workflow::requests,
    Error,
};
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/requests", post(create_request))
        .route("/api/v1/requests/{id}", get(get_request))
        .route("/api/v1/requests/{id}/state", put(set_request_state))
        .route("/api/v1/requests/{id}/reroute", post(reroute_request))
        .route("/api/v1/desk/queue", get(desk_queue))
        .route("/api/v1/desk/stream", get(desk_stream))
        .route(
            "/api/v1/clinic-sessions",
            post(create_session).get(list_sessions),
        )
        .route("/api/v1/appointments", post(book_appointment))
        .route(
            "/api/v1/appointments/{id}",
            get(get_appointment).put(reschedule_appointment),
        )
        .route("/api/v1/appointments/{id}/cancel", post(cancel_appointment))
        .route("/api/v1/appointments/{id}/no-show", post(no_show))
        .route("/api/v1/pull-lists", get(pull_list))
        .route("/api/v1/pull-lists/requests", post(pull_list_requests))
        .route(
            "/api/v1/reports/clinic-availability",
            get(clinic_availability),
        )
        .route("/api/v1/hl7/messages", post(hl7_message))
        .route(
            "/api/v1/folders/{barcode}/missing",
            post(report_missing).get(missing_case),
        )
        .route(
            "/api/v1/folders/{barcode}/missing/escalate",
            post(escalate_missing),
        )
        .route(
            "/api/v1/folders/{barcode}/missing/temporary",
            post(temporary_folder),
        )
        .route(
            "/api/v1/folders/{barcode}/missing/found",
            post(found_missing),
        )
}

async fn audit_read(
    s: &AppState,
    who: &Principal,
    action: &'static str,
    patients: Vec<i64>,
    detail: String,
) -> ApiResult<()> {
    let who = who.clone();
    s.db.write(move |c| {
        let mut seen = std::collections::HashSet::new();
        for p in patients {
            if seen.insert(p) {
                audit::record(c, &who, action, Some(p), None, &detail)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(())
}

// ---------- requests ----------

async fn create_request(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<requests::NewRequest>,
) -> ApiResult<(StatusCode, Json<requests::RequestView>)> {
    who.require(Permission::RequestNotes)?;
    let cfg = s.cfg.clone();
    let with_patient = who.can(Permission::ReadPatient);
    let (view, ev, merged) =
        s.db.write(move |c| {
            let made =
                requests::create_from_api(c, &who, &cfg.requests, &cfg.identifiers.folder, &n)?;
            let kind = if made.merged {
                "request.changed"
            } else {
                "request.new"
            };
            Ok((
                requests::get(c, made.id, with_patient)?,
                requests::desk_event(c, kind, made.id)?,
                made.merged,
            ))
        })
        .await?;
    s.desk.publish([ev]);
    // A request for notes already requested to the same place is merged into the open one,
    // which is answered (200) instead of a new one (201).
    let status = if merged {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view)))
}

async fn get_request(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<requests::RequestView>> {
    who.require(Permission::RequestNotes)?;
    let with_patient = who.can(Permission::ReadPatient);
    let v =
        s.db.read(move |c| requests::get(c, id, with_patient))
            .await?;
    audit_read(
        &s,
        &who,
        "request.read",
        vec![v.patient_id],
        format!("request {id}"),
    )
    .await?;
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateChange {
    state: String,
    #[serde(default)]
    holder_location: Option<String>,
    note: String,
}

async fn set_request_state(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<StateChange>,
) -> ApiResult<Json<requests::RequestView>> {
    who.require(Permission::RequestNotes)?;
    if b.state.parse() != Ok(requests::RequestState::Cancelled) {
        // Only the library locates and pulls notes.
        who.require(Permission::EditRecords)?;
    }
    if b.note.trim().is_empty() {
        return Err(Error::invalid("note", "say why").into());
    }
    let v =
        s.db.write(move |c| {
            requests::set_state(c, &who, id, &b.state, b.holder_location.as_deref(), &b.note)?;
            requests::get(c, id, true)
        })
        .await?;
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reroute {
    destination: String,
    note: String,
}

async fn reroute_request(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<Reroute>,
) -> ApiResult<Json<requests::RequestView>> {
    who.require(Permission::RequestNotes)?;
    let (v, ev) =
        s.db.write(move |c| {
            let dest =
                crate::ledger::locations::resolve_id(c, &b.destination)?.ok_or_else(|| {
                    Error::invalid(
                        "destination",
                        format!("no location with code {:?}", b.destination),
                    )
                })?;
            requests::reroute(c, &who, id, dest, b.note.trim())?;
            Ok((
                requests::get(c, id, true)?,
                requests::desk_event(c, "request.rerouted", id)?,
            ))
        })
        .await?;
    s.desk.publish([ev]);
    Ok(Json(v))
}

async fn desk_queue(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::RequestNotes)?;
    let with_patient = who.can(Permission::ReadPatient);
    let limit = q
        .get("limit")
        .map(|l| {
            l.parse::<i64>()
                .ok()
                .filter(|n| (1..=5000).contains(n))
                .ok_or_else(|| Error::invalid("limit", "must be 1-5000"))
        })
        .transpose()?
        .unwrap_or(500);
    let list =
        s.db.read(move |c| requests::queue(c, with_patient, limit))
            .await?;
    if with_patient {
        audit_read(
            &s,
            &who,
            "desk.queue",
            list.iter().map(|r| r.patient_id).collect(),
            "library desk queue".into(),
        )
        .await?;
    }
    let overdue = list.iter().filter(|r| r.overdue).count();
    Ok(Json(
        json!({"count": list.len(), "overdue": overdue, "requests": list}),
    ))
}

async fn desk_stream(State(s): State<AppState>, Caller(who): Caller) -> ApiResult<Response> {
    who.require(Permission::RequestNotes)?;
    Ok(crate::app::live::desk_stream(&s, who).await?)
}

// ---------- clinic sessions and appointments ----------

async fn create_session(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<appointments::NewSession>,
) -> ApiResult<(StatusCode, Json<appointments::Session>)> {
    who.require(Permission::ManageAppointments)?;
    let v =
        s.db.write(move |c| appointments::create_session(c, &who, &n))
            .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn list_sessions(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<appointments::Session>>> {
    who.require(Permission::ManageAppointments)?;
    let date = appointments::parse_date(
        "date",
        q.get("date")
            .ok_or_else(|| Error::invalid("date", "is required (YYYY-MM-DD)"))?,
    )?;
    Ok(Json(
        s.db.read(move |c| appointments::sessions_on(c, date))
            .await?,
    ))
}

async fn book_appointment(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<appointments::NewAppointment>,
) -> ApiResult<(StatusCode, Json<appointments::Appointment>)> {
    who.require(Permission::ManageAppointments)?;
    let v = s.db.write(move |c| appointments::book(c, &who, &n)).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn get_appointment(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<appointments::Appointment>> {
    who.require(Permission::ManageAppointments)?;
    let a = s.db.read(move |c| appointments::get(c, id)).await?;
    audit_read(
        &s,
        &who,
        "appointment.read",
        vec![a.patient_id],
        format!("appointment {id}"),
    )
    .await?;
    Ok(Json(a))
}

async fn reschedule_appointment(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(r): ApiJson<appointments::Reschedule>,
) -> ApiResult<Json<appointments::Appointment>> {
    who.require(Permission::ManageAppointments)?;
    Ok(Json(
        s.db.write(move |c| appointments::reschedule(c, &who, id, &r))
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    #[serde(default, alias = "reason")]
    note: Option<String>,
}

async fn cancel_appointment(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(n): ApiJson<Note>,
) -> ApiResult<Json<appointments::Appointment>> {
    who.require(Permission::ManageAppointments)?;
    let note = n.note.unwrap_or_else(|| "cancelled".into());
    Ok(Json(
        s.db.write(move |c| appointments::set_status(c, &who, id, "cancelled", &note))
            .await?,
    ))
}

async fn no_show(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(n): ApiJson<Note>,
) -> ApiResult<Json<appointments::Appointment>> {
    who.require(Permission::ManageAppointments)?;
    let note = n.note.unwrap_or_else(|| "did not attend".into());
    Ok(Json(
        s.db.write(move |c| appointments::set_status(c, &who, id, "no_show", &note))
            .await?,
    ))
}

// ---------- pull lists ----------

fn list_date(s: &AppState, q: &HashMap<String, String>) -> ApiResult<chrono::NaiveDate> {
    Ok(match q.get("date") {
        Some(d) => appointments::parse_date("date", d)?,
        None => pulllists::default_date(&s.cfg.requests),
    })
}

async fn pull_list(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    who.require(Permission::ManageAppointments)?;
    who.require(Permission::ReadPatient)?;
    let date = list_date(&s, &q)?;
    let clinic = q.get("clinic").cloned();
    let format = q.get("format").map(String::as_str).unwrap_or("json");
    if !matches!(format, "json" | "csv" | "pdf") {
        return Err(Error::invalid("format", "must be json, csv or pdf").into());
    }
    let list =
        s.db.read(move |c| pulllists::build(c, date, clinic.as_deref()))
            .await?;
    audit_read(
        &s,
        &who,
        "pull_list.read",
        list.items.iter().map(|i| i.patient_id).collect(),
        format!("pull list {} ({format})", list.date),
    )
    .await?;
    let name = format!("pull-list-{}", list.date);
    Ok(match format {
        "csv" => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.csv\""),
                ),
            ],
            pulllists::to_csv(&list)?,
        )
            .into_response(),
        "pdf" => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"{name}.pdf\""),
                ),
            ],
            pulllists::to_pdf(&list),
        )
            .into_response(),
        _ => Json(list).into_response(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RaiseRequests {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    clinic: Option<String>,
}

async fn pull_list_requests(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<RaiseRequests>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageAppointments)?;
    let mut q = HashMap::new();
    if let Some(d) = b.date {
        q.insert("date".to_string(), d);
    }
    let date = list_date(&s, &q)?;
    let ids = crate::app::pull_lists::raise_requests(&s, &who, date, b.clinic).await?;
    Ok(Json(
        json!({"date": date.to_string(), "created": ids.len(), "request_ids": ids}),
    ))
}

/// Case-note availability per clinic session (the statistics' definition, see
/// [`crate::reports::availability`]).
async fn clinic_availability(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<crate::reports::availability::Availability>> {
    who.require(Permission::ReadReports)?;
    let today = crate::util::site_today();
    let from = match q.get("from") {
        Some(d) => appointments::parse_date("from", d)?,
        None => today - chrono::Days::new(30),
    };
    let to = match q.get("to") {
        Some(d) => appointments::parse_date("to", d)?,
        None => today,
    };
    if to < from {
        return Err(Error::invalid("to", "is before from").into());
    }
    Ok(Json(
        s.db.read(move |c| crate::reports::availability::compute(c, from, to))
            .await?,
    ))
}

// ---------- HL7 recorded by staff ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hl7Body {
    /// The HL7 v2 message; segments separated by CR or new lines.
    message: String,
}

async fn hl7_message(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<Hl7Body>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageAppointments)?;
    if b.message.len() > s.cfg.hl7.max_message_bytes {
        return Err(Error::invalid("message", "is larger than hl7.max_message_bytes").into());
    }
    let p = adt::process(&s.db, &s.cfg, b.message.as_bytes(), Some(who)).await;
    let (code, text) = crate::hl7::ack::read(&p.ack).unwrap_or_default();
    s.desk.publish(p.events);
    Ok(Json(json!({
        "ack_code": code,
        "text": text,
        "duplicate": p.duplicate,
        "ack": p.ack,
    })))
}

// ---------- missing notes ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MissingBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    instruction: Option<String>,
}

async fn report_missing(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    ApiJson(b): ApiJson<MissingBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    who.require(Permission::EditRecords)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let v =
        s.db.write(move |c| {
            let case = missing::report(
                c,
                &who,
                &scheme,
                &barcode,
                b.reason.as_deref().unwrap_or(""),
            )?;
            let list = missing::search_list(c, &scheme, &barcode)?;
            Ok(json!({"case": case, "search_list": list}))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn missing_case(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::EditRecords)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let (case, list, pid) =
        s.db.read(move |c| {
            let f = crate::ledger::folders::by_barcode(c, &scheme, &barcode)?;
            Ok((
                missing::case_of(c, &scheme, &barcode)?,
                missing::search_list(c, &scheme, &barcode)?,
                f.patient_id,
            ))
        })
        .await?;
    audit_read(
        &s,
        &who,
        "folder.missing.read",
        vec![pid],
        list.folder.clone(),
    )
    .await?;
    Ok(Json(json!({"case": case, "search_list": list})))
}

async fn escalate_missing(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    ApiJson(b): ApiJson<MissingBody>,
) -> ApiResult<Json<missing::MissingCase>> {
    who.require(Permission::EditRecords)?;
    let scheme = s.cfg.identifiers.folder.clone();
    Ok(Json(
        s.db.write(move |c| {
            missing::escalate(c, &who, &scheme, &barcode, b.note.as_deref().unwrap_or(""))
        })
        .await?,
    ))
}

async fn temporary_folder(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    ApiJson(b): ApiJson<MissingBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    who.require(Permission::ManageMissing)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let (case, folder) =
        s.db.write(move |c| {
            missing::open_temporary(
                c,
                &who,
                &scheme,
                &barcode,
                b.instruction.as_deref().unwrap_or(""),
            )
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"case": case, "temporary_folder": folder})),
    ))
}

async fn found_missing(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    ApiJson(b): ApiJson<MissingBody>,
) -> ApiResult<Json<missing::MissingCase>> {
    who.require(Permission::EditRecords)?;
    let scheme = s.cfg.identifiers.folder.clone();
    Ok(Json(
        s.db.write(move |c| {
            missing::found(c, &who, &scheme, &barcode, b.note.as_deref().unwrap_or(""))
        })
        .await?,
    ))
}
