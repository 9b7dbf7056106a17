//! Handlers for the records lifecycle: clinical coding, digitisation, retention and
//! destruction, external requests (SAR, AHRA, queries), statistics and the monthly report.
//! Same style as [`super::api`] (one file per topic): authorise, one transaction with its audit rows, answer.

mod coding_api;
mod digitisation_api;
mod external_api;
mod retention_api;
mod statistics_api;
pub(crate) use coding_api::*;
pub(crate) use digitisation_api::*;
pub(crate) use external_api::*;
pub(crate) use retention_api::*;
pub(crate) use statistics_api::*;

use super::{audit_reads, ApiError, ApiJson, ApiResult, AppState, Caller};
use crate::{
    audit, auth::Permission, ledger::folders, lifecycle::coding, lifecycle::digitisation,
    lifecycle::external_requests, lifecycle::retention, reports::statistics, Error,
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

/// Today at the site (the site's time zone).
fn today() -> NaiveDate {
    crate::util::site_today()
}

fn day_param(q: &Params, k: &str) -> ApiResult<Option<NaiveDate>> {
    q.get(k)
        .map(|d| {
            NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map_err(|_| ApiError::from(Error::invalid(k, "must be a date written YYYY-MM-DD")))
        })
        .transpose()
}
