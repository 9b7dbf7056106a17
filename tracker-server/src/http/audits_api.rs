//! Shelf audits over the JSON API: list, open, read, close; and a shelf's terminal-digit range.
//! The folders themselves are sent as scan events with method `audit` (`POST /api/v1/events`),
//! as the scan page and bridges do. Library staff and records managers (and admins) only.

use super::{audit_reads, query_i64, ApiJson, ApiResult, AppState, Caller};
use crate::{
    audit,
    auth::Permission,
    ledger::locations,
    util::now_ms,
    workflow::shelf_audit::{self, AuditDetail, AuditSummary, Opened},
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, post, put},
    Json, Router,
};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/shelf-audits", get(list_audits).post(open_audit))
        .route("/api/v1/shelf-audits/{id}", get(get_audit))
        .route("/api/v1/shelf-audits/{id}/close", post(close_audit))
        .route(
            "/api/v1/locations/{code}/filing-range",
            put(set_filing_range),
        )
}

async fn list_audits(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<AuditSummary>>> {
    who.require(Permission::EditRecords)?;
    let limit = query_i64(&q, "limit", 100, 1..=1000)?;
    let location = q.get("location").cloned().filter(|v| !v.is_empty());
    let status = q.get("status").cloned().filter(|v| !v.is_empty());
    Ok(Json(
        s.db.read(move |c| shelf_audit::list(c, location.as_deref(), status.as_deref(), limit))
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenAudit {
    /// Code or GLN of the shelf, bay or store.
    location: String,
}

async fn open_audit(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<OpenAudit>,
) -> ApiResult<(StatusCode, Json<AuditSummary>)> {
    who.require(Permission::EditRecords)?;
    let (a, how) =
        s.db.write(move |c| shelf_audit::open(c, &who, &b.location, None, now_ms()))
            .await?;
    let status = match how {
        Opened::New => StatusCode::CREATED,
        Opened::Joined | Opened::Again => StatusCode::OK,
    };
    Ok((status, Json(a)))
}

/// An audit's lists name folders of patients: each read is audited, one row per folder.
async fn audited(s: &AppState, who: &crate::auth::Principal, d: &AuditDetail) -> ApiResult<()> {
    let rows = d
        .found
        .iter()
        .chain(&d.elsewhere)
        .chain(&d.not_found)
        .map(|l| (Some(l.patient_id), Some(l.folder_id)))
        .collect();
    audit_reads(
        s,
        who,
        "shelf_audit.read",
        rows,
        format!("shelf audit {}", d.audit.id),
    )
    .await
}

async fn get_audit(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<AuditDetail>> {
    who.require(Permission::EditRecords)?;
    let d = s.db.read(move |c| shelf_audit::get(c, id)).await?;
    audited(&s, &who, &d).await?;
    Ok(Json(d))
}

async fn close_audit(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<AuditDetail>> {
    who.require(Permission::EditRecords)?;
    let w = who.clone();
    let d =
        s.db.write(move |c| shelf_audit::close(c, &w, id, None, now_ms()))
            .await?;
    audited(&s, &who, &d).await?;
    Ok(Json(d))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilingRange {
    /// `00-09`, `71` or `71/00-71/49`; null or empty clears it.
    #[serde(default)]
    filing_range: Option<String>,
}

async fn set_filing_range(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<FilingRange>,
) -> ApiResult<Json<locations::Location>> {
    who.require(Permission::ManageLocations)?;
    let l =
        s.db.write(move |c| {
            let l = locations::set_filing_range(c, &code, b.filing_range.as_deref())?;
            audit::record(
                c,
                &who,
                "location.filing_range",
                None,
                None,
                &format!(
                    "{}: terminal-digit range {}",
                    l.code,
                    l.filing_range.as_deref().unwrap_or("cleared")
                ),
            )?;
            Ok(l)
        })
        .await?;
    Ok(Json(l))
}
