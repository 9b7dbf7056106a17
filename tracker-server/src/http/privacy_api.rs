//! Privacy monitoring over the API: the Caldicott report, its drill-down and weekly file,
//! patient flags, and users' family names and work locations. Thin handlers over
//! [`crate::app::privacy`] and [`crate::app::users::set_profile`].

use super::{ApiJson, ApiResult, AppState, Caller};
use crate::{
    app::{privacy, users},
    auth::Permission,
    ledger::patient_flags::PatientFlag,
    reports::privacy::{LineKey, Window},
    Error,
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

type Params = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports/privacy", get(report))
        .route("/api/v1/reports/privacy/detail", get(detail))
        .route("/api/v1/reports/privacy/weekly", get(weekly))
        .route("/api/v1/patient-flags", get(list_flags).post(set_flag))
        .route("/api/v1/patient-flags/clear", post(clear_flag))
        .route("/api/v1/users/{username}/profile", put(set_profile))
}

fn window(q: &Params) -> ApiResult<Window> {
    Ok(Window::parse(
        q.get("from").map(String::as_str),
        q.get("to").map(String::as_str),
    )?)
}

async fn report(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ReviewPrivacy)?;
    let w = window(&q)?;
    let r = privacy::report(&s.db, &s.cfg.privacy, &who, w).await?;
    Ok(Json(json!(r)))
}

async fn detail(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ReviewPrivacy)?;
    let w = window(&q)?;
    let key = LineKey::parse(|k| q.get(k).map(String::as_str))?;
    let (line, rows) = privacy::detail(&s.db, &s.cfg.privacy, &who, w, key).await?;
    Ok(Json(json!({"line": line, "audit_rows": rows})))
}

async fn weekly(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Response> {
    who.require(Permission::ReviewPrivacy)?;
    let day = match q.get("week") {
        Some(d) => chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
            .map_err(|_| Error::invalid("week", "must be a date written YYYY-MM-DD"))?,
        None => crate::util::site_today() - chrono::Duration::days(7),
    };
    let pdf = match q.get("format").map(String::as_str) {
        None | Some("csv") => false,
        Some("pdf") => true,
        Some(_) => return Err(Error::invalid("format", "must be csv or pdf").into()),
    };
    let (_, file) = privacy::weekly_file(&s.db, &s.cfg.privacy, &who, day, pdf).await?;
    Ok(file.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlagChange {
    /// CHI or NHS number.
    patient: String,
    flag: PatientFlag,
    reason: String,
}

async fn set_flag(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(f): ApiJson<FlagChange>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let p = privacy::change_flag(&s.db, &who, f.patient, f.flag, true, f.reason).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"patient_id": p.id, "flag": f.flag})),
    ))
}

async fn clear_flag(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(f): ApiJson<FlagChange>,
) -> ApiResult<Json<Value>> {
    let p = privacy::change_flag(&s.db, &who, f.patient, f.flag, false, f.reason).await?;
    Ok(Json(json!({"patient_id": p.id, "cleared": f.flag})))
}

async fn list_flags(State(s): State<AppState>, Caller(who): Caller) -> ApiResult<Json<Value>> {
    let list = privacy::flags(&s.db, &who).await?;
    let v: Vec<Value> = list
        .into_iter()
        .map(|(f, p)| json!({"flag": f, "patient": p}))
        .collect();
    Ok(Json(json!({"flags": v})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    #[serde(default)]
    family_name: Option<String>,
    /// Location codes (or GLNs).
    #[serde(default)]
    locations: Vec<String>,
}

async fn set_profile(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(username): Path<String>,
    ApiJson(p): ApiJson<Profile>,
) -> ApiResult<StatusCode> {
    users::set_profile(&s.db, &who, &username, p.family_name, p.locations).await?;
    Ok(StatusCode::NO_CONTENT)
}
