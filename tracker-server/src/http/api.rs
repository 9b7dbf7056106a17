//! JSON API handlers (v1). Each handler: authorise, call the domain layer, audit, answer.

use super::{audit_reads, query_i64, ApiError, ApiJson, ApiResult, AppState, Caller};
use crate::{
    app::{search, session, users},
    audit,
    auth::{self, Permission, Principal, Role},
    ledger::devices,
    ledger::folders,
    ledger::locations,
    ledger::movements,
    ledger::patients,
    util::now_ms,
    workflow::whereis,
    Error,
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, post, put},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/api/v1/openapi.json", get(super::openapi::serve))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/users", post(create_user).get(list_users))
        .route("/api/v1/users/{username}/disable", post(disable_user))
        .route("/api/v1/users/{username}/enable", post(enable_user))
        .route("/api/v1/users/{username}/password", post(reset_password))
        .route("/api/v1/users/{username}/role", put(set_role))
        .route("/api/v1/tokens", post(create_token).get(list_tokens))
        .route("/api/v1/tokens/{name}/revoke", post(revoke_token))
        .route(
            "/api/v1/staff-badges",
            post(register_badge).get(list_badges),
        )
        .route(
            "/api/v1/patients",
            post(create_patient).get(search_patients),
        )
        .route("/api/v1/patients/merge", post(merge_patients))
        .route("/api/v1/patients/{id}", get(get_patient))
        .route("/api/v1/folders", post(create_folder))
        .route("/api/v1/folders/{barcode}/status", put(set_folder_status))
        .route(
            "/api/v1/locations",
            get(list_locations).post(create_location),
        )
        .route("/api/v1/locations/{code}/folders", get(folders_at_location))
        .route(
            "/api/v1/locations/{code}/preparation-area",
            put(set_preparation_area),
        )
        .route("/api/v1/events", post(ingest_events))
        .route("/api/v1/whereis/folder/{barcode}", get(whereis_folder))
        .route("/api/v1/whereis/patient/{id}", get(whereis_patient))
        .route("/api/v1/whereis/search", get(whereis_search))
        .route("/api/v1/reports/out-of-library", get(out_of_library))
        .route("/api/v1/devices", get(list_devices))
        .route("/api/v1/devices/heartbeat", post(device_heartbeat))
        .route("/api/v1/audit", get(read_audit))
        .merge(super::print::routes())
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_endpoint",
        None,
        "no such endpoint; see /api/v1/openapi.json",
    )
}

async fn health(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    s.db.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await?;
    // No patient data: counts and times only, so that an engineer can see whether requests
    // wait for the single writer (README, Troubleshooting).
    Ok(Json(
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "writer": s.db.write_stats()}),
    ))
}

/// Write audit rows for a read of patient data; the answer is only sent once this succeeds.

// ---------- sign-in ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

async fn login(
    State(s): State<AppState>,
    session::ClientAddr(addr): session::ClientAddr,
    ApiJson(l): ApiJson<Login>,
) -> ApiResult<Json<Value>> {
    let (token, role, expires) = session::sign_in(&s, &l.username, &l.password, addr).await?;
    Ok(Json(
        json!({"token": token, "role": role, "expires_at": crate::util::ms_to_rfc3339(expires)}),
    ))
}

async fn logout(
    State(s): State<AppState>,
    Caller(who): Caller,
    headers: axum::http::HeaderMap,
) -> ApiResult<StatusCode> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    s.db.write(move |c| {
        auth::delete_session(c, &token)?;
        audit::record(c, &who, "auth.logout", None, None, "signed out")
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(Caller(who): Caller) -> Json<Principal> {
    Json(who)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    display_name: String,
    role: String,
    password: String,
}

async fn create_user(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new = users::NewUser {
        role: Role::parse(&n.role)?,
        username: n.username,
        display_name: n.display_name,
        password: n.password,
    };
    let id = users::add_user(&s.db, &who, new).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: String,
    /// Device ids this token may send as (a bridge's scanners and portals). Empty: bound to
    /// each device id on its first use.
    #[serde(default)]
    devices: Vec<String>,
}

async fn create_token(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    who.require(Permission::ManageUsers)?;
    let role = Role::parse(&n.role)?;
    let token = auth::new_token("ct_");
    let t = token.clone();
    let name = n.name.clone();
    s.db.write(move |c| {
        auth::insert_api_token(c, &n.name, role, &t)?;
        crate::ledger::device_bindings::bind(c, &n.name, &n.devices)?;
        audit::record(
            c,
            &who,
            "token.create",
            None,
            None,
            &format!(
                "token {} as {}{}",
                n.name,
                role.as_str(),
                if n.devices.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", n.devices.join(", "))
                }
            ),
        )
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": name, "role": role, "token": token})),
    ))
}

async fn list_users(State(s): State<AppState>, Caller(who): Caller) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageUsers)?;
    let list = s.db.read(auth::list_users).await?;
    Ok(Json(json!({"users": list})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: String,
}

async fn account(
    s: &AppState,
    who: &Principal,
    username: &str,
    change: users::AccountChange,
) -> ApiResult<Json<Value>> {
    let done = change.describe();
    users::change_account(&s.db, who, username, change).await?;
    Ok(Json(json!({"username": username, "done": done})))
}

async fn disable_user(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(username): Path<String>,
    ApiJson(b): ApiJson<Reason>,
) -> ApiResult<Json<Value>> {
    let change = users::AccountChange::Disable { reason: b.reason };
    account(&s, &who, &username, change).await
}

async fn enable_user(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(username): Path<String>,
) -> ApiResult<Json<Value>> {
    account(&s, &who, &username, users::AccountChange::Enable).await
}

async fn reset_password(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(username): Path<String>,
    ApiJson(b): ApiJson<NewPassword>,
) -> ApiResult<Json<Value>> {
    let change = users::AccountChange::ResetPassword {
        password: b.password,
    };
    account(&s, &who, &username, change).await
}

async fn set_role(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(username): Path<String>,
    ApiJson(b): ApiJson<RoleChange>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageUsers)?;
    let role = Role::parse(&b.role)?;
    account(&s, &who, &username, users::AccountChange::SetRole { role }).await
}

async fn list_tokens(State(s): State<AppState>, Caller(who): Caller) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageUsers)?;
    let list = s.db.read(users::list_tokens).await?;
    Ok(Json(json!({"tokens": list})))
}

async fn revoke_token(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<Reason>,
) -> ApiResult<Json<Value>> {
    users::revoke_token(&s.db, &who, &name, &b.reason).await?;
    Ok(Json(json!({"name": name, "revoked": true})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBadge {
    badge: String,
    name: String,
}

async fn register_badge(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<NewBadge>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    who.require(Permission::PrintLabels)?;
    s.db.write(move |c| {
        crate::ledger::staff::register(c, &b.badge, &b.name)?;
        audit::record(
            c,
            &who,
            "badge.register",
            None,
            None,
            &format!(
                "staff badge {} for {}",
                b.badge.trim().to_ascii_uppercase(),
                b.name.trim()
            ),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"registered": true}))))
}

async fn list_badges(State(s): State<AppState>, Caller(who): Caller) -> ApiResult<Json<Value>> {
    who.require(Permission::PrintLabels)?;
    let list = s.db.read(crate::ledger::staff::list).await?;
    Ok(Json(json!({"badges": list})))
}

// ---------- patients ----------

async fn create_patient(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<patients::NewPatient>,
) -> ApiResult<(StatusCode, Json<patients::Patient>)> {
    who.require(Permission::EditRecords)?;
    patients::validate(&n)?;
    let p =
        s.db.write(move |c| {
            let p = patients::insert(c, &n)?;
            audit::record(c, &who, "patient.create", Some(p.id), None, "registered")?;
            Ok(p)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(p)))
}

async fn search_patients(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<patients::Patient>>> {
    who.require(Permission::ReadPatient)?;
    let name = q
        .get("name")
        .cloned()
        .ok_or_else(|| Error::invalid("name", "is required"))?;
    let dob = q.get("dob").cloned();
    let limit = query_i64(&q, "limit", 50, 1..=500)?;
    let found =
        s.db.read(move |c| patients::search(c, &name, dob.as_deref(), limit))
            .await?;
    audit_reads(
        &s,
        &who,
        "patient.search",
        found.iter().map(|p| (Some(p.id), None)).collect(),
        "name search".into(),
    )
    .await?;
    Ok(Json(found))
}

async fn get_patient(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ReadPatient)?;
    let (p, f) =
        s.db.read(move |c| {
            let p = patients::find_by_identifier(c, "id", &id)?;
            let f = folders::for_patient(c, p.id)?;
            Ok((p, f))
        })
        .await?;
    audit_reads(
        &s,
        &who,
        "patient.read",
        vec![(Some(p.id), None)],
        "patient record".into(),
    )
    .await?;
    Ok(Json(json!({"patient": p, "folders": f})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Merge {
    retired: String,
    survivor: String,
    reason: String,
}

async fn merge_patients(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(m): ApiJson<Merge>,
) -> ApiResult<Json<patients::MergeOutcome>> {
    who.require(Permission::MergePatients)?;
    let out =
        s.db.write(move |c| {
            crate::workflow::requests::merge_patients(c, &who, &m.retired, &m.survivor, &m.reason)
        })
        .await?;
    Ok(Json(out))
}

// ---------- folders ----------

async fn create_folder(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<folders::NewFolder>,
) -> ApiResult<(StatusCode, Json<folders::Folder>)> {
    who.require(Permission::EditRecords)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let f =
        s.db.write(move |c| {
            let p = patients::find_by_identifier(c, "patient", &n.patient)?;
            if p.merged_into.is_some() {
                return Err(Error::invalid(
                    "patient",
                    "was merged into another patient; register the folder there",
                ));
            }
            let f = folders::create(c, &scheme, p.id, &n)?;
            audit::record(
                c,
                &who,
                "folder.create",
                Some(p.id),
                Some(f.id),
                &format!("{} volume {}", f.folder_type, f.volume),
            )?;
            Ok(f)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(f)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
    reason: String,
}

async fn set_folder_status(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    ApiJson(b): ApiJson<StatusChange>,
) -> ApiResult<Json<folders::Folder>> {
    who.require(Permission::EditRecords)?;
    if b.reason.trim().is_empty() {
        return Err(Error::invalid("reason", "say why the status changes").into());
    }
    let scheme = s.cfg.identifiers.folder.clone();
    let f =
        s.db.write(move |c| {
            let f = folders::by_barcode(c, &scheme, &barcode)?;
            let f = folders::set_status(c, f.id, &b.status)?;
            audit::record(
                c,
                &who,
                "folder.status",
                Some(f.patient_id),
                Some(f.id),
                &format!("status {}: {}", b.status, b.reason.trim()),
            )?;
            Ok(f)
        })
        .await?;
    Ok(Json(f))
}

// ---------- locations ----------

async fn list_locations(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<Vec<locations::Location>>> {
    who.require(Permission::LocateFolders)?;
    Ok(Json(s.db.read(locations::list).await?))
}

async fn create_location(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<locations::NewLocation>,
) -> ApiResult<(StatusCode, Json<locations::Location>)> {
    who.require(Permission::ManageLocations)?;
    let prefix = s.cfg.identifiers.location_prefix.clone();
    let l =
        s.db.write(move |c| {
            let l = locations::create(c, &n, &prefix)?;
            audit::record(c, &who, "location.create", None, None, &l.code)?;
            Ok(l)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(l)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreparationArea {
    /// Code of the clinic's preparation area; null or empty removes it.
    preparation_area: Option<String>,
}

async fn set_preparation_area(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<PreparationArea>,
) -> ApiResult<Json<locations::Location>> {
    who.require(Permission::ManageLocations)?;
    let l =
        s.db.write(move |c| {
            let l = locations::set_preparation_area(c, &code, b.preparation_area.as_deref())?;
            audit::record(
                c,
                &who,
                "location.preparation_area",
                None,
                None,
                &format!(
                    "{}: preparation area {}",
                    l.code,
                    l.preparation_area.as_deref().unwrap_or("none")
                ),
            )?;
            Ok(l)
        })
        .await?;
    Ok(Json(l))
}

async fn folders_at_location(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(code): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::LocateFolders)?;
    let limit = query_i64(&q, "limit", 1000, 1..=10_000)?;
    let (loc, list) =
        s.db.read(move |c| {
            let l = locations::resolve(c, &code)?
                .ok_or_else(|| Error::not_found(format!("location {code}")))?;
            let f = folders::at_location(c, l.id, limit)?;
            Ok((l, f))
        })
        .await?;
    let mut v = json!({"location": loc, "count": list.len(), "folders": list});
    if !who.can(Permission::ReadPatient) {
        whereis::redact_for_porters(&mut v);
    }
    Ok(Json(v))
}

// ---------- events ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    events: Vec<Value>,
}

async fn ingest_events(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<Batch>,
) -> ApiResult<Json<movements::BatchResult>> {
    who.require(Permission::IngestEvents)?;
    if b.events.len() > movements::MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            Some("events".into()),
            format!("at most {} events per request", movements::MAX_BATCH),
        ));
    }
    if b.events.is_empty() {
        return Err(Error::invalid("events", "is empty").into());
    }
    let out = crate::workflow::scans::ingest_batch(
        &s.db,
        &s.cfg.identifiers,
        s.cfg.server.max_clock_skew_secs,
        who,
        b.events,
    )
    .await?;
    Ok(Json(out))
}

// ---------- where is ----------

async fn whereis_folder(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let w = search::folder(&s, &who, barcode).await?;
    if who.can(Permission::ReadPatient) {
        // written straight out: building the JSON tree first cost a few per cent of a lookup
        return Ok(Json(w).into_response());
    }
    let mut v = serde_json::to_value(w).map_err(|e| Error::internal_from("where-is answer", e))?;
    whereis::redact_for_porters(&mut v);
    Ok(Json(v).into_response())
}

async fn whereis_patient(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (p, list) = search::patient(&s, &who, "id", id, false).await?;
    Ok(Json(json!({"patient": p, "folders": list})))
}

async fn whereis_search(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ReadPatient)?;
    let name = q
        .get("name")
        .cloned()
        .ok_or_else(|| Error::invalid("name", "is required"))?;
    let dob = q
        .get("dob")
        .cloned()
        .ok_or_else(|| Error::invalid("dob", "is required (YYYY-MM-DD) with a name search"))?;
    let found = search::by_name(&s, &who, name, dob, false).await?;
    let matches: Vec<Value> = found
        .into_iter()
        .map(|(p, w)| json!({"patient": p, "folders": w}))
        .collect();
    Ok(Json(json!({"matches": matches})))
}

async fn out_of_library(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ReadReports)?;
    let days = query_i64(&q, "days", s.cfg.reports.out_of_library_days, 0..=3650)?;
    let limit = query_i64(&q, "limit", 1000, 1..=100_000)?;
    let list =
        s.db.read(move |c| folders::out_of_library(c, days, now_ms(), limit))
            .await?;
    Ok(Json(
        json!({"days": days, "count": list.len(), "folders": list}),
    ))
}

// ---------- devices ----------

async fn device_heartbeat(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(h): ApiJson<devices::Heartbeat>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ReportDeviceHealth)?;
    devices::validate(&h)?;
    s.db.write(move |c| devices::record(c, &h, now_ms()))
        .await?;
    Ok(Json(json!({"ok": true})))
}

async fn list_devices(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<Vec<devices::DeviceStatus>>> {
    who.require(Permission::ReadReports)?;
    let cfg = s.cfg.device_health.clone();
    let tz = crate::util::site_tz();
    Ok(Json(
        s.db.read(move |c| devices::list(c, &cfg, now_ms(), tz))
            .await?,
    ))
}

// ---------- audit ----------

async fn read_audit(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<audit::AuditRow>>> {
    who.require(Permission::ReadAudit)?;
    let limit = query_i64(&q, "limit", 100, 1..=10_000)?;
    let patient = q.get("patient").cloned();
    let (pid, rows) =
        s.db.read(move |c| {
            let pid = match patient {
                Some(id) => Some(patients::find_by_identifier(c, "patient", &id)?.id),
                None => None,
            };
            Ok((pid, audit::list(c, pid, limit)?))
        })
        .await?;
    if pid.is_some() {
        audit_reads(
            &s,
            &who,
            "audit.read",
            vec![(pid, None)],
            "audit trail of a patient".into(),
        )
        .await?;
    }
    Ok(Json(rows))
}
