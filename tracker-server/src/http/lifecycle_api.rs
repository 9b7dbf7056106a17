//! Handlers for the records lifecycle: clinical coding, digitisation, retention and
//! destruction, external requests (SAR, AHRA, queries), statistics and the monthly report.
//! Same style as [`super::api`]: authorise, one transaction with its audit rows, answer.

use super::{audit_reads, ApiError, ApiJson, ApiResult, AppState, Caller};
use crate::{
    audit, auth::Permission, ledger::folders, lifecycle::coding, lifecycle::digitisation,
    lifecycle::external_requests, lifecycle::retention, lifecycle::statistics, util::now_ms, Error,
};
use axum::{
    body::{to_bytes, Body},
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

type Params = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/coding/code-lists/{scheme}", post(load_code_list))
        .route("/api/v1/coding/queue", get(coding_queue))
        .route("/api/v1/coding/backlog", get(coding_backlog))
        .route("/api/v1/coding/episodes", post(create_episode))
        .route("/api/v1/coding/episodes/{id}", get(get_episode))
        .route("/api/v1/coding/episodes/{id}/codes", post(code_episode))
        .route("/api/v1/digitisation/batches", post(create_batch))
        .route("/api/v1/digitisation/batches/{id}", get(get_batch))
        .route(
            "/api/v1/digitisation/batches/{id}/folders/{barcode}/qa",
            post(qa_folder),
        )
        .route(
            "/api/v1/digitisation/batches/{id}/folders/{barcode}/disposition",
            post(dispose_folder),
        )
        .route(
            "/api/v1/folders/{barcode}/documents",
            post(upload_document).get(list_documents),
        )
        .route("/api/v1/documents/{id}", get(view_document))
        .route(
            "/api/v1/documents/by-hash/{sha256}",
            get(view_document_by_hash),
        )
        .route("/api/v1/patients/{id}/death", post(record_death))
        .route("/api/v1/retention/due", get(retention_due))
        .route("/api/v1/retention/rules", get(retention_rules))
        .route("/api/v1/folders/{barcode}/legal-hold", post(place_hold))
        .route(
            "/api/v1/folders/{barcode}/legal-hold/release",
            post(release_hold),
        )
        .route("/api/v1/folders/{barcode}/tombstone", get(get_tombstone))
        .route(
            "/api/v1/retention/destructions",
            post(request_destruction).get(list_destructions),
        )
        .route("/api/v1/retention/destructions/{id}", get(get_destruction))
        .route(
            "/api/v1/retention/destructions/{id}/approve",
            post(approve_destruction),
        )
        .route(
            "/api/v1/retention/destructions/{id}/reject",
            post(reject_destruction),
        )
        .route(
            "/api/v1/retention/destructions/{id}/certificate",
            get(destruction_certificate),
        )
        .route(
            "/api/v1/external-requests",
            post(create_external).get(list_external),
        )
        .route("/api/v1/external-requests/{id}", get(get_external))
        .route(
            "/api/v1/external-requests/{id}/extend",
            post(extend_external),
        )
        .route(
            "/api/v1/external-requests/{id}/status",
            post(status_external),
        )
        .route("/api/v1/statistics", get(get_statistics))
        .route("/api/v1/reports/monthly", get(monthly_report))
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn day_param(q: &Params, k: &str) -> ApiResult<Option<NaiveDate>> {
    q.get(k)
        .map(|d| {
            NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map_err(|_| ApiError::from(Error::invalid(k, "must be a date written YYYY-MM-DD")))
        })
        .transpose()
}

// ---------- coding ----------

async fn load_code_list(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(scheme): Path<String>,
    body: String,
) -> ApiResult<Json<coding::CodeListLoaded>> {
    who.require(Permission::ManageCodeLists)?;
    Ok(Json(
        s.db.write(move |c| coding::load_code_list(c, &who, &scheme, &body))
            .await?,
    ))
}

async fn coding_queue(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::CodeEpisodes)?;
    let cfg = s.cfg.clone();
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let (created, list) =
        s.db.write(move |c| {
            let n = coding::sync_from_adt(c)?;
            let list = coding::queue(
                c,
                &cfg.requests.coding_location,
                &cfg.coding.backlog_weeks,
                as_of,
                5000,
            )?;
            let mut seen = std::collections::HashSet::new();
            for e in &list {
                if seen.insert(e.patient_id) {
                    audit::record(
                        c,
                        &who,
                        "coding.queue",
                        Some(e.patient_id),
                        None,
                        "coding queue",
                    )?;
                }
            }
            Ok((n, list))
        })
        .await?;
    Ok(Json(
        json!({"count": list.len(), "new_from_adt": created, "episodes": list}),
    ))
}

async fn coding_backlog(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Json<coding::Backlog>> {
    who.require(Permission::CodeEpisodes)?;
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let bands = s.cfg.coding.backlog_weeks.clone();
    Ok(Json(
        s.db.write(move |c| {
            coding::sync_from_adt(c)?;
            coding::backlog(c, &bands, as_of)
        })
        .await?,
    ))
}

async fn create_episode(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<coding::NewEpisode>,
) -> ApiResult<(StatusCode, Json<coding::Episode>)> {
    who.require(Permission::CodeEpisodes)?;
    let cfg = s.cfg.clone();
    let e =
        s.db.write(move |c| {
            let id = coding::create_episode(c, &who, &n)?;
            coding::get(
                c,
                &cfg.requests.coding_location,
                &cfg.coding.backlog_weeks,
                id,
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(e)))
}

async fn get_episode(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<coding::Episode>> {
    who.require(Permission::CodeEpisodes)?;
    let cfg = s.cfg.clone();
    let e =
        s.db.read(move |c| {
            coding::get(
                c,
                &cfg.requests.coding_location,
                &cfg.coding.backlog_weeks,
                id,
            )
        })
        .await?;
    audit_reads(
        &s,
        &who,
        "episode.read",
        vec![(Some(e.patient_id), None)],
        format!("episode {id}"),
    )
    .await?;
    Ok(Json(e))
}

async fn code_episode(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(k): ApiJson<coding::Coding>,
) -> ApiResult<Json<coding::Episode>> {
    who.require(Permission::CodeEpisodes)?;
    let cfg = s.cfg.clone();
    Ok(Json(
        s.db.write(move |c| {
            coding::code_episode(c, &who, id, &k)?;
            coding::get(
                c,
                &cfg.requests.coding_location,
                &cfg.coding.backlog_weeks,
                id,
            )
        })
        .await?,
    ))
}

// ---------- digitisation ----------

async fn create_batch(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<digitisation::NewBatch>,
) -> ApiResult<(StatusCode, Json<digitisation::Batch>)> {
    who.require(Permission::ManageDigitisation)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let b =
        s.db.write(move |c| {
            let id = digitisation::create_batch(c, &who, &scheme, &n)?;
            digitisation::get_batch(c, id)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(b)))
}

async fn get_batch(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<digitisation::Batch>> {
    who.require(Permission::ManageDigitisation)?;
    Ok(Json(
        s.db.read(move |c| digitisation::get_batch(c, id)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QaBody {
    result: String,
    #[serde(default)]
    note: Option<String>,
}

async fn qa_folder(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, barcode)): Path<(i64, String)>,
    ApiJson(b): ApiJson<QaBody>,
) -> ApiResult<Json<digitisation::Batch>> {
    who.require(Permission::ManageDigitisation)?;
    let scheme = s.cfg.identifiers.folder.clone();
    Ok(Json(
        s.db.write(move |c| {
            digitisation::qa(
                c,
                &who,
                &scheme,
                id,
                &barcode,
                &b.result,
                b.note.as_deref().unwrap_or(""),
            )?;
            digitisation::get_batch(c, id)
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisposeBody {
    disposition: String,
    #[serde(default)]
    note: Option<String>,
}

async fn dispose_folder(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, barcode)): Path<(i64, String)>,
    ApiJson(b): ApiJson<DisposeBody>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageDigitisation)?;
    if b.disposition == "destroyed" {
        who.require(Permission::ManageRetention)?;
    }
    let scheme = s.cfg.identifiers.folder.clone();
    let cfg = s.cfg.clone();
    let (d, batch) =
        s.db.write(move |c| {
            let d = digitisation::dispose(
                c,
                &who,
                &cfg.digitisation,
                &scheme,
                id,
                &barcode,
                &b.disposition,
                b.note.as_deref().unwrap_or(""),
            )?;
            Ok((d, digitisation::get_batch(c, id)?))
        })
        .await?;
    Ok(Json(json!({"destruction_id": d, "batch": batch})))
}

async fn upload_document(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<digitisation::Document>)> {
    who.require(Permission::ManageDigitisation)?;
    let max = s.cfg.digitisation.max_upload_bytes;
    let bytes = to_bytes(body, max).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            Some("body".into()),
            format!("the document is larger than {max} bytes ([digitisation] max_upload_bytes)"),
        )
    })?;
    let media = digitisation::sniff(&bytes).ok_or_else(|| {
        ApiError::from(Error::invalid(
            "body",
            "is not a PDF or TIFF document (checked by its first bytes)",
        ))
    })?;
    let scheme = s.cfg.identifiers.folder.clone();
    let bc = barcode.clone();
    let folder =
        s.db.read(move |c| folders::by_barcode(c, &scheme, &bc))
            .await?;
    if folder.status == "destroyed" {
        return Err(Error::Conflict("the folder has been destroyed".into()).into());
    }
    let dir = s.cfg.digitisation.storage_dir.clone();
    let len = bytes.len() as i64;
    let sha = tokio::task::spawn_blocking(move || digitisation::store_bytes(&dir, &bytes))
        .await
        .map_err(|e| ApiError::from(Error::from(e)))??;
    let d =
        s.db.write(move |c| digitisation::register_document(c, &who, folder.id, &sha, media, len))
            .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

async fn list_documents(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
) -> ApiResult<Json<Vec<digitisation::Document>>> {
    who.require(Permission::ViewScannedDocuments)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let (f, docs) =
        s.db.read(move |c| {
            let f = folders::by_barcode(c, &scheme, &barcode)?;
            let d = digitisation::documents_of(c, f.id)?;
            Ok((f, d))
        })
        .await?;
    audit_reads(
        &s,
        &who,
        "document.list",
        vec![(Some(f.patient_id), Some(f.id))],
        f.barcode.clone(),
    )
    .await?;
    Ok(Json(docs))
}

async fn serve_document(s: AppState, who: crate::auth::Principal, id: i64) -> ApiResult<Response> {
    let (d, fid, pid) =
        s.db.read(move |c| digitisation::document_for_view(c, id))
            .await?;
    let path = digitisation::path_for(&s.cfg.digitisation.storage_dir, &d.sha256)?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        ApiError::from(Error::internal(format!(
            "document {id} cannot be read: {e}"
        )))
    })?;
    let w = who.clone();
    let detail = format!("document {id} sha256 {}", d.sha256);
    s.db.write(move |c| audit::record(c, &w, "document.view", Some(pid), Some(fid), &detail))
        .await?;
    let ext = if d.media_type == "application/pdf" {
        "pdf"
    } else {
        "tif"
    };
    Ok((
        [
            (header::CONTENT_TYPE, d.media_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"document-{id}.{ext}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}

async fn view_document(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    who.require(Permission::ViewScannedDocuments)?;
    serve_document(s, who, id).await
}

async fn view_document_by_hash(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    who.require(Permission::ViewScannedDocuments)?;
    let sha = digitisation::check_sha(&sha)?;
    let id: i64 =
        s.db.read(move |c| {
            use rusqlite::OptionalExtension;
            c.query_row(
                "SELECT min(id) FROM scanned_documents WHERE sha256=?1 HAVING count(*) > 0",
                [sha],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::not_found("document with that sha256"))
        })
        .await?;
    serve_document(s, who, id).await
}

// ---------- retention ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeathBody {
    date_of_death: String,
}

async fn record_death(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DeathBody>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::EditRecords)?;
    let d = b.date_of_death.clone();
    s.db.write(move |c| retention::record_death(c, &who, &id, &d))
        .await?;
    Ok(Json(json!({"date_of_death": b.date_of_death.trim()})))
}

async fn retention_rules(Caller(who): Caller, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageRetention)?;
    Ok(Json(json!({"rules": s.cfg.retention.rules})))
}

async fn retention_due(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Response> {
    who.require(Permission::ManageRetention)?;
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let rules = s.cfg.retention.rules.clone();
    let list =
        s.db.read(move |c| retention::due(c, &rules, as_of, 100_000))
            .await?;
    audit_reads(
        &s,
        &who,
        "retention.due",
        list.iter()
            .map(|d| (Some(d.patient_id), Some(d.folder_id)))
            .collect(),
        format!("retention due as of {as_of}"),
    )
    .await?;
    if q.get("format").map(String::as_str) == Some("csv") {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record([
            "barcode",
            "folder_type",
            "last_entry",
            "rule",
            "action",
            "due_on",
            "rule_confirmed",
            "legal_hold",
            "pending_destruction",
        ]);
        for d in &list {
            let _ = w.write_record([
                d.barcode.clone(),
                d.folder_type.clone(),
                d.last_entry.clone(),
                d.rule.clone(),
                d.action.clone(),
                d.due_on.clone(),
                d.rule_confirmed.to_string(),
                d.legal_hold.to_string(),
                d.pending_destruction
                    .map(|x| x.to_string())
                    .unwrap_or_default(),
            ]);
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"retention-due.csv\"",
                ),
            ],
            w.into_inner().unwrap_or_default(),
        )
            .into_response());
    }
    Ok(
        Json(json!({"as_of": as_of.to_string(), "count": list.len(), "folders": list}))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

async fn folder_id(s: &AppState, barcode: String) -> ApiResult<folders::Folder> {
    let scheme = s.cfg.identifiers.folder.clone();
    Ok(s.db
        .read(move |c| folders::by_barcode(c, &scheme, &barcode))
        .await?)
}

async fn place_hold(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    ApiJson(b): ApiJson<HoldBody>,
) -> ApiResult<(StatusCode, Json<retention::Hold>)> {
    who.require(Permission::ManageRetention)?;
    let f = folder_id(&s, barcode).await?;
    let h = s
        .db
        .write(move |c| retention::place_hold(c, &who, f.id, b.reason.as_deref().unwrap_or("")))
        .await?;
    Ok((StatusCode::CREATED, Json(h)))
}

async fn release_hold(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    ApiJson(b): ApiJson<HoldBody>,
) -> ApiResult<Json<retention::Hold>> {
    who.require(Permission::ManageRetention)?;
    let f = folder_id(&s, barcode).await?;
    Ok(Json(
        s.db.write(move |c| {
            retention::release_hold(c, &who, f.id, b.note.as_deref().unwrap_or(""))
        })
        .await?,
    ))
}

async fn get_tombstone(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
) -> ApiResult<Json<retention::Tombstone>> {
    who.require(Permission::ManageRetention)?;
    let f = folder_id(&s, barcode).await?;
    let fid = f.id;
    let t =
        s.db.read(move |c| retention::tombstone(c, fid))
            .await?
            .ok_or_else(|| Error::not_found(format!("tombstone for folder {}", f.barcode)))?;
    audit_reads(
        &s,
        &who,
        "retention.tombstone.read",
        vec![(Some(f.patient_id), Some(f.id))],
        f.barcode.clone(),
    )
    .await?;
    Ok(Json(t))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DestructionBody {
    folder: String,
    reason: String,
}

async fn request_destruction(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<DestructionBody>,
) -> ApiResult<(StatusCode, Json<retention::Destruction>)> {
    who.require(Permission::ManageRetention)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let rules = s.cfg.retention.rules.clone();
    let d =
        s.db.write(move |c| {
            let f = folders::by_barcode(c, &scheme, &b.folder).map_err(|e| match e {
                Error::Invalid { message, .. } => Error::invalid("folder", message),
                e => e,
            })?;
            retention::request_destruction(c, &who, &rules, f.id, &b.reason, None, today())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

async fn list_destructions(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Json<Vec<retention::Destruction>>> {
    who.require(Permission::ManageRetention)?;
    let st = q.get("status").cloned();
    Ok(Json(
        s.db.read(move |c| retention::list_destructions(c, st.as_deref()))
            .await?,
    ))
}

async fn get_destruction(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<retention::Destruction>> {
    who.require(Permission::ManageRetention)?;
    Ok(Json(
        s.db.read(move |c| retention::get_destruction(c, id))
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    note: Option<String>,
}

async fn approve_destruction(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> ApiResult<Json<retention::Destruction>> {
    decide_destruction(s, who, id, true, b).await
}

async fn reject_destruction(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> ApiResult<Json<retention::Destruction>> {
    decide_destruction(s, who, id, false, b).await
}

/// The second person's decision on a proposed destruction.
async fn decide_destruction(
    s: AppState,
    who: crate::auth::Principal,
    id: i64,
    approve: bool,
    b: DecisionBody,
) -> ApiResult<Json<retention::Destruction>> {
    who.require(Permission::ManageRetention)?;
    Ok(Json(
        s.db.write(move |c| {
            retention::decide_destruction(c, &who, id, approve, b.note.as_deref().unwrap_or(""))
        })
        .await?,
    ))
}

async fn destruction_certificate(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    who.require(Permission::ManageRetention)?;
    let (cert, sha) = s.db.read(move |c| retention::certificate(c, id)).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"destruction-{id}.txt\""),
            ),
            (
                header::HeaderName::from_static("x-certificate-sha256"),
                sha.clone(),
            ),
        ],
        format!("{cert}SHA-256 of the text above: {sha}\n"),
    )
        .into_response())
}

// ---------- external requests ----------

async fn create_external(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<external_requests::NewExternalRequest>,
) -> ApiResult<(StatusCode, Json<external_requests::ExternalRequest>)> {
    who.require(Permission::ManageExternalRequests)?;
    let cfg = s.cfg.clone();
    let r = s
        .db
        .write(move |c| external_requests::create(c, &who, &cfg.external_requests, &n, today()))
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

async fn list_external(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageExternalRequests)?;
    let open = q.get("open").map(String::as_str) == Some("true");
    let overdue = q.get("overdue").map(String::as_str) == Some("true");
    let kind = q.get("kind").cloned();
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let list =
        s.db.read(move |c| external_requests::list(c, as_of, open, overdue, kind.as_deref()))
            .await?;
    audit_reads(
        &s,
        &who,
        "external_request.list",
        list.iter()
            .map(|r| (Some(r.patient_id), None))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        "external requests".into(),
    )
    .await?;
    let n_overdue = list.iter().filter(|r| r.overdue).count();
    Ok(Json(
        json!({"count": list.len(), "overdue": n_overdue, "requests": list}),
    ))
}

async fn get_external(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult<Json<external_requests::ExternalRequest>> {
    who.require(Permission::ManageExternalRequests)?;
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let r =
        s.db.read(move |c| external_requests::get(c, id, as_of))
            .await?;
    audit_reads(
        &s,
        &who,
        "external_request.read",
        vec![(Some(r.patient_id), None)],
        format!("{} {id}", r.kind),
    )
    .await?;
    Ok(Json(r))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtendBody {
    months: u32,
    reason: String,
}

async fn extend_external(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ExtendBody>,
) -> ApiResult<Json<external_requests::ExternalRequest>> {
    who.require(Permission::ManageExternalRequests)?;
    let cfg = s.cfg.clone();
    Ok(Json(
        s.db.write(move |c| {
            external_requests::extend(
                c,
                &who,
                &cfg.external_requests,
                id,
                b.months,
                &b.reason,
                today(),
            )
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtStatusBody {
    status: String,
    #[serde(default)]
    note: Option<String>,
}

async fn status_external(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ExtStatusBody>,
) -> ApiResult<Json<external_requests::ExternalRequest>> {
    who.require(Permission::ManageExternalRequests)?;
    Ok(Json(
        s.db.write(move |c| {
            external_requests::set_status(
                c,
                &who,
                id,
                &b.status,
                b.note.as_deref().unwrap_or(""),
                today(),
            )
        })
        .await?,
    ))
}

// ---------- statistics ----------

/// The period from `from`/`to` (defaults: the last 30 days) or `month`.
pub fn period(q: &Params) -> ApiResult<(NaiveDate, NaiveDate)> {
    if let Some(m) = q.get("month") {
        return Ok(statistics::month_bounds(m)?);
    }
    let t = today();
    let to = day_param(q, "to")?.unwrap_or(t);
    let from = day_param(q, "from")?.unwrap_or(to - chrono::Days::new(30));
    Ok((from, to))
}

async fn get_statistics(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
    _h: HeaderMap,
) -> ApiResult<Response> {
    who.require(Permission::ReadReports)?;
    let (from, to) = period(&q)?;
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let cfg = s.cfg.clone();
    let st =
        s.db.read(move |c| statistics::compute(c, &cfg, from, to, as_of))
            .await?;
    if q.get("format").map(String::as_str) == Some("csv") {
        let section = q.get("section").map(String::as_str).unwrap_or("summary");
        return Ok(crate::app::reports::statistics_csv(&st, section, from, to)?.into_response());
    }
    Ok(Json(st).into_response())
}

async fn monthly_report(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Response> {
    who.require(Permission::ReadReports)?;
    let month = q
        .get("month")
        .ok_or_else(|| Error::invalid("month", "is required (YYYY-MM)"))?
        .clone();
    let (from, to) = statistics::month_bounds(&month)?;
    let cfg = s.cfg.clone();
    let st =
        s.db.read(move |c| statistics::compute(c, &cfg, from, to, to))
            .await?;
    let w = who.clone();
    let m = month.clone();
    s.db.write(move |c| {
        audit::record(
            c,
            &w,
            "report.monthly",
            None,
            None,
            &format!("monthly report {m}"),
        )
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"monthly-report-{}.pdf\"", month.trim()),
            ),
        ],
        statistics::monthly_pdf(&st, now_ms()),
    )
        .into_response())
}
